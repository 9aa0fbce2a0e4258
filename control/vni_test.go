package control

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// vnis is each of the tenant's VPCs' VNI, by VPC ID.
func vnis(t *testing.T, s *Service, tn Tenant) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for _, v := range mustViewOf(t, s, tn, func(v View) []*model.VPC { return v.VPCs() }) {
		out[v.ID] = v.VNI
	}
	return out
}

// storedVNI is the counter's record, 0 when there is none.
func storedVNI(t *testing.T, st store.Store) uint32 {
	t.Helper()
	kv, ok, err := st.Get(context.Background(), vniKey)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	r, err := decode[vniRecord](kv.Value)
	if err != nil {
		t.Fatal(err)
	}
	return r.Last
}

// TestVNIAllocated: a VPC gets the next VNI in the transaction that stores it — CreateVpc,
// a new tenant's first write (its default VPC, shown from memory without one until then),
// CreateDefaultVpc — in every account from one counter; a dry run and a refused request take
// none; a deleted VPC's number is not handed out again; the numbers survive a restart, and
// the counter goes on from where it was.
func TestVNIAllocated(t *testing.T) {
	bob := Tenant{Account: "444455556666", Region: "eu-west-1"}
	ctx, path := context.Background(), filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)

	dflt := mustView(t, s, func(v View) *model.VPC { return v.DefaultVPC() })
	if dflt.VNI != 0 || storedVNI(t, st) != 0 {
		t.Fatalf("before any write: default VPC VNI %d, counter %d; want none", dflt.VNI, storedVNI(t, st))
	}
	if _, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16", DryRun: true}); codeOf(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if _, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/8"}); codeOf(err) != "InvalidVpc.Range" {
		t.Fatalf("bad CIDR: %v", err)
	}
	if got := storedVNI(t, st); got != 0 {
		t.Fatalf("counter %d after a dry run and a refusal, want 0", got)
	}
	// Alice's first write stores her default VPC with it: the default takes 1, the new VPC 2.
	v1, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	v2, _, err := s.CreateVPC(ctx, bob, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	bobDefault := mustViewOf(t, s, bob, func(v View) *model.VPC { return v.DefaultVPC() })
	want := map[string]uint32{dflt.ID: 1, v1.ID: 2}
	if diff := cmp.Diff(want, vnis(t, s, alice)); diff != "" {
		t.Errorf("alice's VNIs (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint32{bobDefault.ID: 3, v2.ID: 4}, vnis(t, s, bob)); diff != "" {
		t.Errorf("bob's VNIs (-want +got)\n%s", diff)
	}

	// A deleted VPC's number stays used; CreateDefaultVpc takes the next.
	deleteDefaultVPC(t, s, alice)
	d2, _, err := s.CreateDefaultVPC(ctx, alice, false)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]uint32{v1.ID: 2, d2.ID: 5}
	if diff := cmp.Diff(want, vnis(t, s, alice)); diff != "" {
		t.Errorf("after CreateDefaultVpc (-want +got)\n%s", diff)
	}
	st.Close()

	s2 := openService(t, openBolt(t, path))
	if diff := cmp.Diff(want, vnis(t, s2, alice)); diff != "" {
		t.Errorf("after a restart (-want +got)\n%s", diff)
	}
	v3, _, err := s2.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if v3.VNI != 6 {
		t.Errorf("after a restart the next VPC got VNI %d, want 6", v3.VNI)
	}
}

// putVNI sets the counter's record as if last numbers had been handed out.
func putVNI(t *testing.T, st store.Store, last uint32) {
	t.Helper()
	b, _ := json.Marshal(vniRecord{Last: last})
	if _, err := st.Txn(context.Background(), nil, []store.Op{{Key: vniKey, Value: b}}); err != nil {
		t.Fatal(err)
	}
}

// TestVNIExhausted: with every number handed out, creating a VPC — and a new tenant's first
// write, which would store its default VPC — fails with VpcLimitExceeded and changes nothing.
func TestVNIExhausted(t *testing.T) {
	ctx := context.Background()
	st := tempBolt(t)
	putVNI(t, st, MaxVNI-1)
	s := openService(t, st)
	v, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"}) // and alice's default VPC: the last two
	if codeOf(err) != "VpcLimitExceeded" {
		t.Fatalf("two numbers needed, one left: %v, %v", v, err)
	}
	bob := Tenant{Account: "444455556666", Region: "us-east-1"}
	v, _, err = s.CreateVPC(ctx, bob, CreateVPCInput{CIDR: "10.0.0.0/16", DryRun: true})
	if codeOf(err) != "VpcLimitExceeded" {
		t.Fatalf("dry run with numbers short: %v, %v", v, err) // it counts the default VPC's too
	}
	rev := s.Revision()
	initialised := func(tn Tenant) bool {
		var ok bool
		s.View(ctx, tn, func(v View) error { ok = v.tn.initialised; return nil })
		return ok
	}
	if storedVNI(t, st) != MaxVNI-1 || initialised(alice) || initialised(bob) || len(vnis(t, s, alice)) != 1 {
		t.Fatalf("refused writes changed something: counter %d, alice %v bob %v, VPCs %v", storedVNI(t, st), initialised(alice), initialised(bob), vnis(t, s, alice))
	}
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "w"}); err != nil {
		t.Fatal(err) // the default VPC takes the last number
	}
	if got := vnis(t, s, alice); len(got) != 1 || got[mustView(t, s, func(v View) *model.VPC { return v.DefaultVPC() }).ID] != MaxVNI {
		t.Errorf("default VPC's VNI: %v, want %d", got, MaxVNI)
	}
	if _, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"}); codeOf(err) != "VpcLimitExceeded" {
		t.Errorf("none left: %v", err)
	}
	if _, _, err := s.CreateGroup(ctx, bob, CreateGroupInput{Name: "web", Description: "w"}); codeOf(err) != "VpcLimitExceeded" {
		t.Errorf("a new tenant's first write, none left: %v", err)
	}
	if s.Revision() != rev+1 || storedVNI(t, st) != MaxVNI {
		t.Errorf("revision %d (want %d), counter %d", s.Revision(), rev+1, storedVNI(t, st))
	}
}

// TestVNILegacyKept: a VPC stored before VNIs were keeps none when its tenant writes again
// (its hosts go on deriving its number), while a new VPC of the tenant gets one.
func TestVNILegacyKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)
	v, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the records as an older version stored them: no VNI, no counter.
	kvs, _, err := st.List(ctx, tenantPrefix(alice)+kindVPC+"/")
	if err != nil || len(kvs) != 2 {
		t.Fatalf("VPC records: %d, %v", len(kvs), err)
	}
	ops := []store.Op{{Key: vniKey, Delete: true}}
	for _, kv := range kvs {
		var m map[string]any
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "vni")
		b, _ := json.Marshal(m)
		ops = append(ops, store.Op{Key: kv.Key, Value: b})
	}
	if _, err := st.Txn(ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openBolt(t, path)
	s = openService(t, st)
	if _, err := s.CreateTags(ctx, alice, CreateTagsInput{IDs: []string{v.ID}, Tags: model.Tags{"Name": "old"}}); err != nil {
		t.Fatal(err)
	}
	v2, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	got := vnis(t, s, alice)
	for id, n := range got {
		if want := map[bool]uint32{true: 1}[id == v2.ID]; n != want {
			t.Errorf("VPC %s: VNI %d, want %d", id, n, want)
		}
	}
}

// TestVNIsUniqueConcurrently: creating VPCs for several accounts at once never hands out
// one VNI twice, and the counter ends at the number of VPCs stored — on two API servers of
// one store (the counter's condition refuses the loser, which runs again), and on one server
// whose tenants commit in a pipeline (the counter's lock is held until submission, so its
// record never goes back behind a VNI committed before it; the server opened again on the
// store sees exactly that).
func TestVNIsUniqueConcurrently(t *testing.T) {
	for _, tt := range []struct {
		name    string
		servers func(st store.Store) []*Service
	}{
		// Each commit waits a little, as one to a remote etcd does: the other server then
		// takes numbers in between far more often.
		{"two shared servers", func(st store.Store) []*Service { return openShared(t, slowTxn{st}, 2) }},
		{"one server", func(st store.Store) []*Service { s := openService(t, st); return []*Service{s, s} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			st := openBolt(t, path)
			ss := tt.servers(st)
			var wg sync.WaitGroup
			// Each tenant written through both servers: 2 × 2 VPCs and its default, the quota of 5.
			const perWorker = 2
			tenants := []Tenant{alice, {Account: "444455556666", Region: "eu-west-1"}}
			for w := range 4 {
				wg.Go(func() {
					tn := tenants[w/2]
					for i := range perWorker {
						cidr := fmt.Sprintf("10.%d.0.0/16", w*perWorker+i)
						if _, _, err := ss[w%2].CreateVPC(ctx, tn, CreateVPCInput{CIDR: cidr}); err != nil {
							t.Errorf("server %d, %s: %v", w%2, tn.Account, err)
							return
						}
					}
				})
			}
			wg.Wait()
			st.Close()
			st = openBolt(t, path)
			defer st.Close()
			s := openService(t, st)
			owner := map[uint32]string{}
			for _, tn := range tenants {
				for id, n := range vnis(t, s, tn) {
					if n == 0 || n > MaxVNI {
						t.Errorf("%s: VNI %d", id, n)
					}
					if prev, ok := owner[n]; ok {
						t.Errorf("VNI %d given to %s and %s", n, prev, id)
					}
					owner[n] = id
				}
			}
			// Four workers' VPCs and two default VPCs.
			if want := 4*perWorker + len(tenants); len(owner) != want || storedVNI(t, st) != uint32(want) {
				t.Errorf("%d VPCs, counter at %d; want %d and as many", len(owner), storedVNI(t, st), want)
			}
		})
	}
}
