package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// Tenant names one account in one region: the unit of isolation (netmap.Tenant, named here
// because every operation takes one).
type Tenant = netmap.Tenant

// Config configures a Service. The zero value is not valid; start from DefaultConfig.
type Config struct {
	Quotas Quotas
	// Now is the clock; tests replace it.
	Now func() time.Time
	Log *slog.Logger
	// Images is the catalogue RunInstances checks ImageIds against and DescribeImages lists;
	// nil means only the default image (image.DefaultID).
	Images Images
	// AnyImage makes an unknown (well-formed) ImageId launch the default image instead of
	// failing with InvalidAMIID.NotFound, as emulators such as moto accept any AMI ID; the
	// instance keeps the ID it was given.
	AnyImage bool
	// PublicPool is the range public addresses are handed out from (pool.go); the zero
	// value means DefaultPublicPool.
	PublicPool netip.Prefix
	// AWSIPRanges, when set, gives the AWS-managed prefix lists the ranges of the operator's
	// copy of AWS's ip-ranges.json (awsprefixlists.go); nil means the embedded table's few.
	AWSIPRanges *AWSIPRanges
	// Shared says that other API servers write the same store (several servers on one etcd):
	// writes commit on conditions and reads check that memory is current (shared.go).
	Shared bool
	// Admission, when set, is asked about every write that changes a security group, the
	// groups of an interface, a prefix list or a network ACL, and may refuse it (admission.go).
	Admission Admission
}

// Images is what the service needs of the image catalogue.
type Images interface {
	Get(id string) (image.Image, bool)
	List() []image.Image
}

var _ Images = (*image.Catalog)(nil)

// DefaultConfig returns AWS's quotas, the real clock and the default logger.
func DefaultConfig() Config {
	return Config{Quotas: DefaultQuotas(), Now: time.Now, Log: slog.Default()}
}

// Service implements every control-plane operation. It is safe for concurrent use.
type Service struct {
	st  store.Store
	cfg Config

	mu      sync.Mutex
	tenants map[Tenant]*tenant

	broken atomic.Pointer[error] // set once a commit failed; see Err

	lastNetworks atomic.Pointer[networksAnswer] // see Networks

	watchMu sync.Mutex
	watch   *watchHub // the store watch Watch's consumers share, while one runs (watch.go)

	pool  *publicPool   // server-wide: public addresses are unique across accounts
	place placer        // server-wide: what is placed on each host (placement.go)
	vni   vniCounter    // server-wide: the VPCs' VXLAN network identifiers (vni.go)
	aws   *awsCatalogue // the AWS-managed prefix lists, the same for every account
}

// Open loads every tenant's state from st. The store must already hold only data written by
// this package (or be empty); a record that does not decode is an error naming its key, never
// skipped.
func Open(ctx context.Context, st store.Store, cfg Config) (*Service, error) {
	if err := cfg.Quotas.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if !cfg.PublicPool.IsValid() {
		cfg.PublicPool = DefaultPublicPool
	}
	pool, err := newPool(cfg.PublicPool)
	if err != nil {
		return nil, err
	}
	pool.perAccount = cfg.Quotas.PublicIPsPerAccount
	s := &Service{st: st, cfg: cfg, tenants: make(map[Tenant]*tenant), pool: pool, aws: &awsCatalogue{ranges: cfg.AWSIPRanges}}
	pkvs, _, err := st.List(ctx, poolKeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("load public address pool: %w", err)
	}
	for _, kv := range pkvs {
		if err := pool.load(kv); err != nil {
			return nil, fmt.Errorf("load public address pool: record %q: %w", kv.Key, err)
		}
	}
	if err := s.loadPlacer(ctx); err != nil {
		return nil, fmt.Errorf("load host occupancy: %w", err)
	}
	if err := s.loadVNI(ctx); err != nil {
		return nil, fmt.Errorf("load the VNI counter: %w", err)
	}
	kvs, _, err := st.List(ctx, resourcePrefix)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	recs, err := decodeRecords(kvs)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	for i, r := range recs {
		tn := s.tenants[r.tenant]
		if tn == nil {
			tn = s.newTenant(r.tenant)
			s.tenants[r.tenant] = tn
		}
		tn.noteVersion(r.kind, r.id, kvs[i])
		tn.put(r.kind, r.id, r.v)
	}
	for _, tn := range s.tenants {
		s.mainRouteTables(tn) // VPCs from before route tables get theirs, in memory
		s.dhcpSets(tn)        // and those from before DHCP option sets the default set (dhcp.go)
	}
	return s, nil
}

// Quotas returns the quotas in force.
func (s *Service) Quotas() Quotas { return s.cfg.Quotas }

// Revision is the store revision of the last committed write.
func (s *Service) Revision() int64 { return s.st.Revision() }

// tenant returns the tenant's state, creating it in memory on first use.
//
// A new tenant gets the default VPC AWS gives every account in every region, but only in
// memory: a read must never create durable state (a client probing regions would otherwise
// fill the store). The default VPC is built once, when the tenant is first used, and kept, so
// its IDs are stable between the reads that show it and the first write, which commits it
// together with its own changes (materialise). A restart before any write forgets it, and
// the next use builds another with new IDs; nothing durable ever referred to the old ones.
// It is in the tenant's maps from the start, so it counts towards the VPC quota exactly as a
// committed one does.
func (s *Service) tenant(_ context.Context, t Tenant) (*tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tn := s.tenants[t]
	if tn == nil && s.cfg.Shared {
		// Another server may have written it: the first request loads it (shared.go).
		tn = s.newTenant(t)
		tn.stale = true
		s.tenants[t] = tn
	}
	if tn == nil {
		tn = s.newTenant(t)
		// Memory only: the staged ops are dropped (not rolled back) and the tenant stays
		// uninitialised until its first write.
		if _, err := s.begin(tn).createDefaultVPC(); err != nil {
			return nil, err
		}
		s.tenants[t] = tn
	}
	return tn, nil
}

// materialise makes an uninitialised tenant durable in the transaction of its first write:
// everything in its memory that the write did not stage itself (the default VPC, or what is
// left of it) is staged, with the marker that says the tenant exists. Its VPCs get their
// VNIs now, when they are first stored (vni.go). If the write is rolled back (its commit
// refused), the tenant is uninitialised again and its memory unchanged.
func (tx *tx) materialise() error {
	tn := tx.tn
	if err := tx.numberVPCs(); err != nil {
		return err
	}
	for _, k := range kinds {
		k.stageAll(tx)
	}
	tx.put(kindMeta, "init", &tenantMeta{Created: tx.now})
	tn.initialised = true
	tx.undo = append(tx.undo, func() { tn.initialised = false })
	return nil
}

// Result is what a successful write reports besides its own output: the store revision that
// holds it (the agent later reports the revision it enforces).
type Result struct {
	Revision int64
}

// IDInput is the input of the actions that name one resource by ID and take nothing else
// (DeleteVpc, DeleteSubnet, DeleteNetworkInterface, …).
type IDInput struct {
	ID     string
	DryRun bool
}

// write runs fn with the tenant's write lock held and commits what it staged as one store
// transaction. If fn fails or dryRun is set, every change fn made to memory is undone.
//
// The commit is pipelined: the transaction is submitted (store commits keep submission order)
// and the lock released before waiting for the disk, so that concurrent writers of a tenant
// share an fsync. The reply waits for durability, and readers wait until what they saw is
// durable (see read), so nothing not on disk is ever acknowledged or shown.
//
// Commit failures are of two kinds. A transaction the store cannot hold because of its
// content (store.ErrInvalid: a key or value over the backend's limits) is this request's
// fault: it is refused by the store's Check before Submit, while the lock is still held and
// nothing has been built on the change, so memory is rolled back and only this request
// fails. (After Submit the lock is released and later writes may build on this one, so a
// refusal then could not be undone; that is why the check is synchronous.) Any other failure
// is the disk's: it cannot be undone either, so it stops the service (Err).
//
// An admission hook (Config.Admission) is asked after fn succeeded and before DryRun is
// answered; its refusal is rolled back like fn's own errors.
//
// A Journal in ctx (WithJournal) adds the request's record to the transaction, after fn
// succeeded and before Check, so that the change and its record commit together.
//
// On a shared store (Config.Shared) the commit is conditional and a write whose memory was
// behind runs again on the tenant loaded anew (shared.go).
func (s *Service) write(ctx context.Context, t Tenant, dryRun bool, fn func(tx *tx) error) (Result, error) {
	if !s.cfg.Shared {
		return s.writeOnce(ctx, t, dryRun, fn)
	}
	// The client going away does not abandon the write; the budget bounds it, waits for the
	// tenant's lock included (shared.go).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedBudget)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res, err := s.writeOnce(ctx, t, dryRun, fn)
		if !errors.Is(err, errStale) {
			return res, err
		}
		if attempt == sharedAttempts {
			return Result{}, unavailable(fmt.Errorf("%s/%s written by other servers during each of %d attempts", t.Account, t.Region, attempt))
		}
		// Back off a random while, up to twice as long each time: two servers that keep
		// writing one tenant otherwise lose to each other in step.
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))):
		case <-ctx.Done():
			return Result{}, unavailable(ctx.Err())
		}
	}
}

// writeOnce is one attempt of write; on a shared store, errStale asks for another. A write
// that the store refuses as too large with what it purged (retention.go) runs again without
// purging: the purge waits for a smaller write, and only a write too large on its own fails.
func (s *Service) writeOnce(ctx context.Context, t Tenant, dryRun bool, fn func(tx *tx) error) (Result, error) {
	res, err := s.attempt(ctx, t, dryRun, fn, true)
	if errors.Is(err, errPurgeTooLarge) {
		return s.attempt(ctx, t, dryRun, fn, false)
	}
	return res, err
}

// errPurgeTooLarge is attempt's answer when the store refused a transaction that purged
// records as too large (store.ErrInvalid).
var errPurgeTooLarge = errors.New("the write with what it purged is more than a transaction holds")

// refused is the answer to a transaction the store's Check refused.
func (tx *tx) refused(err error) error {
	if tx.purged > 0 && errors.Is(err, store.ErrInvalid) {
		return errPurgeTooLarge
	}
	return refusedCommit(err)
}

// attempt is writeOnce's attempt, purging what the tenant has to purge when purge is set.
func (s *Service) attempt(ctx context.Context, t Tenant, dryRun bool, fn func(tx *tx) error, purge bool) (Result, error) {
	tn, err := s.tenant(ctx, t)
	if err != nil {
		return Result{}, err
	}
	tn.mu.Lock()
	if err := s.Err(); err != nil {
		tn.mu.Unlock()
		return Result{}, internalError(err)
	}
	if s.cfg.Shared && ctx.Err() != nil { // the budget went on waiting for the lock
		tn.mu.Unlock()
		return Result{}, unavailable(ctx.Err())
	}
	if tn.stale {
		if err := s.reload(ctx, tn); err != nil {
			tn.mu.Unlock()
			return Result{}, err
		}
	}
	tx := s.begin(tn)
	tx.purging = purge
	// abandon ends a write that commits nothing. On a shared store its answer stands only if
	// memory was current; otherwise the write runs again (shared.go).
	abandon := func(answer error) error {
		tx.rollback()
		defer tn.mu.Unlock()
		if s.cfg.Shared {
			if ok, err := s.current(ctx, tn); err != nil {
				return err
			} else if !ok {
				return errStale
			}
			if tx.countRefused {
				if ok, err := s.countCurrent(ctx, t.Account); err != nil {
					return err
				} else if !ok {
					return errStale
				}
			}
		}
		return answer
	}
	if err := fn(tx); err != nil {
		return Result{}, abandon(err)
	}
	// Before DryRun is answered: a dry run of a write the policy refuses reports the refusal.
	if err := s.admit(tx); err != nil {
		return Result{}, abandon(err)
	}
	if dryRun {
		return Result{}, abandon(model.DryRunOperation.New())
	}
	tx.purge() // retention.go: what has aged out goes in the same transaction
	if len(tx.ops) == 0 {
		if s.cfg.Shared {
			return Result{Revision: s.st.Revision()}, abandon(nil)
		}
		seq := tn.staged
		tx.releasePlacement()
		tx.releaseVNI()
		tn.mu.Unlock()
		return Result{Revision: s.st.Revision()}, s.waitDurable(tn, seq)
	}
	if !tn.initialised {
		if err := tx.materialise(); err != nil {
			return Result{}, abandon(err)
		}
	}
	tx.saveLazy() // routetables.go: what only memory holds goes with the first write

	ops, err := tx.encode()
	if err != nil {
		tx.rollback()
		tn.mu.Unlock()
		return Result{}, err
	}
	if j := journalOf(ctx); j != nil {
		ops = append(ops, j()...) // the request's record commits with its change (journal.go)
	}
	if s.cfg.Shared {
		return s.commitShared(ctx, tx, ops)
	}
	if err := s.st.Check(ops); err != nil {
		tx.rollback()
		tn.mu.Unlock()
		return Result{}, tx.refused(err)
	}
	// The client going away must not abandon a commit that memory already reflects.
	p := s.st.Submit(context.WithoutCancel(ctx), nil, ops)
	tx.releasePlacement() // submitted: later placements commit after it
	tx.releaseVNI()       // and later VNIs
	tn.staged++
	seq := tn.staged
	for _, a := range tx.released {
		s.pool.free(a) // submitted: later commits of any tenant that take it come after (pool.go)
	}
	tn.mu.Unlock()
	rev, err := p.Wait()
	if err != nil {
		s.fail(err)
		return Result{}, internalError(fmt.Errorf("commit: %w", err))
	}
	s.markDurable(tn, seq)
	return Result{Revision: rev}, nil
}

// refusedCommit is the answer to a transaction the store's Check refused: the request's own
// fault when the store cannot hold its content, the server's otherwise.
func refusedCommit(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return model.InvalidParameterValue.Errorf("The request contains a value too large to store.").WithCause(err)
	}
	return internalError(err)
}

// read runs fn with the tenant's read lock held, then waits until every write fn could have
// seen is durable.
func (s *Service) read(ctx context.Context, t Tenant, fn func(tn *tenant) error) error {
	tn, err := s.tenant(ctx, t)
	if err != nil {
		return err
	}
	if s.cfg.Shared {
		rctx, cancel := context.WithTimeout(ctx, sharedBudget)
		err := s.refresh(rctx, tn)
		cancel()
		if err != nil {
			return err
		}
	}
	tn.mu.RLock()
	err = fn(tn)
	seq := tn.staged
	tn.mu.RUnlock()
	if werr := s.waitDurable(tn, seq); werr != nil {
		return werr
	}
	return err
}

// Err is nil while the service works, and the store failure that stopped it otherwise. A
// stopped service refuses every request; restarting reloads the durable state.
func (s *Service) Err() error {
	if e := s.broken.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *Service) fail(err error) {
	if s.broken.CompareAndSwap(nil, &err) {
		s.cfg.Log.Error("store commit failed: the service stops accepting requests until it is restarted", "error", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tn := range s.tenants {
		tn.durableMu.Lock()
		for _, w := range tn.durableWaits {
			close(w.done) // to see Err
		}
		tn.durableWaits = nil
		tn.durableMu.Unlock()
	}
}

// durableWait is a read waiting until the tenant's writes up to seq are on disk.
type durableWait struct {
	seq  uint64
	done chan struct{}
}

// markDurable notes that the tenant's writes up to seq are on disk, and releases the reads
// that waited for them. A commit of several writes marks each of them, in any order, and a
// read that waits for a later write than these sleeps on: a condition variable woke every
// waiting read each time — under a stream of writes, the host feed's readers a few times a
// commit, for nothing.
func (s *Service) markDurable(tn *tenant, seq uint64) {
	tn.durableMu.Lock()
	defer tn.durableMu.Unlock()
	if seq <= tn.durable {
		return
	}
	tn.durable = seq // commits complete in submission order, so all before seq are durable too
	waits := tn.durableWaits[:0]
	for _, w := range tn.durableWaits {
		if w.seq <= seq {
			close(w.done)
		} else {
			waits = append(waits, w)
		}
	}
	clear(tn.durableWaits[len(waits):]) // no channel kept past its release
	tn.durableWaits = waits
}

// waitDurable waits until the tenant's writes up to seq are on disk, or the service has
// stopped (Err; fail releases every waiting read, and a read that comes after sees Err here,
// under the same lock, before it waits).
func (s *Service) waitDurable(tn *tenant, seq uint64) error {
	tn.durableMu.Lock()
	if tn.durable >= seq || s.Err() != nil {
		tn.durableMu.Unlock()
		return s.errInternal()
	}
	w := durableWait{seq: seq, done: make(chan struct{})}
	tn.durableWaits = append(tn.durableWaits, w)
	tn.durableMu.Unlock()
	<-w.done
	return s.errInternal()
}

// errInternal is Err as a client sees it: nil, or an internal error that hides the failure.
func (s *Service) errInternal() error {
	if err := s.Err(); err != nil {
		return internalError(err)
	}
	return nil
}

// internalError hides a failure's text from clients while keeping it for the log.
func internalError(err error) error { return model.Internal(err) }

// Keys: "r/<account>/<region>/<kind>/<id>". Accounts are 12 digits and regions have no "/",
// so the split is unambiguous.
const resourcePrefix = "r/"

func storeKey(t Tenant, kind, id string) string {
	return resourcePrefix + t.Account + "/" + t.Region + "/" + kind + "/" + id
}

func parseKey(k string) (t Tenant, kind, id string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(k, resourcePrefix), "/", 4)
	if len(parts) != 4 || !strings.HasPrefix(k, resourcePrefix) {
		return Tenant{}, "", "", false
	}
	return Tenant{Account: parts[0], Region: parts[1]}, parts[2], parts[3], true
}

// decode reads a stored record. It is what a start spends most of its time on (every group
// with its rules), so it runs on encoding/json/v2's decoder, which takes a group in 60 % of
// encoding/json's time with a third of its allocations (BenchmarkDecodeGroup), through its
// v1 package: the semantics of the encoding/json that wrote the records. Go 1.27's
// encoding/json is that decoder; the module is its mirror until then.
func decode[T any](b []byte) (*T, error) {
	v := new(T)
	if err := jsonv1.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
