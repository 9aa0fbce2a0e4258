// Package store is Stockade's durable state: a key-value store in which every write is one
// transaction with a revision, strictly increasing (from 1 and consecutive on bolt; etcd's
// cluster-wide revisions start at 2 and skip what other prefixes write), and in which watchers can follow
// the transactions from any retained revision. The control service keeps its resources here;
// the control service's feed of the host reconciler watches it for revisions. The embedded backend is store/bolt; every backend
// must pass the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
)

// KV is one stored key with the revision of the transaction that last wrote it.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Op is one write inside a transaction: a put, or a delete when Delete is true.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Cond requires a key's ModRevision to equal ModRevision; 0 means the key must not exist.
type Cond struct {
	Key         string
	ModRevision int64
}

// Event is one committed transaction as watchers see it.
type Event struct {
	Revision int64
	Ops      []Op
}

var (
	// ErrConflict is returned by Txn when a Cond does not hold; nothing was written.
	ErrConflict = errors.New("store: condition failed")
	// ErrCompacted is returned by Watch when the revision asked for is no longer retained.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrLagging ends a watch whose consumer fell too far behind; it may watch again from the
	// last revision it saw.
	ErrLagging = errors.New("store: watcher fell behind")
	// ErrInvalid is returned by Check, Submit and Txn for a transaction the backend cannot
	// store because of its content (an empty key, a key or value over the backend's limits).
	// Nothing was written, nothing else is affected, and the store keeps working: it is the
	// caller's request that is wrong, not the disk.
	ErrInvalid = errors.New("store: invalid transaction")
)

// Store is the interface every backend implements.
type Store interface {
	// Txn atomically checks conds and applies ops; the result is durable when it returns.
	// Each successful Txn gets the next revision. A Txn with no ops is an error; deleting a
	// missing key is a no-op.
	Txn(ctx context.Context, conds []Cond, ops []Op) (rev int64, err error)
	// Check reports, without writing or queueing anything, whether the backend can store ops:
	// nil, or an error wrapping ErrInvalid. Submit and Txn run the same check first, so a
	// transaction that passes Check fails later only for reasons outside the caller's data (a
	// disk error, a conflict, Close). A caller that must undo its own state on refusal (control
	// rolls back memory under its lock) calls Check before Submit: once Submit has returned
	// and the lock is released, later writes may build on the submitted one.
	Check(ops []Op) error
	// Submit queues a transaction and returns at once: transactions submitted one after the
	// other commit in that order, and Wait reports the outcome once it is durable. It lets a
	// caller release its own locks while the disk works, so that concurrent writers share an
	// fsync. Txn is Submit followed by Wait. A transaction that fails Check is refused at once,
	// never queued, so it cannot fail the others committed with it.
	Submit(ctx context.Context, conds []Cond, ops []Op) Pending
	// Get returns one key.
	Get(ctx context.Context, key string) (kv KV, ok bool, err error)
	// List returns every key with the prefix, sorted by key, as one consistent snapshot, with
	// the revision of that snapshot.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// Scan returns at most limit keys with the prefix, in key order (descending when reverse),
	// starting strictly after the key after in that direction: above it ascending, below it
	// descending; after == "" starts at the prefix's first (last, when reverse) key. after
	// need not exist nor carry the prefix. limit <= 0 is an error (ErrInvalid): Scan is the
	// bounded read, List the whole one. A caller pages by passing the last key it got as the
	// next after. The keys come from one consistent snapshot.
	Scan(ctx context.Context, prefix, after string, limit int, reverse bool) ([]KV, error)
	// Revision is the revision of the last committed transaction (0 when empty on bolt; on
	// etcd, the newest cluster revision the store has seen).
	Revision() int64
	// Watch follows the transactions with Revision >= from (from == 0: from the next one on).
	Watch(ctx context.Context, from int64) (*Watcher, error)
	Close() error
}

// Pending is a submitted transaction.
type Pending interface {
	// Wait blocks until the transaction is durable or has failed.
	Wait() (rev int64, err error)
}

// Watcher delivers committed transactions in order. Its channel is closed when the watch
// ends: because ctx ended, the store closed, or the consumer fell behind; Err says which.
type Watcher struct {
	C   <-chan Event
	err func() error
}

// NewWatcher is for backends: c is the event channel, err reports why it closed.
func NewWatcher(c <-chan Event, err func() error) *Watcher { return &Watcher{C: c, err: err} }

// Err is nil while the watch runs and after a cancelled context; ErrLagging, ErrClosed or a
// backend error otherwise. Read it after C is closed.
func (w *Watcher) Err() error { return w.err() }
