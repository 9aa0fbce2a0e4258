package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestInternetNames(t *testing.T) {
	n := Names{Prefix: "abcde"}
	seen := map[string]bool{}
	for _, vpc := range []string{"vpc-0123456789abcdef0", "vpc-0123456789abcdef1", "vpc-1"} {
		p := n.InternetPeer(vpc)
		if len(p) > 15 || !strings.HasPrefix(p, "abcde-g") || seen[p] {
			t.Errorf("InternetPeer(%s) = %q: want 15 characters at most, the prefix, unique", vpc, p)
		}
		seen[p] = true
	}
	if l := n.InternetLink(); len(l) > 15 || l == n.OperatorLink() || len(l) == len(n.Link("eni-1")) {
		t.Errorf("InternetLink = %q: must fit and differ from the operator and interface links", l)
	}
}

// TestKernelRoutesTable (no traffic): what each target becomes in the kernel, a route whose
// target is missing a blackhole.
func TestKernelRoutesTable(t *testing.T) {
	l := newRouterLab(t)
	rt := RouteTable{Table: TableNumber("rtb-1"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("2600:1f18:0:1::/64")}, Routes: []Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/16"), Target: TargetLocal},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: TargetGateway},
		{Dst: netip.MustParsePrefix("192.0.2.0/24"), Target: TargetBlackhole},
		{Dst: netip.MustParsePrefix("198.18.0.0/15"), Target: TargetInterface, Link: "nosuchlink", Via: netip.MustParseAddr("10.0.1.9")},
		{Dst: netip.MustParsePrefix("2600:1f18::/56"), Target: TargetLocal},
		{Dst: netip.MustParsePrefix("::/0"), Target: TargetEgressOnly},
		{Dst: netip.MustParsePrefix("2001:db8:1::/48"), Target: TargetGateway},
		{Dst: netip.MustParsePrefix("2001:db8:2::/48"), Target: TargetNAT},      // a NAT gateway is IPv4
		{Dst: netip.MustParsePrefix("100.64.1.0/24"), Target: TargetEgressOnly}, // an egress-only one IPv6
	}}
	if err := SetRoutes(context.Background(), l.router, l.up.Link, []RouteTable{rt}, nil); err != nil {
		t.Fatal(err)
	}
	got := l.routes(t)
	want := []string{
		"0.0.0.0/0 unicast via 169.254.255.1",
		"10.0.0.0/16 throw",
		"100.64.0.0/30 throw",
		"100.64.1.0/24 blackhole",
		"192.0.2.0/24 blackhole",
		"198.18.0.0/15 blackhole",
		"2001:db8:1::/48 unicast via fe80::ffff:1",
		"2001:db8:2::/48 blackhole",
		"2600:1f18::/56 throw",
		"::/0 unicast via fe80::ffff:1",
	}
	if diff := cmp.Diff(want, got[rt.Table]); diff != "" {
		t.Errorf("table %d (-want +kernel):\n%s", rt.Table, diff)
	}
	if diff := cmp.Diff([]string{"10.0.1.0/24 " + strconv.Itoa(rt.Table), "2600:1f18:0:1::/64 " + strconv.Itoa(rt.Table)}, l.rules(t)); diff != "" {
		t.Errorf("rules (-want +kernel):\n%s", diff)
	}
	// Without the internet link, the gateways' routes are blackholes too.
	if err := SetRoutes(context.Background(), l.router, "", []RouteTable{rt}, nil); err != nil {
		t.Fatal(err)
	}
	got = l.routes(t)
	if got[rt.Table][0] != "0.0.0.0/0 blackhole" || got[rt.Table][9] != "::/0 blackhole" {
		t.Errorf("the gateway routes without a link are %q, want blackholes", got[rt.Table])
	}
}

// TestKernelRoutesIncremental: SetRoutes again with the same tables changes nothing in the
// kernel; a change of one route touches that route only; a table no longer given is emptied
// and its rules go. The kernel's own route and rule notifications are the witness.
func TestKernelRoutesIncremental(t *testing.T) {
	l := newRouterLab(t)
	ctx := context.Background()
	a := RouteTable{Table: TableNumber("rtb-a"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}, Routes: []Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/16"), Target: TargetLocal}, {Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: TargetGateway}}}
	b := RouteTable{Table: TableNumber("rtb-b"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24"), netip.MustParsePrefix("10.0.3.0/24")}, Routes: []Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/16"), Target: TargetLocal}, {Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: TargetNAT}}}
	// st is what the host keeps between calls: changes are computed against it, without
	// reading the kernel; a fresh Routing reads the kernel (adoption after a restart).
	var st Routing
	if err := SetRoutes(ctx, l.router, l.up.Link, []RouteTable{a, b}, &st); err != nil {
		t.Fatal(err)
	}
	if ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{a, b}, &st) }); len(ev) != 0 {
		t.Errorf("the same tables again changed the kernel: %v", ev)
	}
	if ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{a, b}, &Routing{}) }); len(ev) != 0 {
		t.Errorf("adopting the same tables changed the kernel: %v", ev)
	}
	b2 := b
	b2.Routes = []Route{b.Routes[0], {Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: TargetBlackhole}}
	ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{a, b2}, &st) })
	if len(ev) != 1 || !strings.Contains(ev[0], "route 0.0.0.0/0 table "+strconv.Itoa(b.Table)) {
		t.Errorf("one route changed; kernel saw %v", ev)
	}
	ev = l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{b2}, &st) })
	for _, e := range ev {
		if strings.Contains(e, "table "+strconv.Itoa(b.Table)) {
			t.Errorf("removing table a touched table b: %v", ev)
		}
	}
	if got := l.routes(t)[a.Table]; len(got) != 0 {
		t.Errorf("table a still has %v", got)
	}
	if diff := cmp.Diff([]string{"10.0.2.0/24 " + strconv.Itoa(b.Table), "10.0.3.0/24 " + strconv.Itoa(b.Table)}, l.rules(t)); diff != "" {
		t.Errorf("rules (-want +kernel):\n%s", diff)
	}

	// IPv6 the same way: an IPv6 route and a subnet's IPv6 rule come and go alone, and a
	// fresh Routing adopts them.
	b3 := b2
	b3.Subnets = append(slices.Clone(b2.Subnets), netip.MustParsePrefix("2600:1f18:0:2::/64"))
	b3.Routes = append(slices.Clone(b2.Routes), Route{Dst: netip.MustParsePrefix("::/0"), Target: TargetEgressOnly})
	ev = l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{b3}, &st) })
	if len(ev) != 1 || !strings.Contains(ev[0], "route ::/0 table "+strconv.Itoa(b.Table)) {
		t.Errorf("one IPv6 route added; kernel saw %v", ev)
	}
	if ev := l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{b3}, &Routing{}) }); len(ev) != 0 {
		t.Errorf("adopting the same IPv6 tables changed the kernel: %v", ev)
	}
	if rules := l.rules(t); !slices.Contains(rules, "2600:1f18:0:2::/64 "+strconv.Itoa(b.Table)) {
		t.Errorf("no IPv6 rule for the subnet: %v", rules)
	}
	ev = l.changes(t, func() error { return SetRoutes(ctx, l.router, l.up.Link, []RouteTable{b2}, &st) })
	if len(ev) != 1 || !strings.Contains(ev[0], "route ::/0 table "+strconv.Itoa(b.Table)) {
		t.Errorf("one IPv6 route removed; kernel saw %v", ev)
	}
	if rules := l.rules(t); len(rules) != 2 {
		t.Errorf("the IPv6 rule outlived its subnet: %v", rules)
	}
}

// rules lists the router's rules at RulePriority, both families, as "src table".
func (l *routerLab) rules(t *testing.T) []string {
	t.Helper()
	var rules []string
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := l.h.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Priority == RulePriority {
				rules = append(rules, r.Src.String()+" "+strconv.Itoa(r.Table))
			}
		}
	}
	slices.Sort(rules)
	return rules
}

// TestKernelInternetAttach: the uplink is made, adopted with its public routes when whole, and
// SetPublic changes only the routes that differ; the internet namespace has no link but lo
// and the VPCs' links, and no default route (host isolation).
func TestKernelInternetAttach(t *testing.T) {
	l := newRouterLab(t)
	ctx := context.Background()
	if created, err := AttachInternet(ctx, l.router, l.up); err != nil || created {
		t.Fatalf("AttachInternet again = %v, %v; want it adopted", created, err)
	}
	p := func(s ...string) (out []netip.Prefix) {
		for _, a := range s {
			out = append(out, netip.MustParsePrefix(a))
		}
		return out
	}
	for _, want := range [][]netip.Prefix{p("198.51.100.1/32", "198.51.100.2/32", "2600:1f18::/56"), p("198.51.100.2/32", "198.51.100.3/32"),
		p("2600:1f18:100::/56"), nil} {
		if err := SetPublic(ctx, l.up, want); err != nil {
			t.Fatal(err)
		}
		got, err := Public(l.up)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("public routes (-want +kernel):\n%s", diff)
		}
	}
	if err := SetPublic(ctx, l.up, p("198.51.100.7/32")); err != nil {
		t.Fatal(err)
	}
	if created, err := AttachInternet(ctx, l.router, l.up); err != nil || created {
		t.Fatalf("AttachInternet after routes = %v, %v", created, err)
	}
	if got, _ := Public(l.up); len(got) != 1 {
		t.Errorf("adoption lost the public routes: %v", got)
	}
	ih, err := handle(l.up.Internet)
	if err != nil {
		t.Fatal(err)
	}
	defer ih.Close()
	links, _ := ih.LinkList()
	for _, k := range links {
		if name := k.Attrs().Name; name != "lo" && name != l.up.Peer {
			t.Errorf("the internet namespace has a link %q of another kind", name)
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, _ := ih.RouteList(nil, fam)
		for _, r := range routes {
			if r.Dst == nil || prefixOf(r.Dst).Bits() == 0 {
				t.Errorf("the internet namespace has a default route: %v", r)
			}
		}
	}
	if err := DetachInternet(ctx, l.router, l.up); err != nil {
		t.Fatal(err)
	}
	if _, err := l.h.LinkByName(l.up.Link); err == nil {
		t.Error("the router's internet link outlived DetachInternet")
	}
}

type routerLab struct {
	router string
	up     Uplink
	h      *netlink.Handle
}

func newRouterLab(t *testing.T) *routerLab {
	t.Helper()
	if why := Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	names := Names{Prefix: "r" + hex.EncodeToString(b)}
	ctx := context.Background()
	l := &routerLab{router: names.Router("vpc-1"), up: names.UplinkOf("vpc-1")}
	t.Cleanup(func() {
		nss, _ := List(names.Prefix + "-")
		for _, ns := range nss {
			_ = Remove(ctx, ns)
		}
	})
	if _, err := CreateRouter(ctx, l.router); err != nil {
		t.Fatal(err)
	}
	if created, err := AttachInternet(ctx, l.router, l.up); err != nil || !created {
		t.Fatalf("AttachInternet = %v, %v", created, err)
	}
	var err error
	if l.h, err = handle(l.router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.h.Close)
	return l
}

// routes lists the router's tables above TableBase as "dst type [via gw]".
func (l *routerLab) routes(t *testing.T) map[int][]string {
	t.Helper()
	rs, err := l.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	rs6, err := l.h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	rs = append(rs, rs6...)
	out := map[int][]string{}
	for _, r := range rs {
		if r.Table < TableBase {
			continue
		}
		k := keyOf(r)
		s := k.dst.String() + " " + map[int]string{unix.RTN_UNICAST: "unicast", unix.RTN_THROW: "throw", unix.RTN_BLACKHOLE: "blackhole"}[r.Type]
		if k.gw.IsValid() {
			s += " via " + k.gw.String()
		}
		out[r.Table] = append(out[r.Table], s)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// changes runs fn and returns the route changes the kernel announced meanwhile: a
// marker route added after fn, in the main table, ends the list (notifications arrive in order).
func (l *routerLab) changes(t *testing.T, fn func() error) []string {
	t.Helper()
	nsh, err := netns.GetFromPath(Path(l.router))
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	routes, done := make(chan netlink.RouteUpdate, 64), make(chan struct{})
	defer close(done)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: &nsh}); err != nil {
		t.Fatal(err)
	}
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	marker := &netlink.Route{Dst: ipNet(netip.MustParsePrefix("192.0.2.99/32")), Type: unix.RTN_BLACKHOLE}
	if err := l.h.RouteAdd(marker); err != nil {
		t.Fatal(err)
	}
	defer l.h.RouteDel(marker)
	var out []string
	for u := range routes {
		k := keyOf(u.Route)
		if k.dst == netip.MustParsePrefix("192.0.2.99/32") {
			break
		}
		if u.Route.Table < TableBase {
			continue // the kernel's own (local and main tables)
		}
		out = append(out, "route "+k.dst.String()+" table "+strconv.Itoa(u.Route.Table))
	}
	return out
}
