package control

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
)

// TestDecodeRecords: the records decoded on several goroutines are those decoded one by one,
// in the store's order; with two bad records, the error names the first in that order.
func TestDecodeRecords(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // several workers on any machine
	ctx := context.Background()
	st := tempBolt(t)
	s := openService(t, st)
	for i := range 300 {
		g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: fmt.Sprintf("g%d", i), Description: "d"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{{
			Protocol: "tcp", FromPort: int64(i), ToPort: int64(i), HasFrom: true, HasTo: true, IPv4: []CIDRPeer{{CIDR: "10.0.0.0/8"}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	kvs, _, err := st.List(ctx, resourcePrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) < recordsPerWorker {
		t.Fatalf("%d records: too few for two workers", len(kvs))
	}
	got, err := decodeRecords(kvs)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]record, len(kvs))
	for i, kv := range kvs {
		if want[i], err = readRecord(kv); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(record{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("decoded on several goroutines (-one by one +got):\n%s", diff)
	}

	first, second := len(kvs)/3, len(kvs)/3+1 // on different workers
	for _, bad := range []func(*store.KV){
		func(kv *store.KV) { kv.Value = []byte("{") },
		func(kv *store.KV) { kv.Key = resourcePrefix + "malformed" },
	} {
		broken := append([]store.KV{}, kvs...)
		bad(&broken[first])
		broken[second].Value = []byte("[")
		for range 20 { // whichever worker finishes first
			_, err := decodeRecords(broken)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", broken[first].Key)) {
				t.Fatalf("error %v, want the record %q's", err, broken[first].Key)
			}
		}
	}
}
