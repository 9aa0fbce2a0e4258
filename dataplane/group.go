package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// group renders one direction of a security group as a chain of a few lookups, each of which
// sets the direction's mark and returns when it admits the packet:
//
//   - rules open to the whole address space first, one rule each, because they also set the
//     "open" mark that decides whether the flow is tracked;
//   - the other CIDR rules as concatenated interval sets per protocol and family
//     (address . port for TCP and UDP, address . type . code for ICMP, address . protocol for
//     the rest, addresses alone for protocol -1), cut into disjoint pieces so that no two
//     elements overlap;
//   - group references and prefix lists as one rule each that looks up the named member or
//     prefix-list set, which changes in place when membership or entries change.
func (r *renderer) group(g *model.Group, egress bool) {
	chain := &Object{Kind: Chain, Name: name(g.ID) + dirSuffix(egress)}
	mark, open := markIngress, markIngress|markOpenIngress
	if egress {
		mark, open = markEgress, markEgress|markOpenEgress
	}
	admit := fmt.Sprintf("meta mark set meta mark | 0x%x return", mark)
	var refs []string
	type key struct {
		v4    bool
		proto int
	}
	items := map[key][]item{}
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
			k := key{v4, setProto(proto)}
			if it, ok := ruleItem(proto, rule.FromPort, rule.ToPort, rule.Peer.CIDR, v4); ok {
				items[k] = append(items[k], it)
			}
		case rule.Peer.PrefixListID != "":
			pl := r.lists[rule.Peer.PrefixListID]
			if pl == nil {
				continue // a list the snapshot lacks matches nothing
			}
			v4 := !pl.IPv6
			if m, ok := protoMatch(proto, rule.FromPort, rule.ToPort, v4); ok {
				r.refLists[pl.ID] = true
				refs = append(refs, join(addrExpr(v4, egress), "@"+listSet(pl.ID, v4), m, admit))
			}
		default:
			r.refGroups[rule.Peer.GroupID] = true
			for _, v4 := range []bool{true, false} {
				if m, ok := protoMatch(proto, rule.FromPort, rule.ToPort, v4); ok {
					refs = append(refs, join(addrExpr(v4, egress), "@"+memberSet(rule.Peer.GroupID, v4), m, admit))
				}
			}
		}
	}
	// Set lookups in a fixed order: TCP, UDP, ICMP, other protocols, all traffic; IPv4 first.
	for _, v4 := range []bool{true, false} {
		for _, proto := range []int{policy.ProtoTCP, policy.ProtoUDP, policy.ProtoICMP, protoOther, -1} {
			its := items[key{v4, proto}]
			if len(its) == 0 {
				continue
			}
			setName := fmt.Sprintf("%s_%s%s", chain.Name, protoSuffix(proto), family(v4))
			typ, lookup := setShape(proto, v4, egress)
			r.rs.add(set(setName, typ, true, elements(proto, v4, its)))
			chain.Lines = append(chain.Lines, join(lookup, "@"+setName, admit))
		}
	}
	chain.Lines = append(chain.Lines, refs...)
	r.rs.add(chain)
}

// protoOther stands for every protocol but TCP, UDP and ICMP in set keys.
const protoOther = 256

func setProto(proto int) int {
	switch proto {
	case policy.ProtoTCP, policy.ProtoUDP, -1:
		return proto
	case policy.ProtoICMP, policy.ProtoICMPv6:
		return policy.ProtoICMP
	}
	return protoOther
}

func protoSuffix(proto int) string {
	switch proto {
	case policy.ProtoTCP:
		return "tcp"
	case policy.ProtoUDP:
		return "udp"
	case policy.ProtoICMP:
		return "icmp"
	case -1:
		return "all"
	}
	return "proto"
}

func family(v4 bool) string {
	if v4 {
		return "4"
	}
	return "6"
}

// setShape is a set's type and the expression that looks it up.
func setShape(proto int, v4, egress bool) (typ, lookup string) {
	addrType, a := "ipv4_addr", addrExpr(v4, egress)
	icmp := "icmp"
	if !v4 {
		addrType, icmp = "ipv6_addr", "icmpv6"
	}
	switch proto {
	case policy.ProtoTCP, policy.ProtoUDP:
		w := protoWord(proto)
		return addrType + " . inet_service", fmt.Sprintf("%s . %s dport", a, w)
	case policy.ProtoICMP:
		return fmt.Sprintf("%s . %s_type . %s_code", addrType, icmp, icmp), fmt.Sprintf("%s . %s type . %s code", a, icmp, icmp)
	case protoOther:
		return addrType + " . inet_proto", a + " . meta l4proto"
	}
	return addrType, a
}

// item is one CIDR rule on the key axis of its set: ports for TCP and UDP, type<<8|code for
// ICMP, the protocol number for other protocols, nothing (0-0) for protocol -1.
type item struct {
	lo, hi uint32
	prefix netip.Prefix
}

// ruleItem places a CIDR rule on its set's key axis; ok is false for rules that cannot match
// a packet of the CIDR's family (ICMPv6 to an IPv4 CIDR, ICMP to an IPv6 one).
func ruleItem(proto int, from, to int32, p netip.Prefix, v4 bool) (item, bool) {
	switch proto {
	case policy.ProtoTCP, policy.ProtoUDP:
		return item{uint32(from), uint32(to), p}, true
	case policy.ProtoICMP, policy.ProtoICMPv6:
		if (proto == policy.ProtoICMP) != v4 {
			return item{}, false
		}
		lo, hi := icmpKeys(from, to)
		return item{lo, hi, p}, true
	case -1:
		return item{0, 0, p}, true
	}
	return item{uint32(proto), uint32(proto), p}, true
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
func elements(proto int, v4 bool, items []item) []string {
	var cuts []uint32
	for _, it := range items {
		cuts = append(cuts, it.lo, it.hi+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	type piece struct {
		lo, hi uint32
		set    *netipx.IPSet
	}
	var pieces []piece
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]-1
		var b netipx.IPSetBuilder
		for _, it := range items {
			if it.lo <= lo && hi <= it.hi {
				b.AddPrefix(it.prefix)
			}
		}
		s, _ := b.IPSet()
		if len(s.Prefixes()) == 0 {
			continue
		}
		if n := len(pieces); n > 0 && pieces[n-1].hi+1 == lo && pieces[n-1].set.Equal(s) {
			pieces[n-1].hi = hi
			continue
		}
		pieces = append(pieces, piece{lo, hi, s})
	}
	var out []string
	for _, pc := range pieces {
		for _, keys := range keyText(proto, pc.lo, pc.hi) {
			for _, p := range pc.set.Prefixes() {
				if keys == "" {
					out = append(out, p.String())
				} else {
					out = append(out, p.String()+" . "+keys)
				}
			}
		}
	}
	return out
}

// keyText writes a span of the key axis as the key columns of set elements; an ICMP span
// that crosses types becomes up to three type . code rectangles.
func keyText(proto int, lo, hi uint32) []string {
	rng := func(a, b uint32) string {
		if a == b {
			return fmt.Sprint(a)
		}
		return fmt.Sprintf("%d-%d", a, b)
	}
	switch proto {
	case -1:
		return []string{""}
	case policy.ProtoICMP:
		lt, lc, ht, hc := lo>>8, lo&0xff, hi>>8, hi&0xff
		if lt == ht {
			return []string{rng(lt, lt) + " . " + rng(lc, hc)}
		}
		var out []string
		if lc != 0 {
			out = append(out, rng(lt, lt)+" . "+rng(lc, 255))
			lt++
		}
		if hc != 255 {
			out = append(out, rng(ht, ht)+" . "+rng(0, hc))
			ht--
		}
		if lt <= ht {
			out = append(out, rng(lt, ht)+" . 0-255")
		}
		return out
	}
	return []string{rng(lo, hi)}
}

// protoMatch is the protocol part of a rule that has no set of its own: ok is false when the
// rule cannot match a packet of the family.
func protoMatch(proto int, from, to int32, v4 bool) (string, bool) {
	switch proto {
	case -1:
		return "", true
	case policy.ProtoTCP, policy.ProtoUDP:
		if from == 0 && to == 65535 {
			return "meta l4proto " + protoWord(proto), true
		}
		return fmt.Sprintf("%s dport %s", protoWord(proto), portRange(from, to)), true
	case policy.ProtoICMP, policy.ProtoICMPv6:
		if (proto == policy.ProtoICMP) != v4 {
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
		var a4, a6 []string
		for _, a := range r.members[g] {
			if a.Is4() {
				a4 = append(a4, a.String())
			} else {
				a6 = append(a6, a.String())
			}
		}
		r.rs.add(set(memberSet(g, true), "ipv4_addr", false, a4))
		r.rs.add(set(memberSet(g, false), "ipv6_addr", false, a6))
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

// eni renders an interface's two chains: each jumps to the chains of the interface's groups
// (the union of up to five groups), then marks the packet when this interface would not track
// its flow, and gives a new connection the interface's idle timeouts.
func (r *renderer) eni(e *model.NetworkInterface) {
	ct := e.ConnTrack
	if ct == (model.ConnTrack{}) {
		ct = model.DefaultConnTrack
	}
	timeout := fmt.Sprintf("ct_%d_%d_%d", ct.TCPEstablished, ct.UDP, ct.UDPStream)
	if !r.timeouts[timeout] {
		r.timeouts[timeout] = true
		r.rs.add(&Object{Kind: CtTimeout, Name: timeout + "_tcp", Decl: []string{
			"protocol tcp", "l3proto inet", fmt.Sprintf("policy = { established: %d }", ct.TCPEstablished)}})
		r.rs.add(&Object{Kind: CtTimeout, Name: timeout + "_udp", Decl: []string{
			"protocol udp", "l3proto inet", fmt.Sprintf("policy = { unreplied: %d, replied: %d }", ct.UDP, ct.UDPStream)}})
	}
	var groups []*model.Group
	for _, id := range e.Groups {
		if g := r.byID[id]; g != nil {
			groups = append(groups, g)
		}
	}
	for _, egress := range []bool{true, false} {
		c := &Object{Kind: Chain, Name: "eni_" + name(e.ID) + dirSuffix(egress)}
		for _, g := range groups {
			c.Lines = append(c.Lines, "jump "+name(g.ID)+dirSuffix(egress))
		}
		openMark, untracked := markOpenIngress, markUntrackedIngress
		if egress {
			openMark, untracked = markOpenEgress, markUntrackedEgress
		}
		for _, v4 := range []bool{true, false} {
			for _, proto := range []int{policy.ProtoTCP, policy.ProtoUDP} {
				if allOpen(groups, !egress, proto, v4) {
					c.Lines = append(c.Lines, fmt.Sprintf("meta mark & 0x%x == 0x%x %s meta l4proto %s meta mark set meta mark | 0x%x",
						openMark, openMark, nfproto(v4), protoWord(proto), untracked))
				}
			}
		}
		c.Lines = append(c.Lines,
			fmt.Sprintf("ct state new meta l4proto tcp ct timeout set %q", timeout+"_tcp"),
			fmt.Sprintf("ct state new meta l4proto udp ct timeout set %q", timeout+"_udp"))
		r.rs.add(c)
	}
}

// allOpen reports whether one direction of the groups admits every port of a protocol from or
// to the whole address space of a family: the condition under which a flow admitted by an
// open rule in the other direction is not tracked (spec §2.6).
func allOpen(groups []*model.Group, egress bool, proto int, v4 bool) bool {
	whole := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if !v4 {
		whole = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	for _, g := range groups {
		for _, rule := range g.Rules(egress) {
			if rule.Peer.CIDR != whole {
				continue
			}
			p := model.ProtocolNumber(rule.Protocol)
			if p == -1 || (p == proto && rule.FromPort == 0 && rule.ToPort == 65535) {
				return true
			}
		}
	}
	return false
}
