package policy

import (
	"net/netip"

	"github.com/stockade/stockade/model"
)

// ruleProto maps a stored protocol name to its number; -1 means every protocol.
func ruleProto(p string) int { return model.ProtocolNumber(p) }

// ruleMatches reports whether an SG rule admits a flow to or from peer address a, given the
// addresses its peer stands for (spec §2.2, audit-checks §1): protocol -1 is everything; TCP
// and UDP rules check the destination port; ICMP rules the type and code (-1 = any); any
// other protocol number admits that whole protocol.
func ruleMatches(r *model.Rule, f Flow, a netip.Addr, peer func(*model.Rule, netip.Addr) bool) bool {
	proto := ruleProto(r.Protocol)
	switch {
	case proto == -1:
	case int(f.Proto) != proto:
		return false
	case proto == model.ProtoNumTCP || proto == model.ProtoNumUDP:
		if int32(f.DstPort) < r.FromPort || int32(f.DstPort) > r.ToPort {
			return false
		}
	case proto == model.ProtoNumICMP || proto == model.ProtoNumICMPv6:
		if r.FromPort != -1 && int32(f.ICMPType) != r.FromPort {
			return false
		}
		if r.ToPort != -1 && int32(f.ICMPCode) != r.ToPort {
			return false
		}
	}
	return peer(r, a)
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
