package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// A shared store (Config.Shared) is one that other API servers write too: several servers on
// one etcd serve the same accounts. Each server keeps its tenants in memory as it always does,
// and three rules keep that memory honest against the others' writes:
//
//   - Every write of a tenant also writes the tenant's version key, and commits only if that
//     key is still at the revision this server last saw (a store.Cond): a write decided on
//     stale memory is refused by the store, not committed. The tenant is then loaded again
//     and the request runs again, up to sharedAttempts times. Public addresses, the one
//     server-wide state, are taken on the condition that their pool key does not exist.
//   - A read first asks the store for the tenant's version key (on etcd, a linearizable
//     read): when another server has written the tenant since, it is loaded again before the
//     read. So a read sees every write acknowledged before it started, by any server.
//   - A write that fails without committing (a refusal, DryRun, an idempotent replay) checks
//     the same way that its answer came from current memory, and runs again when it did not.
//
// A write's commit waits for the store under the tenant's lock (the single-server pipeline
// lets the next writer in during the fsync; here the next writer needs the revision this
// commit gets). A commit whose outcome is unknown (the store timed out, quorum lost) is
// rolled back in memory and the tenant marked stale, so that the next request reads what the
// store really holds; the client gets ServiceUnavailable, as EC2 answers when it cannot
// tell.
//
// Loading a tenant again reads all its records (store.List of its prefix): a conflict costs a
// tenant's size. Following the store's watch to apply other servers' records one by one is
// the cheaper design for tenants written by several servers at once; this one is exact and
// keeps the single-server path unchanged.
//
// The host feed (Networks, Watch) follows other servers' writes through the store's watch:
// Watch marks the tenants each transaction changed as stale, and Networks loads stale
// tenants again before answering, so that an agent enforces what any server committed.
//
// The per-account quota of public addresses (--quota public-ips-per-account) spans an
// account's regions, which are tenants of their own, and so has a key of its own: every
// transaction that takes or releases an account's addresses also puts the account's count
// key (pool/account/<account>, the count as its value) on the condition that the key is at
// the revision this server's count was exact at. Two servers (or two regions) counting the
// same account therefore commit one after the other, the second on a count reloaded from the
// store, and no account gets past its quota. A refusal by the quota stands only if the
// count key is still at that revision; otherwise the pool is read again and the write runs
// again, so that an address released on another server is not refused here.

// sharedBudget bounds one request on a shared store, its waits for the tenant's lock (held by
// a commit waiting for etcd) and its retries included, so that a request fails within 15 s
// when the store is out of reach (issue 17) rather than queueing behind others' deadlines.
const sharedBudget = 12 * time.Second

// sharedAttempts bounds how often a write runs again after finding its memory stale; with
// write's backoff, the attempts span up to about half a second.
const sharedAttempts = 10

// versionID is the ID of a tenant's version key under kindMeta.
const versionID = "version"

func tenantVersionKey(t Tenant) string { return storeKey(t, kindMeta, versionID) }

func tenantPrefix(t Tenant) string { return resourcePrefix + t.Account + "/" + t.Region + "/" }

// errStale ends one attempt of a write on a shared store whose memory was behind.
var errStale = errors.New("control: tenant changed by another server")

// versionRecord is the value of a tenant's version key: only its revision matters.
type versionRecord struct {
	At time.Time `json:"at"`
}

// storeVersion is the revision of the tenant's last write as the store has it now (a read
// that began after this call did); 0 when the tenant has never been written.
//
// Concurrent callers share reads: one read of the version key is in flight per tenant at a
// time, and the callers that arrive meanwhile wait for the next one, which is sent after they
// arrived — so each gets an answer at least as new as its own start, as a read of its own
// would be, and a burst of N readers costs the store two reads, not N.
func (s *Service) storeVersion(ctx context.Context, tn *tenant) (int64, error) {
	vr := &tn.versionReads
	vr.mu.Lock()
	if vr.next == nil {
		vr.next = &versionFetch{done: make(chan struct{})}
	}
	f := vr.next
	if !vr.inflight {
		vr.inflight = true
		go s.fetchVersions(tn)
	}
	vr.mu.Unlock()
	select {
	case <-f.done:
		return f.version, f.err
	case <-ctx.Done():
		return 0, unavailable(ctx.Err())
	}
}

// versionReads coalesces a tenant's reads of its version key (storeVersion).
type versionReads struct {
	mu       sync.Mutex
	inflight bool          // fetchVersions runs
	next     *versionFetch // the read that callers wait for and that has not been sent
}

type versionFetch struct {
	done    chan struct{}
	version int64
	err     error
}

// fetchVersions sends the waiting read, then the one callers queued meanwhile, until none is
// waiting.
func (s *Service) fetchVersions(tn *tenant) {
	vr := &tn.versionReads
	for {
		vr.mu.Lock()
		f := vr.next
		vr.next = nil
		if f == nil {
			vr.inflight = false
			vr.mu.Unlock()
			return
		}
		vr.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), sharedBudget)
		kv, ok, err := s.st.Get(ctx, tenantVersionKey(tn.key))
		cancel()
		switch {
		case err != nil:
			f.err = unavailable(err)
		case ok:
			f.version = kv.ModRevision
		}
		close(f.done)
	}
}

// unavailable is the answer to a store that cannot say (a shared store out of reach).
func unavailable(err error) error { return model.ServiceUnavailable.New().WithCause(err) }

// refresh makes tn current before a read on a shared store: loaded again when another server
// wrote it since this one last looked.
func (s *Service) refresh(ctx context.Context, tn *tenant) error {
	want, err := s.storeVersion(ctx, tn)
	if err != nil {
		return err
	}
	tn.mu.RLock()
	current := !tn.stale && tn.version == want
	tn.mu.RUnlock()
	if current {
		return nil
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if !tn.stale && tn.version >= want {
		return nil // another request loaded it meanwhile
	}
	return s.reload(ctx, tn)
}

// current reports, for a write that ends without committing, whether tn's memory was the
// store's; the caller holds tn.mu. A tenant found behind is marked stale.
func (s *Service) current(ctx context.Context, tn *tenant) (bool, error) {
	v, err := s.storeVersion(ctx, tn)
	if err != nil {
		return false, err
	}
	if v != tn.version {
		tn.stale = true
		return false, nil
	}
	return true, nil
}

// reload replaces tn's state with what the store holds; the caller holds tn.mu. A tenant the
// store has no record of keeps (or gets) the default VPC in memory only, as a new one does.
func (s *Service) reload(ctx context.Context, tn *tenant) error {
	kvs, _, err := s.st.List(ctx, tenantPrefix(tn.key))
	if err != nil {
		return unavailable(err)
	}
	fresh := s.newTenant(tn.key)
	for _, kv := range kvs {
		_, kind, id, ok := parseKey(kv.Key)
		if !ok {
			return model.Internal(fmt.Errorf("load tenant: malformed key %q", kv.Key))
		}
		if err := fresh.loadKV(kind, id, kv); err != nil {
			return model.Internal(fmt.Errorf("load tenant: record %q: %w", kv.Key, err))
		}
	}
	switch {
	case fresh.initialised:
		s.mainRouteTables(fresh)
		s.dhcpSets(fresh)
	case !tn.initialised && len(tn.vpcs) > 0:
		// Written by no server yet: keep the default VPC this one has shown, and its IDs.
		tn.stale = false
		return nil
	default:
		// Never written, and not yet shown: a default VPC in memory, as a new tenant gets.
		if _, err := s.begin(fresh).createDefaultVPC(); err != nil {
			return err
		}
	}
	tn.tenantState = fresh.tenantState
	tn.stale = false
	return nil
}

// loadKV loads one of the tenant's store records; the version key sets the tenant's version.
func (tn *tenant) loadKV(kind, id string, kv store.KV) error {
	tn.noteVersion(kind, id, kv)
	return tn.load(kind, id, kv.Value)
}

// noteVersion keeps the revision of the tenant's version record when kv is it.
func (tn *tenant) noteVersion(kind, id string, kv store.KV) {
	if kind == kindMeta && id == versionID {
		tn.version = kv.ModRevision
	}
}

// commitShared commits tx's ops on a shared store, on the condition that nobody wrote the
// tenant or took its new public addresses since this server last saw them. The caller holds
// tn.mu, which is released here. errStale means the write must run again on reloaded memory.
func (s *Service) commitShared(ctx context.Context, tx *tx, ops []store.Op) (Result, error) {
	tn := tx.tn
	conds := make([]store.Cond, 0, 1+len(tx.taken)+len(tx.conds))
	conds = append(conds, store.Cond{Key: tenantVersionKey(tn.key), ModRevision: tn.version})
	for _, k := range tx.taken {
		conds = append(conds, store.Cond{Key: k}) // must not exist
	}
	conds = append(conds, tx.conds...)              // hosts' occupancy records and the VNI counter unchanged (placement.go, vni.go)
	v, _ := json.Marshal(versionRecord{At: tx.now}) // a time always encodes
	ops = append(ops, store.Op{Key: tenantVersionKey(tn.key), Value: v})
	if c := tx.count; c != nil {
		conds = append(conds, store.Cond{Key: c.key, ModRevision: c.revision})
		cv, _ := json.Marshal(poolAccount{Addresses: c.stored + c.delta}) // an int always encodes
		ops = append(ops, store.Op{Key: c.key, Value: cv})
	}
	if err := s.st.Check(ops); err != nil {
		tx.rollback()
		tn.mu.Unlock()
		return Result{}, tx.refused(err)
	}
	rev, err := s.st.Txn(ctx, conds, ops) // ctx: write's budget, not the client's
	if err != nil {
		tx.rollback()
		// Conflict: another server was first. Any other failure: the outcome is unknown, and
		// the store, not memory, says what happened.
		tn.stale = true
		tn.mu.Unlock()
		if tx.count != nil {
			if perr := s.reloadPool(ctx); perr != nil {
				return Result{}, perr
			}
		}
		if errors.Is(err, store.ErrConflict) {
			return Result{}, errStale
		}
		return Result{}, unavailable(err)
	}
	tx.releasePlacement()
	tx.releaseVNI()
	s.pool.committed(tx.count, rev)
	tn.version = rev
	tn.staged++
	seq := tn.staged
	for _, a := range tx.released {
		s.pool.free(a)
	}
	tn.mu.Unlock()
	s.markDurable(tn, seq)
	return Result{Revision: rev}, nil
}

// accountCount is what a transaction on a shared store changes of its account's count of
// public addresses.
type accountCount struct {
	account  string
	key      string
	revision int64  // the count key's revision this transaction's count is exact at
	stored   int    // the count at that revision
	gen      uint64 // the pool's generation then (publicPool.replace)
	delta    int    // addresses taken less addresses released
}

// countAccount notes, on a shared store, that the transaction takes (+1) or releases (-1) one
// of its account's public addresses: its commit carries the account's count key.
func (tx *tx) countAccount(delta int) {
	if !tx.s.cfg.Shared {
		return
	}
	if tx.count == nil {
		p, acct := tx.s.pool, tx.tn.key.Account
		p.mu.Lock()
		// No key yet: revision 0, and the commit requires the key to be absent.
		tx.count = &accountCount{account: acct, key: poolAccountPrefix + acct, revision: p.counted[acct], stored: p.stored[acct], gen: p.gen}
		p.mu.Unlock()
	}
	tx.count.delta += delta
}

// committed records that c committed at rev: this server's count of the account is exact at
// rev, unless the pool was read again meanwhile (its marks of c's addresses may be lost),
// in which case the next commit for the account fails its condition and reads the pool.
func (p *publicPool) committed(c *accountCount, rev int64) {
	if c == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != c.gen {
		p.counted[c.account] = unknownCount
		return
	}
	p.counted[c.account] = rev
	p.stored[c.account] = c.stored + c.delta
}

// countCurrent reports, after the account's quota refused an address on a shared store,
// whether this server's count was the store's; when it was not, the pool is read again and
// the write must run again.
func (s *Service) countCurrent(ctx context.Context, account string) (bool, error) {
	kv, ok, err := s.st.Get(ctx, poolAccountPrefix+account)
	if err != nil {
		return false, unavailable(err)
	}
	var rev int64
	if ok {
		rev = kv.ModRevision
	}
	s.pool.mu.Lock()
	mine := s.pool.counted[account]
	s.pool.mu.Unlock()
	if mine == rev {
		return true, nil
	}
	return false, s.reloadPool(ctx)
}

// reloadPool reads the taken public addresses again from the store (after a conflict on one).
func (s *Service) reloadPool(ctx context.Context) error {
	kvs, _, err := s.st.List(ctx, poolKeyPrefix)
	if err != nil {
		return unavailable(err)
	}
	fresh, err := newPool(s.pool.prefix)
	if err != nil {
		return internalError(err)
	}
	for _, kv := range kvs {
		if err := fresh.load(kv); err != nil {
			return internalError(fmt.Errorf("load public address pool: record %q: %w", kv.Key, err))
		}
	}
	s.pool.replace(fresh)
	return nil
}

// noteChanges marks the tenants a committed transaction changed as stale, unless this
// server's memory already holds that revision (its own writes); tenants it has never seen are
// added, stale, so that Networks loads them.
func (s *Service) noteChanges(ctx context.Context, ev store.Event) {
	seen := map[Tenant]bool{}
	for _, op := range ev.Ops {
		if t, _, _, ok := parseKey(op.Key); ok {
			seen[t] = true
		}
	}
	for t := range seen {
		tn, err := s.tenant(ctx, t)
		if err != nil {
			continue
		}
		tn.mu.Lock()
		if tn.version < ev.Revision {
			tn.stale = true
		}
		tn.mu.Unlock()
	}
}

// noteAll marks every tenant the store holds as stale, after a watch lost its place.
func (s *Service) noteAll(ctx context.Context) {
	kvs, _, err := s.st.List(ctx, resourcePrefix)
	seen := map[Tenant]bool{}
	for _, kv := range kvs {
		if t, _, _, ok := parseKey(kv.Key); ok {
			seen[t] = true
		}
	}
	s.mu.Lock()
	for t := range s.tenants {
		seen[t] = true
	}
	s.mu.Unlock()
	for t := range seen {
		if tn, terr := s.tenant(ctx, t); terr == nil {
			tn.mu.Lock()
			tn.stale = true
			tn.mu.Unlock()
		}
	}
	if err != nil {
		s.cfg.Log.Warn("shared store: tenants not listed after a lost watch", "error", err)
	}
}

// refreshStale loads the stale tenants among tenants again; false when the store could not be
// read.
func (s *Service) refreshStale(tenants []*tenant) bool {
	ok := true
	for _, tn := range tenants {
		tn.mu.Lock()
		if tn.stale {
			if err := s.reload(context.Background(), tn); err != nil {
				ok = false
			}
		}
		tn.mu.Unlock()
	}
	return ok
}

// waitStore waits a while before the host feed watches a shared store again after it failed
// (etcd out of reach, a watch ended by a lost leader); false when ctx ended meanwhile. What
// the host enforces stays as it is: Networks answers with the last networks while the store
// cannot be read.
func (s *Service) waitStore(ctx context.Context) bool {
	select {
	case <-time.After(time.Second):
		return true
	case <-ctx.Done():
		return false
	}
}
