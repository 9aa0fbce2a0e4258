package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// acl renders one direction of a network ACL. The entries are stateless and meet every packet
// that crosses the subnet boundary, so a chain of up to 20 rules evaluated in order would be
// paid on every packet of every flow. Instead the entries are compiled, first match winning,
// into the set of (remote address . protocol . value) they allow, laid out like a group's set
// (value: destination port, or ICMP type and code); the chain looks it up and returns, or
// drops. The comment lists the entries the set was compiled from.
func (r *renderer) acl(acl *model.NACL, egress bool) {
	var entries []model.NACLEntry
	for _, e := range acl.Entries {
		if e.Egress == egress {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b model.NACLEntry) int { return a.RuleNumber - b.RuleNumber })
	chain := &Object{Kind: Chain, Name: name(acl.ID) + dirSuffix(egress)}
	var summary []string
	for _, e := range entries {
		verb := "deny"
		if e.Allow {
			verb = "allow"
		}
		summary = append(summary, fmt.Sprintf("%d %s", e.RuleNumber, verb))
	}
	if skip := r.overlaySkip(egress); skip != "" {
		chain.Lines = append(chain.Lines, skip)
	}
	comment := fmt.Sprintf("comment %q", "entries "+strings.Join(summary, ", "))
	if len(comment) > 120 {
		comment = fmt.Sprintf("comment %q", fmt.Sprintf("entries %d to %d, first match wins", entries[0].RuleNumber, entries[len(entries)-1].RuleNumber))
	}
	for _, v4 := range r.families() {
		setName := chain.Name + family(v4)
		addrType, icmp := "ipv4_addr", "icmp"
		if !v4 {
			addrType, icmp = "ipv6_addr", "ipv6-icmp"
		}
		r.rs.add(set(setName, addrType+" . inet_proto . inet_service", true, aclElements(entries, v4)))
		key := addrExpr(v4, egress) + " . meta l4proto"
		chain.Lines = append(chain.Lines,
			join("meta l4proto !=", icmp, key, ". th dport @"+setName, "return", comment),
			join("meta l4proto", icmp, key, ". th sport @"+setName, "return", comment))
	}
	// Whatever no entry allows is denied, as by the catch-all entries 32767 and 32768.
	if r.logged {
		prefix := LogPrefixACLIn
		if egress {
			prefix = LogPrefixACLOut
		}
		chain.Lines = append(chain.Lines, logRejected("", prefix)...)
	}
	chain.Lines = append(chain.Lines, "drop")
	r.rs.add(chain)
}

// aclItem places an entry on the key axis (protocol<<16 | value).
func aclItem(e model.NACLEntry) (lo, hi uint32) {
	if e.Protocol == "-1" {
		return 0, 255<<16 | 0xffff
	}
	p := uint32(model.ProtocolNumber(e.Protocol))
	switch {
	case e.HasPorts && (p == model.ProtoNumTCP || p == model.ProtoNumUDP):
		return p<<16 | uint32(e.FromPort), p<<16 | uint32(e.ToPort)
	case e.HasICMP && (p == model.ProtoNumICMP || p == model.ProtoNumICMPv6):
		l, h := icmpKeys(e.ICMPType, e.ICMPCode)
		return p<<16 | l, p<<16 | h
	}
	return p << 16, p<<16 | 0xffff
}

// aclElements is what the entries of one family allow, first match winning: the key axis is
// cut where any entry starts or ends; on each piece the entries that cover it are taken in
// rule-number order, each claiming the addresses of its CIDR that no earlier entry claimed.
func aclElements(entries []model.NACLEntry, v4 bool) []string {
	var out []string
	for _, pc := range aclPieces(entries, v4) {
		for _, keys := range keyText(pc.lo, pc.hi) {
			for _, p := range pc.set.Prefixes() {
				out = append(out, p.String()+" . "+keys)
			}
		}
	}
	return out
}

// piece is a span of the key axis with the addresses allowed (or admitted) on all of it.
type piece struct {
	lo, hi uint32
	set    *netipx.IPSet
}

// appendPiece adds p after the pieces, merging it into the last one when they touch and hold
// the same addresses (the sets stay as few and as large as the rules allow).
func appendPiece(pieces []piece, p piece) []piece {
	if n := len(pieces); n > 0 && pieces[n-1].hi+1 == p.lo && pieces[n-1].set.Equal(p.set) {
		pieces[n-1].hi = p.hi
		return pieces
	}
	return append(pieces, p)
}

// aclPieces cuts the axis into spans with what the entries allow on each, first match winning;
// adjacent spans with the same addresses are merged, spans that allow nothing are left out.
func aclPieces(entries []model.NACLEntry, v4 bool) []piece {
	type span struct{ lo, hi uint32 }
	var fam []model.NACLEntry
	var spans []span
	var cuts []uint32
	for _, e := range entries {
		if e.CIDR.Addr().Is4() != v4 {
			continue // IPv4 entries never match IPv6 packets and the other way round
		}
		lo, hi := aclItem(e)
		fam = append(fam, e)
		spans = append(spans, span{lo, hi})
		cuts = append(cuts, lo, hi+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var pieces []piece
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]-1
		var claimed, allowed netipx.IPSetBuilder
		for k, e := range fam {
			if spans[k].lo > lo || hi > spans[k].hi {
				continue
			}
			if e.Allow {
				var region netipx.IPSetBuilder
				region.AddPrefix(e.CIDR)
				done, _ := claimed.IPSet()
				region.RemoveSet(done)
				got, _ := region.IPSet()
				allowed.AddSet(got)
			}
			claimed.AddPrefix(e.CIDR)
		}
		s, _ := allowed.IPSet()
		if len(s.Prefixes()) == 0 {
			continue
		}
		pieces = appendPiece(pieces, piece{lo, hi, s})
	}
	return pieces
}

// aclAllowsAll reports whether one direction of an ACL allows every packet whose remote
// address is in p, whatever its protocol and ports.
func aclAllowsAll(acl *model.NACL, egress bool, p netip.Prefix) bool {
	var entries []model.NACLEntry
	for _, e := range acl.Entries {
		if e.Egress == egress {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b model.NACLEntry) int { return a.RuleNumber - b.RuleNumber })
	pieces := aclPieces(entries, p.Addr().Is4())
	next := uint32(0)
	for _, pc := range pieces {
		if pc.lo != next || !pc.set.ContainsPrefix(p) {
			return false
		}
		next = pc.hi + 1
	}
	return next == 255<<16|0xffff+1
}
