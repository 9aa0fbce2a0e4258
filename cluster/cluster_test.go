package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

func tempStore(t *testing.T) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// TestLease: a host is up while its heartbeat is younger than its lease, down after, and a
// heartbeat brings it back.
func TestLease(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	h := Host{Name: "h1", Zone: "us-east-1a", VCPUs: 8, MemoryMiB: 16384, Lease: 30 * time.Second, Labels: map[string]string{"rack": "r1"}}
	if err := Register(ctx, st, h, t0); err != nil {
		t.Fatal(err)
	}
	state := func(now time.Time) string {
		hs, err := Statuses(ctx, st, now)
		if err != nil || len(hs) != 1 {
			t.Fatalf("statuses: %v %v", hs, err)
		}
		return hs[0].State
	}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{{0, Up}, {30 * time.Second, Up}, {31 * time.Second, Down}} {
		if got := state(t0.Add(c.at)); got != c.want {
			t.Errorf("at +%v: %s, want %s", c.at, got, c.want)
		}
	}
	if err := Heartbeat(ctx, st, "h1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := state(t0.Add(80 * time.Second)); got != Up {
		t.Errorf("after a heartbeat: %s, want up", got)
	}
	hs, _ := List(ctx, st)
	want := h
	want.Heartbeat = t0.Add(time.Minute)
	if diff := cmp.Diff([]Host{want}, hs); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

// TestRegistryRefusals: every refused call changes nothing.
func TestRegistryRefusals(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	good := Host{Name: "h1", Zone: "us-east-1a", VCPUs: 2, MemoryMiB: 2048}
	if err := Register(ctx, st, good, t0); err != nil {
		t.Fatal(err)
	}
	// An occupied host: one instance placed on it.
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: OccupancyKey("h1"), Value: []byte(`{"instances":1,"vcpus":1,"memoryMiB":512,"accounts":{"111122223333":1}}`)}}); err != nil {
		t.Fatal(err)
	}
	moved := good
	moved.Zone = "us-east-1b"
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"bad name", func() error { h := good; h.Name = "H_1"; return Register(ctx, st, h, t0) }, ErrInvalid},
		{"no zone", func() error { h := good; h.Name = "h2"; h.Zone = ""; return Register(ctx, st, h, t0) }, ErrInvalid},
		{"no capacity", func() error { h := good; h.Name = "h2"; h.VCPUs = 0; return Register(ctx, st, h, t0) }, ErrInvalid},
		{"bad underlay", func() error { h := good; h.Name = "h2"; h.Underlay = "192.0.2.300"; return Register(ctx, st, h, t0) }, ErrInvalid},
		{"multicast underlay", func() error { h := good; h.Name = "h2"; h.Underlay = "239.1.1.1"; return Register(ctx, st, h, t0) }, ErrInvalid},
		{"zone change with instances", func() error { return Register(ctx, st, moved, t0) }, ErrOccupied},
		{"heartbeat of unknown host", func() error { return Heartbeat(ctx, st, "h9", t0) }, ErrUnknownHost},
		{"deregister unknown", func() error { return Deregister(ctx, st, "h9") }, ErrUnknownHost},
		{"deregister occupied", func() error { return Deregister(ctx, st, "h1") }, ErrOccupied},
	} {
		rev := st.Revision()
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if st.Revision() != rev {
			t.Errorf("%s: the store changed", c.name)
		}
	}
	// Emptied, it goes, with its occupancy record.
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: OccupancyKey("h1"), Value: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := Deregister(ctx, st, "h1"); err != nil {
		t.Fatal(err)
	}
	if hs, _ := List(ctx, st); len(hs) != 0 {
		t.Errorf("after Deregister: %v", hs)
	}
	if occ, _, _ := Occupancies(ctx, st); len(occ) != 0 {
		t.Errorf("occupancy left: %v", occ)
	}
}

func TestExclusive(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Occupancy
		want string
	}{
		{"empty", Occupancy{}, ""},
		{"shared", Occupancy{Account: "", Accounts: map[string]int{"a": 1, "b": 1}}, ""},
		{"dedicated", Occupancy{Account: "a", Dedicated: 1}, "a"},
		{"dedicated all gone", Occupancy{Account: "a", Dedicated: 0}, ""},
		{"dedicated host", Occupancy{Account: "a", Allocation: &Allocation{Account: "a", HostID: "h-0123456789abcdef0"}}, "a"},
	} {
		if got := c.o.Exclusive(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
