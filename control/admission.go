package control

import (
	"cmp"
	"maps"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Admission is an admission policy's hook in the write pipeline (Config.Admission): called
// with the part of the tenant's network a write touched, as it was before the write (before)
// and as the write leaves it (after), and the IDs of the resources whose findings count
// (changed: the groups whose rules or members changed, the interfaces whose groups changed,
// the network ACLs that changed). A non-nil error refuses the write: it is returned to the
// client as it is (a *model.Error carries its EC2 code) and the write changes nothing.
//
// The snapshots are partial so that admission costs what the write touched, not what the
// account holds: each holds the changed groups, the groups their rules reference, the
// interfaces that carry any of those (with their other groups, subnets and VPCs), the
// Elastic IPs of those interfaces, the changed network ACLs, and every prefix list. A check
// that counts the whole account (sprawl per VPC) sees only this part; it can miss a finding
// but never invent one that the whole account would not have, since before and after are cut
// the same way.
//
// The hook runs with the tenant's write lock held, after the write succeeded in memory and
// before DryRun is answered, so that DryRun reports a refusal instead of DryRunOperation.
type Admission func(t Tenant, before, after netmap.Snapshot, changed []string) error

// prior is a record's value before the transaction changed it; had is false for a record
// the transaction created.
type prior struct {
	v   any
	had bool
}

// keepPrior keeps the first value a transaction replaced under kind/id: what the record was
// before the write, which admission compares with what it is after.
func (tx *tx) keepPrior(kind, id string, old any, had bool) {
	m := tx.prior[kind]
	if m == nil {
		m = map[string]prior{}
		tx.prior[kind] = m
	}
	if _, ok := m[id]; !ok {
		m[id] = prior{old, had}
	}
}

// newTenant is a new tenant of the service, with the membership index when admission is on.
func (s *Service) newTenant(t Tenant) *tenant {
	tn := newTenant(t, s.cfg.Now, s.aws)
	if s.cfg.Admission != nil {
		tn.members = map[string]map[string]bool{}
	}
	return tn
}

// indexMembers moves an interface in the membership index from old's groups to n's (either
// may be nil).
func (tn *tenant) indexMembers(old, n *model.NetworkInterface) {
	if tn.members == nil {
		return
	}
	if old != nil {
		for _, g := range old.Groups {
			delete(tn.members[g], old.ID)
			if len(tn.members[g]) == 0 {
				delete(tn.members, g)
			}
		}
	}
	if n != nil {
		for _, g := range n.Groups {
			if tn.members[g] == nil {
				tn.members[g] = map[string]bool{}
			}
			tn.members[g][n.ID] = true
		}
	}
}

// reindexMembers is indexMembers for a change of tx, undone with it.
func (tx *tx) reindexMembers(old, n *model.NetworkInterface) {
	tx.tn.indexMembers(old, n)
	tx.undo = append(tx.undo, func() { tx.tn.indexMembers(n, old) })
}

// admit asks the configured admission hook about what tx changed; nil when there is no hook
// or the write changed nothing a check of groups or network ACLs can see.
func (s *Service) admit(tx *tx) error {
	if s.cfg.Admission == nil {
		return nil
	}
	before, after, changed, ok := tx.admissionScope()
	if !ok {
		return nil
	}
	return s.cfg.Admission(tx.tn.key, before, after, changed)
}

// side reads the tenant's maps as they are (old false) or as they were before the
// transaction (old true: a record the transaction changed reads as its prior value).
type side struct {
	tx  *tx
	old bool
}

// atSide is m[id] on side s.
func atSide[T any](s side, kind string, m map[string]*T, id string) *T {
	if s.old {
		if p, ok := s.tx.prior[kind][id]; ok {
			if !p.had {
				return nil
			}
			return p.v.(*T)
		}
	}
	return m[id]
}

// eachAtSide calls f with every record of m on side s: the map's, with the prior values of those
// the transaction changed, and those it deleted.
func eachAtSide[T any](s side, kind string, m map[string]*T, f func(*T)) {
	for id := range m {
		if v := atSide(s, kind, m, id); v != nil {
			f(v)
		}
	}
	if !s.old {
		return
	}
	for id, p := range s.tx.prior[kind] {
		if _, ok := m[id]; !ok && p.had {
			f(p.v.(*T))
		}
	}
}

// admissionScope builds the before and after snapshots of what tx touched (see Admission),
// and false when it touched nothing a check of groups or network ACLs can see.
func (tx *tx) admissionScope() (before, after netmap.Snapshot, changed []string, ok bool) {
	tn := tx.tn
	focus := map[string]bool{} // group IDs
	var nacls, enis []string
	for id := range tx.prior[kindGroup] {
		focus[id] = true
	}
	for id := range tx.prior[kindENI] {
		enis = append(enis, id)
		for _, s := range []side{{tx, true}, {tx, false}} {
			if n := atSide(s, kindENI, tn.enis, id); n != nil {
				for _, g := range n.Groups {
					focus[g] = true
				}
			}
		}
	}
	if pls := tx.prior[kindPrefixList]; len(pls) > 0 {
		// A changed list changes what every rule naming it opens. Only current groups can
		// name it: a group whose rules this write changed is in focus already.
		for _, g := range tn.groups {
			if refersTo(g, func(p model.Peer) bool { _, ok := pls[p.PrefixListID]; return ok }) {
				focus[g.ID] = true
			}
		}
	}
	for id := range tx.prior[kindNACL] {
		nacls = append(nacls, id)
	}
	if len(focus) == 0 && len(nacls) == 0 {
		return netmap.Snapshot{}, netmap.Snapshot{}, nil, false
	}
	changed = append(append(slices.Collect(maps.Keys(focus)), enis...), nacls...)
	slices.Sort(changed)
	changed = slices.Compact(changed)
	return tx.partial(side{tx, true}, focus, nacls), tx.partial(side{tx, false}, focus, nacls), changed, true
}

// refersTo reports whether a rule of g has a peer for which match is true.
func refersTo(g *model.Group, match func(model.Peer) bool) bool {
	for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
		for i := range rs {
			if match(rs[i].Peer) {
				return true
			}
		}
	}
	return false
}

// partial is one side's snapshot of the focus groups and network ACLs and what they need
// (see Admission).
func (tx *tx) partial(s side, focus map[string]bool, naclIDs []string) netmap.Snapshot {
	tn := tx.tn
	groups := map[string]*model.Group{}
	addGroup := func(id string) *model.Group {
		if g, ok := groups[id]; ok {
			return g
		}
		g := atSide(s, kindGroup, tn.groups, id)
		if g != nil {
			groups[id] = g
		}
		return g
	}
	for id := range focus {
		if g := addGroup(id); g != nil {
			for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
				for i := range rs {
					if p := rs[i].Peer.GroupID; p != "" {
						addGroup(p) // its members are the rule's peer addresses
					}
				}
			}
		}
	}
	wanted := map[string]bool{}
	for id := range groups {
		wanted[id] = true
	}
	var out netmap.Snapshot
	subnets, vpcs, eniIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	// The candidates are the interfaces the index has in a wanted group now, and on the old
	// side those the transaction changed (the index does not know what they were).
	cand := map[string]bool{}
	for g := range wanted {
		for id := range tn.members[g] {
			cand[id] = true
		}
	}
	if s.old {
		for id := range s.tx.prior[kindENI] {
			cand[id] = true
		}
	}
	for id := range cand {
		n := atSide(s, kindENI, tn.enis, id)
		if n == nil || !slices.ContainsFunc(n.Groups, func(g string) bool { return wanted[g] }) {
			continue
		}
		out.ENIs = append(out.ENIs, n)
		eniIDs[n.ID], subnets[n.SubnetID], vpcs[n.VpcID] = true, true, true
		for _, g := range n.Groups {
			addGroup(g) // a rule of another group on the interface can cover one of these
		}
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, g)
		vpcs[g.VpcID] = true
	}
	for _, id := range naclIDs {
		if a := atSide(s, kindNACL, tn.nacls, id); a != nil {
			out.NACLs = append(out.NACLs, a)
			vpcs[a.VpcID] = true
			for _, as := range a.Assocs {
				subnets[as.SubnetID] = true
			}
		}
	}
	for id := range subnets {
		if sn := atSide(s, kindSubnet, tn.subnets, id); sn != nil {
			out.Subnets = append(out.Subnets, sn)
		}
	}
	for id := range vpcs {
		if v := atSide(s, kindVPC, tn.vpcs, id); v != nil {
			out.VPCs = append(out.VPCs, v)
		}
	}
	eachAtSide(s, kindAddress, tn.addresses, func(a *model.Address) {
		if eniIDs[a.ENIID] {
			out.Addresses = append(out.Addresses, a)
		}
	})
	var own []*model.PrefixList
	eachAtSide(s, kindPrefixList, tn.prefixLists, func(pl *model.PrefixList) { own = append(own, pl) })
	out.PrefixLists = tn.aws.withOwn(tn.key.Region, own)
	byID(out.Groups, func(x *model.Group) string { return x.ID })
	byID(out.ENIs, func(x *model.NetworkInterface) string { return x.ID })
	byID(out.NACLs, func(x *model.NACL) string { return x.ID })
	byID(out.Subnets, func(x *model.Subnet) string { return x.ID })
	byID(out.VPCs, func(x *model.VPC) string { return x.ID })
	byID(out.Addresses, func(x *model.Address) string { return x.AllocationID })
	return out
}

// byID sorts a snapshot's slice by ID, as netmap.Snapshot's are.
func byID[T any](xs []*T, id func(*T) string) {
	slices.SortFunc(xs, func(a, b *T) int { return cmp.Compare(id(a), id(b)) })
}
