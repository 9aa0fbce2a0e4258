package control

import (
	"cmp"
	"slices"
	"sync"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// snapshot is the tenant's network as the policy engine, the analyser, the admin API and the
// host feed see it. The caller holds tn.mu (read or write).
//
// The host feed (Networks) asks for it after every revision, and sorting every map each time
// was most of the feed's cost at 1,000 interfaces, although a write changes one or two kinds:
// each kind's sorted copy is kept until its map changes (tenant.versions), and only the changed
// kinds are sorted again.
func (tn *tenant) snapshot() netmap.Snapshot {
	return netmap.Snapshot{
		VPCs:        sortedOf(tn, kindVPC, tn.vpcs, func(x *model.VPC) string { return x.ID }),
		Subnets:     sortedOf(tn, kindSubnet, tn.subnets, func(x *model.Subnet) string { return x.ID }),
		ENIs:        sortedOf(tn, kindENI, tn.enis, func(x *model.NetworkInterface) string { return x.ID }),
		Groups:      sortedOf(tn, kindGroup, tn.groups, func(x *model.Group) string { return x.ID }),
		PrefixLists: tn.aws.withOwn(tn.key.Region, sortedOf(tn, kindPrefixList, tn.prefixLists, func(x *model.PrefixList) string { return x.ID })),
		NACLs:       sortedOf(tn, kindNACL, tn.nacls, func(x *model.NACL) string { return x.ID }),
		Addresses:   sortedOf(tn, kindAddress, tn.addresses, func(x *model.Address) string { return x.AllocationID }),
		NATGateways: sortedOf(tn, kindNATGateway, tn.natGateways, func(x *model.NATGateway) string { return x.ID }),
		RouteTables: sortedOf(tn, kindRouteTable, tn.routeTables, func(x *model.RouteTable) string { return x.ID }),
		IGWs:        sortedOf(tn, kindIGW, tn.igws, func(x *model.InternetGateway) string { return x.ID }),
		EgressIGWs:  sortedOf(tn, kindEIGW, tn.eigws, func(x *model.EgressOnlyIGW) string { return x.ID }),
		FlowLogs:    sortedOf(tn, kindFlowLog, tn.flowLogs, func(x *model.FlowLog) string { return x.ID }),
	}
}

// Snapshot is the tenant's network for the policy engine and the analyser, with the instances
// that are halted (the host feed reads every instance's state from Network.Instances).
func (v View) Snapshot() netmap.Snapshot {
	s := v.tn.snapshot()
	for _, in := range v.tn.instances {
		if in.State != model.StateTerminated && !model.Forwards(in.State) {
			if s.Halted == nil {
				s.Halted = map[string]bool{}
			}
			s.Halted[in.ID] = true
		}
	}
	return s
}

// network is the tenant's network and instances (terminated ones too, until purged) for the
// host feed.
func (tn *tenant) network() netmap.Network {
	return netmap.Network{Tenant: tn.key, Snapshot: tn.snapshot(),
		Instances: sortedOf(tn, kindInstance, tn.instances, func(x *model.Instance) string { return x.ID })}
}

// sortedCache holds, per record kind, a sorted copy of the tenant's map and the kind's version
// it was made at. Readers share tn.mu, so the cache has a lock of its own.
type sortedCache struct {
	mu     sync.Mutex
	byKind map[string]sortedCopy
}

type sortedCopy struct {
	version uint64
	items   any // []*T
}

// sortedOf returns m's objects sorted by ID: the cached slice when the kind has not changed
// since it was sorted. When it has, a copy of the cached slice is patched with the objects
// changed since (changeLog), or the map sorted afresh when the log no longer holds them all,
// and that becomes the cached slice. A cached slice is never written again, so it is handed
// out shared, as the objects are (netmap.Snapshot: read-only); its capacity is clipped so
// that an append to it copies. The host feed asks for every kind after every revision, and
// copying each (1,000 interfaces, 1,000 instances, 8 KB apiece) was most of its allocation.
func sortedOf[T any](tn *tenant, kind string, m map[string]*T, id func(*T) string) []*T {
	version := tn.versions[kind]
	tn.sorted.mu.Lock()
	c, ok := tn.sorted.byKind[kind]
	tn.sorted.mu.Unlock()
	if ok && c.version == version {
		return c.items.([]*T)
	}
	var items []*T
	if ids, logged := tn.changedSince(kind, c.version); ok && logged {
		items = patch(slices.Clone(c.items.([]*T)), ids, m, id)
	} else {
		items = sorted(m, id)
	}
	items = slices.Clip(items)
	tn.sorted.mu.Lock()
	if tn.sorted.byKind == nil {
		tn.sorted.byKind = map[string]sortedCopy{}
	}
	tn.sorted.byKind[kind] = sortedCopy{version, items}
	tn.sorted.mu.Unlock()
	return items
}

// patch brings items, sorted by ID, up to date with m for the IDs in ids (in any order,
// repeats allowed): an object replaced is looked up again, one added is inserted in its place,
// one removed is taken out.
func patch[T any](items []*T, ids []string, m map[string]*T, id func(*T) string) []*T {
	for _, x := range ids {
		i, found := slices.BinarySearchFunc(items, x, func(it *T, x string) int { return cmp.Compare(id(it), x) })
		v, has := m[x]
		switch {
		case found && has:
			items[i] = v
		case found:
			items = slices.Delete(items, i, i+1)
		case has:
			items = slices.Insert(items, i, v)
		}
	}
	return items
}

// changeLog is a kind's recent changes: the version each made (versions[kind] after it) and
// the ID, oldest first, at most maxChanges of them. The host feed asks for a snapshot after
// every revision, and a write changes an object or two: patching the sorted copy with those
// costs a few binary searches, where looking up every object again cost a map lookup per
// object (≈ 15 % of the server's CPU while authorizing rules on 6,000 groups, measured with
// perf), and sorting every object again after an addition more.
type changeLog struct {
	entries []change
	dropped uint64 // the newest version whose entry was dropped for room
}

type change struct {
	version uint64
	id      string
}

// maxChanges bounds a kind's log; a sorted copy older than what the log holds is sorted
// afresh.
const maxChanges = 1024

// noteChanged logs that kind's object id changed; the caller holds tn.mu and has counted the
// change in versions.
func (tn *tenant) noteChanged(kind, id string) {
	l := tn.changed[kind]
	if l == nil {
		l = &changeLog{}
		tn.changed[kind] = l
	}
	if len(l.entries) == maxChanges {
		l.dropped = l.entries[maxChanges/2-1].version
		l.entries = append(l.entries[:0], l.entries[maxChanges/2:]...)
	}
	l.entries = append(l.entries, change{tn.versions[kind], id})
}

// changedSince is the IDs changed after kind's version since, and whether the log still holds
// all of them.
func (tn *tenant) changedSince(kind string, since uint64) ([]string, bool) {
	l := tn.changed[kind]
	if l == nil {
		return nil, tn.versions[kind] == since
	}
	if l.dropped > since {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(l.entries, since+1, func(r change, v uint64) int { return cmp.Compare(r.version, v) })
	ids := make([]string, 0, len(l.entries)-i)
	for _, r := range l.entries[i:] {
		ids = append(ids, r.id)
	}
	return ids, true
}
