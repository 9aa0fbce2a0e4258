package e2e

// Issue 12, the operator's opt-in `--internet-allow` on real packets: instances reach the
// host-side addresses it names through their internet or NAT gateway, and nothing else of the
// host; without it (a restart without the flag included) there is no way to the host at all.
// --internet-masquerade is never turned on here (machine safety): netlab's unit tests render
// its rules as text.

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/vishvananda/netlink"

	"github.com/stockade/stockade/internal/hostlock"
	"github.com/stockade/stockade/netlab"
)

// hostWho listens in the test's (the host's) namespace at addr and answers every connection
// with the address it came from; it returns the port.
func hostWho(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// seenByHost connects from an instance to a host-side who-server and returns the address it
// saw, or the error.
func seenByHost(from instance, to netip.AddrPort, pass bool) (string, error) {
	c, err := netlab.DialFrom(from.NS, "tcp", to.String(), netlab.Timeout(pass))
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(netlab.Timeout(pass)))
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

func expectHost(t *testing.T, from instance, to netip.AddrPort, want netip.Addr) {
	t.Helper()
	got, err := seenByHost(from, to, want.IsValid())
	switch {
	case !want.IsValid() && err == nil:
		t.Errorf("%s reached the host at %s (seen as %s), want no way", from.ID, to, got)
	case want.IsValid() && (err != nil || got != want.String()):
		t.Errorf("%s → host %s: seen as %q (%v), want %s", from.ID, to, got, err, want)
	}
}

// TestLabInternetAllow: with --internet-allow naming the host end of the link
// (netlab.HostLinkHost), a server bound to that address only is reached from a public
// instance (seen as its public address) and from a private one behind a NAT gateway (seen as
// the NAT gateway's); a server of the host on loopback is not, nor one on the host's other
// addresses; after a crash and a restart without the flag the link is gone and nothing of
// the host is reached.
func TestLabInternetAllow(t *testing.T) {
	release, err := hostlock.Hold(hostlock.HostLink) // netlab's tests make a host link too
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // last: after the server and its link are gone
	hostEnd := netlab.HostLinkHost.Addr()
	e := newLabEnv(t, "--internet-allow", hostEnd.String()+"/32")
	names := netlab.Names{Prefix: e.prefix}
	t.Cleanup(func() { _ = netlab.RemoveHostLink(names) })
	vpc, _ := e.vpc("10.0.0.0/16")
	public := e.subnet(vpc, "10.0.1.0/24")
	private := e.subnet(vpc, "10.0.2.0/24")
	g := e.group(vpc)
	must[*ec2.ModifySubnetAttributeOutput](t)(e.c.ModifySubnetAttribute(ctx(t), &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(public),
		MapPublicIpOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	igw := e.gateway(vpc)
	e.route(e.mainTable(vpc), false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	nat, natIP := e.natGateway(public)
	e.route(e.table(vpc, private), false, func(in *ec2.CreateRouteInput) { in.NatGatewayId = aws.String(nat) })
	web := e.launch(public, g)
	db := e.launch(private, g)
	pub := e.publicIP(web.ID)
	e.enforced()

	// The link is made with the internet namespace: the host end is there now.
	port := hostWho(t, netip.AddrPortFrom(hostEnd, 0).String())
	lo := hostWho(t, "127.0.0.1:0")
	allowed := netip.AddrPortFrom(hostEnd, uint16(port))
	expectHost(t, web, allowed, pub)
	expectHost(t, db, allowed, natIP)
	// The host's loopback server, by the allowed address (it is bound elsewhere) and by
	// its own, which from an instance is the instance's own loopback.
	expectHost(t, web, netip.AddrPortFrom(hostEnd, uint16(lo)), netip.Addr{})
	if other, ok := hostAddress(t); ok {
		op := hostWho(t, netip.AddrPortFrom(other, 0).String())
		expectHost(t, web, netip.AddrPortFrom(other, uint16(op)), netip.Addr{})
		expectHost(t, db, netip.AddrPortFrom(other, uint16(op)), netip.Addr{})
	}
	// The internet host reaches the allowed address too (it is "the internet").
	if err := netlab.TCP(e.internet(), allowed, netlab.PassTimeout); err != nil {
		t.Errorf("internet host → %s: %v", allowed, err)
	}

	// A crash leaves the link; a start without the flag removes it.
	dataDir := e.s.dataDir
	e.s.stop(t, syscall.SIGKILL)
	if _, err := netlink.LinkByName(names.HostLinkName()); err != nil {
		t.Fatalf("the link did not outlive the crash (the test cannot show its removal): %v", err)
	}
	e.start(dataDir)
	e.enforced()
	var nf netlink.LinkNotFoundError
	if _, err := netlink.LinkByName(names.HostLinkName()); !errors.As(err, &nf) {
		t.Errorf("after a start without --internet-allow the host link is still there: %v", err)
	}
	e.touch()
	expectHost(t, web, allowed, netip.Addr{})
	expectHost(t, db, allowed, netip.Addr{})
	e.expectSeenAsFromHostTest(web, pub)
}

// expectSeenAsFromHostTest checks that the instance still reaches the internet after the
// restart: only the host link went.
func (e *labEnv) expectSeenAsFromHostTest(from instance, want netip.Addr) {
	e.t.Helper()
	whoServer(e.t, e.internet())
	e.expectSeenAs(from, want)
}

// hostAddress is an address of the host's other than loopback and the host link (the source
// of its default route, found without sending anything), if it has one.
func hostAddress(t *testing.T) (netip.Addr, bool) {
	t.Helper()
	c, err := net.Dial("udp4", "192.0.2.1:9") // connect only: no packet is sent
	if err != nil {
		return netip.Addr{}, false
	}
	defer c.Close()
	a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if a.IsLoopback() || netlab.HostLinkHost.Contains(a) {
		return netip.Addr{}, false
	}
	return a, true
}

// TestLabInternetNoAllow: without the flag the internet namespace has no link to the host.
func TestLabInternetNoAllow(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.0.0.0/16")
	sn := e.subnet(vpc, "10.0.1.0/24")
	igw := e.gateway(vpc)
	e.route(e.mainTable(vpc), false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	e.launchWith(&ec2.RunInstancesInput{NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0),
		SubnetId: aws.String(sn), AssociatePublicIpAddress: aws.Bool(true)}}})
	e.enforced()
	names := netlab.Names{Prefix: e.prefix}
	if !netlab.Exists(e.internet()) {
		t.Fatal("no internet namespace")
	}
	var nf netlink.LinkNotFoundError
	if _, err := netlink.LinkByName(names.HostLinkName()); !errors.As(err, &nf) {
		t.Errorf("host link without --internet-allow: %v", err)
	}
	if err := netlab.Do(e.internet(), func() error {
		_, err := netlink.LinkByName(names.HostLinkPeer())
		return err
	}); !errors.As(err, &nf) {
		t.Errorf("internet end of a host link without --internet-allow: %v", err)
	}
}
