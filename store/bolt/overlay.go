package bolt

// The overlay: the transactions the log holds and the bbolt file does not yet (wal.go), kept
// in memory so that every read sees what was acknowledged. Reads ask the overlay first and the
// bbolt file for the rest; the flusher (flush.go) applies the overlay's transactions to the
// file and only then drops them, so a key is always in one or the other at its newest.
//
// A read of several keys (List, Scan) must see one revision. It copies the overlay's part and
// notes the file's revision the overlay starts from (flushed); if the file it then reads is at
// another revision outside what its copy covers, a flush came in between and it reads again.

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/stockade/stockade/store"
)

type overlay struct {
	mu      sync.RWMutex
	room    *sync.Cond // on mu: broadcast when a flush made room or failed
	keys    map[string]ovEntry
	txs     []*ovTxn // after flushed, in revision order
	flushed int64    // the bbolt file holds every transaction up to this revision
	last    int64    // the newest transaction committed; flushed when txs is empty
	bytes   int64    // what txs hold: keys, values, history entries and ovTxnOverhead each
}

// ovEntry is the newest write of a key.
type ovEntry struct {
	value   []byte
	rev     int64
	deleted bool
}

// ovTxn is one committed transaction: its ops (values copied, the caller's slices are its
// own), and its history entry for watchers.
type ovTxn struct {
	rev  int64
	ops  []store.Op
	hist []byte
	size int64
}

func newOverlay(rev int64) *overlay {
	o := &overlay{keys: map[string]ovEntry{}, flushed: rev, last: rev}
	o.room = sync.NewCond(&o.mu)
	return o
}

// ovTxnOverhead is about what a transaction costs the overlay beyond its keys, values and
// history entry (the ovTxn, its ops, a map entry per key), so that many small transactions
// count towards maxOverlayBytes too.
const ovTxnOverhead = 256

func newOvTxn(rev int64, ops []store.Op, hist []byte) *ovTxn {
	t := &ovTxn{rev: rev, ops: make([]store.Op, len(ops)), hist: hist, size: int64(ovTxnOverhead + len(hist))}
	for i, op := range ops {
		t.ops[i] = store.Op{Key: op.Key, Value: bytes.Clone(op.Value), Delete: op.Delete}
		t.size += int64(len(op.Key) + len(op.Value))
	}
	return t
}

// add makes t the overlay's newest transaction; the caller holds mu.
func (o *overlay) add(t *ovTxn) {
	for _, op := range t.ops {
		o.keys[op.Key] = ovEntry{value: op.Value, rev: t.rev, deleted: op.Delete}
	}
	o.txs = append(o.txs, t)
	o.last = t.rev
	o.bytes += t.size
}

// trim drops the transactions up to rev, which the bbolt file now holds; the caller holds mu.
func (o *overlay) trim(rev int64) {
	n := 0
	for n < len(o.txs) && o.txs[n].rev <= rev {
		for _, op := range o.txs[n].ops {
			if e, ok := o.keys[op.Key]; ok && e.rev <= rev {
				delete(o.keys, op.Key)
			}
		}
		o.bytes -= o.txs[n].size
		o.txs[n] = nil
		n++
	}
	o.txs = o.txs[n:]
	if len(o.txs) == 0 {
		o.txs = nil // let the array go
	}
	o.flushed = rev
}

// get returns the newest write of key when the overlay has it.
func (o *overlay) get(key string) (ovEntry, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	e, ok := o.keys[key]
	return e, ok
}

// ovKV is a key of the overlay with its newest write.
type ovKV struct {
	key string
	ovEntry
}

// view is a copy of the overlay's keys with prefix, from strictly after after in key order
// (below it when reverse; after == "": from the start), sorted in that order, and the
// revisions the copy is between: it covers every transaction after flushed up to last.
type view struct {
	kvs           []ovKV
	flushed, last int64
}

// testHookView, when set, runs after each view is copied: the tests use it to land a flush
// between a view and the file read after it.
var testHookView func()

func (o *overlay) view(prefix, after string, reverse bool) view {
	if testHookView != nil {
		defer testHookView()
	}
	o.mu.RLock()
	v := view{flushed: o.flushed, last: o.last}
	for k, e := range o.keys {
		if !strings.HasPrefix(k, prefix) || (after != "" && ((!reverse && k <= after) || (reverse && k >= after))) {
			continue
		}
		v.kvs = append(v.kvs, ovKV{key: k, ovEntry: e})
	}
	o.mu.RUnlock()
	slices.SortFunc(v.kvs, func(a, b ovKV) int {
		if reverse {
			return strings.Compare(b.key, a.key)
		}
		return strings.Compare(a.key, b.key)
	})
	return v
}

// covers reports whether the bbolt file at revision disk, with the view on top, is the store
// at the view's last revision: the file must not be behind the view's start nor hold a
// transaction the view was copied before.
func (v view) covers(disk int64) bool { return disk >= v.flushed && disk <= v.last }

// merge puts the view on top of kvs, read from the bbolt file in the same order: the view's
// writes win, its deletes remove. At most limit keys (limit <= 0: all).
func (v view) merge(kvs []store.KV, limit int, reverse bool) []store.KV {
	if len(v.kvs) == 0 {
		if limit > 0 && len(kvs) > limit {
			kvs = kvs[:limit]
		}
		return kvs
	}
	out := make([]store.KV, 0, len(kvs)+len(v.kvs))
	ov := v.kvs
	for len(kvs) > 0 || len(ov) > 0 {
		if limit > 0 && len(out) == limit {
			break
		}
		c := 0
		switch {
		case len(ov) == 0:
			c = -1
		case len(kvs) == 0:
			c = 1
		default:
			c = strings.Compare(kvs[0].Key, ov[0].key)
			if reverse {
				c = -c
			}
		}
		if c < 0 {
			out, kvs = append(out, kvs[0]), kvs[1:]
			continue
		}
		if c == 0 {
			kvs = kvs[1:]
		}
		if e := ov[0]; !e.deleted {
			out = append(out, store.KV{Key: e.key, Value: bytes.Clone(e.value), ModRevision: e.rev})
		}
		ov = ov[1:]
	}
	return out
}

// deletes counts the view's deletes: how many keys of the file it may hide.
func (v view) deletes() int {
	n := 0
	for _, e := range v.kvs {
		if e.deleted {
			n++
		}
	}
	return n
}

// events returns the overlay's transactions from revision from on, at most max, as watchers
// see them; nil when from is not after flushed (the bbolt file's history has it) or not yet
// committed.
func (o *overlay) events(from int64, max int) ([]store.Event, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if from <= o.flushed || from > o.last {
		return nil, nil
	}
	var out []store.Event
	for _, t := range o.txs[from-o.flushed-1:] {
		if len(out) == max {
			break
		}
		ops, err := decodeOps(t.hist)
		if err != nil {
			return nil, err
		}
		out = append(out, store.Event{Revision: t.rev, Ops: ops})
	}
	return out, nil
}
