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
// main table only. IPv4 only: IPv6 stays on the main table's host routes (local).

// RulePriority is the priority of every subnet's rule: after the local table's (0), before
// the main table's (32766). Rules at this priority belong to Stockade.
const RulePriority = 1000

// TableBase is the first table number TableNumber gives.
const TableBase = 1000

// TableNumber is the kernel table of a route table ID: a 30-bit hash above TableBase (two
// of the 200 route tables a VPC may have share a number with a probability of 2 in 100,000;
// the integrator can number them otherwise).
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
	// internet link like TargetGateway's, and the router's ruleset translates what comes from the
	// subnets routed to it to the NAT gateway's address (dataplane.NATGateway).
	TargetNAT
	// TargetInterface is a network interface, usually of an appliance instance: the packet goes to
	// the instance over its link (Route.Link, Route.Via).
	TargetInterface
	// TargetBlackhole drops what the route matches (also what a route does whose target is gone).
	TargetBlackhole
)

// Route is one route of a route table.
type Route struct {
	Dst    netip.Prefix // IPv4 destination
	Target Target
	Link   string     // Interface: the router-side link of the interface (Names.Link)
	Via    netip.Addr // Interface: the interface's primary private address
}

// RouteTable is a VPC route table as the router holds it.
type RouteTable struct {
	Table   int            // kernel table number, above TableBase (TableNumber)
	Subnets []netip.Prefix // the IPv4 blocks of the subnets associated with it
	Routes  []Route
}

// routeKey is what tells two kernel routes apart for SetRoutes.
type routeKey struct {
	table int
	dst   netip.Prefix
	typ   int
	gw    netip.Addr
	link  int
}

func keyOf(r netlink.Route) routeKey {
	k := routeKey{table: r.Table, typ: r.Type, link: r.LinkIndex}
	if r.Dst != nil {
		a, _ := netip.AddrFromSlice(r.Dst.IP.To4())
		ones, _ := r.Dst.Mask.Size()
		k.dst = netip.PrefixFrom(a, ones)
	} else {
		k.dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	if r.Gw != nil {
		k.gw, _ = netip.AddrFromSlice(r.Gw.To4())
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
	add := func(r netlink.Route) {
		r.Table, r.Family = t.Table, unix.AF_INET
		out = append(out, r)
	}
	add(netlink.Route{Dst: ipNet(OperatorNet), Type: unix.RTN_THROW})
	for _, r := range t.Routes {
		if !r.Dst.Addr().Is4() {
			continue
		}
		dst := ipNet(r.Dst.Masked())
		switch r.Target {
		case TargetLocal:
			add(netlink.Route{Dst: dst, Type: unix.RTN_THROW})
			continue
		case TargetGateway, TargetNAT:
			if i, ok := links[uplink]; ok && uplink != "" {
				add(netlink.Route{Dst: dst, Type: unix.RTN_UNICAST, LinkIndex: i, Gw: InternetHop.AsSlice(), Flags: int(netlink.FLAG_ONLINK)})
				continue
			}
		case TargetInterface:
			if i, ok := links[r.Link]; ok && r.Link != "" && r.Via.Is4() {
				add(netlink.Route{Dst: dst, Type: unix.RTN_UNICAST, LinkIndex: i, Gw: r.Via.AsSlice(), Flags: int(netlink.FLAG_ONLINK)})
				continue
			}
		}
		add(netlink.Route{Dst: dst, Type: unix.RTN_BLACKHOLE})
	}
	return out
}

// SetRoutes makes a router's policy routing exactly tables: each table's routes, and a rule
// per subnet. It reads what the kernel holds (so a restarted host adopts it) and changes only
// what differs: a route change is one route replaced in one table. Routes go in before the
// rules that use them and rules go before the routes they used, so a subnet is never routed
// by half a table. uplink is the router's internet link ("" when the VPC has no internet
// gateway attached). Tables of Stockade's no longer given are emptied.
func SetRoutes(ctx context.Context, router, uplink string, tables []RouteTable) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := handle(router)
	if err != nil {
		return err
	}
	defer h.Close()
	ls, err := h.LinkList()
	if err != nil {
		return err
	}
	links := map[string]int{}
	for _, l := range ls {
		if l.Attrs().Flags&net.FlagUp != 0 {
			links[l.Attrs().Name] = l.Attrs().Index
		}
	}
	want := map[routeKey]netlink.Route{}
	wantTables := map[int]bool{}
	type ruleKey struct {
		src   netip.Prefix
		table int
	}
	wantRules := map[ruleKey]bool{}
	for _, t := range tables {
		if t.Table < TableBase {
			return fmt.Errorf("route table number %d: must be at least %d", t.Table, TableBase)
		}
		wantTables[t.Table] = true
		for _, r := range kernelRoutes(t, uplink, links) {
			want[keyOf(r)] = r
		}
		for _, sn := range t.Subnets {
			if sn.Addr().Is4() {
				wantRules[ruleKey{sn.Masked(), t.Table}] = true
			}
		}
	}
	have, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
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
	for _, r := range have {
		if r.Table < TableBase {
			continue // main, local, default: not ours
		}
		k := keyOf(r)
		if _, ok := want[k]; ok {
			delete(want, k)
			continue
		}
		if !wanted[slot{k.table, k.dst}] {
			stale = append(stale, r)
		}
	}
	// New routes first (a replaced route is a new next hop for the same prefix: replace).
	for _, k := range slices.SortedFunc(maps.Keys(want), compareRouteKeys) {
		r := want[k]
		if err := h.RouteReplace(&r); err != nil {
			return fmt.Errorf("route %s in table %d: %w", k.dst, k.table, err)
		}
	}
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	for _, ru := range rules {
		if ru.Priority != RulePriority || ru.Src == nil {
			continue
		}
		a, _ := netip.AddrFromSlice(ru.Src.IP.To4())
		ones, _ := ru.Src.Mask.Size()
		k := ruleKey{netip.PrefixFrom(a, ones), ru.Table}
		if wantRules[k] {
			delete(wantRules, k)
			continue
		}
		if err := h.RuleDel(&ru); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove rule from %s: %w", k.src, err)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(wantRules), func(a, b ruleKey) int {
		return cmp.Or(a.src.Addr().Compare(b.src.Addr()), cmp.Compare(a.src.Bits(), b.src.Bits()), cmp.Compare(a.table, b.table))
	}) {
		ru := netlink.NewRule()
		ru.Family, ru.Priority, ru.Src, ru.Table = unix.AF_INET, RulePriority, ipNet(k.src), k.table
		if err := h.RuleAdd(ru); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("rule from %s lookup %d: %w", k.src, k.table, err)
		}
	}
	// Routes no table wants any more, last: the rules that used them are gone or changed.
	for _, r := range stale {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("remove route %s from table %d: %w", r.Dst, r.Table, err)
		}
	}
	return nil
}

func compareRouteKeys(a, b routeKey) int {
	return cmp.Or(cmp.Compare(a.table, b.table), a.dst.Addr().Compare(b.dst.Addr()), cmp.Compare(a.dst.Bits(), b.dst.Bits()))
}
