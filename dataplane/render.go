package dataplane

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Packet marks (meta mark) set while a packet is judged by the groups: a group chain that
// admits it sets the bit of its direction and returns; a rule open to the whole address space
// also sets the direction's "open" bit; the interfaces' shared chain then sets the direction's
// "untracked" bit when the interface does not track such a flow (spec §2.6: an open rule, and
// the opposite direction admitting every port of the protocol from or to everywhere).
const (
	markEgress           = 0x1
	markIngress          = 0x2
	markOpenEgress       = 0x4
	markOpenIngress      = 0x8
	markUntrackedEgress  = 0x10
	markUntrackedIngress = 0x20
	markAdmitted         = markEgress | markIngress
)

// Connection marks (ct mark) remember, for the life of a connection, which of its two
// interfaces does not track it. A new connection's mark is copied from the packet mark, so
// the bits are the same: the source interface's egress check decides for the source, the
// destination's ingress check for the destination. Packets of such a connection, either way,
// are judged again by that interface's rules, every one of them, so a revoke cuts the flow at
// once (policy.Conntrack is the model: the decision is made when the flow starts).
const (
	ctUntrackedSource = markUntrackedEgress
	ctUntrackedDest   = markUntrackedIngress
	ctUntracked       = ctUntrackedSource | ctUntrackedDest

	// A direction of the connection passed the network ACLs of the epoch in bits 8-31.
	ctACLOriginal = 0x40
	ctACLReply    = 0x80
	ctEpochMask   = 0xffffff00
)

// Network is what one VPC's router enforces: the VPC and its account's resources (only those
// of the VPC are rendered), and the name of the router-side link of each interface.
type Network struct {
	VPC      *model.VPC
	Snapshot netmap.Snapshot
	Link     func(eni string) string
	// Operator is the router's operator attachment, if it has one (console-ssh.md §B4).
	Operator Operator
	// Internet is the router's link to the internet, if its VPC has an internet gateway
	// attached, with the translations of its public addresses and NAT gateways.
	Internet Internet
	// Unchecked are the interfaces (by ID) whose source/destination check is off
	// (SourceDestCheck false on EC2: appliances such as NAT instances, the targets of
	// interface routes), which may send from any address. Their packets' sources are not
	// trusted, as on EC2: a group rule that admits an address admits it from them too.
	Unchecked map[string]bool
	// FlowLogs are the interfaces (by ID) that some flow log covers: the packets dropped on
	// their way are logged (flowlog.go). FlowLogFlags are those whose flow logs have
	// ${tcp-flags}: their SYN, FIN and RST packets are logged too.
	FlowLogs, FlowLogFlags map[string]bool
	// Overlay is the router's VXLAN link when its VPC spans hosts (overlay.go); the zero
	// value renders a single host's router.
	Overlay Overlay
}

// Operator is a router's operator attachment as its ruleset sees it: a link whose far end is
// "the operator outside the VPC", with one address. Its packets are judged as packets from
// outside the VPC: the source check lets only Addr in through Link, the operator side has no
// security group (what it sends and what is sent to it need only the instance's rules), and
// the network ACL of the instance's subnet applies to both directions, statelessly, as to any
// address outside the VPC. The attachment is the same for the life of a router: it adds a
// fixed handful of elements to a rendering, never work per change.
type Operator struct {
	Link string     // the router-side link; "" for none
	Addr netip.Addr // the operator's IPv4 address, the only IPv4 source the link may send from
	// Addr6 is the operator's IPv6 address, the only IPv6 source the link may send from: the
	// operator's way to instances of IPv6-only subnets, which have no IPv4 address. The zero
	// Addr gives the operator no IPv6 path.
	Addr6 netip.Addr
}

// The operator's two chains stand for the groups it does not have: they admit every packet
// in their direction. They never change, so every rendering shares them (and Update passes
// over them unread).
var (
	operatorOut = &Object{Kind: Chain, Name: "operator_out", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markEgress)}}
	operatorIn  = &Object{Kind: Chain, Name: "operator_in", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markIngress)}}
)

// operator reports whether the ruleset gives the operator attachment a path in a family: it
// needs an address of the family (IPv4: Addr, IPv6: Addr6) that no subnet block of the VPC
// holds. A VPC whose subnets cover the address (VPCs may use 100.64.0.0/10) has no operator
// path: its packets would be taken for an instance's, and the network ACL pairs would overlap.
// Without a path the link fails closed.
func (r *renderer) operator(v6 bool) bool {
	a := r.operatorAddr(v6)
	if r.n.Operator.Link == "" || !a.IsValid() || a.Is6() != v6 {
		return false
	}
	for _, sn := range r.subnets {
		if subnetBlock(sn, v6).Contains(a) {
			return false
		}
	}
	return true
}

// operatorAddr is the operator's address in a family.
func (r *renderer) operatorAddr(v6 bool) netip.Addr {
	if v6 {
		return r.n.Operator.Addr6
	}
	return r.n.Operator.Addr
}

// subnetBlock is a subnet's block in a family; the zero Prefix when it has none (an IPv6-only
// subnet has no IPv4 block).
func subnetBlock(sn *model.Subnet, v6 bool) netip.Prefix {
	if v6 {
		return sn.IPv6CIDR
	}
	return sn.CIDR
}

// Render compiles a VPC's security groups, network ACLs and interfaces into the ruleset its
// router enforces. The output depends only on the input: the same network renders to the same
// text, which is what golden tests and in-place updates rely on.
func Render(n Network) *Ruleset { return new(Renderer).Render(n) }

// Renderer renders one VPC again and again, remembering each group's and each interface's
// rendering between calls: a change re-renders only the groups and interfaces it touched
// (the model is copy-on-write, so an unchanged group or interface is the same object), and a
// set whose elements did not change is the same *Object as before, which Update passes over
// without reading it. At 1,000 interfaces this is what keeps a change in the low
// milliseconds: rendering every interface again took about 10 ms. The agent keeps one
// Renderer per router, with the same Link function every call. Not safe for concurrent use.
type Renderer struct {
	groups map[groupKey]groupOut
	next   map[groupKey]groupOut // what this call used: the cache for the next one
	lists  string                // the prefix lists the cached renderings saw

	// last is what the last call rendered the interfaces from and to: where this call starts.
	last lastCall

	sets, nextSets map[string]cachedSet // by object name
	size           int                  // objects in the last rendering

	outside [2]outsideOf // the internet's prefixes, IPv4's and IPv6's (internet.go)

	// scratch is what a rendering builds and drops, kept for the next one (emptied, not made
	// again): at 1,000 interfaces, making it anew was a third of what the agent allocated
	// for a membership change. Nothing a rendering returns points into it: cachedSet copies
	// the elements it keeps, into a spare list no cached set still uses when there is one.
	scratch scratch
}

// lastCall is the last rendering's interfaces: the VPC's, sorted by ID, with their renderings
// in the same order; the VPC's groups, sorted by ID; and the addresses of each group's
// interfaces (rendered member sets take their elements from these). The model is copy on
// write, so an interface that is the same object as last time, under groups that exist and
// open as they did (groupsStable), has the same rendering: index finds it by walking this
// list and the new one together, comparing pointers, without reading the interfaces (at
// 1,000 interfaces, reading each one, and looking each up in a map, was most of a rendering).
// The member lists change by what the interfaces that differ take away and bring.
type lastCall struct {
	enis               []*model.NetworkInterface
	out                []*eniOut
	groups             []*model.Group
	members4, members6 map[string][]string
}

// scratch is the Renderer's reusable working space: last call's cache maps (the call after
// next fills them again), the lists of the call before last (filled again by this one) and
// the lists base() gathers.
type scratch struct {
	groups      map[groupKey]groupOut
	sets        map[string]cachedSet
	ifaces      []*model.NetworkInterface
	out         []*eniOut
	src4, src6  []string
	outDispatch []string
	inDispatch  []string
	local       []*eniOut // the router's own interfaces' renderings
	// slots and untracked are the elements of the slot maps and the untracked sets, by
	// direction (egress [1]) and slot, before cachedSet copies them.
	slots     [2][][]string
	untracked [2][]string
	// spare is, by set name, the element list that the call before last kept and the last
	// call no longer does (its set changed): cachedSet copies a changed set's elements into
	// it instead of a new list. At 1,000 interfaces these lists were a third of what the
	// agent allocated for a membership change.
	spare map[string][]string
}

// emptied returns m with nothing in it, or a new map of the given size when there is none.
func emptied[K comparable, V any](m map[K]V, size int) map[K]V {
	if m == nil {
		return make(map[K]V, size)
	}
	clear(m)
	return m
}

// truncated empties every list in m for reuse, keeping their arrays, unless m holds more
// keys than twice those in use (groups come and go): then it starts afresh.
func truncated(m map[string][]string, inUse int) map[string][]string {
	if m == nil || len(m) > 2*inUse+16 {
		return map[string][]string{}
	}
	for k, v := range m {
		m[k] = v[:0]
	}
	return m
}

// cachedSet is a set or map as last rendered, with the elements it was made from in the
// order they were given (before sorting), so that the same input gives back the same object.
type cachedSet struct {
	in  []string
	obj *Object
}

// Render is the package-level Render, reusing what it can from earlier calls.
func (c *Renderer) Render(n Network) *Ruleset {
	sc := &c.scratch
	r := renderer{rs: &Ruleset{objects: make(map[string]*Object, c.size)}, n: n, open: map[*model.Group]uint8{}, lists: map[string]*model.PrefixList{}, cache: c}
	var ids []string
	for _, pl := range n.Snapshot.PrefixLists {
		ids = append(ids, pl.ID)
	}
	sort.Strings(ids)
	if lists := strings.Join(ids, ","); lists != c.lists || c.groups == nil {
		// A rule whose list is missing renders to nothing, so a change of the lists
		// invalidates every rendering.
		c.groups, c.lists = map[groupKey]groupOut{}, lists
	}
	c.next = emptied(sc.groups, len(c.groups))
	sc.spare = emptied(sc.spare, 0)
	for name, old := range sc.sets { // the call before last's: this call reads only the last's
		if cur, ok := c.sets[name]; (!ok || unsafe.SliceData(cur.in) != unsafe.SliceData(old.in)) && cap(old.in) > 0 {
			sc.spare[name] = old.in[:0]
		}
	}
	c.nextSets = emptied(sc.sets, len(c.sets))
	defer func() {
		c.size = r.rs.Len()
		sc.groups, c.groups, c.next = c.groups, c.next, nil
		sc.sets, c.sets, c.nextSets = c.sets, c.nextSets, nil
		sc.ifaces, sc.out = clear0(c.last.enis), clear0(c.last.out)
		c.last.enis, c.last.out, c.last.groups = r.enis, r.out, r.groups
	}()
	r.index()
	r.logged, r.loggedFlags = r.flowLogSets() // before the chains that log
	r.nacls()                                 // before base: the forward chain looks up only the ACL pairs there are
	r.base()
	for _, g := range r.groups {
		r.group(g, false)
		r.group(g, true)
	}
	local := r.cache.scratch.local[:0]
	for i, o := range r.out {
		if !r.remote(r.enis[i]) {
			r.eni(o)
			local = append(local, o)
		}
	}
	r.ifaces(local)
	r.cache.scratch.local = clear0(local)
	r.referenced()
	return r.rs
}

type renderer struct {
	rs      *Ruleset
	n       Network
	enis    []*model.NetworkInterface
	out     []*eniOut // each interface's rendering, in the order of enis
	open    map[*model.Group]uint8
	subnets []*model.Subnet
	groups  []*model.Group
	byID    map[string]*model.Group
	// members4 and members6 are the addresses of each group's interfaces in the VPC, as text.
	members4, members6 map[string][]string
	lists              map[string]*model.PrefixList
	// refGroups and refLists are the member and prefix-list sets some rule looks up.
	refGroups, refLists map[string]bool
	timeouts            map[string]bool
	cache               *Renderer
	pairs               map[bool]bool // by family (IPv4 true): some subnet pair has ACL checks
	// logged: some interface's drops are logged for flow logs; loggedFlags: some
	// interface's TCP flags are.
	logged, loggedFlags bool
	aclEpoch            uint32 // 24 bits naming the ACL checks in force
}

func (r *renderer) index() {
	vpc := r.n.VPC.ID
	r.byID = map[string]*model.Group{}
	r.refGroups, r.refLists, r.timeouts = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, g := range r.n.Snapshot.Groups {
		if g.VpcID == vpc {
			r.groups = append(r.groups, g)
			r.byID[g.ID] = g
		}
	}
	for _, sn := range r.n.Snapshot.Subnets {
		if sn.VpcID == vpc {
			r.subnets = append(r.subnets, sn)
		}
	}
	r.enis = slices.Grow(r.cache.scratch.ifaces[:0], len(r.n.Snapshot.ENIs))
	for _, e := range r.n.Snapshot.ENIs {
		if e.VpcID == vpc {
			r.enis = append(r.enis, e)
		}
	}
	for _, pl := range r.n.Snapshot.PrefixLists {
		r.lists[pl.ID] = pl
	}
	byID := func(a, b *model.NetworkInterface) int { return strings.Compare(a.ID, b.ID) }
	if !slices.IsSortedFunc(r.enis, byID) { // the store hands them over sorted
		slices.SortFunc(r.enis, byID)
	}
	slices.SortFunc(r.groups, func(a, b *model.Group) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.subnets, func(a, b *model.Subnet) int { return strings.Compare(a.ID, b.ID) })
	r.out = slices.Grow(r.cache.scratch.out[:0], len(r.enis))[:len(r.enis)]
	last := &r.cache.last
	stable := r.groupsStable(last.groups)
	// gone and came are the renderings that the member lists lose and gain: those of
	// interfaces that left or changed, and those of interfaces that came or changed.
	var gone, came []*eniOut
	j := 0
	for i, e := range r.enis {
		// Both lists are sorted by ID: an interface of the last call that sorts before this
		// one is gone. Only interfaces that are not the same objects are read.
		for j < len(last.enis) && last.enis[j] != e && last.enis[j].ID < e.ID {
			gone = append(gone, last.out[j])
			j++
		}
		var before, same *eniOut // its rendering last time; the same if it is the same object
		if j < len(last.enis) && (last.enis[j] == e || last.enis[j].ID == e.ID) {
			before = last.out[j]
			if last.enis[j] == e {
				same = before
			}
			j++
		}
		o := same
		if o == nil || !stable {
			o = r.eniOut(e, same)
		}
		if o != before {
			if before != nil {
				gone = append(gone, before)
			}
			came = append(came, o)
		}
		r.out[i] = o
	}
	for ; j < len(last.enis); j++ {
		gone = append(gone, last.out[j])
	}
	r.members(stable, gone, came)
}

// members brings the addresses of each group's interfaces up to date: from the last call's
// lists, by what the interfaces that changed take away and bring, when the groups are as they
// were and few interfaces changed; gathered afresh from every interface otherwise. An
// interface counts in the groups its rendering names: those of its groups the VPC has. The
// order of a list is of no consequence (a set's elements are sorted), but it is deterministic.
func (r *renderer) members(stable bool, gone, came []*eniOut) {
	last := &r.cache.last
	if last.members4 == nil || !stable || len(gone)+len(came) > len(r.out)/4+8 {
		last.members4 = truncated(last.members4, len(r.groups))
		last.members6 = truncated(last.members6, len(r.groups))
		gone, came = nil, r.out
	}
	r.members4, r.members6 = last.members4, last.members6
	for _, o := range gone {
		for _, g := range o.groups {
			r.members4[g] = removeEach(r.members4[g], o.addrs4)
			r.members6[g] = removeEach(r.members6[g], o.addrs6)
		}
	}
	for _, o := range came {
		for _, g := range o.groups {
			r.members4[g] = append(r.members4[g], o.addrs4...)
			r.members6[g] = append(r.members6[g], o.addrs6...)
		}
	}
}

// removeEach removes one occurrence of each of drop from list, in place.
func removeEach(list, drop []string) []string {
	for _, d := range drop {
		if i := slices.Index(list, d); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
	}
	return list
}

// groupsStable reports whether the interfaces' renderings of the last call still hold for
// the interfaces that are the same objects: the VPC has the same groups, and each opens what
// it opened (openMask), which is all an interface's rendering reads of them.
func (r *renderer) groupsStable(last []*model.Group) bool {
	if len(last) != len(r.groups) {
		return false
	}
	for i, g := range r.groups {
		if p := last[i]; p != g && (p.ID != g.ID || r.openMask(p) != r.openMask(g)) {
			return false
		}
	}
	return true
}

// cachedSet returns a set (or, with isMap, a verdict map) of the given elements: the object
// rendered last time when the elements are the same, in the same order; otherwise a new one.
// It keeps copies of elems, never elems itself: the callers' lists are the Renderer's
// scratch, filled again by the next rendering.
func (r *renderer) cachedSet(name, typ string, interval, isMap bool, elems []string) *Object {
	prev, ok := r.cache.sets[name]
	ok = ok && (prev.obj.Kind == Map) == isMap && slices.Equal(prev.obj.Decl, setDecl(typ, isMap, interval))
	if ok && slices.Equal(prev.in, elems) {
		r.cache.nextSets[name] = prev
		return prev.obj
	}
	in := append(r.cache.scratch.spare[name], elems...) // a new list when there is no spare
	delete(r.cache.scratch.spare, name)
	var o *Object
	var lines []string
	if ok {
		lines, ok = patchLines(prev.in, prev.obj, elems)
	}
	if ok {
		o = &Object{Kind: prev.obj.Kind, Name: name, Decl: prev.obj.Decl, Lines: lines}
	} else if isMap {
		o = vmap(name, typ, interval, slices.Clone(elems))
	} else {
		o = set(name, typ, interval, slices.Clone(elems))
	}
	r.cache.nextSets[name] = cachedSet{in, o}
	return o
}

// patchLines returns a set's sorted elements for the input elems from its last rendering
// (made from the input prevIn), when elems is prevIn with a few elements in one place
// replaced (one interface's entries, mostly): the last lines less those taken out, with
// those put in inserted in order. That is what sorting elems again gives, for a fraction of
// the cost in a set of a thousand elements. ok is false when the change is larger, or
// either input holds an element twice (sorting drops the second).
func patchLines(prevIn []string, prev *Object, elems []string) (lines []string, ok bool) {
	if len(prev.Lines) != len(prevIn) { // prevIn held an element twice
		return nil, false
	}
	p := 0
	for p < len(prevIn) && p < len(elems) && prevIn[p] == elems[p] {
		p++
	}
	s := 0
	for s < len(prevIn)-p && s < len(elems)-p && prevIn[len(prevIn)-1-s] == elems[len(elems)-1-s] {
		s++
	}
	out, in := prevIn[p:len(prevIn)-s], elems[p:len(elems)-s]
	if len(out)+len(in) > 16 {
		return nil, false
	}
	lines = slices.Clone(prev.Lines)
	for _, x := range out {
		i, found := slices.BinarySearch(lines, x)
		if !found {
			return nil, false
		}
		lines = slices.Delete(lines, i, i+1)
	}
	for _, x := range in {
		i, found := slices.BinarySearch(lines, x)
		if found { // elems holds it twice
			return nil, false
		}
		lines = slices.Insert(lines, i, x)
	}
	return lines, true
}

// clear0 empties a list of pointers for reuse, so that it holds on to nothing.
func clear0[T any](l []*T) []*T {
	clear(l)
	return l[:0]
}

// name turns an EC2 ID into an nft identifier: sg-0abc → sg_0abc.
func name(id string) string { return strings.ReplaceAll(id, "-", "_") }

func set(name, typ string, interval bool, elems []string) *Object {
	o := &Object{Kind: Set, Name: name, Decl: setDecl(typ, false, interval)}
	sort.Strings(elems)
	o.Lines = slices.Compact(elems)
	return o
}

func vmap(name, keyType string, interval bool, elems []string) *Object {
	o := set(name, keyType, interval, elems)
	o.Kind, o.Decl = Map, setDecl(keyType, true, interval)
	return o
}

func setDecl(typ string, isMap, interval bool) []string {
	if isMap {
		typ += " : verdict"
	}
	d := []string{"type " + typ}
	if interval {
		d = append(d, "flags interval")
	}
	return d
}

// base renders the forward hook and what every packet meets before the groups: the source
// address check, the network ACLs, and the connection-tracking shortcut.
func (r *renderer) base() {
	// Sized for the interfaces and the two links besides them: at 1,000 interfaces, growing
	// these lists by appending was a fifth of what a rendering allocated.
	n := len(r.out) + 2
	sc := &r.cache.scratch
	src4, out, in := slices.Grow(sc.src4[:0], n), slices.Grow(sc.outDispatch[:0], n), slices.Grow(sc.inDispatch[:0], n)
	src6 := sc.src6[:0]
	defer func() { sc.src4, sc.src6, sc.outDispatch, sc.inDispatch = src4, src6, out, in }()
	for i, o := range r.out {
		if r.remote(r.enis[i]) {
			continue // overlayBase
		}
		src4 = append(src4, o.src4...)
		src6 = append(src6, o.src6...)
		out = append(out, o.outDispatch)
		in = append(in, o.inDispatch)
	}
	hairpin := r.overlayBase(&src4, &src6, &out, &in)
	if v4, v6 := r.operator(false), r.operator(true); v4 || v6 {
		link := r.n.Operator.Link
		if v4 {
			src4 = append(src4, fmt.Sprintf("%q . %s", link, r.n.Operator.Addr))
		}
		if v6 {
			src6 = append(src6, fmt.Sprintf("%q . %s", link, r.n.Operator.Addr6))
		}
		out = append(out, fmt.Sprintf("%q : jump %s", link, operatorOut.Name))
		in = append(in, fmt.Sprintf("%q : jump %s", link, operatorIn.Name))
		r.rs.add(operatorOut)
		r.rs.add(operatorIn)
	}
	first := r.internetBase(&out, &in)
	if hairpin != "" {
		first = append(first, hairpin)
	}
	r.rs.add(r.cachedSet("src4", "ifname . ipv4_addr", false, false, src4))
	r.rs.add(r.cachedSet("src6", "ifname . ipv6_addr", false, false, src6))
	r.rs.add(r.cachedSet("out_dispatch", "ifname", false, true, out))
	r.rs.add(r.cachedSet("in_dispatch", "ifname", false, true, in))
	// EC2's source/destination check: an interface sends only from its own addresses, so
	// every address below can be trusted.
	lines := append(first, "iifname . ip saddr != @src4 drop", "iifname . ip6 saddr != @src6 drop")
	if r.internet() {
		// The internet link sends from any address outside the VPC (checked above).
		lines[len(first)] = fmt.Sprintf("iifname != %q iifname . ip saddr != @src4 drop", r.n.Internet.Link)
		lines[len(first)+1] = fmt.Sprintf("iifname != %q iifname . ip6 saddr != @src6 drop", r.n.Internet.Link)
		if replies := r.overlayReplies(); replies != nil {
			// The overlay's IPv4 is checked by its own rules, before this one.
			lines[len(first)] = fmt.Sprintf("iifname != { %q, %q } iifname . ip saddr != @src4 drop", r.n.Internet.Link, r.n.Overlay.Link)
			lines = append(lines[:len(first):len(first)], append(replies, lines[len(first):]...)...)
			first = lines[:len(first)+len(replies)]
		}
	}
	var unchecked []string
	for _, e := range r.enis {
		if r.n.Unchecked[e.ID] {
			unchecked = append(unchecked, fmt.Sprintf("%q", r.n.Link(e.ID)))
		}
	}
	if len(unchecked) > 0 {
		r.rs.add(r.cachedSet("src_unchecked", "ifname", false, false, unchecked))
		for i := len(first); i < len(lines); i++ {
			lines[i] = strings.Replace(lines[i], " drop", " iifname != @src_unchecked drop", 1)
		}
	}
	// Network ACLs are stateless: every packet, before the connection shortcut. Without a pair
	// of subnets whose ACLs restrict anything there is nothing to look up. An established
	// connection remembers in its mark that a direction passed the ACLs as they are (their
	// epoch, a hash of every ACL check), so its next packets skip the lookups until the ACLs
	// change: a packet's ACL verdict depends only on its addresses, protocol and ports, which
	// are the same for every packet of one direction of a connection.
	if r.pairs[true] || r.pairs[false] {
		e := r.aclEpoch << 8
		dirs := []struct {
			name string
			bit  uint32
		}{{"original", ctACLOriginal}, {"reply", ctACLReply}}
		for _, d := range dirs {
			// The common case in one rule: this direction passed the ACLs, and the connection
			// is tracked on both sides.
			lines = append(lines, fmt.Sprintf("ct state established ct direction %s ct mark & 0x%08x == 0x%08x accept",
				d.name, ctEpochMask|d.bit|ctUntracked, e|d.bit))
		}
		for _, d := range dirs {
			lines = append(lines, fmt.Sprintf("ct state established ct direction %s ct mark & 0x%08x == 0x%08x goto established",
				d.name, ctEpochMask|d.bit, e|d.bit))
		}
		if r.pairs[true] {
			lines = append(lines, "ip saddr . ip daddr vmap @nacl_pairs4")
		}
		if r.pairs[false] {
			lines = append(lines, "ip6 saddr . ip6 daddr vmap @nacl_pairs6")
		}
		for _, d := range dirs {
			lines = append(lines,
				fmt.Sprintf("ct state established ct direction %s ct mark & 0x%08x == 0x%08x ct mark set ct mark | 0x%x", d.name, ctEpochMask, e, d.bit),
				fmt.Sprintf("ct state established ct direction %s ct mark & 0x%08x != 0x%08x ct mark set ct mark & 0x%x | 0x%08x", d.name, ctEpochMask, e, ctUntracked, e|d.bit))
		}
	}
	if !r.pairs[true] && !r.pairs[false] {
		lines = append(lines, fmt.Sprintf("ct state established ct mark & 0x%x == 0x0 accept", ctUntracked))
	}
	lines = append(lines,
		"ct state established,related goto established",
		"ct state != new drop",
		// A new connection needs the source interface's egress and the destination's ingress.
		// A link without a dispatch entry (not programmed yet) sets nothing: it fails closed.
		"meta mark set 0x0",
		"iifname vmap @out_dispatch",
		"oifname vmap @in_dispatch",
		fmt.Sprintf("meta mark & 0x%x != 0x%x drop", markAdmitted, markAdmitted),
		fmt.Sprintf("ct mark set meta mark & 0x%x", ctUntracked),
		"accept")
	if r.logged {
		if r.loggedFlags {
			// After the source check (addresses can be trusted), before anything accepts.
			lines = append(lines[:len(first)+2:len(first)+2], append([]string{logFlagsJump()}, lines[len(first)+2:]...)...)
			r.rs.add(&Object{Kind: Chain, Name: flagsChain, Lines: logFlags()})
		}
		lines = insertBefore(lines, "ct state != new drop", logRejected("ct state != new", LogPrefixLate))
		lines = insertBefore(lines, fmt.Sprintf("meta mark & 0x%x != 0x%x drop", markAdmitted, markAdmitted),
			logRejected(fmt.Sprintf("meta mark & 0x%x != 0x%x", markAdmitted, markAdmitted), LogPrefixGroups))
	}
	r.rs.add(&Object{Kind: Chain, Name: "established", Lines: []string{
		// Tracked connections pass whatever the rules say now; untracked ones are judged again.
		fmt.Sprintf("ct state established ct mark & 0x%x == 0x0 accept", ctUntracked),
		"ct state related accept",
		"ct state established jump untracked",
		"drop",
	}})
	r.rs.add(&Object{Kind: Chain, Name: "forward", Decl: []string{"type filter hook forward priority filter; policy drop"}, Lines: lines})
	// Each side of a connection that it does not track: clear the side's admission bit and run
	// its check again.
	untracked := []string{
		fmt.Sprintf("meta mark set 0x%x", markAdmitted),
		r.recheck("original", ctUntrackedSource, markEgress, "iifname vmap @out_dispatch"),
		r.recheck("original", ctUntrackedDest, markIngress, "oifname vmap @in_dispatch"),
		r.recheck("reply", ctUntrackedSource, markIngress, "oifname vmap @in_dispatch"),
		r.recheck("reply", ctUntrackedDest, markEgress, "iifname vmap @out_dispatch"),
		fmt.Sprintf("meta mark & 0x%x == 0x%x accept", markAdmitted, markAdmitted),
	}
	if r.logged {
		untracked = append(untracked, logRejected("", LogPrefixRecheck)...)
	}
	r.rs.add(&Object{Kind: Chain, Name: "untracked", Lines: append(untracked, "drop")})
}

// recheck is a rule of the untracked chain: for a packet going one way of a connection that
// one of its interfaces does not track, clear the mark of the check that interface makes and
// run it again.
func (r *renderer) recheck(dir string, ct, mark int, dispatch string) string {
	return fmt.Sprintf("ct direction %s ct mark & 0x%x == 0x%x meta mark set meta mark & 0x%08x %s",
		dir, ct, ct, ^uint32(mark), dispatch)
}

// nacls renders the ACL of every subnet that has one: a packet leaving a subnet for another
// meets the source subnet's outbound entries, entering one its inbound entries, first match
// wins, anything unmatched is dropped. Traffic inside a subnet is not filtered by its ACL.
// Traffic between a subnet and the operator meets the subnet's ACL, as from outside the VPC.
func (r *renderer) nacls() {
	bySubnet := map[string]*model.NACL{}
	for _, acl := range r.n.Snapshot.NACLs {
		if acl.VpcID != r.n.VPC.ID {
			continue
		}
		for _, a := range acl.Assocs {
			bySubnet[a.SubnetID] = acl
		}
	}
	// One lookup per packet finds the pair of subnets it goes between, and jumps to a chain
	// that applies the source subnet's outbound entries, then the destination's inbound ones.
	// Packets inside one subnet have no pair: its ACL does not apply to them.
	var pairs4, pairs6 []string
	used := map[string]*model.NACL{}
	pairChains := map[string]bool{}
	for _, a := range r.subnets {
		for _, b := range r.subnets {
			from, to := bySubnet[a.ID], bySubnet[b.ID]
			if a.ID == b.ID || from == nil || to == nil {
				continue
			}
			for _, v4 := range r.families() {
				src, dst := a.CIDR, b.CIDR
				if !v4 {
					src, dst = a.IPv6CIDR, b.IPv6CIDR
				}
				if !src.IsValid() || !dst.IsValid() {
					continue
				}
				// An ACL that allows everything between the two subnets costs nothing per packet:
				// the pair gets no element, or a chain with only the other side's check.
				var checks []string // the ACL chains this pair needs
				if !aclAllowsAll(from, true, dst) {
					checks = append(checks, name(from.ID)+"_out")
					used[from.ID] = from
				}
				if !aclAllowsAll(to, false, src) {
					checks = append(checks, name(to.ID)+"_in")
					used[to.ID] = to
				}
				if len(checks) == 0 {
					continue
				}
				chain := "nacl_" + strings.Join(checks, "_then_")
				if !pairChains[chain] {
					pairChains[chain] = true
					c := &Object{Kind: Chain, Name: chain}
					for _, check := range checks {
						c.Lines = append(c.Lines, "jump "+check)
					}
					r.rs.add(c)
				}
				elem := fmt.Sprintf("%s . %s : jump %s", src, dst, chain)
				if v4 {
					pairs4 = append(pairs4, elem)
				} else {
					pairs6 = append(pairs6, elem)
				}
			}
		}
	}
	// The operator is outside the VPC: what it sends to an instance meets the inbound entries
	// of the instance's subnet, what an instance sends to it the outbound ones (the replies of
	// either's connections too: ACLs are stateless).
	// The internet likewise, for every address outside the VPC (internet.go).
	outsideCheck := func(acl *model.NACL, egress bool) string {
		check := name(acl.ID) + dirSuffix(egress)
		used[acl.ID] = acl
		chain := "nacl_" + check
		if !pairChains[chain] {
			pairChains[chain] = true
			r.rs.add(&Object{Kind: Chain, Name: chain, Lines: []string{"jump " + check}})
		}
		return chain
	}
	// The operator's pairs: with each subnet's block of the family, both ways.
	for _, v6 := range []bool{false, true} {
		if !r.operator(v6) {
			continue
		}
		a := r.operatorAddr(v6)
		op, pairs := netip.PrefixFrom(a, a.BitLen()), &pairs4
		if v6 {
			pairs = &pairs6
		}
		for _, sn := range r.subnets {
			acl, blk := bySubnet[sn.ID], subnetBlock(sn, v6)
			if acl == nil || !blk.IsValid() {
				continue
			}
			for _, egress := range []bool{false, true} {
				if aclAllowsAll(acl, egress, op) {
					continue
				}
				src, dst := op, blk
				if egress {
					src, dst = blk, op
				}
				*pairs = append(*pairs, fmt.Sprintf("%s . %s : jump %s", src, dst, outsideCheck(acl, egress)))
			}
		}
	}
	inet4, inet6 := r.internetPairs(bySubnet, outsideCheck)
	pairs4, pairs6 = append(pairs4, inet4...), append(pairs6, inet6...)
	r.rs.add(vmap("nacl_pairs4", "ipv4_addr . ipv4_addr", true, pairs4))
	r.rs.add(vmap("nacl_pairs6", "ipv6_addr . ipv6_addr", true, pairs6))
	r.pairs = map[bool]bool{true: len(pairs4) > 0, false: len(pairs6) > 0}
	for _, acl := range used {
		for _, egress := range []bool{false, true} {
			r.acl(acl, egress)
		}
	}
	// The epoch names this configuration of ACL checks: the pairs and what each ACL allows.
	h := fnv.New32a()
	for _, l := range append(slices.Clone(pairs4), pairs6...) {
		h.Write([]byte(l + "\n"))
	}
	for _, id := range slices.Sorted(maps.Keys(used)) {
		for _, egress := range []bool{false, true} {
			for _, v4 := range r.families() {
				if o := r.rs.Object(name(id) + dirSuffix(egress) + family(v4)); o != nil {
					h.Write([]byte(o.Name + ":" + strings.Join(o.Lines, ",") + "\n"))
				}
			}
		}
	}
	r.aclEpoch = h.Sum32() & 0xffffff
}

func dirSuffix(egress bool) string {
	if egress {
		return "_out"
	}
	return "_in"
}

func nfproto(v4 bool) string { return "meta nfproto " + nfprotoWord(v4) }

// nfprotoWord is a family as nft names it (the nf_proto type).
func nfprotoWord(v4 bool) string {
	if v4 {
		return "ipv4"
	}
	return "ipv6"
}

// addrExpr is the remote address of a packet: its destination going out, its source coming in.
func addrExpr(v4, egress bool) string {
	f := "ip"
	if !v4 {
		f = "ip6"
	}
	if egress {
		return f + " daddr"
	}
	return f + " saddr"
}

func protoWord(p int) string {
	if p == model.ProtoNumTCP {
		return "tcp"
	}
	return "udp"
}

func portRange(from, to int32) string {
	if from == to {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

func icmpMatch(proto int, typ, code int32) string {
	w := "icmp"
	if proto == model.ProtoNumICMPv6 {
		w = "icmpv6"
	}
	switch {
	case typ == -1:
		return "meta l4proto " + map[string]string{"icmp": "icmp", "icmpv6": "ipv6-icmp"}[w]
	case code == -1:
		return fmt.Sprintf("%s type %d", w, typ)
	default:
		return fmt.Sprintf("%s type %d %s code %d", w, typ, w, code)
	}
}
