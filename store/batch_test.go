package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// bothStores opens a store on an etcd of its own and one on a bolt file, closed when the test
// ends.
func bothStores(t *testing.T) (onEtcd, onBolt store.Store) {
	t.Helper()
	srv := etcdtest.Start(t)
	e, err := etcd.Open(context.Background(), etcd.Options{Endpoints: srv.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return e, b
}

func put(k string) store.Op { return store.Op{Key: k, Value: []byte("v")} }

// TestBatch: on etcd, 300 deletes and puts in units of one and of two commit in transactions
// under its limit of operations, every unit whole in one of them; on bolt, which has no such
// limit, they are one transaction. A unit too large on its own fails the batch with
// ErrInvalid after the units before it.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	onEtcd, onBolt := bothStores(t)

	for _, tc := range []struct {
		name    string
		st      store.Store
		maxTxns int64 // transactions Batch may take for the 300 units
	}{{"etcd", onEtcd, 300 * 3 / 64}, {"bolt", onBolt, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			var singles []store.Op
			for i := range 100 {
				singles = append(singles, put(fmt.Sprintf("single/%03d", i)))
			}
			var units [][]store.Op
			units = append(units, store.Singly(singles)...)
			for i := range 200 { // a pair: both or neither
				units = append(units, []store.Op{put(fmt.Sprintf("pair/%03d/a", i)), put(fmt.Sprintf("pair/%03d/b", i))})
			}
			seen := map[int64][]string{} // revision → the keys it wrote
			w, err := tc.st.Watch(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			before := tc.st.Revision()
			if err := store.Batch(ctx, tc.st, units); err != nil {
				t.Fatal(err)
			}
			after := tc.st.Revision()
			for n := 0; n < 500; {
				ev := <-w.C
				for _, op := range ev.Ops {
					seen[ev.Revision] = append(seen[ev.Revision], op.Key)
					n++
				}
			}
			if n := int64(len(seen)); n > tc.maxTxns || (tc.name == "bolt" && after != before+1) {
				t.Errorf("%d transactions (revisions %d to %d), want at most %d", n, before, after, tc.maxTxns)
			}
			for rev, keys := range seen {
				if tc.name == "etcd" && len(keys) > etcd.DefaultMaxTxnOps {
					t.Errorf("revision %d wrote %d keys", rev, len(keys))
				}
				for _, k := range keys {
					if pair, ok := strings.CutSuffix(k, "/a"); ok && !contains(keys, pair+"/b") {
						t.Errorf("revision %d wrote %s without its pair", rev, k)
					}
				}
			}
			kvs, _, err := tc.st.List(ctx, "")
			if err != nil || len(kvs) != 500 {
				t.Fatalf("%d keys stored (%v), want 500", len(kvs), err)
			}

			// Deletes, a unit too large for any transaction among them.
			var dels [][]store.Op
			for _, kv := range kvs {
				dels = append(dels, []store.Op{{Key: kv.Key, Delete: true}})
			}
			bad := []store.Op{{Key: "huge", Value: make([]byte, 2<<20)}}
			if tc.name == "bolt" {
				bad = []store.Op{{Key: strings.Repeat("k", 40000), Value: []byte("v")}} // over bbolt's key size
			}
			dels = append(dels[:250:250], append([][]store.Op{bad}, dels[250:]...)...)
			if err := store.Batch(ctx, tc.st, dels); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("a batch with a unit too large: %v, want ErrInvalid", err)
			}
			if kvs, _, _ = tc.st.List(ctx, ""); len(kvs) != 250 {
				t.Errorf("%d keys left, want 250: those after the unit too large", len(kvs))
			}
		})
	}
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
