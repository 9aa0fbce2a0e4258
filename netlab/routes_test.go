package netlab

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestKernelRoutesRealms: each IPv4 route to the internet link carries its target's realm
// (the ruleset's only way to tell the internet gateway from a NAT gateway on the one link);
// IPv6 routes and blackholes carry none; a route whose target changes from one gateway to the
// other is replaced in place (one kernel change), and a fresh Routing adopts the realms
// without changing anything.
func TestKernelRoutesRealms(t *testing.T) {
	l := newRouterLab(t)
	ctx := context.Background()
	rt := RouteTable{Table: TableNumber("rtb-realm"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}, Routes: []Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/16"), Target: TargetLocal},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: TargetNAT},
		{Dst: netip.MustParsePrefix("203.0.113.0/24"), Target: TargetGateway},
		{Dst: netip.MustParsePrefix("192.0.2.0/24"), Target: TargetBlackhole},
		{Dst: netip.MustParsePrefix("::/0"), Target: TargetGateway},
		{Dst: netip.MustParsePrefix("2001:db8::/32"), Target: TargetEgressOnly},
	}}
	var st Routing
	if err := SetRoutes(ctx, l.router, l.up.Link, []RouteTable{rt}, &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"0.0.0.0/0":      RealmNAT,
		"203.0.113.0/24": RealmGateway,
		"192.0.2.0/24":   0,
		"10.0.0.0/16":    0,
		"100.64.0.0/30":  0,
		"::/0":           0,
		"2001:db8::/32":  0,
	}
	if diff := cmp.Diff(want, l.realms(t, rt.Table)); diff != "" {
		t.Errorf("realms (-want +kernel):\n%s", diff)
	}
	if ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{rt}, &Routing{}) }); len(ev) != 0 {
		t.Errorf("adopting the same tables changed the kernel: %v", ev)
	}
	// The default route moves from the NAT gateway to the internet gateway: same prefix, same
	// next hop and link, only the realm differs.
	rt2 := rt
	rt2.Routes = append([]Route(nil), rt.Routes...)
	rt2.Routes[1].Target = TargetGateway
	ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{rt2}, &st) })
	if len(ev) != 1 || !strings.Contains(ev[0], "route 0.0.0.0/0 table "+strconv.Itoa(rt.Table)) {
		t.Errorf("one route's realm changed; kernel saw %v", ev)
	}
	want["0.0.0.0/0"] = RealmGateway
	if diff := cmp.Diff(want, l.realms(t, rt.Table)); diff != "" {
		t.Errorf("realms after the change (-want +kernel):\n%s", diff)
	}
}

// realms are the realms of a table's routes in the router's kernel, by destination.
func (l *routerLab) realms(t *testing.T, table int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := l.h.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			r.Family = fam
			if r.Table == table && r.Type != unix.RTN_UNSPEC {
				out[keyOf(r).dst.String()] = r.Realm
			}
		}
	}
	return out
}
