package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Policy is a compiled snapshot. It is immutable and safe for concurrent use.
type Policy struct {
	enis    map[string]*iface
	byID    eniTable // enis again, for the fast path
	groups  groupTable
	lists   map[string]*netipx.IPSet // prefix-list ID → its current entries
	nacls   map[string]*naclIndex    // subnet ID → the NACL it is associated with
	subnets map[string]*netipx.IPSet // subnet ID → its IPv4 and IPv6 blocks
	vpcs    map[string]*netipx.IPSet // VPC ID → its IPv4 and IPv6 blocks
	routing *routing
	// cidrs caches the one-prefix sets of rules' CIDR peers (netip.Prefix → *netipx.IPSet):
	// the auditor asks for them rule by rule, hundreds of thousands of times, and most rules
	// share a handful of prefixes. The Policy stays safe for concurrent use.
	cidrs sync.Map
	// globals caches which families of global addresses a prefix list's or a group's
	// members' set holds (*netipx.IPSet → [2]bool), for InternetOpen.
	globals sync.Map
}

// iface is one interface with its groups' rules compiled per direction.
type iface struct {
	n      *model.NetworkInterface
	groups []*model.Group
	// rules are its groups' rules compiled, shared with every interface of the Policy that
	// has the same groups in the same order; rules.get compiles them on first use.
	rules *ruleSet
	acl   *naclIndex // its subnet's NACL, nil if the snapshot has none (then it allows)
	// subnet and vpc number the interface's subnet and VPC IDs within the Policy, so that the
	// fast path compares integers, not IDs.
	subnet, vpc int32
	// inet is the interface's routing to and from the internet, nil when the snapshot has
	// none of its VPC's route tables (then routing does not stop a flow).
	inet *inetIndex
}

// crosses reports whether a flow between interface x and y (nil: outside) crosses x's subnet
// boundary, so that x's NACL applies.
func crosses(x, y *iface) bool { return x != nil && (y == nil || y.subnet != x.subnet) }

// naclIndex is a NACL's entries per direction in evaluation order.
type naclIndex struct {
	acl        *model.NACL
	in, egress []model.NACLEntry
	// inOpen and egressOpen say, per address family, that the first entry of that family
	// allows every protocol from /0 (AWS's default NACL does, at rules 100 and 101), so every
	// flow of the family is allowed and Verdict need not walk the entries.
	inOpen, egressOpen families
}

type families struct{ v4, v6 bool }

// openFamilies works out naclIndex.inOpen or egressOpen from entries in rule-number order. An
// entry of one family never matches an address of the other (netip.Prefix.Contains), so only
// the first entry of each family can decide for every address of it.
func openFamilies(entries []model.NACLEntry) families {
	var open, seen families
	for i := range entries {
		e := &entries[i]
		all := e.Allow && e.Protocol == "-1" && e.CIDR.Bits() == 0
		switch {
		case e.CIDR.Addr().Is4() && !seen.v4:
			open.v4, seen.v4 = all, true
		case e.CIDR.Addr().Is6() && !seen.v6:
			open.v6, seen.v6 = all, true
		}
	}
	return open
}

// Compile builds a Policy. Rules whose peer group or prefix list is not in the snapshot match
// nothing (the API never lets that happen; offline snapshots might).
func Compile(s netmap.Snapshot) (*Policy, error) {
	p := &Policy{enis: map[string]*iface{}, groups: groupTable{root: make(map[string]groupEntry, len(s.Groups))},
		lists: map[string]*netipx.IPSet{}, nacls: map[string]*naclIndex{}, subnets: map[string]*netipx.IPSet{}, vpcs: map[string]*netipx.IPSet{}}
	for _, v := range s.VPCs {
		var ps []netip.Prefix
		for _, b := range v.AllBlocks() { // the primary IPv4 block and AssociateVpcCidrBlock's
			ps = append(ps, b.CIDR)
		}
		p.vpcs[v.ID] = blocks(ps...)
	}
	for _, sn := range s.Subnets {
		p.subnets[sn.ID] = blocks(sn.CIDR, sn.IPv6CIDR)
	}
	memberB := map[string]*netipx.IPSetBuilder{}
	for _, n := range s.ENIs {
		for _, gid := range n.Groups {
			b := memberB[gid]
			if b == nil {
				b = &netipx.IPSetBuilder{}
				memberB[gid] = b
			}
			for _, a := range n.Addrs() {
				b.Add(a)
			}
		}
	}
	for _, g := range s.Groups {
		b := memberB[g.ID]
		if b == nil {
			b = &netipx.IPSetBuilder{}
		}
		set, err := b.IPSet()
		if err != nil {
			return nil, fmt.Errorf("compile members of %s: %w", g.ID, err)
		}
		p.groups.root[g.ID] = groupEntry{g, set}
	}
	for _, pl := range s.PrefixLists {
		var b netipx.IPSetBuilder
		for _, e := range pl.Entries {
			b.AddPrefix(e.CIDR)
		}
		set, err := b.IPSet()
		if err != nil {
			return nil, fmt.Errorf("compile prefix list %s: %w", pl.ID, err)
		}
		p.lists[pl.ID] = set
	}
	for _, acl := range s.NACLs {
		idx := newNACLIndex(acl)
		for _, a := range acl.Assocs {
			p.nacls[a.SubnetID] = idx
		}
	}
	plByID := map[string]*model.PrefixList{}
	for _, pl := range s.PrefixLists {
		plByID[pl.ID] = pl
	}
	p.routing = compileRouting(s, plByID, p.vpcs)
	if err := p.compileENIs(s.ENIs); err != nil {
		return nil, err
	}
	return p, nil
}

// compileENIs compiles the interfaces' rules, routing and ACLs into p.enis.
func (p *Policy) compileENIs(enis []*model.NetworkInterface) error {
	inets := map[string]*inetIndex{}
	nums := map[string]int32{}
	num := func(id string) int32 {
		x, ok := nums[id]
		if !ok {
			x = int32(len(nums))
			nums[id] = x
		}
		return x
	}
	// Interfaces with the same groups, in the same order, share their compiled rules: the
	// indexes are read only, and the groups alone decide them. They are compiled when first
	// asked for, not here: an audit asks for the rules of a few interfaces only (those the
	// internet can reach, those a path question names), and most interfaces of a large
	// account carry a set of groups of their own.
	bySet := map[string]*ruleSet{}
	var key strings.Builder
	for _, n := range enis {
		f := &iface{n: n, acl: p.nacls[n.SubnetID], subnet: num(n.SubnetID), vpc: num(n.VpcID)}
		key.Reset()
		for _, gid := range n.Groups {
			if g := p.groups.get(gid).g; g != nil {
				f.groups = append(f.groups, g)
				key.WriteString(gid)
				key.WriteByte(' ')
			}
		}
		var err error
		if f.inet, err = p.routing.inetFor(n, inets); err != nil {
			return fmt.Errorf("compile routing of %s: %w", n.ID, err)
		}
		if f.rules = bySet[key.String()]; f.rules == nil {
			f.rules = &ruleSet{p: p, groups: f.groups}
			bySet[key.String()] = f.rules
		}
		p.enis[n.ID] = f
	}
	p.byID = newENITable(p.enis)
	return nil
}

// WithGroups is the policy of p's snapshot with the groups changed (new or edited) and
// removed, and compiled for none of its interfaces: p's interfaces must be unchanged, so the
// members of every group are p's (a new group has none). Everything else (VPCs, subnets,
// ACLs, routing, prefix lists) is shared with p. It answers what does not depend on an
// interface's compiled rules — peer sets, public addresses — and is what ForInterfaces
// compiles interfaces from: a continuous audit's view after a change of groups only.
//
// The groups are shared with p too, copy on write: q records only what changed over the
// table p was compiled with (groupTable), so that a change of one group costs about that
// group, not a copy of the account's.
func (p *Policy) WithGroups(changed []*model.Group, removed []string) *Policy {
	q := &Policy{enis: map[string]*iface{}, groups: p.groups.with(changed, removed),
		lists: p.lists, nacls: p.nacls, subnets: p.subnets, vpcs: p.vpcs, routing: p.routing}
	q.byID = newENITable(q.enis)
	return q
}

// groupTable is the groups by ID, each with the addresses of its member interfaces. Compile
// fills root; a Policy derived by WithGroups shares root and holds in diff every change since
// it (a nil group: removed), copying diff, not root. When diff grows to a quarter of root it
// is folded into a new root, so that the copies stay small and a lookup is at most two.
type groupTable struct {
	root, diff map[string]groupEntry
}

type groupEntry struct {
	g       *model.Group
	members *netipx.IPSet // the private addresses of the interfaces that carry g
}

func (t *groupTable) get(id string) groupEntry {
	if e, ok := t.diff[id]; ok {
		return e
	}
	return t.root[id]
}

// with is t with groups changed (new or edited) and removed, over the same interfaces: an
// edited group keeps its members, a new one has none.
func (t *groupTable) with(changed []*model.Group, removed []string) groupTable {
	u := groupTable{root: t.root, diff: make(map[string]groupEntry, len(t.diff)+len(changed)+len(removed))}
	maps.Copy(u.diff, t.diff)
	for _, id := range removed {
		u.diff[id] = groupEntry{}
	}
	for _, g := range changed {
		e := t.get(g.ID)
		if e.g == nil { // a new group: no interface of the (unchanged) interfaces carries it
			e.members = &netipx.IPSet{}
		}
		e.g = g
		u.diff[g.ID] = e
	}
	if 4*len(u.diff) > len(u.root) {
		root := maps.Clone(u.root)
		for id, e := range u.diff {
			if e.g == nil {
				delete(root, id)
			} else {
				root[id] = e
			}
		}
		u = groupTable{root: root}
	}
	return u
}

// ForInterfaces is p compiled for enis — interfaces of p's snapshot, unchanged — and for no
// other: the cost is theirs, not the snapshot's. Groups, members and everything else are p's.
func (p *Policy) ForInterfaces(enis []*model.NetworkInterface) (*Policy, error) {
	q := &Policy{enis: map[string]*iface{}, groups: p.groups,
		lists: p.lists, nacls: p.nacls, subnets: p.subnets, vpcs: p.vpcs, routing: p.routing}
	if err := q.compileENIs(enis); err != nil {
		return nil, err
	}
	return q, nil
}

// ruleSet is the rules of a list of groups compiled per direction, once, on first use; the
// Policy stays safe for concurrent use.
type ruleSet struct {
	once    sync.Once
	p       *Policy
	groups  []*model.Group
	in, out dirIndex
	// err is the compiler's error, if it failed; in and out then admit nothing.
	err error
}

// get is the compiled rules.
func (r *ruleSet) get() *ruleSet {
	r.once.Do(r.compile)
	return r
}

func (r *ruleSet) compile() {
	in, err := r.p.compileDir(r.groups, false)
	if err == nil {
		r.in, err = in, nil
		r.out, err = r.p.compileDir(r.groups, true)
	}
	if err != nil { // fail closed: Verdict denies, Access and Exposure return the error
		r.err = err
		none := dirIndex{all: newFastSet(&netipx.IPSet{})}
		r.in, r.out = none, none
	}
}

// blocks is the set of a VPC's or a subnet's address blocks; an unset block adds nothing.
func blocks(ps ...netip.Prefix) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, p := range ps {
		if p.IsValid() {
			b.AddPrefix(p)
		}
	}
	s, _ := b.IPSet()
	return s
}

// peerSet is the set of addresses a rule's peer stands for.
func (p *Policy) peerSet(r *model.Rule) *netipx.IPSet {
	switch {
	case r.Peer.CIDR.IsValid():
		if s, ok := p.cidrs.Load(r.Peer.CIDR); ok {
			return s.(*netipx.IPSet)
		}
		var b netipx.IPSetBuilder
		b.AddPrefix(r.Peer.CIDR)
		s, _ := b.IPSet()
		p.cidrs.Store(r.Peer.CIDR, s)
		return s
	case r.Peer.PrefixListID != "":
		return p.lists[r.Peer.PrefixListID]
	default:
		return p.groups.get(r.Peer.GroupID).members
	}
}

// peerContains is the slow-path peer test used by Explain.
func (p *Policy) peerContains(r *model.Rule, a netip.Addr) bool {
	s := p.peerSet(r)
	return s != nil && s.Contains(a)
}

// dirIndex is the union of the rules of one direction of an interface's groups, arranged for
// lookup: one set for protocol -1; for TCP and UDP the port space cut into segments, each with
// the set of peers allowed on every port of it; ICMP rules as a short list; other protocols by
// number.
type dirIndex struct {
	all      fastSet
	tcp, udp portIndex
	icmp     []icmpRule // ICMP (1) and ICMPv6 (58)
	other    map[uint8]*netipx.IPSet
}

type icmpRule struct {
	proto     uint8
	typ, code int32 // -1 = any
	set       *netipx.IPSet
}

// portIndex: segment i covers ports [starts[i], starts[i+1]) (the last up to 65535); v4[i]
// is the IPv4 part of sets[i], flattened for the fast path.
type portIndex struct {
	starts []uint32
	sets   []*netipx.IPSet
	v4     [][]v4Range
}

type portItem struct {
	from, to uint32
	set      *netipx.IPSet
}

func (p *Policy) compileDir(groups []*model.Group, egress bool) (dirIndex, error) {
	var all netipx.IPSetBuilder
	var tcp, udp []portItem
	other := map[uint8]*netipx.IPSetBuilder{}
	var d dirIndex
	for _, g := range groups {
		rs := g.Rules(egress)
		for i := range rs {
			r := &rs[i]
			set := p.peerSet(r)
			if set == nil {
				continue
			}
			switch proto := ruleProto(r.Protocol); proto {
			case -1:
				all.AddSet(set)
			case model.ProtoNumTCP:
				tcp = append(tcp, portItem{uint32(r.FromPort), uint32(r.ToPort), set})
			case model.ProtoNumUDP:
				udp = append(udp, portItem{uint32(r.FromPort), uint32(r.ToPort), set})
			case model.ProtoNumICMP, model.ProtoNumICMPv6:
				d.icmp = append(d.icmp, icmpRule{uint8(proto), r.FromPort, r.ToPort, set})
			default:
				b := other[uint8(proto)]
				if b == nil {
					b = &netipx.IPSetBuilder{}
					other[uint8(proto)] = b
				}
				b.AddSet(set)
			}
		}
	}
	allSet, err := all.IPSet()
	if err != nil {
		return d, err
	}
	d.all = newFastSet(allSet)
	if d.tcp, err = buildPorts(tcp); err != nil {
		return d, err
	}
	if d.udp, err = buildPorts(udp); err != nil {
		return d, err
	}
	if len(other) > 0 {
		d.other = map[uint8]*netipx.IPSet{}
		for proto, b := range other {
			if d.other[proto], err = b.IPSet(); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

// buildPorts cuts the port space at every range boundary and gives each segment the union of
// the peers of the ranges covering it; neighbouring segments with equal sets are merged.
func buildPorts(items []portItem) (portIndex, error) {
	if len(items) == 0 {
		return portIndex{}, nil
	}
	cuts := map[uint32]bool{0: true}
	for _, it := range items {
		cuts[it.from] = true
		if it.to < 65535 {
			cuts[it.to+1] = true
		}
	}
	starts := make([]uint32, 0, len(cuts))
	for c := range cuts {
		starts = append(starts, c)
	}
	slices.Sort(starts)
	var idx portIndex
	for _, st := range starts {
		var b netipx.IPSetBuilder
		for _, it := range items {
			if it.from <= st && st <= it.to {
				b.AddSet(it.set)
			}
		}
		set, err := b.IPSet()
		if err != nil {
			return idx, err
		}
		if n := len(idx.sets); n > 0 && equalSets(idx.sets[n-1], set) {
			continue
		}
		idx.starts = append(idx.starts, st)
		idx.sets = append(idx.sets, set)
	}
	// One array holds every segment's IPv4 ranges, so that the fast path's index costs two
	// allocations per direction, not one per segment.
	var flat []v4Range
	ends := make([]int, len(idx.sets))
	for i, set := range idx.sets {
		flat = v4Ranges(set, flat)
		ends[i] = len(flat)
	}
	idx.v4 = make([][]v4Range, len(idx.sets))
	start := 0
	for i, end := range ends {
		idx.v4[i] = flat[start:end:end]
		start = end
	}
	return idx, nil
}

func equalSets(a, b *netipx.IPSet) bool { return a.Equal(b) }

func empty(s *netipx.IPSet) bool { return s.Equal(&netipx.IPSet{}) }

func (x *portIndex) contains(port uint16, p probe) bool {
	// Find the first segment starting above port; the one before it holds port (the first
	// segment starts at 0).
	lo, hi := 0, len(x.starts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.starts[m] <= uint32(port) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return false // no TCP (UDP) rule at all
	}
	if p.is4 {
		return contains4(x.v4[lo-1], p.v4)
	}
	return x.sets[lo-1].Contains(p.a)
}

// allows is the fast path: does the direction admit f with peer address a?
func (d *dirIndex) allows(f Flow, a netip.Addr) bool { return d.allowsProbe(f, probeOf(a)) }

// allowsProbe is allows with the peer address already probed.
func (d *dirIndex) allowsProbe(f Flow, p probe) bool {
	a := p.a
	if d.all.contains(p) {
		return true
	}
	switch f.Proto {
	case model.ProtoNumTCP:
		return d.tcp.contains(f.DstPort, p)
	case model.ProtoNumUDP:
		return d.udp.contains(f.DstPort, p)
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		for i := range d.icmp {
			r := &d.icmp[i]
			if r.proto == f.Proto && (r.typ == -1 || r.typ == int32(f.ICMPType)) && (r.code == -1 || r.code == int32(f.ICMPCode)) && r.set.Contains(a) {
				return true
			}
		}
		return false
	}
	if s := d.other[f.Proto]; s != nil {
		return s.Contains(a)
	}
	return false
}
