// Package storetest is the behavioural conformance suite every store.Store backend must pass:
// transactions and conditions, revisions, snapshots, watches and concurrency.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
)

// Run runs the suite; open returns a new, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	put := func(k, v string) store.Op { return store.Op{Key: k, Value: []byte(v)} }

	t.Run("TxnAndGet", func(t *testing.T) {
		s := open(t)
		base := s.Revision()
		rev1, err := s.Txn(ctx, nil, []store.Op{put("a", "1"), put("b", "2")})
		if err != nil || rev1 <= base {
			t.Fatalf("first Txn = %d, %v (store was at %d)", rev1, err, base)
		}
		rev, err := s.Txn(ctx, nil, []store.Op{put("a", "3"), {Key: "b", Delete: true}, {Key: "missing", Delete: true}})
		if err != nil || rev <= rev1 || s.Revision() != rev {
			t.Fatalf("second Txn = %d after %d, %v (store at %d)", rev, rev1, err, s.Revision())
		}
		kv, ok, err := s.Get(ctx, "a")
		if err != nil || !ok || string(kv.Value) != "3" || kv.ModRevision != rev {
			t.Errorf("Get a = %+v %v %v", kv, ok, err)
		}
		if _, ok, _ := s.Get(ctx, "b"); ok {
			t.Error("deleted key b still present")
		}
		// A transaction that changes nothing still gets a revision of its own.
		if rev3, err := s.Txn(ctx, nil, []store.Op{{Key: "missing", Delete: true}}); err != nil || rev3 <= rev || s.Revision() != rev3 {
			t.Errorf("Txn of a missing key's delete = %d after %d, %v (store at %d)", rev3, rev, err, s.Revision())
		}
		// Ops apply in order: a key named twice ends as its last op left it.
		if _, err := s.Txn(ctx, nil, []store.Op{put("x", "1"), put("y", "1"), put("x", "2"), {Key: "y", Delete: true}}); err != nil {
			t.Fatalf("Txn naming keys twice: %v", err)
		}
		if kv, ok, _ := s.Get(ctx, "x"); !ok || string(kv.Value) != "2" {
			t.Errorf("x = %+v %v, want the second put", kv, ok)
		}
		if _, ok, _ := s.Get(ctx, "y"); ok {
			t.Error("y put then deleted in one Txn is present")
		}
		if _, err := s.Txn(ctx, nil, nil); err == nil {
			t.Error("empty Txn accepted")
		}
	})

	t.Run("Conditions", func(t *testing.T) {
		s := open(t)
		rev1, err := s.Txn(ctx, []store.Cond{{Key: "k"}}, []store.Op{put("k", "v1")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Txn(ctx, []store.Cond{{Key: "k"}}, []store.Op{put("k", "v2"), put("other", "x")})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create-if-absent on existing key: %v", err)
		}
		if _, ok, _ := s.Get(ctx, "other"); ok {
			t.Error("a failed Txn wrote part of its ops")
		}
		rev2, err := s.Txn(ctx, []store.Cond{{Key: "k", ModRevision: rev1}}, []store.Op{put("k", "v3")})
		if err != nil {
			t.Errorf("CAS on the right revision: %v", err)
		}
		if _, err := s.Txn(ctx, []store.Cond{{Key: "k", ModRevision: rev1}}, []store.Op{put("k", "v4")}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CAS on a stale revision: %v", err)
		}
		if s.Revision() != rev2 {
			t.Errorf("failed Txns moved the revision to %d", s.Revision())
		}
	})

	t.Run("ListSnapshot", func(t *testing.T) {
		s := open(t)
		wrote, _ := s.Txn(ctx, nil, []store.Op{put("r/a", "1"), put("r/c", "3"), put("r/b", "2"), put("s/x", "9"), put("r", "top")})
		kvs, rev, err := s.List(ctx, "r/")
		if err != nil || rev != wrote {
			t.Fatalf("List = %v, %d, %v", kvs, rev, err)
		}
		var keys []string
		for _, kv := range kvs {
			keys = append(keys, kv.Key+"="+string(kv.Value))
		}
		if diff := cmp.Diff([]string{"r/a=1", "r/b=2", "r/c=3"}, keys); diff != "" {
			t.Errorf("List r/ (-want +got):\n%s", diff)
		}
	})

	t.Run("Scan", func(t *testing.T) {
		s := open(t)
		wrote, _ := s.Txn(ctx, nil, []store.Op{put("r/a", "1"), put("r/c", "3"), put("r/b", "2"), put("r/d", "4"),
			put("s/x", "9"), put("r", "top"), put("q/z", "0"), put("r/\xff", "ff"), put("r\xff", "after")})
		cases := []struct {
			name, prefix, after string
			limit               int
			reverse             bool
			want                []string
		}{
			{"first page", "r/", "", 2, false, []string{"r/a", "r/b"}},
			{"next page", "r/", "r/b", 2, false, []string{"r/c", "r/d"}},
			{"last page", "r/", "r/d", 2, false, []string{"r/\xff"}},
			{"after a missing key", "r/", "r/bb", 10, false, []string{"r/c", "r/d", "r/\xff"}},
			{"after below the prefix", "r/", "a", 1, false, []string{"r/a"}},
			{"after above the prefix", "r/", "s", 5, false, nil},
			{"reverse first page", "r/", "", 2, true, []string{"r/\xff", "r/d"}},
			{"reverse next page", "r/", "r/d", 2, true, []string{"r/c", "r/b"}},
			{"reverse after a missing key", "r/", "r/bb", 10, true, []string{"r/b", "r/a"}},
			{"reverse after above the prefix", "r/", "zzz", 1, true, []string{"r/\xff"}},
			{"reverse after below the prefix", "r/", "a", 1, true, nil},
			{"reverse to the store's end", "s/", "", 5, true, []string{"s/x"}},
			{"reverse prefix of 0xff", "r\xff", "", 5, true, []string{"r\xff"}},
			{"empty prefix", "", "r/d", 2, false, []string{"r/\xff", "r\xff"}},
			{"no match", "t/", "", 3, false, nil},
		}
		for _, c := range cases {
			kvs, err := s.Scan(ctx, c.prefix, c.after, c.limit, c.reverse)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			var keys []string
			for _, kv := range kvs {
				keys = append(keys, kv.Key)
				if kv.ModRevision != wrote {
					t.Errorf("%s: %s at revision %d", c.name, kv.Key, kv.ModRevision)
				}
			}
			if diff := cmp.Diff(c.want, keys); diff != "" {
				t.Errorf("%s: Scan(%q, %q, %d, %v) (-want +got):\n%s", c.name, c.prefix, c.after, c.limit, c.reverse, diff)
			}
		}
		if kvs, _ := s.Scan(ctx, "r/", "", 1, false); len(kvs) != 1 || string(kvs[0].Value) != "1" {
			t.Errorf("Scan value = %+v", kvs)
		}
		if _, err := s.Scan(ctx, "r/", "", 0, false); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Scan with limit 0: %v", err)
		}
	})

	t.Run("WatchHistoryAndLive", func(t *testing.T) {
		s := open(t)
		var revs []int64
		for i := 1; i <= 3; i++ {
			rev, _ := s.Txn(ctx, nil, []store.Op{put(fmt.Sprint("k", i), "v")})
			revs = append(revs, rev)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w, err := s.Watch(wctx, revs[1])
		if err != nil {
			t.Fatal(err)
		}
		del, _ := s.Txn(ctx, nil, []store.Op{{Key: "k1", Delete: true}})
		for _, r := range []int64{revs[1], revs[2], del} {
			ev := next(t, w)
			if ev.Revision != r {
				t.Fatalf("event revision %d, want %d", ev.Revision, r)
			}
			if r == del && (len(ev.Ops) != 1 || !ev.Ops[0].Delete || ev.Ops[0].Key != "k1") {
				t.Errorf("event of the delete: ops = %+v", ev.Ops)
			}
		}
		cancel()
		for range w.C {
		}
		if w.Err() != nil {
			t.Errorf("cancelled watch Err = %v", w.Err())
		}
	})

	t.Run("WatchFromNow", func(t *testing.T) {
		s := open(t)
		s.Txn(ctx, nil, []store.Op{put("old", "v")})
		w, err := s.Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		rev, _ := s.Txn(ctx, nil, []store.Op{put("new", "v")})
		if ev := next(t, w); ev.Revision != rev || len(ev.Ops) != 1 || ev.Ops[0].Key != "new" {
			t.Errorf("first event from now = %+v", ev)
		}
	})

	t.Run("ConcurrentTxn", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		revs := make(chan int64, 200)
		for g := 0; g < 10; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					rev, err := s.Txn(ctx, nil, []store.Op{put(fmt.Sprintf("g%d/%d", g, i), "v")})
					if err != nil {
						t.Error(err)
						return
					}
					revs <- rev
				}
			}(g)
		}
		wg.Wait()
		close(revs)
		seen := map[int64]bool{}
		var newest int64
		for r := range revs {
			if seen[r] {
				t.Fatalf("revision %d given twice", r)
			}
			seen[r] = true
			newest = max(newest, r)
		}
		if len(seen) != 200 || s.Revision() != newest {
			t.Errorf("%d distinct revisions, store at %d, newest %d; want 200 and the newest", len(seen), s.Revision(), newest)
		}
		kvs, _, _ := s.List(ctx, "g")
		if len(kvs) != 200 {
			t.Errorf("%d keys, want 200", len(kvs))
		}
	})

	t.Run("SubmitKeepsOrder", func(t *testing.T) {
		s := open(t)
		var ps []store.Pending
		for i := 0; i < 100; i++ {
			ps = append(ps, s.Submit(ctx, nil, []store.Op{put("k", fmt.Sprint(i))}))
		}
		last := int64(0)
		for i, p := range ps {
			rev, err := p.Wait()
			if err != nil || rev <= last {
				t.Fatalf("submission %d: revision %d after %d, %v", i, rev, last, err)
			}
			last = rev
		}
		if kv, _, _ := s.Get(ctx, "k"); string(kv.Value) != "99" {
			t.Errorf("final value %q, want the last submitted", kv.Value)
		}
	})

	// InvalidRefusedAlone: a transaction the backend cannot store for its content (here an
	// empty key; backends add their own size limits) is refused by Check and at Submit with
	// ErrInvalid, and the transactions submitted around it — possibly in the same group
	// commit — still commit.
	t.Run("InvalidRefusedAlone", func(t *testing.T) {
		s := open(t)
		bad := []store.Op{put("ok", "1"), {Key: "", Value: []byte("x")}}
		if err := s.Check(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Check of an empty key: %v", err)
		}
		if err := s.Check([]store.Op{put("ok", "1")}); err != nil {
			t.Errorf("Check of a good op: %v", err)
		}
		var ps []store.Pending
		for i := 0; i < 20; i++ {
			ops := []store.Op{put(fmt.Sprintf("g%02d", i), "v")}
			if i%5 == 2 {
				ops = bad
			}
			ps = append(ps, s.Submit(ctx, nil, ops))
		}
		var newest int64
		for i, p := range ps {
			rev, err := p.Wait()
			newest = max(newest, rev)
			if i%5 == 2 {
				if !errors.Is(err, store.ErrInvalid) {
					t.Errorf("invalid submission %d: %v", i, err)
				}
			} else if err != nil {
				t.Errorf("valid submission %d failed beside an invalid one: %v", i, err)
			}
		}
		if _, ok, _ := s.Get(ctx, "ok"); ok {
			t.Error("an invalid transaction wrote part of its ops")
		}
		if rev, err := s.Txn(ctx, nil, []store.Op{put("after", "1")}); err != nil || rev <= newest || s.Revision() != rev {
			t.Errorf("Txn after the refusals = %d, %v (store at %d); want a revision above %d", rev, err, s.Revision(), newest)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		w, err := s.Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := s.Txn(ctx, nil, []store.Op{put("a", "1")}); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Txn after Close: %v", err)
		}
		if _, err := s.Scan(ctx, "", "", 1, false); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Scan after Close: %v", err)
		}
		for range w.C {
		}
		if !errors.Is(w.Err(), store.ErrClosed) {
			t.Errorf("watch after Close: %v", w.Err())
		}
	})
}

func next(t *testing.T, w *store.Watcher) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w.C:
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return store.Event{}
}
