package bolt

// Staged keys: short-lived keys written with a change and deleted soon after, such as the
// trail's outbox (a call's record, committed with the change it records and deleted once the
// record is in the trail's log). They behave as every other key — Get, List, Scan, conditions,
// puts and deletes in transactions — and are left out of the history watchers read, as
// Unwatched keys are. What differs is where bbolt keeps them: in the history bucket, right
// after their transaction's own entry (key revKey(rev) ‖ 0x00 ‖ key), and not in the key
// bucket's B-tree.
//
// Why: a commit rewrites every B-tree page it touches, copy-on-write, and its cost is the
// pages written before the fsyncs. A key of its own in the key bucket costs a leaf page and
// the branch pages above it in every commit — two to three pages more than a commit writes
// without it (≈ +30 % bytes, measured with bbolt's TxStats on a store of 3,000 groups). The
// history bucket's last leaf is written by every commit anyway, and the staged value lands in
// it: a few hundred bytes added to a page that is written regardless.
//
// Which revision's entry holds a staged key is in memory (stagedAt), rebuilt from the history
// bucket when the store opens. The committer changes the map only together with the commit
// that made the change, under stagedMu, and every read of a staged key holds stagedMu across
// its bbolt snapshot, so the map and the snapshot always agree. A staged key that is not
// deleted stays however far the history has moved on.
//
// Deleting a staged key removes it from the map only: its entry stays in the history until
// compaction passes its revision and removes it with its transaction's entry, from leaves it
// rewrites anyway. Deleting it at once rewrote the leaves holding it — for the trail's
// outbox, each second's records deleted a second later, about 0.6 pages per record, the
// largest part of what the trail added to a write's bytes. Until compaction, a deleted key is
// back if the store is reopened (the map is rebuilt from the entries): staged keys are for
// outboxes whose recovery checks each key it finds. The entries' bytes are counted, and
// beyond Options.MaxDeadStaged the history is compacted sooner, so that a tenant's large
// records cannot grow the file for HistoryLimit transactions. A key deleted after compaction
// passed its revision (staged long ago, and kept) is removed at once.

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/store"
)

// stagedSep separates the revision from the key in a staged entry's history key.
const stagedSep = 0x00

// stagedOverhead is what a staged key's history key adds to the key itself.
const stagedOverhead = 8 + 1

func stagedKey(rev int64, key string) []byte {
	b := make([]byte, 0, stagedOverhead+len(key))
	b = append(b, revKey(rev)...)
	b = append(b, stagedSep)
	return append(b, key...)
}

// isStagedEntry tells a staged key's entry from a transaction's (8 bytes) in the history bucket.
func isStagedEntry(k []byte) bool { return len(k) > 8 }

func (s *Store) isStaged(key string) bool {
	for _, p := range s.staged {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// touchesStaged reports whether keys with prefix may include staged ones.
func (s *Store) touchesStaged(prefix string) bool {
	for _, p := range s.staged {
		if strings.HasPrefix(p, prefix) || strings.HasPrefix(prefix, p) {
			return true
		}
	}
	return false
}

// loadStaged rebuilds stagedAt from the history bucket, and finds the oldest transaction
// entry still there (compaction's starting point).
func (s *Store) loadStaged(tx *bbolt.Tx) {
	found := false
	c := tx.Bucket(bucketHistory).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		rev := int64(binary.BigEndian.Uint64(k[:8]))
		if isStagedEntry(k) {
			s.stagedAt[string(k[stagedOverhead:])] = rev
		} else if !found {
			s.compacted, found = rev-1, true
		}
	}
	if !found {
		s.compacted = s.rev.Load()
	}
}

// migrateStaged moves keys under a staged prefix that are in the key bucket (written before
// the prefix was staged, or by a version without staging) beside the history entry of the
// revision that wrote them, so that they are read and deleted as staged keys from now on.
func (s *Store) migrateStaged(tx *bbolt.Tx) error {
	kv, h := tx.Bucket(bucketKV), tx.Bucket(bucketHistory)
	for _, p := range s.staged {
		c := kv.Cursor()
		for k, v := c.Seek([]byte(p)); k != nil && strings.HasPrefix(string(k), p); k, v = c.Seek([]byte(p)) {
			if err := h.Put(stagedKey(modRevision(v), string(k)), bytes.Clone(v)); err != nil {
				return err
			}
			if err := kv.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// stagedTxn is one commit's view of the staged keys: the map as committed, with the changes
// of this commit on top (0: deleted), applied to the map only once the commit succeeded.
type stagedTxn struct {
	at        map[string]int64
	changes   map[string]int64
	compacted int64      // the history's compaction before this commit
	dead      []deadItem // entries this commit deleted lazily
}

func (st *stagedTxn) get(key string) int64 {
	if r, ok := st.changes[key]; ok {
		return r
	}
	return st.at[key]
}

// apply writes op on a staged key at revision rev into the history bucket.
func (st *stagedTxn) apply(h *bbolt.Bucket, rev int64, op store.Op) error {
	if st.changes == nil {
		st.changes = map[string]int64{}
	}
	if old := st.get(op.Key); old != 0 {
		k := stagedKey(old, op.Key)
		if op.Delete && old > st.compacted { // left for compaction, which rewrites its leaf anyway
			st.dead = append(st.dead, deadItem{rev: old, bytes: int64(len(k) + len(h.Get(k)))})
		} else if err := h.Delete(k); err != nil {
			return err
		}
	}
	if op.Delete {
		st.changes[op.Key] = 0
		return nil
	}
	st.changes[op.Key] = rev
	return h.Put(stagedKey(rev, op.Key), encodeValue(rev, op.Value))
}

// commit makes the changes the map's; the caller holds stagedMu.
func (st *stagedTxn) commit() {
	for k, r := range st.changes {
		if r == 0 {
			delete(st.at, k)
		} else {
			st.at[k] = r
		}
	}
}

// stagedGet reads a staged key in tx; the caller holds stagedMu.
func (s *Store) stagedGet(tx *bbolt.Tx, key string) (store.KV, bool) {
	rev, ok := s.stagedAt[key]
	if !ok {
		return store.KV{}, false
	}
	v := tx.Bucket(bucketHistory).Get(stagedKey(rev, key))
	if v == nil {
		return store.KV{}, false
	}
	return decodeKV(key, v), true
}

// stagedRange is the staged keys with prefix, sorted by key (descending when reverse), from
// strictly after after in that direction (after == "": from the start), at most limit of them
// (limit <= 0: all), read in tx; the caller holds stagedMu.
func (s *Store) stagedRange(tx *bbolt.Tx, prefix, after string, limit int, reverse bool) []store.KV {
	var keys []string
	for k := range s.stagedAt {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if after != "" && ((!reverse && k <= after) || (reverse && k >= after)) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]store.KV, 0, len(keys))
	for _, k := range keys {
		if kv, ok := s.stagedGet(tx, k); ok {
			out = append(out, kv)
		}
	}
	return out
}

// mergeKVs merges two key-ordered lists (descending when reverse) into one, at most limit
// long (limit <= 0: all). No key is in both: a key is staged or not by its prefix alone.
func mergeKVs(a, b []store.KV, limit int, reverse bool) []store.KV {
	if len(b) == 0 {
		return a
	}
	out := make([]store.KV, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if limit > 0 && len(out) == limit {
			break
		}
		takeA := len(b) == 0
		if len(a) > 0 && len(b) > 0 {
			c := strings.Compare(a[0].Key, b[0].Key)
			takeA = (c < 0) != reverse
		}
		if takeA {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// compactTo deletes the history entries of the revisions after from up to cutoff, at most
// most revisions per flush so that each stays cheap: the transactions' own entries and the
// staged entries no longer live (deleted or rewritten since: live(key) is not their revision).
// It returns the newest revision compacted.
func compactTo(h *bbolt.Bucket, from, cutoff, most int64, live func(key string) int64) (int64, error) {
	to := min(from+most, cutoff)
	if to <= from {
		return from, nil
	}
	var del [][]byte
	c := h.Cursor()
	for k, _ := c.Seek(revKey(from + 1)); k != nil; k, _ = c.Next() {
		rev := int64(binary.BigEndian.Uint64(k[:8]))
		if rev > to {
			break
		}
		if !isStagedEntry(k) || live(string(k[stagedOverhead:])) != rev {
			del = append(del, bytes.Clone(k)) // not while the cursor walks the page
		}
	}
	for _, k := range del {
		if err := h.Delete(k); err != nil {
			return from, err
		}
	}
	return to, nil
}

// deadStaged are the deleted staged keys whose entries are still in the history, in the order
// they were deleted (about their revisions' order: the trail deletes its records in order),
// from items[head] on.
type deadStaged struct {
	items []deadItem
	head  int
	bytes int64
}

type deadItem struct {
	rev   int64
	bytes int64
}

func (d *deadStaged) add(items []deadItem) {
	for _, it := range items {
		d.items = append(d.items, it)
		d.bytes += it.bytes
	}
}

// oldest is the revision of the first deleted entry waiting.
func (d *deadStaged) oldest() int64 {
	if d.head == len(d.items) {
		return 0
	}
	return d.items[d.head].rev
}

// dropTo forgets the entries compaction has removed, from the front: one deleted out of order
// is forgotten when those before it are (its bytes are counted until then, a bound only).
func (d *deadStaged) dropTo(compacted int64) {
	for d.head < len(d.items) && d.items[d.head].rev <= compacted {
		d.bytes -= d.items[d.head].bytes
		d.head++
	}
	if d.head > 1024 && d.head > len(d.items)/2 { // the front's room, given back now and then
		d.items = append(d.items[:0], d.items[d.head:]...)
		d.head = 0
	}
}

// firstEntry is the first transaction entry at or after from in the history cursor, skipping
// staged entries.
func firstEntry(c *bbolt.Cursor, from []byte) ([]byte, []byte) {
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for k != nil && isStagedEntry(k) {
		k, v = c.Next()
	}
	return k, v
}
