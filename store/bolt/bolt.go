// Package bolt is the embedded store backend on bbolt: one file, every transaction fsynced
// before Txn returns, concurrent transactions sharing an fsync (group commit), and a bounded
// history of transactions from which watchers read.
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
		queue: make(chan *pending, maxGroup), stopped: make(chan struct{})}
	if err := s.init(existed); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
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
// commits everything waiting in a single bbolt transaction: one fsync for the lot, no delay
// for a lone writer, and commits in submission order.
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

// commit applies a group in order inside one bbolt transaction. A transaction whose
// conditions fail is skipped (ErrConflict) without affecting the others. Every transaction
// passed Check in Submit, so an error from bbolt here is a storage failure, and it fails the
// whole group: nothing of it was written.
func (s *Store) commit(group []*pending) {
	var last, compacted int64
	s.stagedMu.Lock()
	defer s.stagedMu.Unlock()
	st := &stagedTxn{at: s.stagedAt, compacted: s.compacted}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		kv, meta, h := tx.Bucket(bucketKV), tx.Bucket(bucketMeta), tx.Bucket(bucketHistory)
		h.FillPercent = 1 // revisions only ever append: full pages, half the splits (TestHistoryPagesFull)
		st.changes = nil
		rev := int64(0)
		if v := meta.Get(keyRevision); len(v) == 8 {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		for _, p := range group {
			p.rev, p.err = 0, nil
			ok := true
			for _, c := range p.conds {
				have := int64(0)
				if s.isStaged(c.Key) {
					have = st.get(c.Key)
				} else {
					have = modRevision(kv.Get([]byte(c.Key)))
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
			for _, op := range p.ops {
				var err error
				switch {
				case s.isStaged(op.Key):
					err = st.apply(h, rev, op)
				case op.Delete:
					err = kv.Delete([]byte(op.Key))
				default:
					err = kv.Put([]byte(op.Key), encodeValue(rev, op.Value))
				}
				if err != nil {
					return err
				}
			}
			if err := h.Put(revKey(rev), p.hist); err != nil {
				return err
			}
			p.rev = rev
		}
		cutoff := rev - s.limit
		if s.dead.bytes > s.maxDead {
			cutoff = max(cutoff, s.dead.oldest()) // deleted staged keys weigh too much: compact sooner
		}
		var err error
		if compacted, err = compactTo(h, s.compacted, min(cutoff, rev), st.get); err != nil {
			return err
		}
		last = rev
		return meta.Put(keyRevision, revKey(rev))
	})
	if err != nil {
		for _, p := range group {
			p.rev, p.err = 0, fmt.Errorf("store %s: commit: %w", s.path, err)
		}
	} else {
		st.commit()
		s.dead.add(st.dead)
		s.compacted = compacted
		s.dead.dropTo(compacted)
		s.rev.Store(last)
		s.mu.Lock()
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
	}
	for _, p := range group {
		close(p.done)
	}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, bool, error) {
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
	var out []store.KV
	var rev int64
	staged := s.touchesStaged(prefix)
	if staged {
		s.stagedMu.Lock()
		defer s.stagedMu.Unlock()
	}
	err := s.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyRevision); len(v) == 8 {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out = append(out, decodeKV(string(k), v))
		}
		if staged {
			out = mergeKVs(out, s.stagedRange(tx, prefix, "", 0, false), 0, false)
		}
		return nil
	})
	return out, rev, err
}

// Scan implements store.Store with a bbolt cursor: it reads only what it returns (plus one
// seek), whatever the size of the prefix, which is what makes it the index read of the trail.
func (s *Store) Scan(ctx context.Context, prefix, after string, limit int, reverse bool) ([]store.KV, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit %d", store.ErrInvalid, limit)
	}
	var out []store.KV
	staged := s.touchesStaged(prefix)
	if staged {
		s.stagedMu.Lock()
		defer s.stagedMu.Unlock()
	}
	err := s.view(func(tx *bbolt.Tx) error {
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
		return nil
	})
	return out, err
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
	return s.db.Close()
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

func encodeOps(ops []store.Op) []byte {
	var b []byte
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
