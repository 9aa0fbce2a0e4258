// Package golden pins the JSON encoding of values in golden files: it fills every field of a
// value deterministically (so that a new field shows up), compares the encoding with a file in
// testdata (rewritten with -update) and checks that the file decodes back to the value. It is
// for tests only.
package golden

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Check fills a new value of v's type, compares its indented JSON with testdata/<name>.json
// (writing it first when update is set) and decodes the file back into a value equal to it.
func Check(t *testing.T, name string, v any, update bool) {
	t.Helper()
	filled := reflect.New(reflect.TypeOf(v)).Interface()
	Fill(reflect.ValueOf(filled).Elem(), new(int))
	got, err := json.MarshalIndent(filled, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := File(t, filepath.Join("testdata", name+".json"), append(got, '\n'), update,
		"the encoding changed; if on purpose, keep old records readable and run with -update")
	back := reflect.New(reflect.TypeOf(v)).Interface()
	if err := json.Unmarshal(want, back); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if diff := cmp.Diff(filled, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("%s: the golden file decodes to something else (-filled +decoded):\n%s", name, diff)
	}
}

// File compares got with the golden file at path, writing it first (and its directory) when
// update is set, and returns the file's content. hint says what a difference means.
func File(t *testing.T, path string, got []byte, update bool, hint string) []byte {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s: %s (-golden +now):\n%s", path, hint, diff)
	}
	return want
}

// Fill sets every field reachable from v to a non-zero value that depends only on the order of
// the fields (n counts them), so the output is deterministic.
func Fill(v reflect.Value, n *int) {
	*n++
	switch v.Type() {
	case reflect.TypeOf(netip.Addr{}):
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{10, 0, byte(*n >> 8), byte(*n)})))
		return
	case reflect.TypeOf(netip.Prefix{}):
		v.Set(reflect.ValueOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(*n), 0, 0}), 16)))
		return
	case reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(time.Date(2026, 12, 1, 0, 0, *n, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.Type().Name() + "-" + itoa(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		Fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		Fill(v.Index(0), n)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		Fill(k, n)
		Fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				Fill(v.Field(i), n)
			}
		}
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}
