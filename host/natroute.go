package host

import (
	"net/netip"
	"slices"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
)

// natLeg is the kernel form of route dst → NAT gateway g in table t. The router models the
// NAT gateway itself, so the gateway's own hop (on EC2, its subnet's route table decides
// where the gateway sends what it translated) has to be folded into the route: of the
// addresses this route decides (dst less the longer routes of t), those that g's subnet's
// table sends to the VPC's attached internet gateway go to the NAT (out by the uplink), the
// rest are blackholes. Without this a private subnet went out through a NAT gateway whose
// subnet has no route to the internet gateway (or routes back to the NAT gateway itself),
// which EC2 drops (the kernel differential test found it; policy/route.go agrees with EC2).
//
// natTable is g's subnet's table (nil: none); lists are the prefix lists by ID.
func natLeg(dst netip.Prefix, t, natTable *model.RouteTable, vpc string, igws []*model.InternetGateway,
	lists map[string]*model.PrefixList) []netlab.Route {
	expand := func(r model.Route) []netip.Prefix {
		if r.DestPrefixList == "" {
			return []netip.Prefix{r.Dest}
		}
		var out []netip.Prefix
		if pl := lists[r.DestPrefixList]; pl != nil {
			for _, e := range pl.Entries {
				out = append(out, e.CIDR)
			}
		}
		return out
	}
	if !slices.ContainsFunc(igws, func(g *model.InternetGateway) bool { return g.VpcID == vpc }) {
		// No gateway attached: no uplink either, and SetRoutes makes the route a blackhole.
		return []netlab.Route{{Dst: dst, Target: netlab.TargetNAT}}
	}
	var decided netipx.IPSetBuilder
	decided.AddPrefix(dst)
	for _, r := range t.Routes {
		for _, p := range expand(r) {
			if p.Addr().Is4() && p.Bits() > dst.Bits() {
				decided.RemovePrefix(p.Masked())
			}
		}
	}
	var out netipx.IPSetBuilder
	if natTable != nil {
		// Longest prefix first wins: apply the NAT subnet's routes from the shortest.
		type route struct {
			p   netip.Prefix
			igw bool
		}
		var rs []route
		for _, r := range natTable.Routes {
			igw := r.Target.GatewayID != "" && igwAttached(igws, r.Target.GatewayID, vpc)
			for _, p := range expand(r) {
				if p.Addr().Is4() {
					rs = append(rs, route{p.Masked(), igw})
				}
			}
		}
		for bits := 0; bits <= 32; bits++ {
			for _, r := range rs {
				if r.p.Bits() != bits {
					continue
				}
				if r.igw {
					out.AddPrefix(r.p)
				} else {
					out.RemovePrefix(r.p)
				}
			}
		}
	}
	d, _ := decided.IPSet()
	o, _ := out.IPSet()
	var via, drop netipx.IPSetBuilder
	via.AddSet(d)
	via.Intersect(o)
	drop.AddSet(d)
	drop.RemoveSet(o)
	viaSet, _ := via.IPSet()
	dropSet, _ := drop.IPSet()
	var routes []netlab.Route
	if len(viaSet.Prefixes()) == 0 {
		return []netlab.Route{{Dst: dst, Target: netlab.TargetBlackhole}}
	}
	if viaSet.Equal(d) {
		// The common case (a public subnet sends everything to the internet gateway): the
		// route as it is, one kernel route.
		return []netlab.Route{{Dst: dst, Target: netlab.TargetNAT}}
	}
	for _, p := range viaSet.Prefixes() {
		routes = append(routes, netlab.Route{Dst: p, Target: netlab.TargetNAT})
	}
	for _, p := range dropSet.Prefixes() {
		routes = append(routes, netlab.Route{Dst: p, Target: netlab.TargetBlackhole})
	}
	return routes
}

// natTableOf is the route table of NAT gateway g's subnet: its explicit association, or the
// VPC's main table (nil for none).
func natTableOf(tables []*model.RouteTable, assoc map[string]string, main *model.RouteTable, g *model.NATGateway) *model.RouteTable {
	id, ok := assoc[g.SubnetID]
	if !ok {
		return main
	}
	for _, t := range tables {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// overNAT sends the routes of a NAT gateway's leg (natLeg) to the gateway on another host:
// over the overlay link to the gateway's private address, which the overlay's entries give
// the gateway's host's router MAC. Without that address they are blackholes.
func overNAT(leg []netlab.Route, overlay string, gw netip.Addr) []netlab.Route {
	out := slices.Clone(leg)
	for i, r := range out {
		if r.Target != netlab.TargetNAT {
			continue
		}
		out[i].Target = netlab.TargetBlackhole
		if gw.Is4() {
			out[i].Target, out[i].Link, out[i].Via = netlab.TargetInterface, overlay, gw
		}
	}
	return out
}
