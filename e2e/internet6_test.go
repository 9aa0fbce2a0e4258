package e2e

// Issue 12's IPv6 on real packets, through the API: an instance's IPv6 addresses are public
// (nothing is translated); "::/0" to the internet gateway opens the subnet both ways, "::/0"
// to an egress-only internet gateway lets it out and its replies in, and nothing else in.

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// whoServer6 answers every TCP connection to the internet host's IPv6 address, port 9000,
// with the address it came from.
func whoServer6(t testing.TB, ns string) {
	t.Helper()
	var ln net.Listener
	if err := netlab.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(netlab.InternetHost6, 9000).String())
		return err
	}); err != nil {
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
}

// expectSeenAs6 connects from an instance to the IPv6 who-server: want is the address the
// server must see, or invalid for no way out.
func (e *labEnv) expectSeenAs6(from instance, want netip.Addr) {
	e.t.Helper()
	timeout := netlab.Timeout(want.IsValid())
	got, err := func() (string, error) {
		c, err := netlab.DialFrom(from.NS, "tcp", netip.AddrPortFrom(netlab.InternetHost6, 9000).String(), timeout)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		return strings.TrimSpace(string(b)), err
	}()
	switch {
	case !want.IsValid() && err == nil:
		e.t.Errorf("%s reached the internet over IPv6 (seen as %s), want no way out", from.ID, got)
	case want.IsValid() && (err != nil || got != want.String()):
		e.t.Errorf("%s → internet over IPv6: seen as %q (%v), want %s", from.ID, got, err, want)
	}
}

// route6 creates (or, replace, replaces) the "::/0" route of a table.
func (e *labEnv) route6(table string, replace bool, igw, eigw string) {
	e.t.Helper()
	if !replace {
		must[*ec2.CreateRouteOutput](e.t)(e.c.CreateRoute(ctx(e.t), &ec2.CreateRouteInput{RouteTableId: aws.String(table),
			DestinationIpv6CidrBlock: aws.String("::/0"), GatewayId: optional(igw), EgressOnlyInternetGatewayId: optional(eigw)}))
		return
	}
	must[*ec2.ReplaceRouteOutput](e.t)(e.c.ReplaceRoute(ctx(e.t), &ec2.ReplaceRouteInput{RouteTableId: aws.String(table),
		DestinationIpv6CidrBlock: aws.String("::/0"), GatewayId: optional(igw), EgressOnlyInternetGatewayId: optional(eigw)}))
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// TestLabInternetIPv6: a dual-stack instance with a group open on 8080 to ::/0. Without a
// route nothing either way (also with the gateway attached); "::/0" to the internet gateway:
// the internet reaches its IPv6 address while the group allows it and it goes out as itself;
// "::/0" to an egress-only gateway: it goes out and gets its replies, the internet opens
// nothing; the route deleted: nothing again.
func TestLabInternetIPv6(t *testing.T) {
	e := newLabEnv(t)
	vpc, def, six := e.vpc6("10.0.0.0/16")
	sn := e.subnet6(vpc, "10.0.1.0/24", six, 1)
	g := e.group(vpc)
	web6 := perm("tcp", 8080, 8080, "::/0")
	e.allowIn(g, web6)
	// The default group's egress admits ::/0 (a VPC with an IPv6 block).
	web := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{g, def}, Ipv6AddressCount: aws.Int32(1),
		InstanceType: types.InstanceTypeT3Micro}) // m1.small, the default, has no IPv6
	if !web.IP6.IsValid() {
		t.Fatal("no IPv6 address on launch")
	}
	e.serve(web, 8080)
	whoServer6(t, e.internet0())
	rtb := e.mainTable(vpc)
	e.expectFromInternet(web.IP6, 8080, false)
	e.expectSeenAs6(web, netip.Addr{})

	igw := e.gateway(vpc)
	e.enforced()
	e.expectFromInternet(web.IP6, 8080, false) // no route yet
	e.expectSeenAs6(web, netip.Addr{})

	e.route6(rtb, false, igw, "")
	e.enforced()
	e.expectFromInternet(web.IP6, 8080, true)
	e.expectSeenAs6(web, web.IP6)
	e.revokeIn(g, web6)
	e.enforced()
	e.expectFromInternet(web.IP6, 8080, false)
	e.allowIn(g, web6)
	e.enforced()
	e.expectFromInternet(web.IP6, 8080, true)

	eigw := must[*ec2.CreateEgressOnlyInternetGatewayOutput](t)(e.c.CreateEgressOnlyInternetGateway(ctx(t),
		&ec2.CreateEgressOnlyInternetGatewayInput{VpcId: aws.String(vpc)}))
	e.route6(rtb, true, "", *eigw.EgressOnlyInternetGateway.EgressOnlyInternetGatewayId)
	e.enforced()
	e.expectSeenAs6(web, web.IP6)
	e.expectFromInternet(web.IP6, 8080, false)

	must[*ec2.DeleteRouteOutput](t)(e.c.DeleteRoute(ctx(t), &ec2.DeleteRouteInput{RouteTableId: aws.String(rtb), DestinationIpv6CidrBlock: aws.String("::/0")}))
	e.enforced()
	e.expectSeenAs6(web, netip.Addr{})
	e.expectFromInternet(web.IP6, 8080, false)
}

// TestLabInternetEgressOnly: a VPC with an egress-only gateway and no internet gateway: its
// instance goes out over IPv6 and gets its replies, the internet opens nothing, and nothing
// leaves over IPv4.
func TestLabInternetEgressOnly(t *testing.T) {
	e := newLabEnv(t)
	vpc, def, six := e.vpc6("10.0.0.0/16")
	sn := e.subnet6(vpc, "10.0.1.0/24", six, 1)
	g := e.group(vpc)
	e.allowIn(g, perm("tcp", 8080, 8080, "::/0"), perm("tcp", 8080, 8080, "0.0.0.0/0"))
	in := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{g, def}, Ipv6AddressCount: aws.Int32(1),
		InstanceType: types.InstanceTypeT3Micro}) // m1.small, the default, has no IPv6
	e.serve(in, 8080)
	inet := e.internet0()
	whoServer6(t, inet)
	whoServer(t, inet)
	eigw := must[*ec2.CreateEgressOnlyInternetGatewayOutput](t)(e.c.CreateEgressOnlyInternetGateway(ctx(t),
		&ec2.CreateEgressOnlyInternetGatewayInput{VpcId: aws.String(vpc)}))
	e.route6(e.mainTable(vpc), false, "", *eigw.EgressOnlyInternetGateway.EgressOnlyInternetGatewayId)
	e.enforced()
	e.expectSeenAs6(in, in.IP6)
	e.expectFromInternet(in.IP6, 8080, false)
	e.expectSeenAs(in, netip.Addr{})
}
