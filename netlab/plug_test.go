package netlab

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// TestWiring: what Attach, Readdress and Unplug make reads back as the interfaces they were
// given (what a restarted reconciler compares with the store's for an adopted instance): none
// without the router, each ethN with its link, MAC and addresses, an address Readdress took
// away gone (the router's route to it included: it outlived Readdress once), one still routed by
// the router though gone from the device (a Readdress cut short) still the interface's, and an
// unplugged interface gone.
func TestWiring(t *testing.T) {
	h := newTestbed(t, 1).Host("h1")
	ctx := context.Background()
	router, ns := h.Names.Router("vpc-1"), h.Names.Instance("i-1")
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	eth0 := Interface{Namespace: ns, Link: h.Names.Link("eni-1"), MAC: "02:00:00:00:01:10", Addr: netip.MustParseAddr("10.0.1.10"),
		Subnet: subnet, Secondary: []netip.Addr{netip.MustParseAddr("10.0.1.11")}, IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:1::10")}, MTU: 1500}
	eth1 := Interface{Namespace: ns, Link: h.Names.Link("eni-2"), MAC: "02:00:00:00:01:20", Addr: netip.MustParseAddr("10.0.1.20"),
		Subnet: subnet, Secondary: []netip.Addr{netip.MustParseAddr("10.0.1.21")}, DeviceIndex: 1, MTU: 1500}
	wiring := func(want ...Interface) {
		t.Helper()
		got, err := Wiring(ctx, router, ns)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
			cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("Wiring (-want +got):\n%s", diff)
		}
	}
	wiring() // no router
	if _, err := CreateRouter(ctx, router); err != nil {
		t.Fatal(err)
	}
	wiring()
	for _, i := range []Interface{eth1, eth0} {
		if err := Attach(ctx, router, i); err != nil {
			t.Fatal(err)
		}
	}
	wiring(eth0, eth1)

	less := eth0
	less.Secondary = nil
	if err := Readdress(ctx, router, eth0, less); err != nil {
		t.Fatal(err)
	}
	wiring(less, eth1)

	// eth1's secondary leaves the device, and the router still routes it.
	ih, err := handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ih.Close()
	dev, err := ih.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := ih.AddrDel(dev, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.0.1.21/24"))}); err != nil {
		t.Fatal(err)
	}
	wiring(less, eth1)

	if err := Unplug(ctx, router, eth1); err != nil {
		t.Fatal(err)
	}
	wiring(less)
}
