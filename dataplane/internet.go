package dataplane

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// Internet is a router's link to the internet (an attached internet gateway) and the
// translations the gateway makes, as the ruleset sees them (issue 12). The host fills it from
// the model (host/internet.go): Public from the VPC's Elastic IP associations and public IPs on launch,
// NAT from its available NAT gateways and the subnets whose route tables send traffic to them.
//
// In the router:
//   - inbound, a packet from Link to a public address is translated to the private address
//     (DNAT, at prerouting) and then judged like any packet from outside the VPC: the network
//     ACL of the instance's subnet (the remote is the internet client) and the interface's
//     groups (the source is the client's address); the internet side has no group of its own.
//     A packet from Link that no translation opened a connection for is dropped, as is one
//     from an address inside the VPC (or the operator's, or link-local: spoofed);
//   - outbound, the route tables (netlab.SetRoutes) decide whether a packet goes to Link at
//     all, and to which gateway: the internet gateway and the NAT gateways share Link, so each
//     IPv4 route to it carries its target's realm (RealmGateway, RealmNAT), which the ruleset
//     reads as `meta rtclassid`. A new connection routed to a NAT gateway leaves with the
//     gateway's address if its source is in one of the gateway's subnets, and is dropped
//     otherwise; one routed to the internet gateway leaves with its interface's public
//     address, and is dropped if it has none (EC2's internet gateway translates only
//     addresses that have a public one, even in a subnet that sends other destinations to a
//     NAT gateway). SNAT is at postrouting, the drops in the forward chain;
//   - the reply of a connection the internet opened (DNAT) must leave by a route to the
//     internet gateway: one whose subnet routes the client to a NAT gateway is dropped, as on
//     EC2, where it goes to the NAT gateway, which knows no such connection;
//
// A NAT gateway takes connections from its subnets only: nothing from the internet can open
// one to its address (no DNAT, and the router has no route for the address). Connection
// tracking takes the replies of either kind back. The translations are three maps whose
// elements change with associations, so an association is a couple of element updates.
//
// IPv6 is not translated: an instance's IPv6 addresses are public, as on AWS. What leaves by
// Link (the route tables sent it there, to the internet gateway or to an egress-only one)
// must come from the VPC's IPv6 block. What the internet sends must be a reply (connection
// tracking), or open a connection to a subnet whose route table sends the client's address
// to the internet gateway (Open6), the way back it must take; a route to an egress-only
// gateway, or none, opens nothing: the egress-only gateway is "stateful, outbound only".
// Then the network ACLs and groups judge it as they judge IPv4 from the internet.
type Internet struct {
	Link   string                    // the router-side link to the internet; "" for none
	Public map[netip.Addr]netip.Addr // public address → the private address it translates to
	NAT    []NATGateway
	// Open6 are the connections the internet may open in IPv6, per subnet.
	Open6 []Open6
}

// Open6 says which internet addresses may open IPv6 connections to a subnet: those its route
// table sends to the attached internet gateway (longest prefix), so the replies go back the
// way the request came.
type Open6 struct {
	Subnet netip.Prefix   // the subnet's IPv6 block
	From   []netip.Prefix // internet addresses routed to the internet gateway
}

// NATGateway is a NAT gateway as its VPC's router models it: its public address and the
// IPv4 blocks of the subnets whose route tables send traffic to it. A subnet given to two
// gateways goes out with the first one's address.
type NATGateway struct {
	Public  netip.Addr
	Subnets []netip.Prefix
}

// RealmGateway and RealmNAT are the realms of routes to the internet gateway and to a NAT
// gateway: netlab.RealmGateway and netlab.RealmNAT (which the routes carry; a test checks that
// they agree). The kernel keeps the route's realm in the low 16 bits of the packet's route
// class and may put the reverse path's in the high 16 bits, so rules compare the low half.
const (
	RealmGateway = 1
	RealmNAT     = 2
)

// realmIs is the match of a packet routed with realm n.
func realmIs(n int) string { return fmt.Sprintf("meta rtclassid & 0xffff == %d", n) }

// realmIsNot is the match of a packet routed with a realm other than n.
func realmIsNot(n int) string { return fmt.Sprintf("meta rtclassid & 0xffff != %d", n) }

// The internet's two chains stand for the groups it does not have, like the operator's.
var (
	internetOut = &Object{Kind: Chain, Name: "internet_out", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markEgress)}}
	internetIn  = &Object{Kind: Chain, Name: "internet_in", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markIngress)}}
)

// linkLocal is where the router's hop addresses on the internet link live (netlab), in
// either family.
var (
	linkLocal  = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
)

// internet reports whether the router has a link to the internet.
func (r *renderer) internet() bool { return r.n.Internet.Link != "" }

// inside is what can never come from the internet: the VPC's blocks, its subnets', the
// operator's address and link-local addresses. Its complement is "the internet" for the
// network ACL pairs, disjoint from the subnets' and the operator's pairs, as an interval map
// needs.
func (r *renderer) inside() *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, blk := range r.n.VPC.Blocks() { // the primary block and the secondary ones
		if blk.CIDR.Addr().Is4() {
			b.AddPrefix(blk.CIDR.Masked())
		}
	}
	for _, sn := range r.subnets {
		if sn.CIDR.Addr().Is4() {
			b.AddPrefix(sn.CIDR.Masked())
		}
	}
	if a := r.n.Operator.Addr; a.Is4() {
		b.Add(a)
	}
	b.AddPrefix(linkLocal)
	s, _ := b.IPSet()
	return s
}

// inside6 is inside in IPv6: the VPC's IPv6 block, its subnets', the operator's IPv6
// address and link-local addresses.
func (r *renderer) inside6() *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, blk := range r.n.VPC.IPv6Blocks() {
		b.AddPrefix(blk.CIDR.Masked())
	}
	for _, sn := range r.subnets {
		if sn.IPv6CIDR.IsValid() {
			b.AddPrefix(sn.IPv6CIDR.Masked())
		}
	}
	if a := r.n.Operator.Addr6; a.Is6() {
		b.Add(a)
	}
	b.AddPrefix(linkLocal6)
	s, _ := b.IPSet()
	return s
}

// outside is the complement of inside (v6: of inside6), as prefixes, which the caller only
// reads. The Renderer keeps the last one of each family with the inside it came from: it
// changes with the VPC's blocks and subnets, not with a change of groups or interfaces, and
// IPv6's complement of about 120 prefixes was a quarter of what the agent allocated for a
// membership change at 1,000 interfaces.
func (r *renderer) outside(v6 bool) []netip.Prefix {
	inside, all, fam := r.inside, netip.MustParsePrefix("0.0.0.0/0"), 0
	if v6 {
		inside, all, fam = r.inside6, netip.MustParsePrefix("::/0"), 1
	}
	in := inside()
	c := &r.cache.outside[fam]
	if c.inside != nil && c.inside.Equal(in) {
		return c.prefixes
	}
	var b netipx.IPSetBuilder
	b.AddPrefix(all)
	b.RemoveSet(in)
	s, _ := b.IPSet()
	c.inside, c.prefixes = in, s.Prefixes()
	return c.prefixes
}

// outsideOf is the complement that outside computed last in one family, and what from.
type outsideOf struct {
	inside   *netipx.IPSet
	prefixes []netip.Prefix
}

// internetPairs are the network ACL pairs between the internet and each subnet with an ACL
// that does not let everything through, in both directions (ACLs are stateless), IPv4's and
// IPv6's. check records that a pair uses one direction of an ACL and names its pair chain, as
// nacls does.
func (r *renderer) internetPairs(bySubnet map[string]*model.NACL, check func(acl *model.NACL, egress bool) string) (pairs4, pairs6 []string) {
	if !r.internet() {
		return nil, nil
	}
	out4, out6 := r.outside(false), r.outside(true)
	for _, sn := range r.subnets {
		acl := bySubnet[sn.ID]
		if acl == nil {
			continue
		}
		for _, fam := range []struct {
			block netip.Prefix
			out   []netip.Prefix
			pairs *[]string
		}{{sn.CIDR, out4, &pairs4}, {sn.IPv6CIDR, out6, &pairs6}} {
			if !fam.block.IsValid() {
				continue
			}
			for _, egress := range []bool{false, true} {
				for _, p := range fam.out {
					if aclAllowsAll(acl, egress, p) {
						continue
					}
					src, dst := p, fam.block.Masked()
					if egress {
						src, dst = dst, p
					}
					*fam.pairs = append(*fam.pairs, fmt.Sprintf("%s . %s : jump %s", src, dst, check(acl, egress)))
				}
			}
		}
	}
	return pairs4, pairs6
}

// internetBase renders the internet's objects and returns the forward chain's first rules;
// out and in gain the link's dispatch entries.
func (r *renderer) internetBase(out, in *[]string) []string {
	if !r.internet() {
		return nil
	}
	link := fmt.Sprintf("%q", r.n.Internet.Link)
	*out = append(*out, link+" : jump "+internetOut.Name)
	*in = append(*in, link+" : jump "+internetIn.Name)
	r.rs.add(internetOut)
	r.rs.add(internetIn)

	var inside []string
	for _, p := range r.inside().Prefixes() {
		inside = append(inside, p.String())
	}
	r.rs.add(r.cachedSet("internet_inside4", "ipv4_addr", true, false, inside))
	var inside6, open6 []string
	for _, p := range r.inside6().Prefixes() {
		inside6 = append(inside6, p.String())
	}
	r.rs.add(r.cachedSet("internet_inside6", "ipv6_addr", true, false, inside6))
	for _, o := range r.n.Internet.Open6 {
		if !o.Subnet.Addr().Is6() {
			continue
		}
		for _, from := range o.From {
			if from.Addr().Is6() {
				open6 = append(open6, fmt.Sprintf("%s . %s", o.Subnet.Masked(), from.Masked()))
			}
		}
	}
	r.rs.add(r.cachedSet("internet_open6", "ipv6_addr . ipv6_addr", true, false, open6))

	// Translations, and the sources that have one: by the internet gateway (a public
	// address) and by a NAT gateway (its subnets).
	// The internet gateway's three are plain sets and maps of addresses (not intervals), as
	// is every set an association changes: the agent sends their elements over netlink
	// itself (netlink.go), where an interval set would go through nft.
	var dnat, snat, nat []string
	var privs []netip.Addr
	var natSources, claimed netipx.IPSetBuilder
	for _, pub := range slices.SortedFunc(maps.Keys(r.n.Internet.Public), netip.Addr.Compare) {
		priv := r.n.Internet.Public[pub]
		if !pub.Is4() || !priv.Is4() {
			continue
		}
		dnat = append(dnat, fmt.Sprintf("%s : %s", pub, priv))
		snat = append(snat, fmt.Sprintf("%s : %s", priv, pub))
		privs = append(privs, priv)
	}
	// A private address has one public address at most (the control plane sees to it), so
	// each is a source once; sorted, as every rendering is.
	slices.SortFunc(privs, netip.Addr.Compare)
	sources := make([]string, len(privs))
	for i, a := range privs {
		sources[i] = a.String()
	}
	for _, g := range r.n.Internet.NAT {
		if !g.Public.Is4() {
			continue
		}
		var b netipx.IPSetBuilder
		for _, sn := range g.Subnets {
			if sn.Addr().Is4() {
				b.AddPrefix(sn.Masked())
			}
		}
		done, _ := claimed.IPSet()
		b.RemoveSet(done)
		mine, _ := b.IPSet()
		for _, p := range mine.Prefixes() {
			nat = append(nat, fmt.Sprintf("%s : %s", p, g.Public))
		}
		claimed.AddSet(mine)
		natSources.AddSet(mine)
	}
	prefixes := func(b *netipx.IPSetBuilder) []string {
		var out []string
		if s, _ := b.IPSet(); s != nil {
			for _, p := range s.Prefixes() {
				out = append(out, p.String())
			}
		}
		return out
	}
	r.rs.add(r.cachedSet("internet_pub4", "ipv4_addr", false, false, sources))
	r.rs.add(r.cachedSet("internet_natsrc4", "ipv4_addr", true, false, prefixes(&natSources)))
	r.rs.add(r.cachedMap("internet_dnat4", "ipv4_addr : ipv4_addr", false, dnat))
	r.rs.add(r.cachedMap("internet_snat4", "ipv4_addr : ipv4_addr", false, snat))
	r.rs.add(r.cachedMap("internet_nat4", "ipv4_addr : ipv4_addr", true, nat))
	r.rs.add(&Object{Kind: Chain, Name: "internet_dnat", Decl: []string{"type nat hook prerouting priority dstnat; policy accept"},
		Lines: []string{"iifname " + link + " dnat ip to ip daddr map @internet_dnat4"}})
	r.rs.add(&Object{Kind: Chain, Name: "internet_snat", Decl: []string{"type nat hook postrouting priority srcnat; policy accept"},
		Lines: []string{
			// The route decides the translation: a route to a NAT gateway gives the gateway's
			// address, even to an instance with a public address of its own, and a route to
			// the internet gateway the instance's public address, as on EC2.
			"oifname " + link + " " + realmIs(RealmNAT) + " snat ip to ip saddr map @internet_nat4",
			"oifname " + link + " " + realmIs(RealmGateway) + " snat ip to ip saddr map @internet_snat4",
		}})
	return []string{
		"iifname " + link + " ip saddr @internet_inside4 drop",
		"iifname " + link + " ip6 saddr @internet_inside6 drop",
		// What the internet sends must belong to a connection it was translated into, or
		// to one opened from inside: the internet reaches private addresses no other way.
		"iifname " + link + " meta nfproto ipv4 ct direction original ct status & dnat == 0 drop",
		// In IPv6, a connection from the internet only to a subnet that routes the client to
		// the internet gateway (not to an egress-only gateway, not without a route).
		"iifname " + link + " meta nfproto ipv6 ct direction original ip6 daddr . ip6 saddr != @internet_open6 drop",
		// A new IPv4 connection leaves only by a route to a gateway that translates its
		// source: the internet gateway for an address with a public one, a NAT gateway for
		// its subnets. Anything else (no realm: no route of a route table) is dropped.
		"oifname " + link + " ct direction original " + realmIs(RealmGateway) + " ip saddr != @internet_pub4 drop",
		"oifname " + link + " ct direction original " + realmIs(RealmNAT) + " ip saddr != @internet_natsrc4 drop",
		"oifname " + link + " ct direction original meta nfproto ipv4 " + realmIsNot(RealmGateway) + " " + realmIsNot(RealmNAT) + " drop",
		// The reply of a connection from the internet goes back only by the internet gateway:
		// a subnet that routes the client to a NAT gateway sends it there, where it dies.
		"oifname " + link + " ct direction reply ct status & dnat != 0 " + realmIsNot(RealmGateway) + " drop",
		"oifname " + link + " ct direction original ip6 saddr != @internet_inside6 drop",
	}
}

// cachedMap is cachedSet for a map from keys to data (not verdicts), such as a translation.
func (r *renderer) cachedMap(name, typ string, interval bool, elems []string) *Object {
	decl := []string{"type " + typ}
	if interval {
		decl = append(decl, "flags interval")
	}
	if prev, ok := r.cache.sets[name]; ok && slices.Equal(prev.in, elems) && slices.Equal(prev.obj.Decl, decl) {
		r.cache.nextSets[name] = prev
		return prev.obj
	}
	o := set(name, typ, interval, slices.Clone(elems))
	o.Kind, o.Decl = Map, decl
	r.cache.nextSets[name] = cachedSet{slices.Clone(elems), o}
	return o
}
