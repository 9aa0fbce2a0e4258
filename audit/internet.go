package audit

import (
	"net/netip"
	"slices"

	"go4.org/netipx"
)

// The internet, for the checks that ask what "an address of the internet" gets (audit-checks
// §1.5, §1.7): the globally routable addresses of each family. IPv4 is everything but
// RFC 6890's special-purpose blocks a packet from the internet cannot come from (this network,
// RFC 1918, CGNAT, loopback, link-local, IETF protocol assignments, the documentation nets,
// benchmarking, multicast, reserved, broadcast); IPv6 is global unicast 2000::/3 without the
// documentation prefix. A partner's range written with a documentation address is therefore
// not "the internet", as it would not be in AWS either.
var internet4, internet6 = func() (*netipx.IPSet, *netipx.IPSet) {
	var b4 netipx.IPSetBuilder
	b4.AddPrefix(netip.MustParsePrefix("0.0.0.0/0"))
	for _, p := range []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"} {
		b4.RemovePrefix(netip.MustParsePrefix(p))
	}
	var b6 netipx.IPSetBuilder
	b6.AddPrefix(netip.MustParsePrefix("2000::/3"))
	b6.RemovePrefix(netip.MustParsePrefix("2001:db8::/32"))
	s4, _ := b4.IPSet()
	s6, _ := b6.IPSet()
	return s4, s6
}()

// internetOf is the internet of a family: IPv6 when v6.
func internetOf(v6 bool) *netipx.IPSet {
	if v6 {
		return internet6
	}
	return internet4
}

// familyPrefix is the whole address family as a prefix, 0.0.0.0/0 or ::/0.
func familyPrefix(v6 bool) netip.Prefix {
	if v6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}

// representatives partitions the addresses of within by the boundaries of prefixes — inside
// each part every prefix either contains all of the addresses or none — and returns one
// address of each part that is also in only (nil: any address). Any test that depends on an
// address only through prefix containment (a NACL walk) then answers the same for every
// address of a part as for its representative, so asking the representatives is exhaustive.
func representatives(within netip.Prefix, prefixes []netip.Prefix, only *netipx.IPSet) []netip.Addr {
	within = within.Masked()
	first, last := within.Addr(), netipx.PrefixLastIP(within)
	cuts := map[netip.Addr]bool{first: true}
	for _, p := range prefixes {
		if p.Addr().Is4() != first.Is4() {
			continue
		}
		p = p.Masked()
		if lo := p.Addr(); lo.Compare(first) > 0 && lo.Compare(last) <= 0 {
			cuts[lo] = true
		}
		if hi := netipx.PrefixLastIP(p).Next(); hi.IsValid() && hi.Compare(first) > 0 && hi.Compare(last) <= 0 {
			cuts[hi] = true
		}
	}
	starts := make([]netip.Addr, 0, len(cuts))
	for a := range cuts {
		starts = append(starts, a)
	}
	slices.SortFunc(starts, netip.Addr.Compare)
	var out []netip.Addr
	for i, lo := range starts {
		hi := last
		if i+1 < len(starts) {
			hi = starts[i+1].Prev()
		}
		if only == nil {
			out = append(out, lo)
			continue
		}
		var b netipx.IPSetBuilder
		b.AddRange(netipx.IPRangeFrom(lo, hi))
		b.Intersect(only)
		part, _ := b.IPSet()
		if rs := part.Ranges(); len(rs) > 0 {
			out = append(out, rs[0].From())
		}
	}
	return out
}
