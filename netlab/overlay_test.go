package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// newTestbed makes a testbed with a random prefix, removed when the test ends (also when it
// fails).
func newTestbed(t *testing.T, hosts int) *Testbed {
	t.Helper()
	if why := Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	tb, err := NewTestbed(context.Background(), "v"+hex.EncodeToString(b), hosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return tb
}

// TestOverlayCarries: two hosts of a testbed, a VPC router on each with its VXLAN device and
// static entries, one instance on each (IPv4 and IPv6, MTU 9001): they reach each other,
// the largest packet the MTU allows crosses with DF set, the device uses port 4789 and no
// learning, an unchanged device is adopted, and once a peer's entries are withdrawn its
// instance is out of reach.
func TestOverlayCarries(t *testing.T) {
	tb := newTestbed(t, 2)
	ctx := context.Background()
	const vpc = "vpc-1"
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	type inst struct {
		h    SimHost
		ns   string
		a, b netip.Addr
	}
	insts := []inst{
		{tb.Host("h1"), "", netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("2001:db8::10")},
		{tb.Host("h2"), "", netip.MustParseAddr("10.0.1.20"), netip.MustParseAddr("2001:db8::20")},
	}
	for i := range insts {
		in := &insts[i]
		router := in.h.Names.Router(vpc)
		if _, err := CreateRouter(ctx, router); err != nil {
			t.Fatal(err)
		}
		in.ns = in.h.Names.Instance("i-" + in.h.Name)
		if err := Attach(ctx, router, Interface{Namespace: in.ns, Link: in.h.Names.Link("eni-" + in.h.Name), Addr: in.a,
			Subnet: subnet, IPv6: []netip.Addr{in.b}, MTU: InstanceMTU}); err != nil {
			t.Fatal(err)
		}
		if created, err := EnsureOverlay(ctx, router, in.h.Overlay(vpc)); err != nil || !created {
			t.Fatalf("overlay on %s: created %v, %v", in.h.Name, created, err)
		}
		if err := EnableForwarding(ctx, router); err != nil {
			t.Fatal(err)
		}
	}
	peer := func(i int) inst { return insts[1-i] }
	for i, in := range insts {
		p := peer(i)
		if err := SetPeers(ctx, in.h.Names.Router(vpc), in.h.Names.Overlay(vpc), []Peer{p.h.Peer(vpc, p.a, p.b)}); err != nil {
			t.Fatal(err)
		}
	}

	vx, err := ReadOverlay(insts[0].h.Names.Router(vpc), insts[0].h.Names.Overlay(vpc))
	if err != nil {
		t.Fatal(err)
	}
	if vx.Port != 4789 || vx.Learning || uint32(vx.VxlanId) != VNI(vpc) || vx.MTU != InstanceMTU {
		t.Errorf("device: port %d learning %v VNI %d MTU %d; want 4789, false, %d, %d", vx.Port, vx.Learning, vx.VxlanId, vx.MTU, VNI(vpc), InstanceMTU)
	}
	// What iproute2 shows, as an operator would check it.
	out, err := Command(ctx, insts[0].h.Names.Router(vpc), "ip", "-d", "link", "show", insts[0].h.Names.Overlay(vpc)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dstport 4789") || !strings.Contains(string(out), "nolearning") {
		t.Errorf("ip -d link: %v\n%s", err, out)
	}
	if created, err := EnsureOverlay(ctx, insts[0].h.Names.Router(vpc), insts[0].h.Overlay(vpc)); err != nil || created {
		t.Errorf("an unchanged device is adopted: created %v, %v", created, err)
	}

	for i, in := range insts {
		p := peer(i)
		for _, to := range []netip.Addr{p.a, p.b} {
			if err := Ping(in.ns, to, PassTimeout); err != nil {
				t.Errorf("%s → %s: %v", in.h.Name, to, err)
			}
		}
	}
	// The largest datagrams the MTU of 9001 carries unfragmented: 9001 - 20 - 8 bytes of
	// UDP payload over IPv4, 9001 - 40 - 8 over IPv6; both cross with DF, over VXLAN.
	srv, err := Serve(insts[1].ns, 7000)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for to, size := range map[netip.Addr]int{insts[1].a: InstanceMTU - 28, insts[1].b: InstanceMTU - 48} {
		if err := UDPDontFragment(insts[0].ns, netip.AddrPortFrom(to, 7000), size, PassTimeout); err != nil {
			t.Errorf("a %d-byte datagram to %s with DF: %v", size, to, err)
		}
	}
	if err := UDPDontFragment(insts[0].ns, netip.AddrPortFrom(insts[1].a, 7000), InstanceMTU-27, PassTimeout); err == nil {
		t.Error("a datagram one byte over the MTU crossed with DF")
	}
	if err := SetPeers(ctx, insts[0].h.Names.Router(vpc), insts[0].h.Names.Overlay(vpc), nil); err != nil {
		t.Fatal(err)
	}
	if err := Ping(insts[0].ns, insts[1].a, DropTimeout); err == nil {
		t.Error("a peer whose entries were withdrawn is still reachable")
	}
}
