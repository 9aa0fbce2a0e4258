package netlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route tables in a router (issue 12): each VPC route table is a kernel routing table of the
// router namespace, and each subnet associated with it a rule "from <subnet CIDR> lookup
// <table>" at RulePriority. The kernel then does what EC2's router does: the longest prefix in
// the subnet's table decides the next hop. The table's "local" routes are throw routes, which
// end the lookup there and hand the packet to the main table, where the router keeps a host
// route to every interface (Attach): so "local" reaches the VPC's interfaces and nothing else.
// A subnet with no route for a destination, or whose route is a blackhole, gets nothing out.
// Packets that come from no subnet (the operator, the internet after translation) use the
// main table only. IPv6 is routed the same way, in the same tables: a subnet's IPv6 block has
// its own rule, the VPC's IPv6 block is a throw route (local) and "::/0" to an internet or
// egress-only gateway leaves by the internet link to InternetHop6. IPv6 addresses are public
// (nothing is translated), so the kernel's routing is all an egress-only gateway needs here;
// that the internet opens no connection through one is the ruleset's job (dataplane.Internet).

// Realms: every IPv4 route to the internet link carries the realm of its target (`ip route
// ... realm N`), which the kernel copies into the forwarded packet's route (dst tclassid;
// CONFIG_IP_ROUTE_CLASSID) and the router's ruleset reads as `meta rtclassid`. The internet
// gateway and the NAT gateways share the one link, so the realm is how the ruleset knows which
// of them the route sent a packet to, and therefore which translation EC2 would make there
// (dataplane.Internet): the internet gateway's (the source's own public address, or nothing)
// or the NAT gateway's. The kernel puts the realm of the route in the low 16 bits and may put
// the realm of the reverse path in the high 16: the ruleset compares the low half only.
// dataplane.RealmGateway and dataplane.RealmNAT must be these numbers (a test checks it).
// IPv6 routes have none: nothing is translated in IPv6 and the kernel keeps no realm for them.
const (
	// RealmGateway is the realm of a route to the internet gateway.
	RealmGateway = 1
	// RealmNAT is the realm of a route to a NAT gateway.
	RealmNAT = 2
)

// RulePriority is the priority of every subnet's rule: after the local table's (0), before
// the main table's (32766). Rules at this priority belong to Stockade.
const RulePriority = 1000

// TableBase is the first table number TableNumber gives.
const TableBase = 1000

// TableNumber is the kernel table of a route table ID: a 30-bit hash above TableBase (two
// of the 200 route tables a VPC may have share a number with a probability of 2 in 100,000).
// The host numbers its tables itself, without collisions (host.Tables); tests use this.
func TableNumber(rtb string) int {
	h := fnv.New32a()
	h.Write([]byte(rtb))
	return TableBase + int(h.Sum32()&(1<<30-1))
}

// Target is what a route sends its traffic to.
type Target int

const (
	// TargetLocal is the VPC itself (the route of the VPC's CIDR blocks).
	TargetLocal Target = iota
	// TargetGateway is the VPC's internet gateway: the router's internet link.
	TargetGateway
	// TargetNAT is a NAT gateway. It is modelled in the router itself: its traffic leaves by the
	// internet link like TargetGateway's, in realm RealmNAT, and the router's ruleset translates
	// what comes from the subnets routed to it to the NAT gateway's address
	// (dataplane.NATGateway).
	TargetNAT
	// TargetInterface is a network interface, usually of an appliance instance: the packet goes to
	// the instance over its link (Route.Link, Route.Via).
	TargetInterface
	// TargetBlackhole drops what the route matches (also what a route does whose target is gone).
	TargetBlackhole
	// TargetEgressOnly is an egress-only internet gateway (IPv6): the same internet link as
	// TargetGateway; the ruleset keeps connections from the internet out.
	TargetEgressOnly
)

// Route is one route of a route table.
type Route struct {
	Dst    netip.Prefix // IPv4 or IPv6 destination
	Target Target
	Link   string     // Interface: the router-side link of the interface (Names.Link)
	Via    netip.Addr // Interface: the interface's address of Dst's family (primary private IPv4, first IPv6)
}

// RouteTable is a VPC route table as the router holds it.
type RouteTable struct {
	Table   int            // kernel table number, above TableBase (TableNumber)
	Subnets []netip.Prefix // the IPv4 and IPv6 blocks of the subnets associated with it
	Routes  []Route
}

// routeKey is what tells two kernel routes apart for SetRoutes.
type routeKey struct {
	table int
	dst   netip.Prefix
	typ   int
	gw    netip.Addr
	link  int
	realm int // the route's realm (RealmGateway, RealmNAT; 0 for none)
}

func keyOf(r netlink.Route) routeKey {
	k := routeKey{table: r.Table, typ: r.Type, link: r.LinkIndex, realm: r.Realm}
	if r.Dst != nil {
		k.dst = prefixOf(r.Dst)
	} else if r.Family == unix.AF_INET6 {
		k.dst = netip.MustParsePrefix("::/0")
	} else {
		k.dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	if r.Gw != nil {
		k.gw = addrOf(r.Gw)
	}
	if k.typ == unix.RTN_THROW || k.typ == unix.RTN_BLACKHOLE {
		k.link = 0
	}
	return k
}

// kernelRoutes are the routes of one table as the router must hold them. links maps a link
// name to its index in the router; a route whose target link is missing (no internet gateway
// attached, an appliance gone) is a blackhole, as EC2 shows it ("blackhole" state) and treats
// it (it still matches by its prefix, and drops). Every table also throws the operator's
// link, so the replies of the operator's connections go back to it.
func kernelRoutes(t RouteTable, uplink string, links map[string]int) []netlink.Route {
	var out []netlink.Route
	add := func(r netlink.Route, v6 bool) {
		r.Table, r.Family = t.Table, unix.AF_INET
		if v6 {
			r.Family = unix.AF_INET6
		}
		out = append(out, r)
	}
	add(netlink.Route{Dst: ipNet(OperatorNet), Type: unix.RTN_THROW}, false)
	for _, r := range t.Routes {
		if !r.Dst.IsValid() {
			continue
		}
		v6 := r.Dst.Addr().Is6()
		dst := ipNet(r.Dst.Masked())
		hop := InternetHop
		if v6 {
			hop = InternetHop6
		}
		switch r.Target {
		case TargetLocal:
			add(netlink.Route{Dst: dst, Type: unix.RTN_THROW}, v6)
			continue
		case TargetGateway, TargetNAT, TargetEgressOnly:
			// A NAT gateway is IPv4 and an egress-only gateway IPv6: the other family's
			// route is a blackhole (the API refuses both; a hand-made store could not).
			if (r.Target == TargetNAT && v6) || (r.Target == TargetEgressOnly && !v6) {
				break
			}
			if i, ok := links[uplink]; ok && uplink != "" {
				realm := 0
				switch {
				case v6: // no realms in IPv6 (see RealmGateway)
				case r.Target == TargetNAT:
					realm = RealmNAT
				case r.Target == TargetGateway:
					realm = RealmGateway
				}
				add(netlink.Route{Dst: dst, Type: unix.RTN_UNICAST, LinkIndex: i, Gw: hop.AsSlice(), Flags: int(netlink.FLAG_ONLINK), Realm: realm}, v6)
				continue
			}
		case TargetInterface:
			if i, ok := links[r.Link]; ok && r.Link != "" && r.Via.IsValid() && r.Via.Is6() == v6 {
				add(netlink.Route{Dst: dst, Type: unix.RTN_UNICAST, LinkIndex: i, Gw: r.Via.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}, v6)
				continue
			}
		}
		add(netlink.Route{Dst: dst, Type: unix.RTN_BLACKHOLE}, v6)
	}
	return out
}

// prefixOf and addrOf read the kernel's addresses (4 or 16 bytes) as netip values.
func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if bits == 32 {
		a = a.Unmap() // an IPv4 block, perhaps held in 16 bytes
	}
	return netip.PrefixFrom(a, ones)
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// ruleFamily is the netlink family of a rule's source block.
func ruleFamily(p netip.Prefix) int {
	if p.Addr().Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// Routing is what SetRoutes last made of one router's policy routing. The host keeps one per
// router so that a change is computed against it, in memory: reading the kernel's routes and
// links costs milliseconds in a router with a thousand instances (a host route and a link
// each), more than the change itself. The zero value, and a Routing after a failed call,
// reads the kernel first (which is also how a restarted host adopts what it finds).
type Routing struct {
	valid  bool
	routes map[routeKey]netlink.Route
	rules  map[ruleKey]bool
}

// ruleKey tells policy-routing rules apart: the subnet they match and the table they look up.
type ruleKey struct {
	src   netip.Prefix
	table int
}

// SetRoutes makes a router's policy routing exactly tables: each table's routes, and a rule
// per subnet. It changes only what differs from state (what it made last; see Routing): a
// route change is one route replaced in one table. Routes go in before the rules that use them
// and rules go before the routes they used, so a subnet is never routed by half a table.
// uplink is the router's internet link ("" when the VPC has no internet gateway attached).
// Tables of Stockade's no longer given are emptied. state may be nil (read the kernel, keep
// nothing).
func SetRoutes(ctx context.Context, router, uplink string, tables []RouteTable, state *Routing) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if state == nil {
		state = &Routing{}
	}
	defer func() {
		if err != nil {
			*state = Routing{} // unknown now: the next call reads the kernel
		}
	}()
	h, err := handle(router)
	if err != nil {
		return err
	}
	defer h.Close()
	links, err := linkIndexes(h, uplink, tables)
	if err != nil {
		return err
	}
	want := map[routeKey]netlink.Route{}
	wantRules := map[ruleKey]bool{}
	for _, t := range tables {
		if t.Table < TableBase {
			return fmt.Errorf("route table number %d: must be at least %d", t.Table, TableBase)
		}
		for _, r := range kernelRoutes(t, uplink, links) {
			want[keyOf(r)] = r
		}
		for _, sn := range t.Subnets {
			if sn.IsValid() {
				wantRules[ruleKey{sn.Masked(), t.Table}] = true
			}
		}
	}
	if !state.valid {
		if *state, err = readRouting(h); err != nil {
			return err
		}
	}
	// A route is known by its table and prefix (the kernel keeps one per pair here); one
	// whose next hop or type changed is replaced in place, one no table wants is removed.
	type slot struct {
		table int
		dst   netip.Prefix
	}
	wanted := map[slot]bool{}
	for k := range want {
		wanted[slot{k.table, k.dst}] = true
	}
	var stale []netlink.Route
	for k, r := range state.routes {
		if _, ok := want[k]; !ok && !wanted[slot{k.table, k.dst}] {
			stale = append(stale, r)
		}
	}
	// New routes first (a replaced route is a new next hop for the same prefix: replace).
	for _, k := range slices.SortedFunc(maps.Keys(want), compareRouteKeys) {
		if _, ok := state.routes[k]; ok {
			continue
		}
		r := want[k]
		if err := h.RouteReplace(&r); err != nil {
			return fmt.Errorf("route %s in table %d: %w", k.dst, k.table, err)
		}
	}
	for k := range state.rules {
		if wantRules[k] {
			continue
		}
		ru := netlink.NewRule()
		ru.Family, ru.Priority, ru.Src, ru.Table = ruleFamily(k.src), RulePriority, ipNet(k.src), k.table
		if err := h.RuleDel(ru); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove rule from %s: %w", k.src, err)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(wantRules), func(a, b ruleKey) int {
		return cmp.Or(a.src.Addr().Compare(b.src.Addr()), cmp.Compare(a.src.Bits(), b.src.Bits()), cmp.Compare(a.table, b.table))
	}) {
		if state.rules[k] {
			continue
		}
		ru := netlink.NewRule()
		ru.Family, ru.Priority, ru.Src, ru.Table = ruleFamily(k.src), RulePriority, ipNet(k.src), k.table
		if err := h.RuleAdd(ru); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("rule from %s lookup %d: %w", k.src, k.table, err)
		}
	}
	// Routes no table wants any more, last: the rules that used them are gone or changed.
	slices.SortFunc(stale, func(a, b netlink.Route) int { return compareRouteKeys(keyOf(a), keyOf(b)) })
	for _, r := range stale {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("remove route %s from table %d: %w", r.Dst, r.Table, err)
		}
	}
	*state = Routing{valid: true, routes: want, rules: wantRules}
	return nil
}

// linkIndexes finds the links the tables' routes go out of — the uplink and appliances'
// links — by name (a router has a link per instance: listing them all would cost more than
// the change). A link that is missing or down is left out: its routes are blackholes.
func linkIndexes(h *netlink.Handle, uplink string, tables []RouteTable) (map[string]int, error) {
	links := map[string]int{}
	names := map[string]bool{}
	if uplink != "" {
		names[uplink] = true
	}
	for _, t := range tables {
		for _, r := range t.Routes {
			if r.Target == TargetInterface && r.Link != "" {
				names[r.Link] = true
			}
		}
	}
	for name := range names {
		l, err := h.LinkByName(name)
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("link %s: %w", name, err)
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			links[name] = l.Attrs().Index
		}
	}
	return links, nil
}

// readRouting reads what Stockade's tables and rules hold in a router's kernel.
func readRouting(h *netlink.Handle) (Routing, error) {
	st := Routing{valid: true, routes: map[routeKey]netlink.Route{}, rules: map[ruleKey]bool{}}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		have, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return Routing{}, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range have {
			if r.Table >= TableBase { // main, local, default: not ours
				r.Family = fam
				st.routes[keyOf(r)] = r
			}
		}
		rules, err := h.RuleList(fam)
		if err != nil {
			return Routing{}, fmt.Errorf("list rules: %w", err)
		}
		for _, ru := range rules {
			if ru.Priority != RulePriority || ru.Src == nil {
				continue
			}
			st.rules[ruleKey{prefixOf(ru.Src), ru.Table}] = true
		}
	}
	return st, nil
}

func compareRouteKeys(a, b routeKey) int {
	return cmp.Or(cmp.Compare(a.table, b.table), a.dst.Addr().Compare(b.dst.Addr()), cmp.Compare(a.dst.Bits(), b.dst.Bits()))
}
