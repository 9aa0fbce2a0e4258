package policy

import (
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// newNACLIndex sorts a NACL's entries per direction into evaluation order.
func newNACLIndex(acl *model.NACL) *naclIndex {
	idx := &naclIndex{acl: acl}
	for _, e := range acl.Entries {
		if e.Egress {
			idx.egress = append(idx.egress, e)
		} else {
			idx.in = append(idx.in, e)
		}
	}
	byNumber := func(a, b model.NACLEntry) int { return a.RuleNumber - b.RuleNumber }
	slices.SortFunc(idx.in, byNumber)
	slices.SortFunc(idx.egress, byNumber)
	idx.inOpen, idx.egressOpen = openFamilies(idx.in), openFamilies(idx.egress)
	return idx
}

// ACL is one network ACL on its own, whether or not a subnet uses it, for the questions an
// auditor asks of the ACL itself (audit-checks §1.7: "does the internet get to port 22?",
// "can this entry ever match?"). It decides with the same walk as Verdict and Explain.
type ACL struct{ idx *naclIndex }

// NewACL indexes acl; acl must not change afterwards.
func NewACL(acl *model.NACL) *ACL { return &ACL{newNACLIndex(acl)} }

// Decide is the entry that decides flow f with remote address remote (the source of an
// inbound flow, the destination of an outbound one) in one direction: the first entry in
// rule-number order that matches, or — when none does — the implicit deny of remote's family,
// numbered model.NACLDenyAllIPv4 or model.NACLDenyAllIPv6.
func (a *ACL) Decide(egress bool, f Flow, remote netip.Addr) *model.NACLEntry {
	return naclDecision(a.idx, egress, f, remote)
}

// Entries are the entries of one direction in evaluation order (shared: do not modify).
func (a *ACL) Entries(egress bool) []model.NACLEntry {
	if egress {
		return a.idx.egress
	}
	return a.idx.in
}
