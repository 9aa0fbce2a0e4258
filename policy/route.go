package policy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// This file is the routing half of a flow between an interface and the internet (an address
// that is not one of the snapshot's interfaces). AWS's model (Amazon VPC user guide, "Enable
// internet access for a VPC using an internet gateway" and "NAT gateways"):
//
//   - The interface's subnet uses its explicitly associated route table, or its VPC's main one.
//     The route for an address is the longest prefix covering it; a CIDR route beats a
//     prefix-list route of the same length; VPC addresses always stay local.
//   - Out to the internet: the route goes to the VPC's attached internet gateway and the
//     interface has a public IPv4 address (launch-time or Elastic IP; IPv6 addresses are
//     public themselves), or to an egress-only internet gateway of the VPC (IPv6), or to an
//     available public NAT gateway (IPv4) whose own subnet's route for the address goes to the
//     attached internet gateway; the peer then sees the NAT gateway's address.
//   - In from the internet: the interface has a public address and its route back to the peer
//     goes to the attached internet gateway (replies must leave the way the request came in).
//     Nothing opens a connection through a NAT gateway or an egress-only gateway.
//   - A blackhole route (a target that is gone) drops; so does a subnet without a route.
//
// Left out, and treated as "no path to the internet": routes to an interface (an appliance
// such as a NAT instance) for internet addresses — the analyser explains them as a hop through
// the appliance, the verdict does not follow it; the NAT gateway's own subnet's network ACL;
// the internet gateway's refusal of RFC 1918 and RFC 6598 destinations.

// Reachability Analyzer explanation codes for routing (Amazon VPC Reachability Analyzer,
// "Explanation codes").
const (
	// CodeNoRoute: the route table has no applicable route to the destination.
	CodeNoRoute = "NO_ROUTE_TO_DESTINATION"
	// CodeBadRoute: the route is not functional (a blackhole: its target is gone, detached or
	// not available).
	CodeBadRoute = "BAD_STATE_ROUTE"
	// CodeNoPublicIPEgress: traffic cannot leave through the internet gateway from an address
	// that is not paired with a public address.
	CodeNoPublicIPEgress = "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"
	// CodeNoPublicIPIngress: the internet gateway rejects inbound traffic to an interface that
	// has no public address.
	CodeNoPublicIPIngress = "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS"
)

// Routing is how a flow between an interface and an internet address is routed, and what
// stops it if anything does.
type Routing struct {
	// Code is empty when the path exists, else the Reachability Analyzer explanation code.
	Code string `json:"code,omitempty"`
	// RouteTable is the interface's subnet's route table, Route the destination of its route
	// that decides ("0.0.0.0/0", a prefix-list ID; empty for none) and Target that route's
	// target (igw-…, nat-…, eni-…, eigw-…, local).
	RouteTable string `json:"routeTable,omitempty"`
	Route      string `json:"route,omitempty"`
	Target     string `json:"target,omitempty"`
	// NATGateway is the NAT gateway the flow leaves through, with NATRouteTable and NATRoute
	// the route of its subnet that decides.
	NATGateway    string `json:"natGateway,omitempty"`
	NATRouteTable string `json:"natRouteTable,omitempty"`
	NATRoute      string `json:"natRoute,omitempty"`
	// Gateway is the VPC's attached internet gateway ("" for none), whether or not the flow
	// uses it; PublicIP is the address the internet sees (the interface's or the NAT
	// gateway's), invalid when there is none.
	Gateway  string     `json:"internetGateway,omitempty"`
	PublicIP netip.Addr `json:"publicIp,omitzero"`
}

// OK reports whether the route exists.
func (r Routing) OK() bool { return r.Code == "" }

// rtable is one route table prepared for longest-prefix lookups.
type rtable struct {
	t      *model.RouteTable
	routes []rroute // by prefix length, prefix-list routes before CIDR routes of a length
}

type rroute struct {
	prefix netip.Prefix
	route  *model.Route
}

// routing is the compiled routing of a snapshot.
type routing struct {
	tables   map[string]*rtable           // route table ID → table
	bySubnet map[string]*rtable           // subnet ID → its table (explicit, or main)
	igw      map[string]string            // VPC ID → its attached internet gateway
	eigws    map[string]string            // egress-only gateway ID → its VPC
	nats     map[string]*model.NATGateway // NAT gateway ID → gateway
	public   map[string]netip.Addr        // interface ID → its public IPv4 address
	enis     map[string]*model.NetworkInterface
	vpcs     map[string]*netipx.IPSet
	hasRoute map[string]bool // VPCs with at least one route table in the snapshot
	subnetOf map[string]string
	halted   map[string]bool // stopped instances: routes to them are blackholes
}

func compileRouting(s netmap.Snapshot, lists map[string]*model.PrefixList, vpcs map[string]*netipx.IPSet) *routing {
	r := &routing{tables: map[string]*rtable{}, bySubnet: map[string]*rtable{}, igw: map[string]string{}, eigws: map[string]string{},
		nats: map[string]*model.NATGateway{}, public: map[string]netip.Addr{}, enis: map[string]*model.NetworkInterface{},
		vpcs: vpcs, hasRoute: map[string]bool{}, subnetOf: map[string]string{}, halted: s.Halted}
	for _, g := range s.IGWs {
		if g.VpcID != "" {
			r.igw[g.VpcID] = g.ID
		}
	}
	for _, g := range s.EgressIGWs {
		r.eigws[g.ID] = g.VpcID
	}
	for _, g := range s.NATGateways {
		r.nats[g.ID] = g
	}
	for _, n := range s.ENIs {
		r.enis[n.ID] = n
		r.subnetOf[n.ID] = n.SubnetID
		if n.PublicIP.IsValid() {
			r.public[n.ID] = n.PublicIP
		}
	}
	// An Elastic IP on the primary private address is the one EC2 shows; one on a secondary
	// address still makes the interface reachable.
	for _, a := range s.Addresses {
		if !a.Associated() {
			continue
		}
		n := r.enis[a.ENIID]
		if _, ok := r.public[a.ENIID]; !ok || (n != nil && a.PrivateIP == n.PrivateIP) {
			r.public[a.ENIID] = a.PublicIP
		}
	}
	mains := map[string]*rtable{}
	for _, t := range s.RouteTables {
		rt := &rtable{t: t}
		for i := range t.Routes {
			rr := &t.Routes[i]
			if rr.DestPrefixList != "" {
				if pl := lists[rr.DestPrefixList]; pl != nil {
					for _, e := range pl.Entries {
						rt.routes = append(rt.routes, rroute{e.CIDR.Masked(), rr})
					}
				}
				continue
			}
			rt.routes = append(rt.routes, rroute{rr.Dest.Masked(), rr})
		}
		slices.SortStableFunc(rt.routes, func(a, b rroute) int {
			if c := cmp.Compare(a.prefix.Bits(), b.prefix.Bits()); c != 0 {
				return c
			}
			// Of two routes of one length, the CIDR route wins: it sorts last.
			return cmp.Compare(boolInt(a.route.DestPrefixList == ""), boolInt(b.route.DestPrefixList == ""))
		})
		r.tables[t.ID] = rt
		r.hasRoute[t.VpcID] = true
		for _, a := range t.Assocs {
			switch {
			case a.Main:
				mains[t.VpcID] = rt
			case a.SubnetID != "":
				r.bySubnet[a.SubnetID] = rt
			}
		}
	}
	for _, sn := range s.Subnets {
		if r.bySubnet[sn.ID] == nil && mains[sn.VpcID] != nil {
			r.bySubnet[sn.ID] = mains[sn.VpcID]
		}
	}
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lookup is the route of t for address a: the longest prefix covering it, nil for none. The
// VPC's own addresses are local whatever the table says.
func (t *rtable) lookup(a netip.Addr) *model.Route {
	for i := len(t.routes) - 1; i >= 0; i-- {
		if t.routes[i].prefix.Contains(a) {
			return t.routes[i].route
		}
	}
	return nil
}

// usable reports whether a route's target exists for VPC vpc (not a blackhole).
func (r *routing) usable(vpc string, rt *model.Route) bool {
	tg := rt.Target
	switch {
	case tg.Local:
		return true
	case tg.GatewayID != "":
		return r.igw[vpc] == tg.GatewayID
	case tg.EgressOnlyIGWID != "":
		return r.eigws[tg.EgressOnlyIGWID] == vpc
	case tg.NatGatewayID != "":
		g := r.nats[tg.NatGatewayID]
		return g != nil && g.State == model.NATAvailable
	case tg.NetworkInterfaceID != "":
		// A route to an instance follows the instance: stopped, it forwards nothing.
		return r.enis[tg.NetworkInterfaceID] != nil && !(tg.InstanceID != "" && r.halted[tg.InstanceID])
	}
	return false
}

func routeDest(rt *model.Route) string {
	if rt.DestPrefixList != "" {
		return rt.DestPrefixList
	}
	return rt.Dest.String()
}

func targetName(tg model.RouteTarget) string {
	switch {
	case tg.Local:
		return "local"
	case tg.GatewayID != "":
		return tg.GatewayID
	case tg.EgressOnlyIGWID != "":
		return tg.EgressOnlyIGWID
	case tg.NatGatewayID != "":
		return tg.NatGatewayID
	case tg.InstanceID != "":
		return tg.InstanceID
	}
	return tg.NetworkInterfaceID
}

// known reports whether the snapshot says how the VPC routes: a snapshot without any of its
// route tables (an older or partial offline one) is not judged on routing at all, as a subnet
// without a known network ACL is not judged on ACLs.
func (r *routing) known(vpc string) bool { return r.hasRoute[vpc] }

// internet is the slow, explaining answer for interface n and remote internet address a;
// inbound is a connection opened from a.
func (r *routing) internet(n *model.NetworkInterface, a netip.Addr, inbound bool) Routing {
	out := Routing{Gateway: r.igw[n.VpcID]}
	if a.Is4() {
		out.PublicIP = r.public[n.ID]
	}
	rt := r.bySubnet[n.SubnetID]
	if rt == nil {
		out.Code = CodeNoRoute
		return out
	}
	out.RouteTable = rt.t.ID
	route := rt.lookup(a)
	if v := r.vpcs[n.VpcID]; v != nil && v.Contains(a) {
		// A VPC address stays in the VPC (the local route), and no interface holds it.
		out.Target = "local"
		out.Code = CodeNoRoute
		return out
	}
	if route == nil {
		out.Code = CodeNoRoute
		return out
	}
	out.Route, out.Target = routeDest(route), targetName(route.Target)
	if !r.usable(n.VpcID, route) {
		out.Code = CodeBadRoute
		return out
	}
	tg := route.Target
	switch {
	case tg.GatewayID != "":
		if a.Is4() && !out.PublicIP.IsValid() {
			out.Code = CodeNoPublicIPEgress
			if inbound {
				out.Code = CodeNoPublicIPIngress
			}
		}
		return out
	case tg.EgressOnlyIGWID != "" && a.Is6() && !inbound:
		return out
	case tg.NatGatewayID != "" && a.Is4() && !inbound:
		g := r.nats[tg.NatGatewayID]
		out.NATGateway = g.ID
		out.PublicIP = g.PublicIP
		if g.ConnectivityType == model.NATPrivate || !g.PublicIP.IsValid() {
			out.Code = CodeNoPublicIPEgress
			return out
		}
		nt := r.bySubnet[g.SubnetID]
		if nt == nil {
			out.Code = CodeNoRoute
			return out
		}
		out.NATRouteTable = nt.t.ID
		nr := nt.lookup(a)
		if nr == nil {
			out.Code = CodeNoRoute
			return out
		}
		out.NATRoute = routeDest(nr)
		switch {
		case !r.usable(g.VpcID, nr):
			out.Code = CodeBadRoute
		case nr.Target.GatewayID == "":
			out.Code = CodeNoRoute
		}
		return out
	}
	// Local, an appliance interface, a NAT or egress-only gateway for a connection from the
	// internet, or a gateway of the other family: no path the verdict follows.
	out.Code = CodeNoRoute
	if inbound && (tg.NatGatewayID != "" || tg.EgressOnlyIGWID != "") && !out.PublicIP.IsValid() && a.Is4() {
		out.Code = CodeNoPublicIPIngress
	}
	return out
}

// inetIndex is the fast path's form of an interface's routing to the internet: the remote
// addresses it may open connections to (out) and accept connections from (in). Both already
// exclude the VPC's own addresses.
type inetIndex struct {
	in, out fastSet
}

// inetFor builds (or reuses, for interfaces of the same subnet and public addressing) the
// index of interface n; nil when the snapshot does not say how n's VPC routes.
func (r *routing) inetFor(n *model.NetworkInterface, cache map[string]*inetIndex) (*inetIndex, error) {
	if !r.known(n.VpcID) {
		return nil, nil
	}
	_, public := r.public[n.ID]
	key := n.SubnetID + "|" + strings.Repeat("p", boolInt(public))
	if x := cache[key]; x != nil {
		return x, nil
	}
	in, err := r.reachSet(n.VpcID, r.bySubnet[n.SubnetID], public, true)
	if err != nil {
		return nil, err
	}
	out, err := r.reachSet(n.VpcID, r.bySubnet[n.SubnetID], public, false)
	if err != nil {
		return nil, err
	}
	x := &inetIndex{newFastSet(in), newFastSet(out)}
	cache[key] = x
	return x, nil
}

var (
	all4 = netip.MustParsePrefix("0.0.0.0/0")
	all6 = netip.MustParsePrefix("::/0")
)

// reachSet is the set of internet addresses that table t (of VPC vpc) routes to the internet
// for an interface with (public) or without a public IPv4 address, for connections opened
// from the internet (inbound) or to it. The routes are applied from the shortest prefix to
// the longest, each first removing its whole prefix and then adding back what it carries, so
// that every address ends up decided by its longest-prefix route — the same answer as
// internet's lookup, as a set.
func (r *routing) reachSet(vpc string, t *rtable, public, inbound bool) (*netipx.IPSet, error) {
	var b netipx.IPSetBuilder
	if t == nil {
		return b.IPSet()
	}
	for _, rr := range t.routes {
		b.RemovePrefix(rr.prefix)
		if set := r.routeReaches(vpc, rr.route, public, inbound); set != nil {
			var x netipx.IPSetBuilder
			x.AddPrefix(rr.prefix)
			x.Intersect(set)
			s, err := x.IPSet()
			if err != nil {
				return nil, err
			}
			b.AddSet(s)
		}
	}
	if v := r.vpcs[vpc]; v != nil {
		b.RemoveSet(v)
	}
	return b.IPSet()
}

// routeReaches is the set of addresses a route carries to the internet (to be cut to its
// prefix), nil for none.
func (r *routing) routeReaches(vpc string, rt *model.Route, public, inbound bool) *netipx.IPSet {
	if !r.usable(vpc, rt) {
		return nil
	}
	tg := rt.Target
	var b netipx.IPSetBuilder
	switch {
	case tg.GatewayID != "":
		if public {
			b.AddPrefix(all4)
		}
		b.AddPrefix(all6)
	case tg.EgressOnlyIGWID != "" && !inbound:
		b.AddPrefix(all6)
	case tg.NatGatewayID != "" && !inbound:
		g := r.nats[tg.NatGatewayID]
		if g.ConnectivityType == model.NATPrivate || !g.PublicIP.IsValid() {
			return nil
		}
		// The NAT gateway's own subnet must send the address to the internet gateway (a
		// route on to another NAT gateway or an appliance is not followed), IPv4 only.
		b.AddSet(r.igwSet(g.VpcID, r.bySubnet[g.SubnetID]))
		b.RemovePrefix(all6)
	default:
		return nil
	}
	s, _ := b.IPSet()
	return s
}

// igwSet is the set of internet addresses table t routes to VPC vpc's attached internet
// gateway, by longest prefix.
func (r *routing) igwSet(vpc string, t *rtable) *netipx.IPSet {
	var b netipx.IPSetBuilder
	if t != nil {
		for _, rr := range t.routes {
			b.RemovePrefix(rr.prefix)
			if rr.route.Target.GatewayID != "" && r.usable(vpc, rr.route) {
				b.AddPrefix(rr.prefix)
			}
		}
	}
	if v := r.vpcs[vpc]; v != nil {
		b.RemoveSet(v)
	}
	s, _ := b.IPSet()
	return s
}
