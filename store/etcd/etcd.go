// Package etcd is the store backend on an etcd cluster (go.etcd.io/etcd/client/v3), for
// several hosts: the state lives in etcd, which does the consensus, and Stockade keeps none of
// its own.
//
// # Mapping
//
// Every store key k is the etcd key Prefix+k (Options.Prefix, "/stockade/" by default), so
// that several stores — an operator's, or one per test — share a cluster. A Txn is one etcd
// transaction: each Cond compares the key's ModRevision (CreateRevision = 0 for "absent"),
// each Op is a put or a delete, and the transaction's revision is etcd's. Revisions are
// therefore cluster-wide: strictly increasing, but not consecutive when other prefixes share
// the cluster, and not starting at 1 (a new cluster is at revision 1, its first write is 2).
// The store contract asks no more; nothing in Stockade relies on a first revision or on
// consecutive ones.
//
// Two etcd rules are smoothed over so that the contract holds as on bolt:
//   - etcd refuses a transaction that names a key twice; the store keeps each key's last op,
//     which is what applying the ops in order leaves.
//   - etcd gives a transaction that changes nothing (only deletes of missing keys) no new
//     revision; such a transaction also puts the etcd key Prefix itself (the store key "",
//     which no caller can use), so that every transaction gets its own revision. Its watch
//     event has no op for such deletes: etcd reports only deletes of keys that existed.
//
// # Limits
//
// etcd refuses a request larger than --max-request-bytes (1.5 MiB, 1,572,864 bytes, by
// default) and a transaction with more than --max-txn-ops operations or comparisons (128 by
// default). Check refuses such a transaction with store.ErrInvalid before it is sent,
// counting each op as its key (with the prefix), its value and 32 bytes of framing against the
// limit less 4 KiB for the request's header (Options.MaxRequestBytes and MaxTxnOps when the
// cluster runs with other values). The space quota (--quota-backend-bytes, 2 GiB by default)
// is the cluster's: over it etcd raises the NOSPACE alarm and refuses writes until an
// operator compacts, defragments and disarms; a write then fails as a storage failure.
//
// # Failures
//
// Every call is bounded by Options.Timeout (10 s by default): a write's deadline starts when
// it is submitted, so that writes queued behind a stuck one fail by their own deadline too,
// and a lost quorum gives an error within the timeout, never a hang. Reads are linearizable
// (they go through the quorum) and fail the same way. Watches require a leader
// (clientv3.WithRequireLeader), so that a watch on a member cut off from the cluster ends with
// an error rather than going silent. A write that times out may still commit: its outcome is
// unknown, and the services on a shared store answer ServiceUnavailable and read what etcd
// holds again before their next answer.
//
// # Several API servers
//
// Several servers share one prefix: the services that keep state in memory make their writes
// conditional on a version key and read or follow what the others commit (control/shared.go,
// iam/shared.go, auth's Follow; docs/etcd.md). Options.Exclusive (holder.go) makes a store
// the prefix's only writer instead, for a tool that needs that; the server does not use it.
//
// # Throughput
//
// One committer sends the transactions one after the other, so a server writes at most one
// transaction per etcd round trip (a quorum's fsync): enough for one API server's writes,
// not for a bulk load. Reads do not queue.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stockade/stockade/store"
)

// reconnectMax is the longest the client waits between attempts to reconnect to an endpoint.
const reconnectMax = time.Second

// Defaults of Options, which are etcd's own defaults where they are etcd's limits.
const (
	DefaultPrefix          = "/stockade/"
	DefaultTimeout         = 10 * time.Second
	DefaultLeaseTTL        = 10 * time.Second
	DefaultMaxRequestBytes = 1572864 // etcd's --max-request-bytes default, 1.5 MiB
	DefaultMaxTxnOps       = 128     // etcd's --max-txn-ops default
	// requestHeader is what Check leaves of MaxRequestBytes for the raft request's own
	// header (request id, user name, auth revision), and opFraming what it counts per op or
	// comparison for protobuf tags and lengths: both generous, so that a transaction Check
	// passes is never refused for its size by etcd.
	requestHeader = 4096
	opFraming     = 32
	// listPage is how many keys one range request of List returns: List pages at one
	// revision, so that its snapshot is consistent however large the prefix.
	listPage = 1000
	// watchBuffer is how many events a watcher may have undelivered before it ends with
	// store.ErrLagging, as on bolt.
	watchBuffer = 1024
)

// Options says which cluster to use and how. Endpoints is required.
type Options struct {
	// Endpoints are the cluster's client URLs (http://host:2379 or https://...).
	Endpoints []string
	// Prefix is put before every key (DefaultPrefix when empty); it must end in a byte below
	// 0xff so that it has a range of its own.
	Prefix string
	// CertFile and KeyFile are a client certificate, CACertFile the CA the server's certificate
	// is checked against (etcdctl's --cert, --key, --cacert). Any of them set means TLS.
	CertFile, KeyFile, CACertFile string
	// Username and Password authenticate to a cluster with auth enabled.
	Username, Password string
	// Timeout bounds every call (DefaultTimeout when 0); also the dial timeout of Open.
	Timeout time.Duration
	// MaxRequestBytes and MaxTxnOps are the cluster's limits, when not etcd's defaults.
	MaxRequestBytes int
	MaxTxnOps       int
	// Unwatched are key prefixes whose ops watchers do not see (they see the transaction's
	// revision), as bolt.Options.Unwatched: etcd keeps their history anyway, but the
	// watchers need not decode what they never follow (the trail's records).
	Unwatched []string
	// Exclusive makes this store the prefix's only writer, as bolt's file lock does for a
	// data directory (holder.go): Open fails while another holds the prefix, and writes
	// fail once this store has lost it. Holder says who holds it, in the refusal of others.
	Exclusive bool
	Holder    string
	// LeaseTTL is how long an exclusive holder that stopped renewing (crashed, cut off)
	// keeps the prefix (DefaultLeaseTTL when 0).
	LeaseTTL time.Duration
}

// Store is a store.Store on an etcd cluster.
type Store struct {
	cli       *clientv3.Client
	prefix    string
	timeout   time.Duration
	maxBytes  int
	maxOps    int
	unwatched []string
	rev       atomic.Int64
	hold      *holder // nil unless Options.Exclusive

	queue   chan *pending
	closeMu sync.RWMutex  // Submit enqueues under the read side; Close takes the write side
	stopped chan struct{} // closed when the committer has exited

	mu       sync.Mutex
	closed   bool
	done     chan struct{}
	watchers map[*int]context.CancelFunc
}

var _ store.Store = (*Store)(nil)

// Open connects to the cluster and reads its revision; an unreachable cluster is an error
// within Options.Timeout.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.Trim(opts.Prefix, "\xff") == "" {
		return nil, fmt.Errorf("etcd store: prefix %q has no range of its own", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	cfg := clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.Timeout,
		Username:    opts.Username,
		Password:    opts.Password,
		// A request Check let through fits; the client's own default (2 MiB) would too, but
		// a cluster configured for more must not be cut by the client.
		MaxCallSendMsgSize: opts.MaxRequestBytes + requestHeader,
		// Not ctx: the client outlives Open, and Close still needs it to hand the prefix over
		// after the server's context has ended.
		// Errors reach the caller; the client's own retry warnings would be a second log
		// format on the server's stderr.
		Logger: zap.NewNop(),
		// gRPC's reconnection backoff grows to 120 s by default: an agent cut off from etcd
		// for a few minutes would stay blind that long after the partition healed, keeping
		// rules it should have changed (fail closed for new members, open for removed ones).
		// Capped, the client tries again every reconnectMax at worst: one TCP connect per
		// endpoint, nothing to the cluster's load. BenchmarkAgentResync measures the effect.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMax},
			MinConnectTimeout: opts.Timeout,
		})},
	}
	if opts.CertFile != "" || opts.KeyFile != "" || opts.CACertFile != "" {
		tlsInfo := transport.TLSInfo{CertFile: opts.CertFile, KeyFile: opts.KeyFile, TrustedCAFile: opts.CACertFile}
		tc, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd store: TLS: %w", err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd store %v: %w", opts.Endpoints, err)
	}
	s := &Store{cli: cli, prefix: opts.Prefix, timeout: opts.Timeout, maxBytes: opts.MaxRequestBytes, maxOps: opts.MaxTxnOps,
		unwatched: slices.Clone(opts.Unwatched), queue: make(chan *pending, 256), stopped: make(chan struct{}),
		done: make(chan struct{}), watchers: map[*int]context.CancelFunc{}}
	if _, err := s.current(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	if opts.Exclusive {
		if s.hold, err = s.acquire(ctx, opts.Holder, opts.LeaseTTL); err != nil {
			cli.Close()
			return nil, err
		}
	}
	go s.committer()
	return s, nil
}

// current asks the cluster for its revision (a linearizable read of the prefix's own key).
func (s *Store) current(ctx context.Context) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, s.wrap(err)
	}
	return s.saw(resp.Header.Revision), nil
}

// saw records a revision the cluster reported and returns it.
func (s *Store) saw(rev int64) int64 {
	for {
		cur := s.rev.Load()
		if rev <= cur || s.rev.CompareAndSwap(cur, rev) {
			return rev
		}
	}
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// wrap names the cluster in an error, and turns the client's errors after Close into
// store.ErrClosed and etcd's refusals of a request's size into store.ErrInvalid.
func (s *Store) wrap(err error) error {
	switch {
	case s.isClosed():
		return store.ErrClosed
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		// gRPC's own bound, which etcd sets 512 KiB above --max-request-bytes, is met first
		// by a request that much larger.
		status.Code(err) == codes.ResourceExhausted && strings.Contains(status.Convert(err).Message(), "larger than max"):
		return fmt.Errorf("%w: etcd %v", store.ErrInvalid, err)
	}
	return fmt.Errorf("etcd store %v: %w", s.cli.Endpoints(), err)
}

// Txn implements store.Store.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	return s.Submit(ctx, conds, ops).Wait()
}

// pending is one queued transaction and, once done is closed, its outcome.
type pending struct {
	conds    []store.Cond
	ops      []store.Op
	deadline time.Time
	ctx      context.Context
	rev      int64
	err      error
	done     chan struct{}
}

// Wait implements store.Pending.
func (p *pending) Wait() (int64, error) {
	<-p.done
	return p.rev, p.err
}

// Submit implements store.Store: one committer goroutine sends the queued transactions one
// after the other, which is what keeps submission order (etcd does not order concurrent
// requests of one client). The caller's context is not followed once queued, as on bolt: the
// caller may already reflect the write; the write's own deadline (Options.Timeout from now)
// bounds it instead.
func (s *Store) Submit(ctx context.Context, conds []store.Cond, ops []store.Op) store.Pending {
	p := &pending{conds: conds, ops: lastPerKey(ops), deadline: time.Now().Add(s.timeout), ctx: context.WithoutCancel(ctx), done: make(chan struct{})}
	fail := func(err error) store.Pending { p.err = err; close(p.done); return p }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := s.Check(ops); err != nil {
		return fail(err)
	}
	if n := len(conds) + btoi(s.hold != nil); n > s.maxOps {
		return fail(fmt.Errorf("%w: %d comparisons exceed etcd's %d per transaction", store.ErrInvalid, n, s.maxOps))
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.isClosed() {
		return fail(store.ErrClosed)
	}
	s.queue <- p
	return p
}

// Check implements store.Store: every key non-empty, and the transaction within etcd's
// operation count and request size (see the package doc).
func (s *Store) Check(ops []store.Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: transaction without operations", store.ErrInvalid)
	}
	size := requestHeader
	for _, op := range ops {
		if op.Key == "" {
			return fmt.Errorf("%w: empty key", store.ErrInvalid)
		}
		size += len(s.prefix) + len(op.Key) + len(op.Value) + opFraming
	}
	ops = lastPerKey(ops)
	if n := len(ops) + btoi(allDeletes(ops)); n > s.maxOps {
		return fmt.Errorf("%w: %d operations exceed etcd's %d per transaction", store.ErrInvalid, n, s.maxOps)
	}
	if size > s.maxBytes {
		return fmt.Errorf("%w: transaction of about %d bytes exceeds etcd's %d-byte request limit", store.ErrInvalid, size, s.maxBytes)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lastPerKey is ops with only each key's last op, in the order of those last ops: what
// applying ops in order leaves, in the form etcd accepts (no key twice in a transaction).
func lastPerKey(ops []store.Op) []store.Op {
	seen := make(map[string]int, len(ops))
	dup := false
	for i, op := range ops {
		if _, ok := seen[op.Key]; ok {
			dup = true
		}
		seen[op.Key] = i
	}
	if !dup {
		return ops
	}
	out := make([]store.Op, 0, len(seen))
	for i, op := range ops {
		if seen[op.Key] == i {
			out = append(out, op)
		}
	}
	return out
}

func allDeletes(ops []store.Op) bool {
	for _, op := range ops {
		if !op.Delete {
			return false
		}
	}
	return true
}

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		select {
		case p := <-s.queue:
			p.rev, p.err = s.commit(p)
			close(p.done)
		case <-s.done:
			for { // fail what is still queued
				select {
				case p := <-s.queue:
					p.err = store.ErrClosed
					close(p.done)
				default:
					return
				}
			}
		}
	}
}

// commit sends one transaction.
func (s *Store) commit(p *pending) (int64, error) {
	ctx, cancel := context.WithDeadline(p.ctx, p.deadline)
	defer cancel()
	cmps := make([]clientv3.Cmp, 0, len(p.conds))
	for _, c := range p.conds {
		k := s.prefix + c.Key
		if c.ModRevision == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", c.ModRevision))
		}
	}
	ops := make([]clientv3.Op, 0, len(p.ops)+1)
	for _, op := range p.ops {
		if op.Delete {
			ops = append(ops, clientv3.OpDelete(s.prefix+op.Key))
		} else {
			ops = append(ops, clientv3.OpPut(s.prefix+op.Key, string(op.Value)))
		}
	}
	var orElse []clientv3.Op
	if s.hold != nil {
		cmps = append(cmps, s.fence())
		orElse = append(orElse, clientv3.OpGet(s.prefix))
	}
	if allDeletes(p.ops) {
		ops = append(ops, s.touch()) // a revision of its own (package doc)
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if err != nil {
		return 0, s.wrap(err)
	}
	s.saw(resp.Header.Revision)
	if !resp.Succeeded {
		if s.hold != nil {
			if err := s.fenced(resp); err != nil {
				return 0, err
			}
		}
		return 0, store.ErrConflict
	}
	return resp.Header.Revision, nil
}

// span is the etcd key range [lo, hi) of the store keys with prefix, without the prefix's
// own key (the store key "").
func (s *Store) span(prefix string) (lo, hi string) {
	lo = s.prefix + prefix
	hi = clientv3.GetPrefixRangeEnd(lo)
	if prefix == "" {
		lo += "\x00"
	}
	return lo, hi
}

func (s *Store) kv(k []byte, v []byte, mod int64) store.KV {
	return store.KV{Key: strings.TrimPrefix(string(k), s.prefix), Value: v, ModRevision: mod}
}

// read runs one range request within the timeout.
func (s *Store) read(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.cli.Get(cctx, key, opts...)
	if err != nil {
		return nil, s.wrap(err)
	}
	s.saw(resp.Header.Revision)
	return resp, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, bool, error) {
	if key == "" {
		return store.KV{}, false, nil // the prefix's own key is not the store's
	}
	resp, err := s.read(ctx, s.prefix+key)
	if err != nil || len(resp.Kvs) == 0 {
		return store.KV{}, false, err
	}
	kv := resp.Kvs[0]
	return s.kv(kv.Key, kv.Value, kv.ModRevision), true, nil
}

// List implements store.Store: pages of listPage keys, all read at the first page's
// revision. If that revision is compacted between pages, the list starts over at the
// current one.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	for attempt := 0; ; attempt++ {
		kvs, rev, err := s.list(ctx, prefix)
		if errors.Is(err, rpctypes.ErrCompacted) && attempt < 3 {
			continue
		}
		return kvs, rev, err
	}
}

func (s *Store) list(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	lo, hi := s.span(prefix)
	var out []store.KV
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(hi), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.read(ctx, lo, opts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, 0, rpctypes.ErrCompacted
			}
			return nil, 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, s.kv(kv.Key, kv.Value, kv.ModRevision))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		lo = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Scan implements store.Store with one range request sorted by key and limited to limit.
func (s *Store) Scan(ctx context.Context, prefix, after string, limit int, reverse bool) ([]store.KV, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit %d", store.ErrInvalid, limit)
	}
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	lo, hi := s.span(prefix)
	order := clientv3.SortAscend
	if reverse {
		order = clientv3.SortDescend
		if a := s.prefix + after; after != "" && a < hi {
			hi = a // strictly below after
		}
	} else if after != "" && after >= prefix {
		lo = max(lo, s.prefix+after+"\x00") // strictly above after
	}
	if lo >= hi {
		return nil, nil
	}
	resp, err := s.read(ctx, lo, clientv3.WithRange(hi), clientv3.WithLimit(int64(limit)), clientv3.WithSort(clientv3.SortByKey, order))
	if err != nil {
		return nil, err
	}
	var out []store.KV
	for _, kv := range resp.Kvs {
		out = append(out, s.kv(kv.Key, kv.Value, kv.ModRevision))
	}
	return out, nil
}

// Revision implements store.Store: the newest cluster revision this store has seen, from the
// responses of its calls and its watches (the cluster's revision when Open read it, before
// any write).
func (s *Store) Revision() int64 { return s.rev.Load() }

// Close implements store.Store: what is queued fails with store.ErrClosed, the transaction
// being sent finishes (within its deadline), watchers end with store.ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, cancel := range s.watchers {
		cancel()
	}
	s.mu.Unlock()
	<-s.stopped
	if s.hold != nil {
		s.release()
	}
	return s.cli.Close()
}
