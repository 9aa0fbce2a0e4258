package host

// The routing half of a plan (issue 12): what each VPC router needs beyond its groups and
// ACLs — its link to the lab's internet namespace while an internet gateway is attached, the
// public addresses the gateway translates, the NAT gateways, the route tables, and the
// interfaces whose source/destination check is off. It is computed from the same snapshot as
// the ruleset and reused while the objects it was made from are the same (copy-on-write).

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"go4.org/netipx"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// Routing is what a VPC router needs from its VPC's routes, gateways and addresses.
type Routing struct {
	// Uplink is the router's link to the internet namespace: set while an internet gateway is
	// attached to the VPC or the VPC has an egress-only internet gateway, nil otherwise
	// (detaching the gateway removes the link).
	Uplink *netlab.Uplink
	// Public are the blocks the internet routes to the uplink: the public addresses the
	// gateway translates and the NAT gateways' addresses (/32s), and the VPC's IPv6 block
	// (IPv6 addresses are public themselves), sorted. Empty without an uplink.
	Public []netip.Prefix
	// Internet is the ruleset's view: the link, public → private and the NAT gateways.
	Internet dataplane.Internet
	// Tables are the VPC's route tables as kernel tables, each with the IPv4 and IPv6 blocks
	// of the subnets that use it (the main table's: every subnet without an association), sorted by
	// table number.
	Tables []netlab.RouteTable
	// Unchecked are the interfaces whose source/destination check is off.
	Unchecked map[string]bool
}

// Tables numbers a host's route tables: per VPC router, each route table ID keeps the kernel
// table it was given while the table exists, and a new one takes the lowest free number from
// netlab.TableBase. Two tables of one router therefore never share a number (a hash could).
type Tables struct {
	byVPC map[string]map[string]int
}

// number returns the kernel table of a route table of a VPC, assigning one if it has none.
func (t *Tables) number(vpc, rtb string) int {
	if t.byVPC == nil {
		t.byVPC = map[string]map[string]int{}
	}
	m := t.byVPC[vpc]
	if m == nil {
		m = map[string]int{}
		t.byVPC[vpc] = m
	}
	if n, ok := m[rtb]; ok {
		return n
	}
	used := map[int]bool{}
	for _, n := range m {
		used[n] = true
	}
	n := netlab.TableBase
	for used[n] {
		n++
	}
	m[rtb] = n
	return n
}

// keep forgets the numbers of a VPC's route tables that are not in ids.
func (t *Tables) keep(vpc string, ids map[string]bool) {
	for id := range t.byVPC[vpc] {
		if !ids[id] {
			delete(t.byVPC[vpc], id)
		}
	}
}

// forget drops a VPC's numbers (its router is gone).
func (t *Tables) forget(vpc string) { delete(t.byVPC, vpc) }

// routingIndex is one network's objects, by ID, for planning its VPCs' routing.
type routingIndex struct {
	vpcs      map[string]*model.VPC
	enis      map[string]*model.NetworkInterface
	subnets   map[string]*model.Subnet
	instances map[string]*model.Instance
}

// routingFrom lists the objects a VPC's routing is computed from, in the snapshot's order:
// while they are the same objects, the routing is too. (Instances count: an instance route's
// target is a blackhole once its instance is stopped or terminated.)
func routingFrom(n netmap.Network, vpc string, from []any) []any {
	for _, x := range n.RouteTables {
		if x.VpcID == vpc {
			from = append(from, x)
		}
	}
	for _, x := range n.IGWs {
		from = append(from, x)
	}
	for _, x := range n.EgressIGWs {
		from = append(from, x)
	}
	for _, x := range n.VPCs {
		if x.ID == vpc {
			from = append(from, x) // its IPv6 block
		}
	}
	for _, x := range n.NATGateways {
		if x.VpcID == vpc {
			from = append(from, x)
		}
	}
	for _, x := range n.Addresses {
		if x.Associated() {
			from = append(from, x)
		}
	}
	for _, x := range n.Subnets {
		if x.VpcID == vpc {
			from = append(from, x)
		}
	}
	for _, x := range n.ENIs {
		if x.VpcID == vpc {
			from = append(from, x)
		}
	}
	for _, x := range n.PrefixLists {
		from = append(from, x)
	}
	for _, x := range n.Instances {
		if x.VpcID == vpc {
			from = append(from, x)
		}
	}
	return from
}

// sameForRouting reports whether two objects of routingFrom's lists give the same routing:
// the same object, or an interface changed only in what planRouting does not read (its groups,
// in a membership change, which would otherwise plan every route table and public address of
// the VPC again). What it compares is what planRouting reads of an interface.
func sameForRouting(a, b any) bool {
	if a == b {
		return true
	}
	x, ok := a.(*model.NetworkInterface)
	y, ok2 := b.(*model.NetworkInterface)
	return ok && ok2 && x.ID == y.ID && x.VpcID == y.VpcID && x.SourceDestCheck == y.SourceDestCheck &&
		x.RequesterManaged == y.RequesterManaged && x.PrivateIP == y.PrivateIP && x.PublicIP == y.PublicIP &&
		slices.Equal(x.IPv6, y.IPv6)
}

// planRouting computes a VPC's routing. Route table numbers come from tables (nil: the
// helper's hash, for callers without a host).
//
// On one host of several (place), the router translates and publishes only what is on its
// own host, as the Nitro card does the 1:1 NAT on the instance's host: the public addresses
// of interfaces placed here, and the NAT gateways that run here. A route to a NAT gateway on
// another host goes over the overlay to that host's router (next hop: the gateway's private
// address, which the overlay's entries give that router's MAC), which translates it as it
// translates its own instances' traffic.
//
// Of an interface it reads only what sameForRouting compares: the plan from the last walk
// (replan.go) keeps a VPC's routing across a change to interfaces that leaves those fields
// alone, so a field read here and not compared there would leave routing stale.
func planRouting(n netmap.Network, idx routingIndex, vpc string, names netlab.Names, tables *Tables, place Placement) Routing {
	var rt Routing
	var igw bool
	for _, g := range n.IGWs {
		if g.VpcID == vpc {
			igw = true
		}
	}
	eigw := map[string]bool{} // the VPC's egress-only internet gateways
	for _, g := range n.EgressIGWs {
		if g.VpcID == vpc {
			eigw[g.ID] = true
		}
	}
	gone := map[string]bool{} // a NAT gateway that is not available: its routes are blackholes
	nat := map[string]*model.NATGateway{}
	natENI := map[string]bool{}
	for _, g := range n.NATGateways {
		if g.VpcID != vpc {
			continue
		}
		if g.ENIID != "" {
			natENI[g.ENIID] = true
		}
		if g.State == model.NATAvailable && g.ConnectivityType == model.NATPublic && g.PublicIP.Is4() {
			nat[g.ID] = g
		} else {
			gone[g.ID] = true
		}
	}
	for _, e := range n.ENIs {
		// Only the API turns the check off (every interface is made with it on); a NAT
		// gateway's own interface has it off too, but it is no instance's: the router
		// models the NAT gateway itself.
		if e.VpcID == vpc && !e.SourceDestCheck && !e.RequesterManaged {
			if rt.Unchecked == nil {
				rt.Unchecked = map[string]bool{}
			}
			rt.Unchecked[e.ID] = true
		}
	}
	lists := map[string]*model.PrefixList{}
	for _, pl := range n.PrefixLists {
		lists[pl.ID] = pl
	}

	// Each table's kernel routes, and the subnets that use it.
	var main *model.RouteTable
	var mine []*model.RouteTable
	assoc := map[string]string{} // subnet → route table
	for _, t := range n.RouteTables {
		if t.VpcID != vpc {
			continue
		}
		mine = append(mine, t)
		for _, a := range t.Assocs {
			if a.Main {
				main = t
			}
			if a.SubnetID != "" {
				assoc[a.SubnetID] = t.ID
			}
		}
	}
	bySubnet := map[string][]netip.Prefix{}  // IPv4 blocks by route table
	bySubnet6 := map[string][]netip.Prefix{} // IPv6 blocks by route table
	natSubnets := map[string][]netip.Prefix{}
	for _, sn := range n.Subnets {
		if sn.VpcID != vpc || !sn.CIDR.Addr().Is4() {
			continue
		}
		id, ok := assoc[sn.ID]
		if !ok {
			if main == nil {
				continue // no table: the main table's throw routes are all a subnet would have
			}
			id = main.ID
		}
		bySubnet[id] = append(bySubnet[id], sn.CIDR.Masked())
		if sn.IPv6CIDR.Addr().Is6() {
			bySubnet6[id] = append(bySubnet6[id], sn.IPv6CIDR.Masked())
		}
	}
	var open6 []dataplane.Open6
	if tables != nil {
		// Free the numbers of tables gone first, so that a new table may take one.
		ids := map[string]bool{}
		for _, t := range mine {
			ids[t.ID] = true
		}
		tables.keep(vpc, ids)
	}
	for _, t := range mine {
		num := netlab.TableNumber(t.ID)
		if tables != nil {
			num = tables.number(vpc, t.ID)
		}
		kt := netlab.RouteTable{Table: num, Subnets: append(slices.Clone(bySubnet[t.ID]), bySubnet6[t.ID]...)}
		for _, r := range t.Routes {
			dsts := []netip.Prefix{r.Dest}
			if r.DestPrefixList != "" {
				dsts = nil
				if pl := lists[r.DestPrefixList]; pl != nil {
					for _, e := range pl.Entries {
						dsts = append(dsts, e.CIDR)
					}
				}
			}
			route := netlab.Route{Target: netlab.TargetBlackhole}
			var via *model.NATGateway // the NAT gateway the route goes to, if available
			switch tg := r.Target; {
			case tg.Local:
				route.Target = netlab.TargetLocal
			case tg.GatewayID != "":
				if igwAttached(n.IGWs, tg.GatewayID, vpc) {
					route.Target = netlab.TargetGateway
				}
			case tg.EgressOnlyIGWID != "":
				if eigw[tg.EgressOnlyIGWID] {
					route.Target = netlab.TargetEgressOnly
				}
			case tg.NatGatewayID != "":
				// A NAT gateway's traffic leaves by the internet gateway: without one
				// attached it goes nowhere.
				if g := nat[tg.NatGatewayID]; g != nil && !gone[g.ID] && igw {
					route.Target, via = netlab.TargetNAT, g
					if !place.remoteNAT(g) {
						natSubnets[g.ID] = append(natSubnets[g.ID], bySubnet[t.ID]...)
					}
				}
			case tg.NetworkInterfaceID != "":
				e := idx.enis[tg.NetworkInterfaceID]
				if tg.InstanceID != "" {
					if in := idx.instances[tg.InstanceID]; in == nil || !model.Forwards(in.State) {
						e = nil
					}
				}
				if e != nil && e.PrivateIP.Is4() {
					route.Target, route.Link, route.Via = netlab.TargetInterface, names.Link(e.ID), e.PrivateIP
				}
			}
			for _, d := range dsts {
				if !d.IsValid() {
					continue
				}
				if via != nil && d.Addr().Is4() {
					leg := natLeg(d.Masked(), t, natTableOf(mine, assoc, main, via), vpc, n.IGWs, lists)
					if place.remoteNAT(via) {
						leg = overNAT(leg, names.Overlay(vpc), via.PrivateIP)
					}
					kt.Routes = append(kt.Routes, leg...)
					continue
				}
				rd := route
				rd.Dst = d.Masked()
				if rd.Target == netlab.TargetInterface && d.Addr().Is6() {
					// An IPv6 route through an interface goes to its first IPv6 address; one
					// without is a blackhole.
					rd.Target, rd.Via = netlab.TargetBlackhole, netip.Addr{}
					if e := idx.enis[r.Target.NetworkInterfaceID]; e != nil && len(e.IPv6) > 0 {
						rd.Target, rd.Via = netlab.TargetInterface, e.IPv6[0]
					}
				}
				kt.Routes = append(kt.Routes, rd)
			}
		}
		rt.Tables = append(rt.Tables, kt)
		if from := routedToGateway6(kt.Routes); len(from) > 0 {
			for _, sn := range bySubnet6[t.ID] {
				open6 = append(open6, dataplane.Open6{Subnet: sn, From: from})
			}
		}
	}
	slices.SortFunc(open6, func(a, b dataplane.Open6) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
	slices.SortFunc(rt.Tables, func(a, b netlab.RouteTable) int { return cmp.Compare(a.Table, b.Table) })

	if !igw && len(eigw) == 0 {
		return rt
	}
	up := names.UplinkOf(vpc)
	if place.Internet != "" {
		up.Internet = place.Internet
	}
	rt.Uplink = &up
	rt.Internet.Link = up.Link
	if v := idx.vpcs[vpc]; v != nil && !place.On() {
		// The VPC's IPv6 blocks: the replies of connections through an egress-only gateway
		// come back by them, and with an internet gateway the internet reaches them.
		for _, b := range v.IPv6Blocks() {
			rt.Public = append(rt.Public, b.CIDR.Masked())
		}
	}
	if place.On() {
		// On several hosts the block is spread over them: each host's router takes only its
		// own interfaces' IPv6 addresses (a shared internet has one route per prefix).
		for _, e := range n.ENIs {
			if e.VpcID != vpc || place.remote(e.ID) {
				continue
			}
			for _, a := range e.IPv6 {
				rt.Public = append(rt.Public, netip.PrefixFrom(a, 128))
			}
		}
	}
	if !igw {
		return rt // an egress-only gateway alone: IPv6 out, nothing in, no IPv4
	}
	rt.Internet.Open6 = open6
	public := map[netip.Addr]netip.Addr{}
	for _, e := range n.ENIs {
		if e.VpcID == vpc && e.PublicIP.Is4() && e.PrivateIP.Is4() && !place.remote(e.ID) {
			public[e.PublicIP] = e.PrivateIP
		}
	}
	for _, a := range n.Addresses {
		if !a.Associated() || natENI[a.ENIID] || !a.PublicIP.Is4() || !a.PrivateIP.Is4() || place.remote(a.ENIID) {
			continue
		}
		if e := idx.enis[a.ENIID]; e != nil && e.VpcID == vpc {
			public[a.PublicIP] = a.PrivateIP
		}
	}
	if len(public) > 0 {
		rt.Internet.Public = public
	}
	for _, id := range slices.Sorted(maps.Keys(nat)) {
		g := nat[id]
		if place.remoteNAT(g) {
			continue // its host translates and publishes it
		}
		rt.Internet.NAT = append(rt.Internet.NAT, dataplane.NATGateway{Public: g.PublicIP, Subnets: natSubnets[id]})
		rt.Public = append(rt.Public, netip.PrefixFrom(g.PublicIP, 32))
	}
	for a := range public {
		rt.Public = append(rt.Public, netip.PrefixFrom(a, 32))
	}
	slices.SortFunc(rt.Public, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	rt.Public = slices.Compact(rt.Public)
	return rt
}

// routedToGateway6 are the IPv6 addresses a table sends to the internet gateway, by longest
// prefix (a more specific route elsewhere takes its block back): the clients the internet
// gateway may let open connections to the table's subnets, since their replies go back by it.
func routedToGateway6(routes []netlab.Route) []netip.Prefix {
	var v6 []netlab.Route
	for _, r := range routes {
		// The VPC's own block (local) never comes from the internet: the ruleset drops it.
		if r.Dst.Addr().Is6() && r.Target != netlab.TargetLocal {
			v6 = append(v6, r)
		}
	}
	slices.SortStableFunc(v6, func(a, b netlab.Route) int { return cmp.Compare(a.Dst.Bits(), b.Dst.Bits()) })
	var b netipx.IPSetBuilder
	for _, r := range v6 {
		if r.Target == netlab.TargetGateway {
			b.AddPrefix(r.Dst)
		} else {
			b.RemovePrefix(r.Dst)
		}
	}
	s, _ := b.IPSet()
	return s.Prefixes()
}

// igwAttached reports whether an internet gateway exists and is attached to vpc.
func igwAttached(igws []*model.InternetGateway, id, vpc string) bool {
	return slices.ContainsFunc(igws, func(g *model.InternetGateway) bool { return g.ID == id && g.VpcID == vpc })
}
