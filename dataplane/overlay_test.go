package dataplane_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/dataplane"
)

// spanning places db (eni-3) of a network on another host: this router reaches it over the
// overlay link "stk-vx".
func spanning(n dataplane.Network) dataplane.Network {
	n.Overlay = dataplane.Overlay{Link: "stk-vx", Remote: map[string]bool{"eni-3": true}}
	return n
}

// TestOverlayRendering: with db on another host, this router keeps db's address in the member
// set of its group (app's rules refer to it... and db's to app) and among the overlay's
// sources, gives db no chain and no dispatch entry, lets the overlay stand for the checks the
// other host makes, never sends back into the overlay what came from it, and leaves each ACL
// direction to the host that owns it.
func TestOverlayRendering(t *testing.T) {
	n := spanning(threeTier())
	n.Link = link
	rs := dataplane.Render(n)
	lines := func(name string) []string {
		o := rs.Object(name)
		if o == nil {
			t.Fatalf("no object %s", name)
		}
		return o.Lines
	}
	for _, c := range []struct {
		object, line string
		want         bool
	}{
		{"src4", `"stk-vx" . 10.0.2.30`, true},
		{"src4", `"` + link("eni-3") + `" . 10.0.2.30`, false},
		{"out_dispatch", `"stk-vx" : jump overlay_out`, true},
		{"in_dispatch", `"stk-vx" : jump overlay_in`, true},
		{"in_dispatch", `"` + link("eni-3") + `" : jump ifaces_in`, false},
		{"in_dispatch", `"` + link("eni-2") + `" : jump ifaces_in`, true},
		{"forward", `iifname "stk-vx" oifname "stk-vx" drop`, true},
	} {
		if got := slices.Contains(lines(c.object), c.line); got != c.want {
			t.Errorf("%s has %q: %v, want %v\n%s", c.object, c.line, got, c.want, strings.Join(lines(c.object), "\n"))
		}
	}
	for _, set := range []string{"out_slot0", "in_slot0", "out_slot1", "in_slot1", "out_untracked", "in_untracked"} {
		for _, l := range lines(set) {
			if strings.Contains(l, link("eni-3")) {
				t.Errorf("a remote interface has checks on this router: %s has %s", set, l)
			}
		}
	}
	// Member sets are built from every interface of the VPC, local or not.
	var member bool
	for _, name := range []string{"sg_app_members4", "sg_db_members4", "members4_sg_db"} {
		if o := rs.Object(name); o != nil && slices.Contains(o.Lines, "10.0.2.30") {
			member = true
		}
	}
	if !member && !strings.Contains(rs.Text(), "10.0.2.30") {
		t.Error("the remote member's address is in no set")
	}
	// Without the overlay, the same network renders as a single host's router, unchanged.
	single := threeTier()
	single.Link = link
	if strings.Contains(dataplane.Render(single).Text(), "overlay") {
		t.Error("a single host's router mentions the overlay")
	}
}

// TestUnderlayGolden: the underlay filter of a host with two peers in one segment and one in
// another, as text.
func TestUnderlayGolden(t *testing.T) {
	got := dataplane.Underlay([]dataplane.Segment{
		{VNI: 0x123456, Peers: []dataplane.SegmentPeer{{Underlay: netip.MustParseAddr("192.0.2.3"), Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.30"), netip.MustParseAddr("2001:db8::30")}}}},
		{VNI: 42, Peers: []dataplane.SegmentPeer{
			{Underlay: netip.MustParseAddr("192.0.2.2"), Addrs: []netip.Addr{netip.MustParseAddr("10.0.2.20"), netip.MustParseAddr("10.0.2.21")}},
			{Underlay: netip.MustParseAddr("192.0.2.3"), Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.30")}}}},
	})
	golden(t, "underlay.nft", got)
}

// TestRendererCacheFollowsPlacement: a Renderer that renders a VPC again and again (as the
// agent's does) renders exactly what a fresh one does while interfaces move between this host
// and others, the overlay comes and goes, and memberships change: an interface's cached
// rendering must not outlive its placement.
func TestRendererCacheFollowsPlacement(t *testing.T) {
	g := newGen(rand.New(rand.NewPCG(3, 4)))
	base := g.network()
	base.Link = link
	n := g.vary(base)
	var k cacheCheck
	for i := range 40 {
		switch {
		case i%10 == 9:
			n.Overlay = dataplane.Overlay{} // the VPC no longer spans hosts
		case i%2 == 0:
			remote := map[string]bool{}
			for j, e := range n.Snapshot.ENIs {
				remote[e.ID] = (i/2+j)%3 == 0
			}
			n.Overlay = dataplane.Overlay{Link: "stk-vx", Remote: remote}
		default:
			enis := slices.Clone(n.Snapshot.ENIs)
			e := enis[i%len(enis)].Clone()
			e.Groups = []string{fmt.Sprintf("sg-%d", i%5)}
			enis[i%len(enis)] = e
			n.Snapshot.ENIs = enis
		}
		k.step(t, i, n)
	}
}

// TestOverlayReplies: a router whose VPC's NAT gateway is on another host admits from the
// overlay, in IPv4, the VPC's addresses of remote interfaces only and outside addresses only
// as replies; the general source check leaves the overlay's IPv4 to those two rules. Without
// Replies (or without the internet link) nothing of it is rendered.
func TestOverlayReplies(t *testing.T) {
	for _, c := range []struct {
		name     string
		replies  bool
		internet bool
		want     []string
	}{
		{"replies", true, true, []string{
			`iifname "stk-vx" ip saddr @internet_inside4 iifname . ip saddr != @src4 drop`,
			`iifname "stk-vx" ip saddr != @internet_inside4 ct direction != reply drop`,
			`iifname != { "stk-ig", "stk-vx" } iifname . ip saddr != @src4 drop`,
			`iifname != "stk-ig" iifname . ip6 saddr != @src6 drop`,
		}},
		{"no replies", false, true, []string{
			`iifname != "stk-ig" iifname . ip saddr != @src4 drop`,
			`iifname != "stk-ig" iifname . ip6 saddr != @src6 drop`,
		}},
		{"no internet", true, false, []string{
			"iifname . ip saddr != @src4 drop",
			"iifname . ip6 saddr != @src6 drop",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := spanning(threeTier())
			if c.internet {
				n = withInternet(n)
			}
			n.Link = link
			n.Overlay.Replies = c.replies
			var got []string
			for _, l := range dataplane.Render(n).Object("forward").Lines {
				if strings.Contains(l, "@src") || strings.Contains(l, `"stk-vx" ip saddr`) {
					got = append(got, l)
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("source checks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnderlayOutside: a peer that holds a NAT gateway (Outside) may also send IPv4 from
// outside the VPC's blocks, and from inside them still only its own addresses.
func TestUnderlayOutside(t *testing.T) {
	got := dataplane.Underlay([]dataplane.Segment{{VNI: 7, Inside: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		Peers: []dataplane.SegmentPeer{
			{Underlay: netip.MustParseAddr("192.0.2.1"), Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.99")}, Outside: true},
			{Underlay: netip.MustParseAddr("192.0.2.3"), Addrs: []netip.Addr{netip.MustParseAddr("10.0.2.8")}}}}})
	want := []string{
		"\t\t@th,224,16 0x0800 @th,336,32 { 0x0a000163 } accept",
		"\t\t@th,224,16 0x0800 @th,336,32 0x0a000000-0x0a00ffff drop",
		"\t\t@th,224,16 0x0800 accept",
		"\t\tdrop",
	}
	start := strings.Index(got, "chain vni_7_0 {")
	end := strings.Index(got, "chain vni_7_1 {")
	if start < 0 || end < 0 {
		t.Fatalf("no peer chains:\n%s", got)
	}
	lines := strings.Split(strings.TrimSpace(got[start:end]), "\n")
	if diff := cmp.Diff(want, lines[1:len(lines)-1]); diff != "" {
		t.Errorf("NAT host's chain (-want +got):\n%s", diff)
	}
	if strings.Count(got, "@th,224,16 0x0800 accept") != 1 {
		t.Errorf("a peer without Outside accepts any IPv4 source:\n%s", got)
	}
}
