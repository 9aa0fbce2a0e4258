// Package bolt is the embedded store backend on bbolt: a write-ahead log that every
// transaction is fsynced to before Txn returns, concurrent transactions sharing an fsync
// (group commit); a bbolt file that takes the log's transactions many commits at a time, with
// the ones it does not hold yet kept in memory for readers; and a bounded history of
// transactions from which watchers read.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/stockade/stockade/store"
)

var (
	bucketKV      = []byte("kv")
	bucketHistory = []byte("history")
	bucketMeta    = []byte("meta")
	keyRevision   = []byte("revision")
	keyFormat     = []byte("format")
)

// format identifies our layout inside the bbolt file; a file without it is not ours.
const format = "stockade-bolt-v1"

// Options tunes a Store. The zero value gives the defaults.
type Options struct {
	// HistoryLimit is how many transactions are kept for Watch (default 100,000).
	HistoryLimit int
	// OpenTimeout is how long Open waits for another process's lock (default 1 s).
	OpenTimeout time.Duration
	// Unwatched are key prefixes whose writes are left out of the history: watchers see the
	// transaction's revision but not those ops. For data that no watcher follows and that
	// would otherwise be written twice, such as the change trail's records (one transaction
	// per batch of calls, each several kilobytes).
	Unwatched []string
	// Staged are key prefixes of short-lived keys, written with a change and deleted soon
	// after (the trail's outbox): kept beside their transaction's history entry rather than
	// in the key B-tree, which saves a commit the pages of a second path through that tree
	// (staged.go). They are unwatched as well. Keys of one prefix are all staged or none.
	// Their deletion is lazy: a deleted staged key may be back after the store is reopened,
	// until history compaction has passed its revision (staged.go); the trail's outbox
	// tolerates that, its recovery checks every key against the trail's log.
	Staged []string
	// MaxDeadStaged bounds the bytes of deleted staged keys still in the history, waiting
	// for compaction (default 128 MiB): beyond it the history is compacted sooner than
	// HistoryLimit, so that the store file does not grow with the size of what is staged (a
	// tenant's records can be 100 KB each). The default lets the history decide for the
	// trail's usual records: 100,000 of about 1.3 KB.
	MaxDeadStaged int64
	// FlushInterval is how long committed transactions may wait in the log before they are
	// applied to the bbolt file (default 50 ms; flush.go). They are durable either way; a
	// longer interval writes fewer pages and holds more in memory.
	FlushInterval time.Duration
	// ReleaseInterval is how often the file's pages mapped in since are dropped from the
	// process's memory (default 1 minute; negative: never; release.go).
	ReleaseInterval time.Duration
}

// Store is a store.Store on one bbolt file.
type Store struct {
	db        *bbolt.DB
	path      string
	limit     int64
	unwatched []string
	staged    []string
	rev       atomic.Int64

	// stagedMu is held by the committer across a commit and its change of stagedAt, and by
	// every read of staged keys across its snapshot (staged.go).
	stagedMu  sync.Mutex
	stagedAt  map[string]int64 // staged key → the revision whose history entry holds it
	compacted int64            // history entries up to this revision are deleted; the committer's
	dead      deadStaged       // deleted staged keys still in the history; the committer's
	maxDead   int64

	queue   chan *pending
	closeMu sync.RWMutex
	stopped chan struct{} // closed when the committer has exited

	log *wal     // the committer's
	ov  *overlay // what the log holds and the file does not yet
	// flushErr is the last flush's failure, nil once one succeeds; under ov.mu.
	flushErr       error
	flushInterval  time.Duration
	releaseEvery   time.Duration // the flusher's (release.go)
	flushKick      chan struct{}
	flushReq       chan chan error
	flushStop      chan struct{}
	flusherStopped chan struct{}

	mu     sync.Mutex
	notify chan struct{} // closed and replaced on every commit
	closed bool
	done   chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path. An existing file that is not a Stockade store,
// or is damaged, is an error that names it; it is never overwritten.
func Open(path string, opts Options) (*Store, error) {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 100000
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = time.Second
	}
	if opts.MaxDeadStaged <= 0 {
		opts.MaxDeadStaged = 128 << 20
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 50 * time.Millisecond
	}
	if opts.ReleaseInterval == 0 {
		opts.ReleaseInterval = time.Minute
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	existed := false
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		existed = true
	}
	// NoFreelistSync: bbolt otherwise writes its whole free-page list with every commit, which
	// at a few thousand resources was most of a commit's bytes (≈ 40 KB a write, measured with
	// /proc/PID/io); without it Open rebuilds the list by scanning the file, as etcd does.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.OpenTimeout, FreelistType: bbolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("data directory is in use by another stockade process (lock on %s)", path)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
			return nil, fmt.Errorf("store %s is damaged or not a Stockade data file (%v); refusing to start over it", path, err)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, limit: int64(opts.HistoryLimit), unwatched: slices.Clone(opts.Unwatched), staged: slices.Clone(opts.Staged),
		stagedAt: map[string]int64{}, maxDead: opts.MaxDeadStaged, notify: make(chan struct{}), done: make(chan struct{}),
		queue: make(chan *pending, maxGroup), stopped: make(chan struct{}),
		flushInterval: opts.FlushInterval, releaseEvery: opts.ReleaseInterval, flushKick: make(chan struct{}, 1), flushReq: make(chan chan error),
		flushStop: make(chan struct{}), flusherStopped: make(chan struct{})}
	if err := s.init(existed); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recover(path + ".wal"); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	go s.flusher()
	return s, nil
}

// recover opens the write-ahead log in dir and applies to the bbolt file what it holds and
// the file does not (a crash came before a flush), then starts the log over.
func (s *Store) recover(dir string) error {
	log, txs, err := openWAL(dir, s.rev.Load())
	if err != nil {
		return err
	}
	s.log = log
	s.ov = newOverlay(s.rev.Load())
	if len(txs) > 0 {
		batch := make([]*ovTxn, len(txs))
		for i, t := range txs {
			batch[i] = newOvTxn(t.rev, t.ops, encodeOps(s.watched(t.ops)))
		}
		if err := s.apply(batch); err != nil {
			log.close()
			return err
		}
		s.rev.Store(batch[len(batch)-1].rev)
		s.ov = newOverlay(s.rev.Load())
	}
	if err := log.restart(s.rev.Load()); err != nil {
		log.close()
		return err
	}
	return nil
}

func (s *Store) init(existed bool) error {
	if existed {
		err := s.db.View(func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil || string(meta.Get(keyFormat)) != format || tx.Bucket(bucketKV) == nil || tx.Bucket(bucketHistory) == nil {
				return fmt.Errorf("store %s is a bbolt file but not a Stockade data file (format %q missing); refusing to use it", s.path, format)
			}
			if v := meta.Get(keyRevision); len(v) == 8 {
				s.rev.Store(int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketHistory, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := s.migrateStaged(tx); err != nil {
			return err
		}
		s.loadStaged(tx)
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte(format))
	})
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Txn implements store.Store.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	return s.Submit(ctx, conds, ops).Wait()
}

// Submit implements store.Store. Transactions are queued to one committer goroutine that
// commits everything waiting as one append to the log: one fsync for the lot, no delay for a
// lone writer, and commits in submission order.
func (s *Store) Submit(ctx context.Context, conds []store.Cond, ops []store.Op) store.Pending {
	p := &pending{conds: conds, ops: ops, done: make(chan struct{})}
	fail := func(err error) store.Pending { p.err = err; close(p.done); return p }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := s.Check(ops); err != nil {
		return fail(err)
	}
	p.hist = encodeOps(s.watched(ops))
	if len(p.hist) > bbolt.MaxValueSize {
		return fail(fmt.Errorf("%w: transaction of %d bytes exceeds the %d-byte history entry limit", store.ErrInvalid, len(p.hist), bbolt.MaxValueSize))
	}
	// Enqueue under the read side of closeMu: Close takes the write side before stopping the
	// committer, so nothing is ever queued that no committer will answer.
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.isClosed() {
		return fail(store.ErrClosed)
	}
	s.queue <- p
	return p
}

// Check implements store.Store: every key non-empty and within bbolt's MaxKeySize, every
// value (with its revision prefix) within MaxValueSize. These are exactly the conditions under
// which bbolt's Put refuses an op for its content (ErrKeyRequired, ErrKeyTooLarge,
// ErrValueTooLarge). Checking them here, before a transaction joins a group, matters because
// a group is one bbolt transaction: a Put refused inside it would fail every transaction of
// the group, and the caller could not tell a bad request from a bad disk. What commit can
// still fail with is then a real storage failure.
func (s *Store) Check(ops []store.Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: transaction without operations", store.ErrInvalid)
	}
	for _, op := range ops {
		switch {
		case op.Key == "":
			return fmt.Errorf("%w: empty key", store.ErrInvalid)
		case len(op.Key) > bbolt.MaxKeySize:
			return fmt.Errorf("%w: key of %d bytes exceeds %d", store.ErrInvalid, len(op.Key), bbolt.MaxKeySize)
		case len(op.Key) > bbolt.MaxKeySize-stagedOverhead && s.isStaged(op.Key):
			return fmt.Errorf("%w: staged key of %d bytes exceeds %d", store.ErrInvalid, len(op.Key), bbolt.MaxKeySize-stagedOverhead)
		case !op.Delete && len(op.Value) > bbolt.MaxValueSize-binary.MaxVarintLen64:
			return fmt.Errorf("%w: value of %d bytes for key %.64q exceeds %d", store.ErrInvalid, len(op.Value), op.Key, bbolt.MaxValueSize-binary.MaxVarintLen64)
		}
	}
	return nil
}

// Wait implements store.Pending. Once queued, the outcome is waited for whatever the caller's
// context says: the transaction may already be on disk.
func (p *pending) Wait() (int64, error) {
	<-p.done
	return p.rev, p.err
}

// pending is one queued transaction and, once done is closed, its outcome.
type pending struct {
	conds []store.Cond
	ops   []store.Op
	hist  []byte
	rev   int64
	err   error
	done  chan struct{}
}

// maxGroup bounds how many queued transactions one commit takes.
const maxGroup = 256

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		var first *pending
		select {
		case first = <-s.queue:
		case <-s.done:
			s.drainClosed()
			return
		}
		group := []*pending{first}
	fill:
		for len(group) < maxGroup {
			select {
			case p := <-s.queue:
				group = append(group, p)
			default:
				break fill
			}
		}
		s.commit(group)
	}
}

// drainClosed fails transactions still queued when the store closes.
func (s *Store) drainClosed() {
	for {
		select {
		case p := <-s.queue:
			p.err = store.ErrClosed
			close(p.done)
		default:
			return
		}
	}
}

// commit checks each transaction of a group in order against the store (the overlay, then the
// bbolt file) and the group's earlier transactions, appends those whose conditions hold to the
// log, and once the log is durable makes them visible in the overlay. A transaction whose
// conditions fail is skipped (ErrConflict) without affecting the others. Every transaction
// passed Check in Submit, so an error from the log is a storage failure, and it fails the
// whole group: nothing of it was acknowledged or is visible.
//
// The group's callers are released before the watchers are woken and the flusher kicked:
// every goroutine made runnable here waits for a P in the order it was woken, and a caller
// is a client's reply while a watcher's work can wait.
func (s *Store) commit(group []*pending) {
	committed, flush := s.write(group)
	for _, p := range group {
		close(p.done)
	}
	if !committed {
		return
	}
	s.mu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	if flush {
		s.kickFlusher()
	}
}

// write is commit's work until the group is durable and visible: committed reports whether
// any of it was, and flush whether the flusher needs a kick — the overlay held nothing before
// (the flusher is waiting for one), or enough for a flush now. A flusher gathering commits
// for its interval needs no kick for each; one that is applying a batch looks again when it
// is done (flushNow).
func (s *Store) write(group []*pending) (committed, flush bool) {
	fail := func(err error) {
		for _, p := range group {
			if p.err == nil {
				p.rev, p.err = 0, fmt.Errorf("store %s: commit: %w", s.path, err)
			}
		}
	}
	if err := s.waitRoom(); err != nil {
		fail(err)
		return false, false
	}
	txs, err := s.check(group)
	if err != nil {
		fail(err)
		return false, false
	}
	if len(txs) == 0 {
		return false, false
	}
	s.ov.mu.RLock()
	flushed := s.ov.flushed
	s.ov.mu.RUnlock()
	if err := s.log.append(txs, flushed); err != nil {
		fail(err)
		return false, false
	}
	s.ov.mu.Lock()
	for _, t := range txs {
		s.ov.add(t)
	}
	flush = len(s.ov.txs) == len(txs) || s.flushDueLocked()
	s.ov.mu.Unlock()
	s.rev.Store(txs[len(txs)-1].rev)
	return true, flush
}

// waitRoom waits while the overlay holds more than maxOverlayBytes, and fails when the flush
// that would make room is failing.
func (s *Store) waitRoom() error {
	s.ov.mu.Lock()
	defer s.ov.mu.Unlock()
	for s.ov.bytes > maxOverlayBytes {
		if s.flushErr != nil {
			return s.flushErr
		}
		s.kickFlusher()
		s.ov.room.Wait()
	}
	return nil
}

// testHookCheckStaged, when set (tests), runs in check before it waits for stagedMu.
var testHookCheckStaged func()

// check decides the group's transactions: each whose conditions hold gets the next revision
// and is returned, ready for the log; the others get ErrConflict.
//
// It holds the overlay's read lock throughout, so that no flush drops a key from the overlay
// meanwhile: a key the overlay does not have is then at its newest in the bbolt file, which
// only the committer's own transactions (in the overlay) change.
func (s *Store) check(group []*pending) ([]*ovTxn, error) {
	s.ov.mu.RLock()
	defer s.ov.mu.RUnlock()
	var file *bbolt.Tx // opened at the first key the overlay does not have
	defer func() {
		if file != nil {
			file.Rollback()
		}
	}()
	var written map[string]int64 // by the group's earlier transactions: key → revision, 0 deleted
	current := func(key string) (int64, error) {
		if r, ok := written[key]; ok {
			return r, nil
		}
		if e, ok := s.ov.keys[key]; ok {
			if e.deleted {
				return 0, nil
			}
			return e.rev, nil
		}
		if s.isStaged(key) {
			// The flusher holds stagedMu while its bbolt transaction waits, when the file
			// grows, for every read transaction to end: ours must end before we wait for
			// stagedMu. A key the overlay lacks is at its newest in the file whenever we
			// read it, so opening another later changes no answer.
			if file != nil {
				file.Rollback()
				file = nil
			}
			if testHookCheckStaged != nil {
				testHookCheckStaged()
			}
			s.stagedMu.Lock()
			defer s.stagedMu.Unlock()
			return s.stagedAt[key], nil
		}
		if file == nil {
			var err error
			if file, err = s.db.Begin(false); err != nil {
				return 0, err
			}
		}
		return modRevision(file.Bucket(bucketKV).Get([]byte(key))), nil
	}
	rev := s.rev.Load()
	var txs []*ovTxn
	for _, p := range group {
		p.rev, p.err = 0, nil
		ok := true
		for _, c := range p.conds {
			have, err := current(c.Key)
			if err != nil {
				return nil, err
			}
			if have != c.ModRevision {
				ok = false
				break
			}
		}
		if !ok {
			p.err = store.ErrConflict
			continue
		}
		rev++
		p.rev = rev
		if len(group) > 1 {
			if written == nil {
				written = map[string]int64{}
			}
			for _, op := range p.ops {
				written[op.Key] = rev
				if op.Delete {
					written[op.Key] = 0
				}
			}
		}
		txs = append(txs, newOvTxn(rev, p.ops, p.hist))
	}
	return txs, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, bool, error) {
	if s.isClosed() {
		return store.KV{}, false, store.ErrClosed
	}
	if e, ok := s.ov.get(key); ok {
		if e.deleted {
			return store.KV{}, false, nil
		}
		return store.KV{Key: key, Value: bytes.Clone(e.value), ModRevision: e.rev}, true, nil
	}
	// Not in the overlay: the file has the key at its newest, or a flush since has (which
	// only makes the answer newer).
	var out store.KV
	var ok bool
	if s.isStaged(key) {
		s.stagedMu.Lock()
		defer s.stagedMu.Unlock()
		err := s.view(func(tx *bbolt.Tx) error { out, ok = s.stagedGet(tx, key); return nil })
		return out, ok, err
	}
	err := s.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketKV).Get([]byte(key)); v != nil {
			out, ok = decodeKV(key, v), true
		}
		return nil
	})
	return out, ok, err
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	for {
		v := s.ov.view(prefix, "", false)
		out, rev, err := s.listFile(prefix)
		if err != nil || !v.covers(rev) {
			if err != nil {
				return nil, 0, err
			}
			continue // a flush came in between (overlay.go)
		}
		return v.merge(out, 0, false), v.last, nil
	}
}

// viewFile runs read in a read transaction of the bbolt file and returns the file's
// revision. staged is whether prefix reaches staged keys (stagedRange), whose lock it holds
// meanwhile.
func (s *Store) viewFile(prefix string, read func(tx *bbolt.Tx, staged bool)) (rev int64, err error) {
	staged := s.touchesStaged(prefix)
	if staged {
		s.stagedMu.Lock()
		defer s.stagedMu.Unlock()
	}
	err = s.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyRevision); len(v) == 8 {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		read(tx, staged)
		return nil
	})
	return rev, err
}

// listFile is List of the bbolt file alone, with the file's revision.
func (s *Store) listFile(prefix string) ([]store.KV, int64, error) {
	var out []store.KV
	rev, err := s.viewFile(prefix, func(tx *bbolt.Tx, staged bool) {
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out = append(out, decodeKV(string(k), v))
		}
		if staged {
			out = mergeKVs(out, s.stagedRange(tx, prefix, "", 0, false), 0, false)
		}
	})
	return out, rev, err
}

// Scan implements store.Store with a bbolt cursor: it reads only what it returns (plus one
// seek, and as many keys more as the overlay may hide), whatever the size of the prefix.
func (s *Store) Scan(ctx context.Context, prefix, after string, limit int, reverse bool) ([]store.KV, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit %d", store.ErrInvalid, limit)
	}
	for {
		v := s.ov.view(prefix, after, reverse)
		out, rev, err := s.scanFile(prefix, after, limit+v.deletes(), reverse)
		if err != nil {
			return nil, err
		}
		if v.covers(rev) {
			return v.merge(out, limit, reverse), nil
		}
	}
}

// scanFile is Scan of the bbolt file alone, with the file's revision.
func (s *Store) scanFile(prefix, after string, limit int, reverse bool) ([]store.KV, int64, error) {
	var out []store.KV
	rev, err := s.viewFile(prefix, func(tx *bbolt.Tx, staged bool) {
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		var k, v []byte
		switch {
		case reverse:
			k, v = seekBefore(c, p, []byte(after))
		case after != "" && after >= prefix:
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		default:
			k, v = c.Seek(p)
		}
		for ; k != nil && bytes.HasPrefix(k, p) && len(out) < limit; k, v = step(c, reverse) {
			out = append(out, decodeKV(string(k), v))
		}
		if staged {
			out = mergeKVs(out, s.stagedRange(tx, prefix, after, limit, reverse), limit, reverse)
		}
	})
	return out, rev, err
}

// seekBefore positions c on the last key below bound that can carry prefix: below after when
// it is given and within the prefix's range, else the prefix's last key.
func seekBefore(c *bbolt.Cursor, prefix, after []byte) ([]byte, []byte) {
	bound := prefixEnd(prefix)
	if len(after) > 0 && (bound == nil || bytes.Compare(after, bound) < 0) {
		bound = after
	}
	if bound == nil {
		return c.Last()
	}
	if k, _ := c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// prefixEnd is the smallest key above every key with prefix, nil when there is none (a prefix
// of 0xff bytes, or empty).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func step(c *bbolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

func (s *Store) view(fn func(*bbolt.Tx) error) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	err := s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// Revision implements store.Store.
func (s *Store) Revision() int64 { return s.rev.Load() }

// Close implements store.Store. Watchers end with ErrClosed.
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
	s.mu.Unlock()
	<-s.stopped // the committer finishes its group: nothing queued is left hanging
	close(s.flushStop)
	<-s.flusherStopped // with a last flush: the log is left with nothing the file lacks
	s.ov.mu.Lock()
	err := s.flushErr
	s.ov.mu.Unlock()
	return errors.Join(err, s.log.close(), s.db.Close())
}

// Encoding. A stored value is uvarint(modRevision) ‖ value; a history entry is a sequence of
// ops, each flag byte ‖ uvarint(len key) ‖ key ‖ uvarint(len value) ‖ value.

func revKey(rev int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(rev))
	return b[:]
}

func encodeValue(rev int64, v []byte) []byte {
	b := binary.AppendUvarint(make([]byte, 0, len(v)+binary.MaxVarintLen64), uint64(rev))
	return append(b, v...)
}

func modRevision(stored []byte) int64 {
	if stored == nil {
		return 0
	}
	r, _ := binary.Uvarint(stored)
	return int64(r)
}

func decodeKV(key string, stored []byte) store.KV {
	r, n := binary.Uvarint(stored)
	return store.KV{Key: key, Value: bytes.Clone(stored[n:]), ModRevision: int64(r)}
}

// watched is ops less those under an Unwatched or Staged prefix.
func (s *Store) watched(ops []store.Op) []store.Op {
	if len(s.unwatched) == 0 && len(s.staged) == 0 {
		return ops
	}
	out := make([]store.Op, 0, len(ops))
next:
	for _, op := range ops {
		for _, p := range s.unwatched {
			if strings.HasPrefix(op.Key, p) {
				continue next
			}
		}
		if s.isStaged(op.Key) {
			continue
		}
		out = append(out, op)
	}
	return out
}

func encodeOps(ops []store.Op) []byte { return appendOps(make([]byte, 0, opsLen(ops)), ops) }

// opsLen is the length of ops encoded.
func opsLen(ops []store.Op) int {
	n := 0
	for _, op := range ops {
		n += 1 + uvarintLen(len(op.Key)) + len(op.Key) + uvarintLen(len(op.Value)) + len(op.Value)
	}
	return n
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func appendOps(b []byte, ops []store.Op) []byte {
	for _, op := range ops {
		flag := byte(0)
		if op.Delete {
			flag = 1
		}
		b = append(b, flag)
		b = binary.AppendUvarint(b, uint64(len(op.Key)))
		b = append(b, op.Key...)
		b = binary.AppendUvarint(b, uint64(len(op.Value)))
		b = append(b, op.Value...)
	}
	return b
}

func decodeOps(b []byte) ([]store.Op, error) {
	var ops []store.Op
	for len(b) > 0 {
		flag := b[0]
		b = b[1:]
		kl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < kl {
			return nil, errors.New("store: corrupt history entry")
		}
		key := string(b[n : n+int(kl)])
		b = b[n+int(kl):]
		vl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < vl {
			return nil, errors.New("store: corrupt history entry")
		}
		op := store.Op{Key: key, Delete: flag == 1}
		if !op.Delete {
			op.Value = bytes.Clone(b[n : n+int(vl)])
		}
		b = b[n+int(vl):]
		ops = append(ops, op)
	}
	return ops, nil
}
