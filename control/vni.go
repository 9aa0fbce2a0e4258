package control

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// Every VPC gets a VXLAN network identifier (VNI) when it is first stored: the number that
// names its segment between the hosts that hold its interfaces (docs/cross-host.md,
// flowlogs-multihost.md §B8.2). It is model.VPC.VNI, kept with the VPC and never shown by
// the API (DescribeVpcs has no such field).
//
// Numbers come from one counter, key "vni", holding the last number handed out. It is one
// for the whole installation, not one per region or account: every VPC's segment shares
// the underlay, and a host's underlay namespace holds one VXLAN socket for all of them, so
// a number must never name two VPCs that one host could carry. Numbers are never given back
// (a deleted VPC's number is not reused): a host that has not yet removed a deleted VPC's
// device can never mistake a new VPC's traffic for it. VPC creation is rare, so one key for
// all servers costs nothing worth a partition.
//
// The counter is written in the transaction that stores the VPC: CreateVpc,
// CreateDefaultVpc, and a new tenant's first write, which stores the default VPC it was
// shown until then (materialise). A default VPC that lives in memory only has no number
// yet; nothing runs in it before a write stores it.
//
// Concurrency follows the placement lock (placement.go): a transaction that takes a number
// holds vniCounter.mu until it is submitted (one server: store commits keep submission
// order, so the counter's record never goes backwards) or rolled back (the number is given
// back in memory; nothing else can have taken a later one meanwhile). On a shared store
// (Config.Shared) the counter is read from the store when the lock is taken, and the
// transaction commits only if the key is still at the revision read: two API servers never
// hand out one number twice; the loser's request runs again (shared.go). Lock order: a
// tenant's lock, the placement lock, then this one.
//
// At exhaustion (2^24 - 1 numbers handed out: VNI 0 is never used) creating a VPC fails with
// EC2's VpcLimitExceeded, which is what the client can act on; the message says why.
//
// VPCs stored before VNIs were (their records have none) keep the number derived from
// their ID (netlab.VNI, used by the host's planner when the record has none): giving them
// one now would change a running segment's number under hosts that carry it. Derived and
// counted numbers may meet, with the small chance netlab.VNI describes; new VPCs never
// collide with each other.

const vniKey = "vni"

// MaxVNI is the highest VXLAN network identifier: they have 24 bits.
const MaxVNI = 1<<24 - 1

// vniRecord is the counter's store value.
type vniRecord struct {
	Last uint32 `json:"last"`
}

// vniCounter is the service's memory of the counter.
type vniCounter struct {
	mu   sync.Mutex
	last uint32
	rev  int64 // on a shared store, the key's mod revision as last read
}

// loadVNI reads the counter; a store without one has handed out no number.
func (s *Service) loadVNI(ctx context.Context) error {
	kv, ok, err := s.st.Get(ctx, vniKey)
	if err != nil {
		return err
	}
	if !ok {
		s.vni.last, s.vni.rev = 0, 0
		return nil
	}
	r, err := decode[vniRecord](kv.Value)
	if err != nil {
		return fmt.Errorf("record %q: %w", vniKey, err)
	}
	s.vni.last, s.vni.rev = r.Last, kv.ModRevision
	return nil
}

// takeVNI hands out the next VNI in this transaction, taking the counter's lock until the
// transaction is submitted or rolled back (releaseVNI).
func (tx *tx) takeVNI() (uint32, error) {
	c := &tx.s.vni
	if !tx.vniHeld {
		c.mu.Lock()
		if tx.s.cfg.Shared {
			if err := tx.s.loadVNI(context.Background()); err != nil {
				c.mu.Unlock()
				return 0, unavailable(err)
			}
			tx.conds = append(tx.conds, store.Cond{Key: vniKey, ModRevision: c.rev})
		}
		tx.vniHeld = true
	}
	if c.last >= MaxVNI {
		// EC2's code and first sentence (as clients report it); what follows is Stockade's,
		// since no EC2 quota is an installation's.
		return 0, model.VpcLimitExceeded.Errorf("The maximum number of VPCs has been reached: all %d VXLAN network identifiers of this installation have been handed out.", MaxVNI)
	}
	c.last++
	n := c.last
	tx.undo = append(tx.undo, func() { c.last = n - 1 })
	tx.stageKey(vniKey, &vniRecord{Last: n})
	return n, nil
}

// releaseVNI lets the next transaction take numbers, once this one was submitted or rolled
// back.
func (tx *tx) releaseVNI() {
	if tx.vniHeld {
		tx.vniHeld = false
		tx.s.vni.mu.Unlock()
	}
}

// numberVPCs gives every VPC of a tenant that is being stored for the first time (its first
// write: materialise) a VNI; those the tenant shows from memory only have none yet.
func (tx *tx) numberVPCs() error {
	for _, id := range slices.Sorted(maps.Keys(tx.tn.vpcs)) {
		v := tx.tn.vpcs[id]
		if v.VNI != 0 {
			continue
		}
		n, err := tx.takeVNI()
		if err != nil {
			return err
		}
		c := v.Clone() // readers may hold v: copy on write
		c.VNI = n
		set(tx, tx.tn.vpcs, kindVPC, id, c)
	}
	return nil
}
