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
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
		fill(t, full.Elem(), typ.String())
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

// cmpStored compares decoded records: addresses by value, unexported fields (caches a record
// builds for itself) left out.
var cmpStored = []cmp.Option{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Exporter(func(reflect.Type) bool { return false }),
	cmpopts.IgnoreUnexported(),
}

// fill sets every exported field of v to something other than its zero value, recursing
// into structs, slices, maps and pointers; path names the field in a failure.
func fill(t *testing.T, v reflect.Value, path string) {
	switch v.Interface().(type) {
	case netip.Prefix:
		v.Set(reflect.ValueOf(netip.MustParsePrefix("10.1.0.0/16")))
		return
	case netip.Addr:
		v.Set(reflect.ValueOf(netip.MustParseAddr("10.1.2.3")))
		return
	case time.Time:
		v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 18, 4, 5, 6e6, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + path[strings.LastIndexByte(path, '.')+1:])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, path+".key")
		fill(t, e, path+".value")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				fill(t, v.Field(i), path+"."+f.Name)
			}
		}
	case reflect.Interface:
		// Left nil: no stored record holds an interface it could decode into.
	default:
		t.Fatalf("%s: cannot fill a %s", path, v.Type())
	}
}
