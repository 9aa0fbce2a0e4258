package reach

import (
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// Insights renders an answer as a Network Insights analysis result: whether a path was found,
// the explanations (with Reachability Analyzer's codes) of what blocks it, and the components
// of the forward and return paths with the rules and ACL entries that decided at each.
func (a *Analyser) Insights(ans Answer) (found bool, expl []model.InsightsExplanation, fwd, ret []model.InsightsHop) {
	for _, b := range ans.Blockers {
		e := model.InsightsExplanation{Code: b.Code, Direction: b.Direction, NetworkInterface: b.Interface,
			SecurityGroups: b.SecurityGroups, Subnet: b.Subnet}
		if b.NACL != nil {
			e.ACL = b.NACL.ACLID
			e.ACLRule = a.aclRule(b.NACL, b.Direction == "egress", b.Subnet)
		}
		if r := b.Routing; r != nil {
			e.NetworkInterface = "" // the route table's subnet, not the interface, blocks
			e.RouteTable, e.InternetGateway = r.RouteTable, r.Gateway
			if g := ans.From.Gateway + ans.To.Gateway; g != "" {
				e.InternetGateway = g
			}
			if r.Route != "" {
				e.Route = &model.InsightsRoute{Destination: r.Route, Target: r.Target, State: routeState(r)}
			}
		}
		switch {
		case b.Interface != "":
			e.VPC = a.enis[b.Interface].VpcID
		case b.Stage == policy.NoRoute:
			e.VPC = ans.To.VPC
		}
		expl = append(expl, e)
	}
	ex := ans.Forward
	// To or from the internet, the interface's route table, the NAT gateway it goes through
	// and the internet gateway are components too, as Reachability Analyzer shows them: on the
	// forward path when the interface opens the connection, on the return path (the replies
	// leave by the route) when the internet does.
	var gateway []model.InsightsHop
	if r := ex.Routing; r != nil && r.OK() {
		gateway = routeHops(r, ans.From, ans.To)
	}
	if ans.From.Gateway != "" {
		fwd = append(fwd, model.InsightsHop{Component: ans.From.Gateway, VPC: ans.To.VPC})
	}
	if ans.From.Interface != "" {
		fwd = append(fwd, a.eniHop(ans.From, ex.EgressRules, true))
	}
	if r := ex.SourceNACL; r != nil {
		fwd = append(fwd, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, true, ans.From.Subnet), Subnet: ans.From.Subnet, VPC: ans.From.VPC})
	}
	if ans.From.Interface != "" && ans.To.Interface == "" {
		fwd = append(fwd, gateway...)
	}
	if r := ex.DestNACL; r != nil {
		fwd = append(fwd, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, false, ans.To.Subnet), Subnet: ans.To.Subnet, VPC: ans.To.VPC})
	}
	if ans.To.Interface != "" {
		fwd = append(fwd, a.eniHop(ans.To, ex.IngressRules, false))
	}
	if ans.Return != nil && len(ans.Blockers) == 0 {
		if ans.To.Gateway != "" {
			ret = append(ret, model.InsightsHop{Component: ans.To.Gateway, VPC: ans.From.VPC})
		}
		if ans.To.Interface != "" {
			ret = append(ret, model.InsightsHop{Component: ans.To.Interface, Subnet: ans.To.Subnet, VPC: ans.To.VPC})
		}
		if r := ans.Return.DestNACL; r != nil {
			ret = append(ret, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, true, ans.To.Subnet), Subnet: ans.To.Subnet, VPC: ans.To.VPC})
		}
		if ans.To.Interface != "" && ans.From.Interface == "" {
			ret = append(ret, gateway...)
		}
		if r := ans.Return.SourceNACL; r != nil {
			ret = append(ret, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, false, ans.From.Subnet), Subnet: ans.From.Subnet, VPC: ans.From.VPC})
		}
		if ans.From.Interface != "" {
			ret = append(ret, model.InsightsHop{Component: ans.From.Interface, Subnet: ans.From.Subnet, VPC: ans.From.VPC})
		}
	}
	return ans.Reachable, expl, fwd, ret
}

// routeHops are the components between an interface and the internet, leaving the VPC: the
// interface's route table with the deciding route, then for a NAT gateway the gateway and its
// subnet's route table, and the internet gateway (the one a gateway end named, else the VPC's;
// none for an egress-only gateway's route).
func routeHops(r *policy.Routing, from, to Endpoint) []model.InsightsHop {
	eni, gw := from, to.Gateway
	if from.Interface == "" {
		eni, gw = to, from.Gateway
	}
	if gw == "" {
		gw = r.Gateway
	}
	var out []model.InsightsHop
	if r.RouteTable != "" && r.Route != "" {
		out = append(out, model.InsightsHop{Component: r.RouteTable, Route: &model.InsightsRoute{Destination: r.Route, Target: r.Target, State: model.RouteActive},
			Subnet: eni.Subnet, VPC: eni.VPC})
	}
	if r.NATGateway != "" {
		out = append(out, model.InsightsHop{Component: r.NATGateway, VPC: eni.VPC})
		if r.NATRouteTable != "" {
			out = append(out, model.InsightsHop{Component: r.NATRouteTable, Route: &model.InsightsRoute{Destination: r.NATRoute, Target: gw, State: model.RouteActive}, VPC: eni.VPC})
		}
	}
	if gw != "" && (strings.HasPrefix(r.Target, "igw-") || r.NATGateway != "") {
		out = append(out, model.InsightsHop{Component: gw, VPC: eni.VPC})
	}
	return out
}

// routeState is the state of a routing blocker's route: a blackhole when its target is gone.
func routeState(r *policy.Routing) string {
	if r.Code == policy.CodeBadRoute {
		return model.RouteBlackhole
	}
	return model.RouteActive
}

// eniHop is an interface on the path with the first rule that admitted the traffic there.
func (a *Analyser) eniHop(e Endpoint, admitted []policy.RuleRef, egress bool) model.InsightsHop {
	h := model.InsightsHop{Component: e.Interface, Subnet: e.Subnet, VPC: e.VPC}
	if len(admitted) == 0 {
		return h
	}
	g := a.groups[admitted[0].GroupID]
	if g == nil {
		return h
	}
	for _, r := range g.Rules(egress) {
		if r.ID != admitted[0].RuleID {
			continue
		}
		sr := &model.InsightsSGRule{GroupID: g.ID, Direction: "ingress", Protocol: r.Protocol, PrefixListID: r.Peer.PrefixListID, PeerGroupID: r.Peer.GroupID}
		if egress {
			sr.Direction = "egress"
		}
		if r.Peer.CIDR.IsValid() {
			sr.CIDR = r.Peer.CIDR.String()
		}
		if r.Protocol == model.ProtoTCP || r.Protocol == model.ProtoUDP {
			sr.HasPorts, sr.FromPort, sr.ToPort = true, r.FromPort, r.ToPort
		}
		h.SGRule = sr
		break
	}
	return h
}

// aclRule is the entry an ACL decided with; the implicit deny-all when no entry matched.
func (a *Analyser) aclRule(ref *policy.NACLRef, egress bool, subnet string) *model.InsightsACLRule {
	out := &model.InsightsACLRule{Number: ref.RuleNumber, Egress: egress, Protocol: "-1", Action: "deny", CIDR: "0.0.0.0/0"}
	if ref.RuleNumber == model.NACLDenyAllIPv6 {
		out.CIDR = "::/0"
	}
	if ref.Allow {
		out.Action = "allow"
	}
	acl := a.nacls[subnet]
	if acl == nil {
		return out
	}
	if i := acl.Find(egress, ref.RuleNumber); i >= 0 {
		e := acl.Entries[i]
		out.Protocol, out.CIDR = e.Protocol, e.CIDR.String()
		if e.HasPorts {
			out.HasPorts, out.FromPort, out.ToPort = true, e.FromPort, e.ToPort
		}
	}
	return out
}
