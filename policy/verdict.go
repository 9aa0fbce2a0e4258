package policy

import (
	"fmt"
	"net/netip"

	"github.com/stockade/stockade/model"
)

// Stage is where a flow was decided.
type Stage uint8

const (
	// Admitted: every check on the path allowed the flow.
	Admitted Stage = iota
	// SourceEgress: no egress rule of the source interface's groups admits it.
	SourceEgress
	// SourceNACL: the network ACL of the source subnet denies it leaving the subnet.
	SourceNACL
	// DestNACL: the network ACL of the destination subnet denies it entering the subnet.
	DestNACL
	// DestIngress: no ingress rule of the destination interface's groups admits it.
	DestIngress
	// NoRoute: the endpoints are in different VPCs (Stockade has no peering), neither is an
	// interface of the snapshot, or the flow is between an interface and the internet and its
	// routing does not carry it (route.go).
	NoRoute
	// UnknownEndpoint: an endpoint names an interface that is not in the snapshot.
	UnknownEndpoint
)

var stageNames = [...]string{"admitted", "source security groups (egress)", "source subnet network ACL (outbound)",
	"destination subnet network ACL (inbound)", "destination security groups (ingress)", "no route", "unknown interface"}

func (s Stage) String() string {
	if int(s) >= len(stageNames) {
		return fmt.Sprintf("Stage(%d)", int(s))
	}
	return stageNames[s]
}

// MarshalText renders a stage by name in JSON.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Verdict is the fast answer: allowed, or the first stage that blocks.
func (p *Policy) Verdict(src, dst Endpoint, f Flow) Stage {
	s, d, stage := p.ends(src, dst)
	if stage != Admitted {
		return stage
	}
	// One end is the internet: the interface's routing must carry the flow (both ways: the
	// sets hold only addresses whose replies return the same way). Each address is probed
	// once for the routing and the groups.
	dp, sp := probeOf(f.Dst), probeOf(f.Src)
	if s == nil && d.inet != nil && !d.inet.in.contains(sp) {
		return NoRoute
	}
	if d == nil && s.inet != nil && !s.inet.out.contains(dp) {
		return NoRoute
	}
	if s != nil && !s.rules.get().out.allowsProbe(f, dp) {
		return SourceEgress
	}
	if crosses(s, d) && !naclAllows(s.acl, true, f, f.Dst) {
		return SourceNACL
	}
	if crosses(d, s) && !naclAllows(d.acl, false, f, f.Src) {
		return DestNACL
	}
	if d != nil && !d.rules.get().in.allowsProbe(f, sp) {
		return DestIngress
	}
	return Admitted
}

func (p *Policy) ends(src, dst Endpoint) (s, d *iface, stage Stage) {
	if src.ENI != "" {
		if s = p.byID.get(src.ENI); s == nil {
			return nil, nil, UnknownEndpoint
		}
	}
	if dst.ENI != "" {
		if d = p.byID.get(dst.ENI); d == nil {
			return nil, nil, UnknownEndpoint
		}
	}
	if (s == nil && d == nil) || (s != nil && d != nil && s.vpc != d.vpc) {
		return nil, nil, NoRoute
	}
	return s, d, Admitted
}

// naclAllows walks a subnet's NACL in rule-number order; the first entry matching decides and
// no match denies. A subnet without a known NACL (idx nil: an incomplete offline snapshot)
// allows, and so does a NACL open to the remote address's family, without the walk.
func naclAllows(idx *naclIndex, egress bool, f Flow, remote netip.Addr) bool {
	return idx == nil || idx.allows(egress, f, remote) // small enough to inline the nil case
}

func (idx *naclIndex) allows(egress bool, f Flow, remote netip.Addr) bool {
	open := &idx.inOpen
	if egress {
		open = &idx.egressOpen
	}
	if remote.Is4() && open.v4 || remote.Is6() && open.v6 {
		return true
	}
	e := idx.firstMatch(egress, f, remote)
	return e != nil && e.Allow // no match: the implicit deny, without allocating its entry
}

// firstMatch is the entry of the NACL that decides the flow, or nil if none matches.
func (idx *naclIndex) firstMatch(egress bool, f Flow, remote netip.Addr) *model.NACLEntry {
	entries := idx.in
	if egress {
		entries = idx.egress
	}
	for i := range entries {
		if naclMatches(&entries[i], f, remote) {
			return &entries[i]
		}
	}
	return nil
}

func naclDecision(idx *naclIndex, egress bool, f Flow, remote netip.Addr) *model.NACLEntry {
	if idx == nil {
		return nil
	}
	if e := idx.firstMatch(egress, f, remote); e != nil {
		return e
	}
	// No entry matched: the implicit deny-all of the flow's family decides (AWS numbers it
	// 32767 for IPv4 and 32768 for IPv6, shown as "*").
	if remote.Is6() {
		return &model.NACLEntry{RuleNumber: model.NACLDenyAllIPv6, Egress: egress, Protocol: "-1"}
	}
	return &model.NACLEntry{RuleNumber: model.NACLDenyAllIPv4, Egress: egress, Protocol: "-1"}
}

// RuleRef names a security-group rule.
type RuleRef struct {
	GroupID string `json:"groupId"`
	RuleID  string `json:"ruleId"`
}

// NACLRef names the NACL entry that decided at a subnet boundary.
type NACLRef struct {
	ACLID      string `json:"networkAclId"`
	RuleNumber int    `json:"ruleNumber"`
	Allow      bool   `json:"allow"`
}

// Explanation is the full answer for one flow.
type Explanation struct {
	Decision Stage `json:"decision"`
	// EgressRules and IngressRules are every rule that admits the flow at the source's egress
	// and at the destination's ingress (nil for an outside endpoint).
	EgressRules  []RuleRef `json:"egressRules,omitempty"`
	IngressRules []RuleRef `json:"ingressRules,omitempty"`
	// SourceNACL and DestNACL are the entries that decided at the subnet boundaries crossed
	// (nil when no boundary is crossed there).
	SourceNACL *NACLRef `json:"sourceNacl,omitempty"`
	DestNACL   *NACLRef `json:"destinationNacl,omitempty"`
	// Routing is how a flow between an interface and the internet is routed (nil between two
	// interfaces, and when the snapshot has none of the VPC's route tables).
	Routing *Routing `json:"routing,omitempty"`
}

// Allowed reports whether the flow gets through.
func (e Explanation) Allowed() bool { return e.Decision == Admitted }

// String is a one-paragraph account for people.
func (e Explanation) String() string {
	if e.Allowed() {
		return fmt.Sprintf("allowed: egress by %v, ingress by %v, NACLs %v / %v", e.EgressRules, e.IngressRules, e.SourceNACL, e.DestNACL)
	}
	return "blocked at " + e.Decision.String()
}

// Explain answers like Verdict but walks the rules, recording every rule that admits the flow
// at each end and the NACL entries that decide. It is the slow path: allocation and a scan of
// the rules, well under a millisecond at full quotas.
func (p *Policy) Explain(src, dst Endpoint, f Flow) Explanation {
	s, d, stage := p.ends(src, dst)
	ex := Explanation{Decision: stage}
	if stage != Admitted {
		return ex
	}
	if s == nil && d.inet != nil {
		r := p.routing.internet(d.n, f.Src, true)
		ex.Routing = &r
	}
	if d == nil && s.inet != nil {
		r := p.routing.internet(s.n, f.Dst, false)
		ex.Routing = &r
	}
	if s != nil {
		ex.EgressRules = p.matching(s, true, f, f.Dst)
	}
	if d != nil {
		ex.IngressRules = p.matching(d, false, f, f.Src)
	}
	if crosses(s, d) {
		ex.SourceNACL = naclRef(s.acl, true, f, f.Dst)
	}
	if crosses(d, s) {
		ex.DestNACL = naclRef(d.acl, false, f, f.Src)
	}
	switch {
	case ex.Routing != nil && !ex.Routing.OK():
		ex.Decision = NoRoute
	case s != nil && len(ex.EgressRules) == 0:
		ex.Decision = SourceEgress
	case ex.SourceNACL != nil && !ex.SourceNACL.Allow:
		ex.Decision = SourceNACL
	case ex.DestNACL != nil && !ex.DestNACL.Allow:
		ex.Decision = DestNACL
	case d != nil && len(ex.IngressRules) == 0:
		ex.Decision = DestIngress
	}
	return ex
}

func (p *Policy) matching(f *iface, egress bool, fl Flow, a netip.Addr) []RuleRef {
	var out []RuleRef
	for _, g := range f.groups {
		rs := g.Rules(egress)
		for i := range rs {
			if ruleMatches(&rs[i], fl, a, p.peerContains) {
				out = append(out, RuleRef{g.ID, rs[i].ID})
			}
		}
	}
	return out
}

func naclRef(idx *naclIndex, egress bool, f Flow, remote netip.Addr) *NACLRef {
	if idx == nil {
		return nil
	}
	e := naclDecision(idx, egress, f, remote)
	return &NACLRef{ACLID: idx.acl.ID, RuleNumber: e.RuleNumber, Allow: e.Allow}
}
