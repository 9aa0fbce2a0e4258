package policy

import (
	"net/netip"

	"github.com/stockade/stockade/model"
)

// ruleProto maps a stored protocol name to its number; -1 means every protocol.
func ruleProto(p string) int { return model.ProtocolNumber(p) }

// ruleMatches reports whether an SG rule admits a flow to or from peer address a, given the
// addresses its peer stands for (spec §2.2, audit-checks §1): the rule's Opening (the
// canonical matcher, rulematch.go) and then its peer.
func ruleMatches(r *model.Rule, f Flow, a netip.Addr, peer func(*model.Rule, netip.Addr) bool) bool {
	return OpeningOf(r).Admits(f) && peer(r, a)
}

// naclMatches reports whether a NACL entry covers a flow whose remote address is a (spec §5):
// protocol -1 is everything; 6 and 17 check the destination port; 1, and 58 over IPv6, check
// ICMP type and code; other numbers (and 58 over IPv4) match the protocol alone.
func naclMatches(e *model.NACLEntry, f Flow, a netip.Addr) bool {
	if !e.CIDR.Contains(a) {
		return false
	}
	if e.Protocol == "-1" {
		return true
	}
	p := 0
	for _, c := range e.Protocol {
		p = p*10 + int(c-'0')
	}
	if int(f.Proto) != p {
		return false
	}
	if e.HasPorts && (int32(f.DstPort) < e.FromPort || int32(f.DstPort) > e.ToPort) {
		return false
	}
	if e.HasICMP {
		if e.ICMPType != -1 && int32(f.ICMPType) != e.ICMPType {
			return false
		}
		if e.ICMPCode != -1 && int32(f.ICMPCode) != e.ICMPCode {
			return false
		}
	}
	return true
}
