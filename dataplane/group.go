package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// group renders one direction of a security group as a chain of a few lookups, each of which
// sets the direction's mark and returns when it admits the packet:
//
//   - rules open to the whole address space first, one rule each, because they also set the
//     "open" mark that decides whether the flow is tracked;
//   - every other CIDR rule of a family in one concatenated interval set of
//     address . protocol . value, where the value is the destination port for TCP and UDP,
//     the ICMP type and code as one 16-bit number (the first two bytes of the ICMP header,
//     which is what `th sport` reads), and anything for other protocols. The rules are cut
//     into disjoint pieces, because the kernel refuses overlapping elements. One set per group,
//     direction and family keeps the number of sets low: the kernel finds sets by name in a
//     list;
//   - group references and prefix lists as one rule each that looks up the named member or
//     prefix-list set, which changes in place when membership or entries change.
func (r *renderer) group(g *model.Group, egress bool) {
	key := groupKey{g, egress, r.ipv6()}
	out, ok := r.cache.groups[key]
	if !ok {
		out = r.renderGroup(g, egress)
	}
	r.cache.next[key] = out
	for _, o := range out.objects {
		r.rs.add(o)
	}
	for _, id := range out.refGroups {
		r.refGroups[id] = true
	}
	for _, id := range out.refLists {
		r.refLists[id] = true
	}
}

// groupKey identifies a group's rendering: groups are immutable once published (a change
// makes a new *model.Group), so the pointer stands for the rules.
type groupKey struct {
	g      *model.Group
	egress bool
	ipv6   bool
}

// groupOut is one direction of a group, rendered: its chain and set, and the member and
// prefix-list sets it looks up.
type groupOut struct {
	objects             []*Object
	refGroups, refLists []string
}

func (r *renderer) renderGroup(g *model.Group, egress bool) groupOut {
	var out groupOut
	chain := &Object{Kind: Chain, Name: name(g.ID) + dirSuffix(egress)}
	mark, open := markIngress, markIngress|markOpenIngress
	if egress {
		mark, open = markEgress, markEgress|markOpenEgress
	}
	admit := fmt.Sprintf("meta mark set meta mark | 0x%x return", mark)
	var refs []string
	items := map[bool][]item{} // by family: IPv4 true
	for _, rule := range g.Rules(egress) {
		proto := model.ProtocolNumber(rule.Protocol)
		switch {
		case rule.Peer.CIDR.IsValid() && rule.Peer.CIDR.Bits() == 0:
			v4 := rule.Peer.CIDR.Addr().Is4()
			if m, ok := protoMatch(proto, rule.FromPort, rule.ToPort, v4); ok {
				chain.Lines = append(chain.Lines, join(nfproto(v4), m, fmt.Sprintf("meta mark set meta mark | 0x%x return", open)))
			}
		case rule.Peer.CIDR.IsValid():
			v4 := rule.Peer.CIDR.Addr().Is4()
			if it, ok := ruleItem(proto, rule.FromPort, rule.ToPort, rule.Peer.CIDR, v4); ok {
				items[v4] = append(items[v4], it)
			}
		case rule.Peer.PrefixListID != "":
			pl := r.lists[rule.Peer.PrefixListID]
			if pl == nil {
				continue // a list the snapshot lacks matches nothing
			}
			v4 := !pl.IPv6
			if m, ok := protoMatch(proto, rule.FromPort, rule.ToPort, v4); ok {
				out.refLists = append(out.refLists, pl.ID)
				refs = append(refs, join(addrExpr(v4, egress), "@"+listSet(pl.ID, v4), m, admit))
			}
		default:
			out.refGroups = append(out.refGroups, rule.Peer.GroupID)
			for _, v4 := range r.families() {
				if m, ok := protoMatch(proto, rule.FromPort, rule.ToPort, v4); ok {
					refs = append(refs, join(addrExpr(v4, egress), "@"+memberSet(rule.Peer.GroupID, v4), m, admit))
				}
			}
		}
	}
	// The set and its lookups are there even while empty: adding the group's first CIDR rule
	// is then an element update, and a chain is only rewritten when references change
	// (rewriting a chain costs the kernel an RCU grace period, some 10 ms).
	for _, v4 := range r.families() {
		setName := chain.Name + family(v4)
		addrType, icmp := "ipv4_addr", "icmp"
		if !v4 {
			addrType, icmp = "ipv6_addr", "ipv6-icmp"
		}
		out.objects = append(out.objects, set(setName, addrType+" . inet_proto . inet_service", true, elements(items[v4])))
		key := addrExpr(v4, egress) + " . meta l4proto"
		chain.Lines = append(chain.Lines, join("meta l4proto !=", icmp, key, ". th dport @"+setName, admit),
			// nft lists this rule without its protocol match; the match is there.
			join("meta l4proto", icmp, key, ". th sport @"+setName, "meta mark set meta mark |",
				fmt.Sprintf("0x%x", mark), `return comment "ICMP: type and code as one 16-bit value"`))
	}
	chain.Lines = append(chain.Lines, refs...)
	out.objects = append(out.objects, chain)
	return out
}

// ipv6 reports whether the VPC has IPv6: without it, no IPv6 member sets or rules.
func (r *renderer) ipv6() bool { return r.n.VPC.IPv6CIDR.IsValid() }

// families are the address families the VPC uses, IPv4 first.
func (r *renderer) families() []bool {
	if r.ipv6() {
		return []bool{true, false}
	}
	return []bool{true}
}

func family(v4 bool) string {
	if v4 {
		return "4"
	}
	return "6"
}

// item is one CIDR rule on its set's key axis, protocol<<16 | value: the port for TCP and
// UDP, type<<8 | code for ICMP, every value for other protocols; protocol -1 spans the axis.
type item struct {
	lo, hi uint32
	prefix netip.Prefix
}

// ruleItem places a CIDR rule on the key axis; ok is false for rules that cannot match a
// packet of the CIDR's family (ICMPv6 to an IPv4 CIDR, ICMP to an IPv6 one).
func ruleItem(proto int, from, to int32, p netip.Prefix, v4 bool) (item, bool) {
	switch proto {
	case -1:
		return item{0, 255<<16 | 0xffff, p}, true
	case model.ProtoNumTCP, model.ProtoNumUDP:
		return item{uint32(proto)<<16 | uint32(from), uint32(proto)<<16 | uint32(to), p}, true
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		if (proto == model.ProtoNumICMP) != v4 {
			return item{}, false
		}
		lo, hi := icmpKeys(from, to)
		return item{uint32(proto)<<16 | lo, uint32(proto)<<16 | hi, p}, true
	}
	return item{uint32(proto) << 16, uint32(proto)<<16 | 0xffff, p}, true
}

// icmpKeys is the span of type<<8|code values an ICMP rule's type and code (-1 = any) cover.
func icmpKeys(typ, code int32) (lo, hi uint32) {
	switch {
	case typ == -1:
		return 0, 0xffff
	case code == -1:
		return uint32(typ) << 8, uint32(typ)<<8 | 0xff
	}
	k := uint32(typ)<<8 | uint32(code)
	return k, k
}

// elements cuts the items into disjoint pieces of the key axis, each with the union of the
// prefixes that cover all of it, and writes them as set elements. Overlapping elements are
// refused by the kernel, and disjoint ones make the set a faithful picture of the rules.
func elements(items []item) []string {
	// Rules for every protocol are written once over the whole axis, and taken out of the
	// pieces: otherwise every piece would repeat their prefixes.
	const whole = 255<<16 | 0xffff
	var allB netipx.IPSetBuilder
	var rest []item
	for _, it := range items {
		if it.lo == 0 && it.hi == whole {
			allB.AddPrefix(it.prefix)
		} else {
			rest = append(rest, it)
		}
	}
	all, _ := allB.IPSet()
	items = rest
	var cuts []uint32
	for _, it := range items {
		cuts = append(cuts, it.lo, it.hi+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var pieces []piece
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]-1
		var b netipx.IPSetBuilder
		for _, it := range items {
			if it.lo <= lo && hi <= it.hi {
				b.AddPrefix(it.prefix)
			}
		}
		b.RemoveSet(all)
		s, _ := b.IPSet()
		if len(s.Prefixes()) == 0 {
			continue
		}
		pieces = appendPiece(pieces, piece{lo, hi, s})
	}
	var out []string
	for _, p := range all.Prefixes() {
		out = append(out, p.String()+" . 0-255 . 0-65535")
	}
	for _, pc := range pieces {
		for _, keys := range keyText(pc.lo, pc.hi) {
			for _, p := range pc.set.Prefixes() {
				out = append(out, p.String()+" . "+keys)
			}
		}
	}
	return out
}

// keyText writes a span of the key axis as protocol . value columns: a span that crosses
// protocols becomes up to three rectangles.
func keyText(lo, hi uint32) []string {
	rng := func(a, b uint32) string {
		if a == b {
			return fmt.Sprint(a)
		}
		return fmt.Sprintf("%d-%d", a, b)
	}
	lp, lv, hp, hv := lo>>16, lo&0xffff, hi>>16, hi&0xffff
	if lp == hp {
		return []string{rng(lp, lp) + " . " + rng(lv, hv)}
	}
	var out []string
	if lv != 0 {
		out = append(out, rng(lp, lp)+" . "+rng(lv, 0xffff))
		lp++
	}
	if hv != 0xffff {
		out = append(out, rng(hp, hp)+" . "+rng(0, hv))
		hp--
	}
	if lp <= hp {
		out = append(out, rng(lp, hp)+" . 0-65535")
	}
	return out
}

// protoMatch is the protocol part of a rule that has no set of its own: ok is false when the
// rule cannot match a packet of the family.
func protoMatch(proto int, from, to int32, v4 bool) (string, bool) {
	switch proto {
	case -1:
		return "", true
	case model.ProtoNumTCP, model.ProtoNumUDP:
		if from == 0 && to == 65535 {
			return "meta l4proto " + protoWord(proto), true
		}
		return fmt.Sprintf("%s dport %s", protoWord(proto), portRange(from, to)), true
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		if (proto == model.ProtoNumICMP) != v4 {
			return "", false
		}
		return icmpMatch(proto, from, to), true
	}
	return fmt.Sprintf("meta l4proto %d", proto), true
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func memberSet(group string, v4 bool) string { return "members" + family(v4) + "_" + name(group) }
func listSet(list string, v4 bool) string    { return "list" + family(v4) + "_" + name(list) }

// referenced renders the member sets of the groups that rules refer to, and the prefix-list
// sets. Their elements are what changes when an instance joins a group or a list is edited.
func (r *renderer) referenced() {
	for g := range r.refGroups {
		r.rs.add(r.cachedSet(memberSet(g, true), "ipv4_addr", false, false, r.members4[g]))
		if r.ipv6() {
			r.rs.add(r.cachedSet(memberSet(g, false), "ipv6_addr", false, false, r.members6[g]))
		}
	}
	for id := range r.refLists {
		pl := r.lists[id]
		var b netipx.IPSetBuilder
		for _, e := range pl.Entries {
			b.AddPrefix(e.CIDR)
		}
		s, _ := b.IPSet()
		var elems []string
		for _, p := range s.Prefixes() {
			elems = append(elems, p.String())
		}
		typ := "ipv4_addr"
		if pl.IPv6 {
			typ = "ipv6_addr"
		}
		r.rs.add(set(listSet(id, !pl.IPv6), typ, true, elems))
	}
}
