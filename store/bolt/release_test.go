package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/procmem"
	"github.com/stockade/stockade/store"
)

// mappedKB is the resident size of this process's memory maps of path.
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	kb, err := procmem.MappedKB(path)
	if err != nil {
		t.Skipf("cannot read the mapped pages from /proc/self/smaps: %v", err)
	}
	return kb
}

// fillAndReopen writes n values of 2,000 bytes and opens the store again with opts: the
// test's pages are then in the file, not in the log's overlay.
func fillAndReopen(t *testing.T, path string, n int, opts Options) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 100 {
		var ops []store.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, store.Op{Key: fmt.Sprintf("k/%05d", j), Value: releaseValue(j)})
		}
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func releaseValue(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 2000) }

// TestReleaseMappedPeriodically: the store drops what was read every ReleaseInterval.
func TestReleaseMappedPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := fillAndReopen(t, path, 4000, Options{ReleaseInterval: 20 * time.Millisecond})
	if _, _, err := s.List(context.Background(), "k/"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mappedKB(t, path) > 1<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d KB of the file still resident 5 s after a read, with a release every 20 ms", mappedKB(t, path))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReleaseMapped: after a reopen and a read of every record, most of the file is resident
// in the map; ReleaseMapped takes it out, and every record reads back the same afterwards, as
// do writes made after it.
func TestReleaseMapped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	const n = 4000 // 8 MB of values
	s := fillAndReopen(t, path, n, Options{ReleaseInterval: -1})
	readAll := func() {
		t.Helper()
		kvs, _, err := s.List(ctx, "k/")
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != n {
			t.Fatalf("%d records, want %d", len(kvs), n)
		}
		for i, kv := range kvs {
			if !bytes.Equal(kv.Value, releaseValue(i)) {
				t.Fatalf("record %s changed", kv.Key)
			}
		}
	}
	readAll()
	before := mappedKB(t, path)
	if before < 6<<10 {
		t.Fatalf("%d KB of the file resident after reading 8 MB of it: the test reads nothing", before)
	}
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	if after := mappedKB(t, path); after > before/10 {
		t.Errorf("%d KB resident after ReleaseMapped, %d before", after, before)
	}
	readAll()
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "k/new", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if kv, ok, err := s.Get(ctx, "k/new"); err != nil || !ok || string(kv.Value) != "v" {
		t.Fatalf("a write after ReleaseMapped: %v %v %q", err, ok, kv.Value)
	}
}
