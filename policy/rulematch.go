package policy

import (
	"net/netip"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// This file is the canonical matcher of audit-checks §1: what one security-group rule opens
// (protocol and ports) and what its peer stands for (an address set), defined once for the
// policy engine (ruleMatches, Explain, conntrack) and for the auditor's checks. The anchors
// of the catalogue each get part of it wrong (audit-checks §3); the tests of this file pin
// every one of those cases.

// Opening is what a rule opens, read by protocol: a TCP or UDP port range, an ICMP type and
// code (never ports), a whole other protocol, or (-1) everything.
type Opening struct {
	// Proto is the IANA protocol number, -1 for every protocol.
	Proto int
	// From and To are the port range of TCP and UDP; the ICMP type and code (-1 = any) of
	// ICMP and ICMPv6; meaningless for every other protocol.
	From, To int32
}

// OpeningOf reads a rule's protocol and ports.
func OpeningOf(r *model.Rule) Opening {
	return Opening{Proto: model.ProtocolNumber(r.Protocol), From: r.FromPort, To: r.ToPort}
}

// HasPorts reports whether the opening is TCP or UDP, the protocols whose From and To are
// ports.
func (o Opening) HasPorts() bool { return o.Proto == model.ProtoNumTCP || o.Proto == model.ProtoNumUDP }

// ICMP reports whether the opening is ICMP or ICMPv6, whose From and To are type and code.
func (o Opening) ICMP() bool { return o.Proto == model.ProtoNumICMP || o.Proto == model.ProtoNumICMPv6 }

// AllPorts reports whether the opening is every protocol, or a TCP or UDP range of every
// port. 0-65535 and 1-65535 are the same (audit-checks §1.2): port 0 is not a port a
// service listens on, and Prowler's counting 65 536 ports misses the second spelling.
func (o Opening) AllPorts() bool {
	return o.Proto == -1 || o.HasPorts() && o.From <= 1 && o.To >= 65535
}

// AllPortsOf reports whether every port of proto (TCP or UDP) is open: protocol -1, or proto
// itself over every port.
func (o Opening) AllPortsOf(proto int) bool {
	return o.Proto == -1 || o.Proto == proto && o.AllPorts()
}

// Port reports whether port of proto (TCP or UDP) is open: protocol -1 opens every port of
// every protocol; a TCP or UDP rule a port inside its range. ICMP type and code are never
// ports, whatever their numbers.
func (o Opening) Port(proto int, port uint16) bool {
	switch {
	case o.Proto == -1:
		return true
	case o.Proto != proto || !o.HasPorts():
		return false
	}
	return o.From <= int32(port) && int32(port) <= o.To
}

// Admits reports whether the opening lets flow f's protocol, port or ICMP type and code in
// (the peer is another question: PeerSet). Any other protocol number admits that whole
// protocol.
func (o Opening) Admits(f Flow) bool {
	switch {
	case o.Proto == -1:
		return true
	case int(f.Proto) != o.Proto:
		return false
	case o.HasPorts():
		return o.Port(o.Proto, f.DstPort)
	case o.ICMP():
		return (o.From == -1 || int32(f.ICMPType) == o.From) && (o.To == -1 || int32(f.ICMPCode) == o.To)
	}
	return true
}

// Within reports whether everything o opens, q opens too: q is protocol -1; or the same
// protocol with a port range holding o's (all ports as 0-65535, so that 1-65535 holds
// 0-65535); or ICMP whose type and code (-1 = any) hold o's; or the same other protocol.
func (o Opening) Within(q Opening) bool {
	switch {
	case q.Proto == -1:
		return true
	case o.Proto != q.Proto:
		return false
	case o.HasPorts():
		lo, hi := o.From, o.To
		if o.AllPorts() {
			lo, hi = 0, 65535
		}
		if q.AllPorts() {
			return true
		}
		return q.From <= lo && hi <= q.To
	case o.ICMP():
		return (q.From == -1 || q.From == o.From) && (q.To == -1 || q.To == o.To)
	}
	return true
}

// The internet of each family, as prefixes: "from the internet" means the whole of one of
// them, strictly (audit-checks §1.3).
var (
	Internet4 = netip.MustParsePrefix("0.0.0.0/0")
	Internet6 = netip.MustParsePrefix("::/0")
)

// PeerSet is the set of addresses a rule's peer stands for: its CIDR, the current entries of
// its prefix list, or the addresses of the interfaces that carry its group. A prefix list or
// group the snapshot does not hold stands for nothing (nil).
func (p *Policy) PeerSet(r *model.Rule) *netipx.IPSet { return p.peerSet(r) }

// PeerGlobal reports, per family, whether a rule's peer holds a globally routable address
// (Global): for a CIDR from its prefix, for a prefix list or a group from its set, worked out
// once per set. A peer the snapshot does not hold has none.
func (p *Policy) PeerGlobal(r *model.Rule) (v4, v6 bool) {
	if r.Peer.CIDR.IsValid() {
		return p.global(r, nil)
	}
	if s := p.peerSet(r); s != nil {
		return p.global(r, s)
	}
	return false, false
}

// Covers reports whether set holds the whole IPv4 internet (v4) and the whole IPv6 internet
// (v6): the strict "internet source" of audit-checks §1.3, answered on addresses, not on
// spelling, so that a prefix list whose entries union to /0, or 0.0.0.0/1 with 128.0.0.0/1,
// is the internet as much as 0.0.0.0/0 is (§1.4). A nil set covers nothing.
func Covers(set *netipx.IPSet) (v4, v6 bool) {
	if set == nil {
		return false, false
	}
	return set.ContainsPrefix(Internet4), set.ContainsPrefix(Internet6)
}

// InternetOpen answers "do these rules together open what opens to the whole internet?"
// for one direction of a group: the rules for which open reports true, their peers united
// (several rules on one group whose CIDRs union to /0 are the internet, audit-checks §1.4).
// v4 and v6 are the IDs of the rules that make each family's internet whole — those whose
// peer holds a globally routable address of it, so that revoking them leaves only private
// space — and nil when the family's internet is not whole.
func (p *Policy) InternetOpen(rules []model.Rule, open func(Opening) bool) (v4, v6 []string) {
	return p.InternetOpenOf(rules, func(i int) bool { return open(OpeningOf(&rules[i])) })
}

// InternetOpenOf is InternetOpen with the rules that open told by index (rules[i] opens when
// open(i)), for a caller that has read the rules' openings already.
func (p *Policy) InternetOpenOf(rules []model.Rule, open func(i int) bool) (v4, v6 []string) {
	type candidate struct {
		r      *model.Rule
		s      *netipx.IPSet // nil for a CIDR peer
		g4, g6 bool          // the peer holds a global address of the family
	}
	var cand []candidate
	any4, any6 := false, false
	for i := range rules {
		r := &rules[i]
		if !open(i) {
			continue
		}
		var s *netipx.IPSet // a CIDR peer is answered from its prefix, without its set
		if !r.Peer.CIDR.IsValid() {
			if s = p.peerSet(r); s == nil {
				continue
			}
		}
		g4, g6 := p.global(r, s)
		cand = append(cand, candidate{r, s, g4, g6})
		any4, any6 = any4 || g4, any6 || g6
	}
	// Peers without a global address of a family cannot make its internet whole: most
	// groups' rules are answered here, without building the union.
	if !any4 && !any6 {
		return nil, nil
	}
	// One peer that is a whole internet (0.0.0.0/0, a prefix list holding it) needs no union;
	// only a family that no single peer covers but several may together does.
	in4, in6 := false, false
	for _, c := range cand {
		c4, c6 := p.covers(c.r, c.s)
		in4, in6 = in4 || c4, in6 || c6
	}
	if (!in4 && any4) || (!in6 && any6) {
		var b netipx.IPSetBuilder
		for _, c := range cand {
			if c.s == nil {
				b.AddPrefix(c.r.Peer.CIDR)
			} else {
				b.AddSet(c.s)
			}
		}
		all, _ := b.IPSet()
		in4, in6 = Covers(all)
	}
	for _, c := range cand {
		if in4 && c.g4 {
			v4 = append(v4, c.r.ID)
		}
		if in6 && c.g6 {
			v6 = append(v6, c.r.ID)
		}
	}
	return v4, v6
}

// covers is Covers of a rule's peer set s, answered from the prefix for a CIDR peer (s may
// then be nil).
func (p *Policy) covers(r *model.Rule, s *netipx.IPSet) (v4, v6 bool) {
	if c := r.Peer.CIDR; c.IsValid() {
		return c.Bits() == 0 && c.Addr().Is4(), c.Bits() == 0 && c.Addr().Is6()
	}
	return Covers(s)
}

// global is hasGlobal of a rule's peer set s for each family, answered from the prefix for
// a CIDR peer (s may then be nil) and cached per set for prefix lists and groups.
func (p *Policy) global(r *model.Rule, s *netipx.IPSet) (v4, v6 bool) {
	if c := r.Peer.CIDR; c.IsValid() {
		g := !special(c.Masked())
		return g && c.Addr().Is4(), g && !c.Addr().Is4()
	}
	if g, ok := p.globals.Load(s); ok {
		f := g.([2]bool)
		return f[0], f[1]
	}
	f := [2]bool{hasGlobal(s, false), hasGlobal(s, true)}
	p.globals.Store(s, f)
	return f[0], f[1]
}

// special is the address space that is not the internet's (RFC 6890 and the registries it
// points to): private, shared (CGNAT), loopback, link-local, documentation, benchmarking,
// multicast and reserved; for IPv6 also unique-local, link-local, multicast, documentation
// and the IPv4-mapped block.
var specialSet = func() *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32",
	} {
		b.AddPrefix(netip.MustParsePrefix(s))
	}
	s, _ := b.IPSet()
	return s
}()

// special4 is the IPv4 part of specialSet, flattened: the audit asks Global of every CIDR
// rule, several times, and a search of these ranges costs a fraction of the set's.
var special4 = v4Ranges(specialSet, nil)

// special reports whether the masked prefix pr lies inside specialSet.
func special(pr netip.Prefix) bool {
	if !pr.Addr().Is4() {
		return specialSet.ContainsPrefix(pr)
	}
	lo := u32(pr.Addr())
	hi := lo | uint32(uint64(1)<<(32-pr.Bits())-1)
	// The range holding the prefix's first address is the only one that can hold it all.
	i := above(special4, lo)
	return i > 0 && hi <= special4[i-1].hi
}

// private is RFC 1918 and the IPv6 unique-local block, the ranges "a private prefix shorter
// than /16" (SGA-014) is about.
var privateSet = func() *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"} {
		b.AddPrefix(netip.MustParsePrefix(s))
	}
	s, _ := b.IPSet()
	return s
}()

// Global reports whether pr holds globally routable addresses: it is not inside the
// special-purpose space (private, CGNAT, link-local, loopback, documentation, multicast …).
// 0.0.0.0/1 is global (it holds 8.8.8.8) although it also holds 10.0.0.0/8.
func Global(pr netip.Prefix) bool { return pr.IsValid() && !special(pr.Masked()) }

// Private reports whether pr lies inside RFC 1918, CGNAT or IPv6 unique-local space.
func Private(pr netip.Prefix) bool { return pr.IsValid() && privateSet.ContainsPrefix(pr.Masked()) }

// Broad reports whether pr is a broad public range (audit-checks §1.5): global, and for IPv4
// a prefix length of 1 to 23 (Prowler's threshold), for IPv6 shorter than /48 (ours). /0 is
// not broad: it is the internet.
func Broad(pr netip.Prefix) bool {
	if !Global(pr) || pr.Bits() == 0 {
		return false
	}
	if pr.Addr().Is4() {
		return pr.Bits() <= 23
	}
	return pr.Bits() < 48
}

// hasGlobal reports whether s holds an address of the family that is not special-purpose
// (Global).
func hasGlobal(s *netipx.IPSet, v6 bool) bool {
	for _, pr := range s.Prefixes() {
		if pr.Addr().Is6() == v6 && !specialSet.ContainsPrefix(pr) {
			return true
		}
	}
	return false
}
