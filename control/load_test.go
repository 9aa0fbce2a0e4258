package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/internal/golden"
	"github.com/stockade/stockade/model"
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

// TestDecodeIsEncodingJSON: every kind's stored record, with every field set, decodes as
// encoding/json decodes it. decode runs on encoding/json/v2's decoder with v1's semantics;
// this is the check that those semantics are the ones the records were written with
// (names, omitted fields, text-marshalled addresses, times, maps, nested values).
func TestDecodeIsEncodingJSON(t *testing.T) {
	for _, k := range kindByStore {
		empty, err := k.decode([]byte("{}"))
		if err != nil {
			t.Fatalf("%s: %v", k.storeKind(), err)
		}
		typ := reflect.TypeOf(empty).Elem()
		full := reflect.New(typ)
		golden.Fill(full.Elem(), new(int))
		if full.Elem().IsZero() {
			t.Fatalf("%s: nothing filled", typ)
		}
		b, err := json.Marshal(full.Interface())
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		got, err := k.decode(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", typ, err, b)
		}
		want := reflect.New(typ)
		if err := json.Unmarshal(b, want.Interface()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Interface(), got, cmpStored...); diff != "" {
			t.Errorf("%s decoded (-encoding/json +decode):\n%s", typ, diff)
		}
		// Keys match exactly, as encoding/json's own writer spells them: a record is never
		// written with another case, and v1 folds case on reading. Both must still agree.
		folded := []byte(strings.ToUpper(string(b[:3])) + string(b[3:]))
		a, errA := k.decode(folded)
		c := reflect.New(typ)
		errC := json.Unmarshal(folded, c.Interface())
		if (errA == nil) != (errC == nil) || (errA == nil && !cmp.Equal(c.Interface(), a, cmpStored...)) {
			t.Errorf("%s: %s decodes differently (%v, %v)", typ, folded[:12], errA, errC)
		}
	}
}

// BenchmarkDecodeGroup: a stored group of 20 ingress rules and its egress rule, as a start
// at 10,000 groups reads 10,000 of them: decode, and encoding/json's Unmarshal beside it.
func BenchmarkDecodeGroup(b *testing.B) {
	g := &model.Group{ID: "sg-00016b730d273ccaf", Name: "g-07559", Description: "scale", VpcID: "vpc-672e425e955b78e79", OwnerID: "681418383908",
		Egress: []model.Rule{{ID: "sgr-fae4f19b234fa604e", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}}
	for r := 1; r <= 20; r++ {
		g.Ingress = append(g.Ingress, model.Rule{ID: fmt.Sprintf("sgr-%017x", r*7919), Protocol: "tcp", FromPort: int32(1000 + r), ToPort: int32(1000 + r),
			Peer: model.Peer{CIDR: netip.MustParsePrefix(fmt.Sprintf("10.59.%d.0/24", r))}})
	}
	data, err := json.Marshal(g)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decode[model.Group](data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Unmarshal(data, new(model.Group)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cmpStored compares decoded records, addresses by value.
var cmpStored = []cmp.Option{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}
