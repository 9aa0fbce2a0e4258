package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	bbolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/storetest"
)

// TestConformanceStaged: the whole conformance suite with most of its keys staged (the keys
// its watch tests follow are not: staged keys are unwatched). Staged and other keys mix in
// one transaction, one List and one Scan.
func TestConformanceStaged(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Staged: []string{"r/", "g", "a", "x", "ok", "q/"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestStaged: staged keys survive reopening and any amount of history compaction until they
// are deleted; deletes survive reopening too; conditions see them; watchers never do; and a
// commit with a staged key writes fewer pages than with the same key in the key bucket.
func TestStaged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	opts := Options{Staged: []string{"o/"}, HistoryLimit: 5}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	put := func(k, v string) store.Op { return store.Op{Key: k, Value: []byte(v)} }
	first, err := s.Txn(ctx, nil, []store.Op{put("r/1", "a"), put("o/1", "record 1")})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-w.C; ev.Revision != first || len(ev.Ops) != 1 || ev.Ops[0].Key != "r/1" {
		t.Errorf("watched %+v, want r/1 alone", ev)
	}
	if _, err := s.Txn(ctx, []store.Cond{{Key: "o/1"}}, []store.Op{put("o/1", "again")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create-if-absent on a staged key that exists: %v", err)
	}
	second, err := s.Txn(ctx, []store.Cond{{Key: "o/1", ModRevision: first}}, []store.Op{put("o/2", "record 2"), put("o/3", "record 3")})
	if err != nil {
		t.Fatalf("condition on a staged key's revision: %v", err)
	}
	for i := range 20 { // far past the history limit: the transactions' own entries are compacted
		if _, err := s.Txn(ctx, nil, []store.Op{put("r/x", fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "o/2", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if _, err := s.Watch(ctx, first); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("watch from a compacted revision: %v", err)
	}
	s.Close()

	s, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvs, _, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		got = append(got, fmt.Sprintf("%s=%s@%d", kv.Key, kv.Value, kv.ModRevision))
	}
	want := []string{fmt.Sprintf("o/1=record 1@%d", first), fmt.Sprintf("o/3=record 3@%d", second), fmt.Sprintf("r/1=a@%d", first), "r/x=19@" + fmt.Sprint(second+20)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after reopening (-want +got):\n%s", diff)
	}
	// Compaction stays at five transactions whatever staged entries lie among them.
	var entries, staged int
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHistory).ForEach(func(k, _ []byte) error {
			if isStagedEntry(k) {
				staged++
			} else {
				entries++
			}
			return nil
		})
	})
	if entries > 6 || staged != 2 {
		t.Errorf("history holds %d transactions and %d staged keys, want ≤ 6 and 2", entries, staged)
	}
	if err := s.Check([]store.Op{put("o/"+strings.Repeat("k", bbolt.MaxKeySize-5), "v")}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Check of a staged key too long for its history key: %v", err)
	}
}

// TestStagedWritesFewerPages is the reason for staging: a commit of a change and a record
// writes fewer pages when the record is staged than when it is a key of the key bucket.
func TestStagedWritesFewerPages(t *testing.T) {
	pages := func(opts Options) float64 {
		ctx := context.Background()
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		val := []byte(strings.Repeat("v", 700))
		var ops []store.Op
		for i := range 3000 {
			ops = append(ops, store.Op{Key: fmt.Sprintf("r/%08x", uint32(i)*2654435761), Value: val})
		}
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
		flush(t, s)
		before := s.db.Stats()
		const n = 500
		for i := range n {
			if _, err := s.Txn(ctx, nil, []store.Op{ops[(i*7919)%len(ops)], {Key: fmt.Sprintf("trail/o/%012d", i), Value: []byte(strings.Repeat("j", 500))}}); err != nil {
				t.Fatal(err)
			}
			flush(t, s) // a bbolt commit per transaction, as the flusher makes of one that waits alone
		}
		after := s.db.Stats()
		d := after.Sub(&before)
		return float64(d.TxStats.GetPageCount()) / n
	}
	plain, staged := pages(Options{Unwatched: []string{"trail/"}}), pages(Options{Staged: []string{"trail/"}})
	t.Logf("pages per commit: %.2f with the record in the key bucket, %.2f staged", plain, staged)
	if staged >= plain {
		t.Errorf("staged record: %.2f pages per commit, not fewer than %.2f", staged, plain)
	}
}

// TestStagedMigrates: keys under a prefix written before it was staged (the outbox of a data
// directory from an earlier version) are moved beside their revision's history entry when the
// store opens with the prefix staged, with their values and revisions, and read and deleted as
// staged keys from then on.
func TestStagedMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Unwatched: []string{"o/"}})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Txn(ctx, nil, []store.Op{{Key: "o/1", Value: []byte("r1")}, {Key: "o/2", Value: []byte("r2")}, {Key: "p", Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{Staged: []string{"o/"}})
	if err != nil {
		t.Fatal(err)
	}
	if kv, ok, err := s.Get(ctx, "o/1"); err != nil || !ok || string(kv.Value) != "r1" || kv.ModRevision != rev {
		t.Errorf("migrated o/1 = %+v %v %v", kv, ok, err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "o/1", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Deleted lazily: compaction removes the entry, here once the history is past it.
	s, err = Open(path, Options{Staged: []string{"o/"}, HistoryLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "o/1", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Txn(ctx, nil, []store.Op{{Key: "p", Value: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = Open(path, Options{Staged: []string{"o/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvs, _, _ := s.List(ctx, "")
	var got []string
	for _, kv := range kvs {
		got = append(got, kv.Key+"="+string(kv.Value))
	}
	if diff := cmp.Diff([]string{"o/2=r2", "p=x"}, got); diff != "" {
		t.Errorf("after the delete and reopening (-want +got):\n%s", diff)
	}
	s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketKV).Cursor().Seek([]byte("o/")); k != nil && strings.HasPrefix(string(k), "o/") {
			t.Errorf("%s still in the key bucket", k)
		}
		return nil
	})
}

// TestHistoryPagesFull: the history bucket only ever appends, so its leaves are filled whole
// before a new one starts (FillPercent 1), not split in halves that stay half empty, which
// doubled the splits (and the pages a commit writes) and the file's history pages.
func TestHistoryPagesFull(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2000 {
		if _, err := s.Txn(ctx, nil, []store.Op{{Key: fmt.Sprintf("k/%d", i%50), Value: []byte(strings.Repeat("v", 300))}}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	if err := s.db.View(func(tx *bbolt.Tx) error {
		st := tx.Bucket(bucketHistory).Stats()
		if use := float64(st.LeafInuse) / float64(st.LeafAlloc); use < 0.8 {
			t.Errorf("history leaves %.0f%% used (%d of %d bytes in %d pages), want at least 80%%", 100*use, st.LeafInuse, st.LeafAlloc, st.LeafPageN)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestStagedDeleteLazy: a deleted staged key is gone for every reader at once, while its entry
// stays in the history until compaction passes its revision; reopened before that, the store
// has it back (the outbox's recovery deletes it again); compaction removes it for good, keeps
// the staged keys still live, and comes sooner when deleted entries weigh more than
// MaxDeadStaged.
func TestStagedDeleteLazy(t *testing.T) {
	ctx := context.Background()
	put := func(k, v string) store.Op { return store.Op{Key: k, Value: []byte(v)} }
	del := func(k string) store.Op { return store.Op{Key: k, Delete: true} }
	entries := func(s *Store) (staged []string) {
		flush(t, s)
		s.db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketHistory).ForEach(func(k, _ []byte) error {
				if isStagedEntry(k) {
					staged = append(staged, string(k[stagedOverhead:]))
				}
				return nil
			})
		})
		return staged
	}
	keys := func(s *Store) (got []string) {
		kvs, _, err := s.List(ctx, "o/")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			got = append(got, kv.Key)
		}
		return got
	}
	path := filepath.Join(t.TempDir(), "s.db")
	opts := Options{Staged: []string{"o/"}, HistoryLimit: 10}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Txn(ctx, nil, []store.Op{put("o/1", "r1"), put("o/2", "r2"), put("r", "x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{del("o/1")}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "o/1"); ok {
		t.Error("a deleted staged key is still read")
	}
	if diff := cmp.Diff([]string{"o/2"}, keys(s)); diff != "" {
		t.Errorf("listed after the delete (-want +got):\n%s", diff)
	}
	if _, err := s.Txn(ctx, []store.Cond{{Key: "o/1"}}, []store.Op{put("o/1", "again")}); err != nil {
		t.Errorf("create-if-absent on a deleted staged key: %v", err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{del("o/1")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"o/1", "o/2", "o/1"}, entries(s)); diff != "" {
		t.Errorf("history's staged entries before compaction (-want +got):\n%s", diff)
	}
	s.Close()

	// Reopened before compaction: the newest entry of o/1 is back.
	if s, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	if kv, ok, _ := s.Get(ctx, "o/1"); !ok || string(kv.Value) != "again" {
		t.Errorf("o/1 after reopening before compaction: %+v %v, want it back", kv, ok)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{del("o/1")}); err != nil {
		t.Fatal(err)
	}
	for i := range 12 { // past the history limit
		if _, err := s.Txn(ctx, nil, []store.Op{put("r", fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"o/2"}, entries(s)); diff != "" {
		t.Errorf("history's staged entries after compaction (-want +got):\n%s", diff)
	}
	s.Close()
	if s, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"o/2"}, keys(s)); diff != "" {
		t.Errorf("listed after compaction and reopening (-want +got):\n%s", diff)
	}
	if _, err := s.Watch(ctx, first); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("watch from a compacted revision: %v", err)
	}
	s.Close()

	// Deleted entries over MaxDeadStaged: compacted sooner than HistoryLimit.
	path = filepath.Join(t.TempDir(), "s.db")
	if s, err = Open(path, Options{Staged: []string{"o/"}, HistoryLimit: 1000, MaxDeadStaged: 1000}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := strings.Repeat("x", 600)
	start, err := s.Txn(ctx, nil, []store.Op{put("o/a", big), put("o/b", big), put("o/live", big)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{del("o/a"), del("o/b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{put("r", "y")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"o/live"}, entries(s)); diff != "" {
		t.Errorf("history's staged entries past MaxDeadStaged (-want +got):\n%s", diff)
	}
	if _, err := s.Watch(ctx, start); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("watch from before the deleted entries, compacted sooner: %v", err)
	}
	if s.dead.bytes != 0 {
		t.Errorf("%d bytes of deleted entries still counted", s.dead.bytes)
	}
}
