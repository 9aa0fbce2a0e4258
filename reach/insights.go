package reach

import (
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
		if b.Routing != nil {
			e.NetworkInterface = "" // the route table's subnet, not the interface, blocks
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
	if ans.From.Interface != "" {
		fwd = append(fwd, a.eniHop(ans.From, ex.EgressRules, true))
	}
	if r := ex.SourceNACL; r != nil {
		fwd = append(fwd, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, true, ans.From.Subnet), Subnet: ans.From.Subnet, VPC: ans.From.VPC})
	}
	if r := ex.DestNACL; r != nil {
		fwd = append(fwd, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, false, ans.To.Subnet), Subnet: ans.To.Subnet, VPC: ans.To.VPC})
	}
	if ans.To.Interface != "" {
		fwd = append(fwd, a.eniHop(ans.To, ex.IngressRules, false))
	}
	if ans.Return != nil && len(ans.Blockers) == 0 {
		if ans.To.Interface != "" {
			ret = append(ret, model.InsightsHop{Component: ans.To.Interface, Subnet: ans.To.Subnet, VPC: ans.To.VPC})
		}
		if r := ans.Return.DestNACL; r != nil {
			ret = append(ret, model.InsightsHop{Component: r.ACLID, ACLRule: a.aclRule(r, true, ans.To.Subnet), Subnet: ans.To.Subnet, VPC: ans.To.VPC})
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
