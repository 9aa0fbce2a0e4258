package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// Grant is one piece of an interface's effective access: traffic of one protocol, on one range
// of its key space, from (ingress) or to (egress) a set of addresses. The key space of TCP and
// UDP is the destination port; of ICMP and ICMPv6 it is type<<8|code, so that a range of keys
// covers whole types, or codes within one type; other protocols have the single key 0.
type Grant struct {
	// Protocol is the IANA number, or -1 for every protocol but those in Except.
	Protocol int
	From, To int
	Addrs    *netipx.IPSet
	// Except, on a grant of protocol -1, lists the protocols answered by their own grants (or
	// by none: a protocol listed here without a grant of its own has no access).
	Except []int
}

// ProtocolName is the protocol as people write it: tcp, udp, icmp, icmpv6, a number, or all.
func (g Grant) ProtocolName() string {
	if g.Protocol == -1 {
		return "all"
	}
	return model.ProtocolName(g.Protocol)
}

// Ports renders the key range: "22", "1024-65535", "all" for TCP and UDP; "type 8 code 0",
// "type 3", "types 0-255" for ICMP; "" for other protocols.
func (g Grant) Ports() string {
	switch g.Protocol {
	case model.ProtoNumTCP, model.ProtoNumUDP:
		switch {
		case g.From == 0 && g.To == 65535:
			return "all"
		case g.From == g.To:
			return strconv.Itoa(g.From)
		}
		return fmt.Sprintf("%d-%d", g.From, g.To)
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		ft, fc, tt, tc := g.From>>8, g.From&255, g.To>>8, g.To&255
		switch {
		case fc == 0 && tc == 255 && ft == tt:
			return fmt.Sprintf("type %d", ft)
		case fc == 0 && tc == 255 && ft == 0 && tt == 255:
			return "all"
		case fc == 0 && tc == 255:
			return fmt.Sprintf("types %d-%d", ft, tt)
		case ft == tt && fc == tc:
			return fmt.Sprintf("type %d code %d", ft, fc)
		case ft == tt:
			return fmt.Sprintf("type %d codes %d-%d", ft, fc, tc)
		}
		return fmt.Sprintf("type %d code %d to type %d code %d", ft, fc, tt, tc)
	}
	return ""
}

// Prefixes lists the grant's addresses as the fewest CIDR blocks.
func (g Grant) Prefixes() []netip.Prefix { return g.Addrs.Prefixes() }

// String is one line for people: "tcp 22 from 0.0.0.0/0, ::/0".
func (g Grant) String() string {
	var s []string
	for _, p := range g.Prefixes() {
		s = append(s, p.String())
	}
	head := g.ProtocolName()
	if len(g.Except) > 0 {
		var ex []string
		for _, p := range g.Except {
			ex = append(ex, Grant{Protocol: p}.ProtocolName())
		}
		head += " (except " + strings.Join(ex, ", ") + ")"
	}
	if ports := g.Ports(); ports != "" {
		head += " " + ports
	}
	return head + " " + strings.Join(s, ", ")
}

// Access is the exact effective access of an interface in one direction: the union of its
// groups' rules, cut by its subnet's network ACL for every address outside the subnet (traffic
// inside the subnet does not cross the ACL), and limited to scope when scope is not nil. Grants
// come ordered by protocol and key; neighbouring keys with the same addresses are merged.
func (p *Policy) Access(eni string, egress bool, scope *netipx.IPSet) ([]Grant, error) {
	f := p.enis[eni]
	if f == nil {
		return nil, fmt.Errorf("no interface %s", eni)
	}
	return p.access(f, egress, scope)
}

func (p *Policy) access(f *iface, egress bool, scope *netipx.IPSet) ([]Grant, error) {
	rules := f.rules.get()
	if rules.err != nil {
		return nil, rules.err
	}
	d := &rules.in
	if egress {
		d = &rules.out
	}
	var entries []model.NACLEntry
	acl := p.nacls[f.n.SubnetID]
	if acl != nil {
		entries = acl.in
		if egress {
			entries = acl.egress
		}
	}
	inside := p.subnets[f.n.SubnetID]
	if inside == nil {
		inside = &netipx.IPSet{}
	}
	a := accessBuilder{scope: scope, inside: inside, hasACL: acl != nil}
	protos := map[int]bool{model.ProtoNumTCP: true, model.ProtoNumUDP: true, model.ProtoNumICMP: true, model.ProtoNumICMPv6: true}
	for proto := range d.other {
		protos[int(proto)] = true
	}
	for i := range entries {
		if entries[i].Protocol != "-1" {
			protos[ruleProto(entries[i].Protocol)] = true
		}
	}
	order := make([]int, 0, len(protos)+1)
	for proto := range protos {
		order = append(order, proto)
	}
	slices.Sort(order)
	order = append(order, -1)
	per := make([][]Grant, len(order))
	for i, proto := range order {
		var err error
		if per[i], err = a.build(proto, d.keyItems(proto), naclItems(entries, proto)); err != nil {
			return nil, err
		}
	}
	return collapse(order, per), nil
}

// collapse folds a protocol whose only grant is its whole key space with the same addresses as
// the every-protocol grant into that grant, so that an "allow all" reads as one line; the
// protocols that keep their own answer become the every-protocol grant's exceptions.
func collapse(order []int, per [][]Grant) []Grant {
	rest := per[len(per)-1]
	var out []Grant
	var except []int
	for i, proto := range order[:len(order)-1] {
		gs := per[i]
		full := lastKey(proto)
		if len(rest) == 1 && len(gs) == 1 && gs[0].From == 0 && gs[0].To == full && equalSets(gs[0].Addrs, rest[0].Addrs) {
			continue
		}
		out = append(out, gs...)
		except = append(except, proto)
	}
	if len(rest) == 1 {
		rest[0].Except = except
		out = append(out, rest[0])
	}
	return out
}

// lastKey is the top of a protocol's key space: 65535 for TCP, UDP, ICMP and ICMPv6, 0 for
// the rest.
func lastKey(proto int) int {
	switch proto {
	case model.ProtoNumTCP, model.ProtoNumUDP, model.ProtoNumICMP, model.ProtoNumICMPv6:
		return 65535
	}
	return 0
}

// keyItem is a range of a protocol's key space with a set of addresses.
type keyItem struct {
	from, to int
	set      *netipx.IPSet
}

// keyItems are the security-group side of one protocol: what the direction admits, per key.
func (d *dirIndex) keyItems(proto int) []keyItem {
	items := []keyItem{{0, lastKey(proto), d.all.set}}
	switch proto {
	case model.ProtoNumTCP, model.ProtoNumUDP:
		x := d.tcp
		if proto == model.ProtoNumUDP {
			x = d.udp
		}
		for i, st := range x.starts {
			end := 65535
			if i+1 < len(x.starts) {
				end = int(x.starts[i+1]) - 1
			}
			items = append(items, keyItem{int(st), end, x.sets[i]})
		}
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		for _, r := range d.icmp {
			if int(r.proto) == proto {
				for _, k := range icmpKeys(r.typ, r.code) {
					items = append(items, keyItem{k[0], k[1], r.set})
				}
			}
		}
	case -1:
	default:
		if s := d.other[uint8(proto)]; s != nil {
			items = append(items, keyItem{0, 0, s})
		}
	}
	return items
}

// icmpKeys are the key ranges of an ICMP type and code, -1 meaning any. One code of every type
// (which the API refuses, but an offline snapshot might hold) is one key per type.
func icmpKeys(typ, code int32) [][2]int {
	switch {
	case typ == -1 && code == -1:
		return [][2]int{{0, 65535}}
	case typ == -1:
		out := make([][2]int, 256)
		for t := range out {
			out[t] = [2]int{t<<8 | int(code), t<<8 | int(code)}
		}
		return out
	case code == -1:
		return [][2]int{{int(typ) << 8, int(typ)<<8 | 255}}
	}
	return [][2]int{{int(typ)<<8 | int(code), int(typ)<<8 | int(code)}}
}

// naclItem is a NACL entry as a range of one protocol's key space, in rule-number order.
type naclItem struct {
	from, to int
	e        *model.NACLEntry
}

func naclItems(entries []model.NACLEntry, proto int) []naclItem {
	var out []naclItem
	full := lastKey(proto)
	for i := range entries {
		e := &entries[i]
		switch {
		case e.Protocol == "-1":
			out = append(out, naclItem{0, full, e})
		case ruleProto(e.Protocol) != proto || proto == -1:
		case e.HasPorts:
			out = append(out, naclItem{int(e.FromPort), int(e.ToPort), e})
		case e.HasICMP:
			for _, k := range icmpKeys(e.ICMPType, e.ICMPCode) {
				out = append(out, naclItem{k[0], k[1], e})
			}
		default:
			out = append(out, naclItem{0, full, e})
		}
	}
	return out
}

// accessBuilder combines the two sides per segment of the key space.
type accessBuilder struct {
	scope, inside *netipx.IPSet
	hasACL        bool
}

func (a accessBuilder) build(proto int, sg []keyItem, acl []naclItem) ([]Grant, error) {
	last := sg[0].to // 65535, or 0 for single-key protocols
	cuts := map[int]bool{0: true}
	for _, it := range sg {
		cuts[it.from] = true
		if it.to < last {
			cuts[it.to+1] = true
		}
	}
	for _, it := range acl {
		cuts[it.from] = true
		if it.to < last {
			cuts[it.to+1] = true
		}
	}
	starts := make([]int, 0, len(cuts))
	for c := range cuts {
		starts = append(starts, c)
	}
	slices.Sort(starts)
	limits := map[string]*netipx.IPSet{} // by the NACL entries covering a key
	var out []Grant
	for i, st := range starts {
		end := last
		if i+1 < len(starts) {
			end = starts[i+1] - 1
		}
		set, err := a.segment(st, sg, acl, limits)
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].To == st-1 && equalSets(out[n-1].Addrs, set) {
			out[n-1].To = end
			continue
		}
		if empty(set) {
			continue
		}
		out = append(out, Grant{Protocol: proto, From: st, To: end, Addrs: set})
	}
	return out, nil
}

// segment is the access at one key: the union of the security-group sets covering it, limited
// by the NACL and the scope. The limit is the same for every key the same NACL entries cover,
// so it is computed once per such combination.
func (a accessBuilder) segment(key int, sg []keyItem, acl []naclItem, limits map[string]*netipx.IPSet) (*netipx.IPSet, error) {
	var union *netipx.IPSet
	var b netipx.IPSetBuilder
	n := 0
	for _, it := range sg {
		if it.from <= key && key <= it.to && !empty(it.set) {
			union = it.set
			b.AddSet(it.set)
			n++
		}
	}
	if n == 0 {
		return &netipx.IPSet{}, nil
	}
	limit := a.scope
	if a.hasACL {
		var sig strings.Builder
		for i, it := range acl {
			if it.from <= key && key <= it.to {
				sig.WriteString(strconv.Itoa(i) + ",")
			}
		}
		var ok bool
		if limit, ok = limits[sig.String()]; !ok {
			limit = a.naclAllowed(key, acl)
			limits[sig.String()] = limit
		}
	}
	if n == 1 && limit == nil {
		return union, nil
	}
	if limit != nil {
		b.Intersect(limit)
	}
	return b.IPSet()
}

// naclAllowed is the set of remote addresses in scope the ACL lets through at one key: walking
// the entries in rule-number order, each entry decides for the addresses no earlier entry
// matched. Addresses inside the subnet do not cross the ACL and are always let through.
func (a accessBuilder) naclAllowed(key int, acl []naclItem) *netipx.IPSet {
	var allowed, decided netipx.IPSetBuilder
	allowed.AddSet(a.inside)
	for _, it := range acl {
		if key < it.from || key > it.to {
			continue
		}
		if it.e.Allow {
			var fresh netipx.IPSetBuilder
			fresh.AddPrefix(it.e.CIDR)
			earlier, _ := decided.IPSet()
			fresh.RemoveSet(earlier)
			s, _ := fresh.IPSet()
			allowed.AddSet(s)
		}
		decided.AddPrefix(it.e.CIDR)
	}
	if a.scope != nil {
		allowed.Intersect(a.scope)
	}
	s, _ := allowed.IPSet()
	return s
}
