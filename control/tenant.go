package control

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// Record kinds in store keys.
const (
	kindMeta        = "meta"
	kindVPC         = "vpc"
	kindSubnet      = "subnet"
	kindGroup       = "sg"
	kindENI         = "eni"
	kindInstance    = "instance"
	kindKeyPair     = "key"
	kindToken       = "token"
	kindPrefixList  = "pl"
	kindNACL        = "acl"
	kindFlowLog     = "fl"
	kindPath        = "nip"
	kindAnalysis    = "nia"
	kindAddress     = "eip"
	kindNATGateway  = "nat"
	kindRouteTable  = "rtb"
	kindIGW         = "igw"
	kindEIGW        = "eigw"
	kindDhcp        = "dopt"
	kindReservation = "scr"
	kindLT          = "lt"
	kindLTVersion   = "ltv"  // by "<template ID>:<version>"
	kindHost        = "host" // Dedicated Hosts
)

// tenantMeta marks a tenant as initialised (materialised by its first write), so that a
// default VPC the user deleted is not created again on the next start.
type tenantMeta struct {
	Created time.Time `json:"created"`
}

// tenant is the in-memory state of one account in one region. Maps hold immutable objects.
type tenant struct {
	key Tenant
	now func() time.Time // the service's clock
	aws *awsCatalogue    // the service's AWS-managed prefix lists
	mu  sync.RWMutex
	// staged counts the writes submitted to the store (under mu); durable, under durableMu,
	// is the highest of them known to be on disk, and durableWaits the reads waiting for a
	// higher one (Service.waitDurable).
	staged       uint64
	durableMu    sync.Mutex
	durable      uint64
	durableWaits []durableWait
	// stale marks, on a shared store, memory that may be behind the store: the next request
	// loads the tenant again first (shared.go). Under mu.
	stale bool
	// versionReads shares the reads of the tenant's version key among concurrent requests
	// on a shared store (shared.go).
	versionReads versionReads

	tenantState // under mu
}

// tenantState is what a tenant holds of the store: all of it is replaced at once when a
// shared store's tenant is loaded again (shared.go).
type tenantState struct {
	initialised bool
	// version is, on a shared store (Config.Shared), the revision of the tenant's last write
	// as this service last read or made it (shared.go); 0 otherwise.
	version int64
	// purgeAt is when the next terminated instance expires (zero: none does); it holds only
	// while purgeKnown (see purge).
	purgeKnown bool
	purgeAt    time.Time
	// noStrays says that every launch-template version's template exists, and every subnet
	// CIDR reservation's subnet: a deletion takes at most maxPurge of them with it and leaves
	// the rest to purge (retention.go). False at a load, so that the first write looks.
	noStrays bool
	// versions counts the changes to each kind's map (under mu, in set); sorted keeps the
	// host feed's sorted copies of the maps as of those versions (snapshot.go).
	versions map[string]uint64
	sorted   *sortedCache
	// changed logs, per kind, the IDs whose object was added, replaced or removed
	// (snapshot.go): a sorted copy made before is brought up to date with those alone.
	changed map[string]*changeLog

	vpcs         map[string]*model.VPC
	subnets      map[string]*model.Subnet
	groups       map[string]*model.Group
	enis         map[string]*model.NetworkInterface
	instances    map[string]*model.Instance
	keyPairs     map[string]*model.KeyPair // by ID
	prefixLists  map[string]*model.PrefixList
	nacls        map[string]*model.NACL
	flowLogs     map[string]*model.FlowLog
	paths        map[string]*model.InsightsPath
	analyses     map[string]*model.InsightsAnalysis
	tokens       map[string]*clientToken   // by "<action>/<token>"
	addresses    map[string]*model.Address // Elastic IPs, by allocation ID
	natGateways  map[string]*model.NATGateway
	routeTables  map[string]*model.RouteTable
	igws         map[string]*model.InternetGateway
	eigws        map[string]*model.EgressOnlyIGW
	dhcpOptions  map[string]*model.DhcpOptions
	reservations map[string]*model.SubnetCIDRReservation // subnet CIDR reservations
	lts          map[string]*model.LaunchTemplate
	ltVersions   map[string]*model.LaunchTemplateVersion // by "<template ID>:<version>"
	dhosts       map[string]*model.DedicatedHost
	// groupNames indexes the groups by VPC and name without case (groupnames.go).
	groupNames map[string]string
	// groupUsers counts, per group ID, the interfaces that carry it and the rules of other
	// groups that name it (groupusers.go).
	groupUsers map[string]int
	// groupPeers indexes the groups by the CIDRs their rules name (grouppeers.go).
	groupPeers map[peerKey]map[string]int32
	// members indexes the interfaces by group ID (admission.go); nil, and not kept, when
	// the service has no admission hook.
	members map[string]map[string]bool
	// lazy names records that exist in memory only (see mainRouteTables); the next write
	// commits them.
	lazy []lazyRecord
}

func newTenant(t Tenant, now func() time.Time, aws *awsCatalogue) *tenant {
	tn := &tenant{key: t, now: now, aws: aws}
	tn.versions, tn.sorted, tn.changed = map[string]uint64{}, &sortedCache{}, map[string]*changeLog{}
	tn.groupNames, tn.groupUsers, tn.groupPeers = map[string]string{}, map[string]int{}, map[peerKey]map[string]int32{}
	for _, k := range kinds {
		k.init(tn)
	}
	return tn
}

func (tn *tenant) load(kind, id string, b []byte) error {
	v, err := decodeRecord(kind, b)
	if err != nil {
		return err
	}
	tn.put(kind, id, v)
	return nil
}

// decodeRecord reads a stored record of kind: nil for the tenant's meta records, which carry
// nothing the tenant keeps. It touches no tenant: Open decodes on every CPU.
func decodeRecord(kind string, b []byte) (any, error) {
	if kind == kindMeta {
		return nil, nil
	}
	k, ok := kindByStore[kind]
	if !ok {
		return nil, fmt.Errorf("unknown record kind %q", kind)
	}
	return k.decode(b)
}

// put adds a record decodeRecord read to the tenant, with its indexes.
func (tn *tenant) put(kind, id string, v any) {
	if kind == kindMeta {
		tn.initialised = true
		return
	}
	kindByStore[kind].put(tn, id, v)
	switch kind {
	case kindENI:
		tn.indexMembers(nil, tn.enis[id])
		tn.indexGroupUsers(nil, nil, nil, tn.enis[id])
	case kindGroup:
		tn.indexGroupName(nil, tn.groups[id])
		tn.indexGroupUsers(nil, tn.groups[id], nil, nil)
		tn.indexGroupPeers(nil, tn.groups[id])
	}
}

// tx stages one write: it changes the tenant's maps directly (the caller holds the write lock),
// remembering how to undo each change, and collects the store operations to commit.
type tx struct {
	s    *Service
	tn   *tenant
	now  time.Time
	ops  map[string]any // store key → object to encode, or nil to delete
	keys []string       // ops' keys in first-staged order
	undo []func()
	// released are the public addresses this transaction returns to the pool, freed in
	// memory once it is submitted (pool.go).
	released []netip.Addr
	// taken are the pool keys of the public addresses this transaction takes: on a shared
	// store, it commits only if none of them exists yet (shared.go).
	taken []string
	// prior is, by record kind and ID, what each record the transaction changed was before
	// it (admission.go); nil when the service has no admission hook, which is the only reader.
	prior map[string]map[string]prior
	// pl is set while the transaction holds the placement lock (placement.go); conds are
	// the conditions its occupancy records add on a shared store.
	pl    *txPlacement
	conds []store.Cond
	// vniHeld is set while the transaction holds the VNI counter's lock (vni.go).
	vniHeld bool
	// count is, on a shared store, the account's count of public addresses that the
	// transaction changes (shared.go); countRefused says that the account's quota refused an
	// address, an answer that stands only if this server's count was current.
	count        *accountCount
	countRefused bool
	// purging says that the transaction deletes what has aged out (terminated instances, NAT
	// gateways, client tokens), at most maxPurge records, and purged counts them
	// (retention.go).
	purging bool
	purged  int
}

func (s *Service) begin(tn *tenant) *tx {
	tx := &tx{s: s, tn: tn, now: s.cfg.Now().UTC(), ops: map[string]any{}}
	if s.cfg.Admission != nil {
		tx.prior = map[string]map[string]prior{}
	}
	return tx
}

func (tx *tx) stage(kind, id string, v any) { tx.stageKey(storeKey(tx.tn.key, kind, id), v) }

// stageKey stages a record under a key of its own (the server-wide pool's).
func (tx *tx) stageKey(k string, v any) {
	if _, ok := tx.ops[k]; !ok {
		tx.keys = append(tx.keys, k)
	}
	tx.ops[k] = v
}

// put records v as the new value of a record that has no map (metadata).
func (tx *tx) put(kind, id string, v any) { tx.stage(kind, id, v) }

// set replaces m[id] with v (nil deletes), staging the store write and the undo.
func set[T any](tx *tx, m map[string]*T, kind, id string, v *T) {
	old, had := m[id]
	if tx.prior != nil {
		tx.keepPrior(kind, id, old, had)
	}
	if kind == kindENI {
		o, n := any(old).(*model.NetworkInterface), any(v).(*model.NetworkInterface)
		if tx.tn.members != nil {
			tx.reindexMembers(o, n)
		}
		tx.reindexGroupUsers(nil, nil, o, n)
	}
	if kind == kindGroup {
		o, n := any(old).(*model.Group), any(v).(*model.Group)
		tx.reindexGroupName(o, n)
		tx.reindexGroupUsers(o, n, nil, nil)
		tx.reindexGroupPeers(o, n)
	}
	// Before the change: a copy sorted before it is stale from now on, and is brought up to
	// date with the IDs logged since (see sortedOf).
	tx.tn.versions[kind]++
	tx.tn.noteChanged(kind, id)
	tx.undo = append(tx.undo, func() {
		if had {
			m[id] = old
		} else {
			delete(m, id)
		}
		// Undoing is a change too: a copy sorted while the transaction ran (a view of the
		// state it was building) must not outlive it.
		tx.tn.versions[kind]++
		tx.tn.noteChanged(kind, id)
	})
	if v == nil {
		delete(m, id)
		tx.stage(kind, id, nil)
		return
	}
	m[id] = v
	tx.stage(kind, id, v)
}

func (tx *tx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo = nil
	tx.releasePlacement() // memory is restored: the next placement may read it
	tx.releaseVNI()
}

// encode turns the staged records into store operations.
func (tx *tx) encode() ([]store.Op, error) {
	ops := make([]store.Op, 0, len(tx.keys))
	for _, k := range tx.keys {
		v := tx.ops[k]
		if v == nil {
			ops = append(ops, store.Op{Key: k, Delete: true})
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, internalError(fmt.Errorf("encode %s: %w", k, err))
		}
		ops = append(ops, store.Op{Key: k, Value: b})
	}
	return ops, nil
}

// compactGroup trims what JSON decoding leaves behind at 10,000 groups: rule slices grown by
// doubling (up to twice the memory they need) and a copy of the protocol name in every rule.
func compactGroup(g *model.Group) {
	g.Ingress, g.Egress = exactRules(g.Ingress), exactRules(g.Egress)
}

func exactRules(rs []model.Rule) []model.Rule {
	if len(rs) == 0 {
		return nil
	}
	out := make([]model.Rule, len(rs))
	copy(out, rs)
	for i := range out {
		if p, err := model.NormalizeProtocol(out[i].Protocol); err == nil {
			out[i].Protocol = p // the normalised names are shared constants
		}
	}
	return out
}
