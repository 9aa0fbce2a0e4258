package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// Placement puts each instance on a host (issue 17, item 3; spec flowlogs-multihost.md B9).
//
// Hosts are the cluster package's records, written by agents. With none registered — one
// server on one machine, the default — nothing is placed and the local machine runs every
// instance, exactly as before hosts existed. Once any host is registered, every launch is
// placed on an up host of its subnet's zone with room for its type, or refused with EC2's
// InsufficientInstanceCapacity.
//
// What is on a host is its occupancy record (cluster.Occupancy, key hostocc/<name>): used
// vCPUs and memory, instances by account, and the one account the host is reserved for
// while it runs that account's dedicated instances or is its Dedicated Host. It is written in
// the transaction that writes the instance, so the two never disagree after a crash.
//
// Occupancy is server-wide state, like the public address pool: tenants write under their own
// locks, so it has its own (placer.mu), taken by the first placement of a transaction and held
// until the transaction is submitted or rolled back. Holding it that long serialises the
// placements of one server, which is what makes the record right: a record's value is encoded
// from memory when the transaction is encoded (occRecord), and no other transaction can change
// that memory between then and the submission that fixes the store's order. Lock order: a
// tenant's lock, then placer.mu; never the reverse.
//
// On a shared store (several API servers, Config.Shared) memory is read again from the store
// when the lock is taken, and the transaction commits only if each occupancy record it changes
// is still at the revision read (tx.conds, like tx.taken for public addresses). Two servers
// placing on one host at once: one commits, the other's transaction is refused, and the
// shared-store retry (shared.go) runs the request again on what the store now holds, so it
// places again against the winner's instance. That is what keeps the invariants of B9.2 —
// capacity, dedicated isolation, Dedicated Hosts for their owner only — across servers.
//
// Capacity: terminating an instance frees its share of the host; stopping keeps it. On AWS a
// stop releases the hardware (a stopped instance of default or dedicated tenancy may start on
// another host, and a start can fail with InsufficientInstanceCapacity; an Affinity=host
// instance restarts on its Dedicated Host or fails with InsufficientCapacityOnHost). Stockade
// keeps a stopped instance's place instead, so a start never fails for capacity and invariant
// 4 (affinity) holds trivially; the price is capacity held by stopped instances.
//
// A host that goes down keeps its instances (spec B10: no automatic re-placement); they are
// not moved, and their records still count on the host.

// placer is the service's memory of the hosts' occupancy.
type placer struct {
	mu  sync.Mutex
	occ map[string]cluster.Occupancy
	rev map[string]int64 // on a shared store, each record's mod revision as last read
}

func (s *Service) loadPlacer(ctx context.Context) error {
	occ, rev, err := cluster.Occupancies(ctx, s.st)
	if err != nil {
		return err
	}
	s.place.occ, s.place.rev = occ, rev
	return nil
}

// txPlacement is what a transaction holding the placement lock knows.
type txPlacement struct {
	hosts  map[string]cluster.Host // the registered hosts, read when the lock was taken
	staged bool                    // an occupancy record is staged
}

// placement takes the placement lock for the rest of the transaction (released by rollback or
// by submission, see releasePlacement) and reads the registered hosts; on a shared store it
// reads the occupancy records again too.
func (tx *tx) placement() (*txPlacement, error) {
	if tx.pl != nil {
		return tx.pl, nil
	}
	p := &tx.s.place
	p.mu.Lock()
	ctx := context.Background()
	hosts, err := cluster.List(ctx, tx.s.st)
	if err == nil && tx.s.cfg.Shared {
		err = tx.s.loadPlacer(ctx)
	}
	if err != nil {
		p.mu.Unlock()
		return nil, unavailable(err)
	}
	tx.pl = &txPlacement{hosts: make(map[string]cluster.Host, len(hosts))}
	for _, h := range hosts {
		tx.pl.hosts[h.Name] = h
	}
	return tx.pl, nil
}

// releasePlacement lets the next placement in, once this transaction was submitted (its
// occupancy records are encoded and ordered) or rolled back (memory restored).
func (tx *tx) releasePlacement() {
	if tx.pl != nil {
		tx.pl = nil
		tx.s.place.mu.Unlock()
	}
}

// occRecord is the staged value of a host's occupancy record: encoded from memory when the
// transaction is, so that it holds every change the transaction made, and none undone by a
// rollback to a savepoint (launch).
type occRecord struct {
	p    *placer
	name string
}

func (r occRecord) MarshalJSON() ([]byte, error) { return json.Marshal(r.p.occ[r.name]) }

// setOcc changes a host's occupancy in memory and stages its record; the caller holds the
// placement lock.
func (tx *tx) setOcc(name string, o cluster.Occupancy) {
	p := &tx.s.place
	old, had := p.occ[name]
	p.occ[name] = o
	tx.undo = append(tx.undo, func() {
		if had {
			p.occ[name] = old
		} else {
			delete(p.occ, name)
		}
	})
	k := cluster.OccupancyKey(name)
	if _, staged := tx.ops[k]; !staged && tx.s.cfg.Shared {
		tx.conds = append(tx.conds, store.Cond{Key: k, ModRevision: p.rev[name]})
	}
	tx.stageKey(k, occRecord{p: p, name: name})
	tx.pl.staged = true
}

// placeRequest is what placement needs to know of an instance.
type placeRequest struct {
	account, zone, tenancy string
	itype                  model.InstanceType
	// hosts are the Dedicated Hosts a host-tenancy instance may go on (one when HostId was
	// given); explicit says it was.
	hosts    []*model.DedicatedHost
	explicit bool
}

// choose picks a host for r among hosts, or answers EC2's error. It reads, never writes: a
// table test drives it directly.
func choose(hosts map[string]cluster.Host, occ map[string]cluster.Occupancy, r placeRequest, now func(cluster.Host) string) (string, error) {
	fits := func(h cluster.Host, o cluster.Occupancy) bool {
		return o.VCPUs+r.itype.VCPUs <= h.VCPUs && o.MemoryMiB+r.itype.MemoryMiB <= h.MemoryMiB
	}
	if r.tenancy == model.TenancyHost {
		compatible := false
		var best string
		var bestFree int
		for _, dh := range r.hosts {
			if dh.State != model.HostAvailable || dh.AZ != r.zone || !dh.Accepts(r.itype.Name) || (!r.explicit && !dh.AutoPlacement) {
				continue
			}
			compatible = true
			h, ok := hosts[dh.Node]
			o := occ[dh.Node]
			if !ok || now(h) != cluster.Up || !fits(h, o) {
				continue
			}
			if free := h.VCPUs - o.VCPUs; best == "" || free > bestFree {
				best, bestFree = dh.Node, free
			}
		}
		switch {
		case best != "":
			return best, nil
		case !compatible:
			// [UNCONFIRMED] wording.
			return "", model.IncompatibleHostRequirements.Errorf("There are no available or compatible Dedicated Hosts for instance type %s in %s.", r.itype.Name, r.zone)
		default:
			// [UNCONFIRMED] wording.
			return "", model.InsufficientCapacityOnHost.Errorf("There is not enough capacity on the Dedicated Host to launch or start an instance of type %s.", r.itype.Name)
		}
	}
	type cand struct {
		name      string
		own, free int
	}
	var cands []cand
	for name, h := range hosts {
		o := occ[name]
		switch {
		case now(h) != cluster.Up, h.Zone != r.zone, o.Allocation != nil, !fits(h, o):
			continue
		case o.Exclusive() != "" && o.Exclusive() != r.account:
			continue // another account's dedicated instances run there (B9.2, 1)
		case r.tenancy == model.TenancyDedicated && !o.OnlyAccount(r.account):
			continue // a dedicated instance shares no host with another account
		}
		own := 0
		if r.tenancy == model.TenancyDedicated && o.Exclusive() == r.account {
			own = 1 // pack an account's dedicated instances: every host they touch is the account's
		}
		cands = append(cands, cand{name, own, h.VCPUs - o.VCPUs})
	}
	if len(cands) == 0 {
		// EC2's wording begins so; the advice that follows on AWS depends on its zones.
		return "", model.InsufficientInstanceCapacity.Errorf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", r.itype.Name, r.zone)
	}
	// Otherwise spread: the most free vCPUs first, by name on a tie (deterministic).
	best := slices.MinFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.own, a.own), cmp.Compare(b.free, a.free), cmp.Compare(a.name, b.name))
	})
	return best.name, nil
}

// place puts inst on a host when any is registered, recording it in inst (Node, and HostID for
// host tenancy) and in the host's occupancy; with no host registered it changes nothing
// unless the instance needs a Dedicated Host, which then cannot exist.
func (tx *tx) place(inst *model.Instance) error {
	itype, ok := model.LookupInstanceType(typeOf(inst))
	if !ok {
		return model.InvalidValue("Unknown instance type %s", typeOf(inst)) // validated before; a record from an older table
	}
	r := placeRequest{account: tx.tn.key.Account, zone: inst.AZ, tenancy: inst.Tenancy, itype: itype}
	if inst.Tenancy == model.TenancyHost {
		if inst.HostID != "" {
			dh, err := tx.tn.availableHost(inst.HostID)
			if err != nil {
				return err
			}
			r.hosts, r.explicit = []*model.DedicatedHost{dh}, true
		} else {
			r.hosts = sorted(tx.tn.dhosts, func(h *model.DedicatedHost) string { return h.ID })
		}
	}
	pl, err := tx.placement()
	if err != nil {
		return err
	}
	if len(pl.hosts) == 0 && inst.Tenancy != model.TenancyHost {
		if !pl.staged {
			tx.releasePlacement() // the single-machine default: nothing to hold
		}
		return nil
	}
	p := &tx.s.place
	node, err := choose(pl.hosts, p.occ, r, func(h cluster.Host) string { return h.State(tx.now) })
	if err != nil {
		return err
	}
	inst.Node = node
	if inst.Tenancy == model.TenancyHost {
		for _, dh := range r.hosts {
			if dh.Node == node {
				inst.HostID = dh.ID
			}
		}
	}
	o := p.occ[node].Clone()
	o.VCPUs += itype.VCPUs
	o.MemoryMiB += itype.MemoryMiB
	o.Instances++
	if o.Accounts == nil {
		o.Accounts = map[string]int{}
	}
	o.Accounts[r.account]++
	if inst.Tenancy == model.TenancyDedicated {
		o.Account = r.account
		o.Dedicated++
	}
	tx.setOcc(node, o)
	return nil
}

// placeNAT puts a NAT gateway on a host when any is registered: one that a default-tenancy
// instance of the gateway's account could go on in its subnet's zone, spread as instances are
// (choose). On AWS a NAT gateway is one thing in one zone; here its translation runs in the
// VPC router of the host it is placed on, and the VPC's other hosts reach it over the VXLAN
// segment (docs/cross-host.md). It takes none of the host's capacity, so no occupancy record
// changes. With no up host in the zone it stays unplaced (Node ""), and every host agrees to
// run it on the first host by name (host.Placement.natHost), as before gateways were placed.
func (tx *tx) placeNAT(gw *model.NATGateway, zone string) error {
	pl, err := tx.placement()
	if err != nil {
		return err
	}
	if len(pl.hosts) == 0 {
		if !pl.staged {
			tx.releasePlacement()
		}
		return nil
	}
	r := placeRequest{account: tx.tn.key.Account, zone: zone, tenancy: model.TenancyDefault, itype: model.InstanceType{Name: "NAT gateway"}}
	if node, err := choose(pl.hosts, tx.s.place.occ, r, func(h cluster.Host) string { return h.State(tx.now) }); err == nil {
		gw.Node = node
	}
	return nil
}

// unplace frees inst's share of its host (termination, or a move by ModifyInstancePlacement).
func (tx *tx) unplace(inst *model.Instance) error {
	if inst.Node == "" {
		return nil
	}
	if _, err := tx.placement(); err != nil {
		return err
	}
	itype, _ := model.LookupInstanceType(typeOf(inst))
	p := &tx.s.place
	o := p.occ[inst.Node].Clone()
	o.VCPUs = max(o.VCPUs-itype.VCPUs, 0)
	o.MemoryMiB = max(o.MemoryMiB-itype.MemoryMiB, 0)
	o.Instances = max(o.Instances-1, 0)
	// On a shared store the tenant's memory may be behind the occupancy just read: the record
	// may no longer count this instance, or any (Accounts nil). The floors keep such a stale
	// view from panicking or going negative; the commit's condition then refuses it and the
	// write runs again on what the store holds (shared.go).
	if n := o.Accounts[inst.OwnerID]; n > 1 {
		o.Accounts[inst.OwnerID] = n - 1
	} else {
		delete(o.Accounts, inst.OwnerID)
	}
	if inst.Tenancy == model.TenancyDedicated {
		o.Dedicated = max(o.Dedicated-1, 0)
	}
	if o.Dedicated == 0 && o.Allocation == nil {
		o.Account = ""
	}
	tx.setOcc(inst.Node, o)
	return nil
}

// validTenancy checks Placement.Tenancy's value.
func validTenancy(v string) error {
	switch v {
	case "", model.TenancyDefault, model.TenancyDedicated, model.TenancyHost:
		return nil
	}
	return model.InvalidValue("Value (%s) for parameter tenancy is invalid. Valid values: default, dedicated, host", v)
}

// validAffinity checks Placement.Affinity's value and that only host tenancy has one.
func validAffinity(affinity, tenancy string) error {
	switch affinity {
	case "":
		return nil
	case model.AffinityDefault, model.AffinityHost:
	default:
		return model.InvalidValue("Value (%s) for parameter affinity is invalid. Valid values: default, host", affinity)
	}
	if tenancy != model.TenancyHost {
		// [UNCONFIRMED] wording.
		return model.InvalidParameterCombination.Errorf("Affinity can only be specified for instances with host tenancy.")
	}
	return nil
}

// String shows a placement decision in test failures.
func (r placeRequest) String() string {
	return fmt.Sprintf("%s %s %s in %s", r.account, r.tenancy, r.itype.Name, r.zone)
}
