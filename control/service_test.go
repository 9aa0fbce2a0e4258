package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

var alice = Tenant{Account: "111122223333", Region: "us-east-1"}

// flakyStore fails every Txn while failing is set: a disk error at commit time.
type flakyStore struct {
	store.Store
	mu      sync.Mutex
	failing bool
}

func (f *flakyStore) Submit(ctx context.Context, conds []store.Cond, ops []store.Op) store.Pending {
	f.mu.Lock()
	failing := f.failing
	f.mu.Unlock()
	if failing {
		return failed{errors.New("injected: disk full")}
	}
	return f.Store.Submit(ctx, conds, ops)
}

type failed struct{ err error }

func (f failed) Wait() (int64, error) { return 0, f.err }

func (f *flakyStore) setFailing(v bool) { f.mu.Lock(); f.failing = v; f.mu.Unlock() }

func openBolt(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newTestService opens a Service with the default config on a new bolt file in t.TempDir().
func newTestService(t *testing.T) *Service {
	t.Helper()
	return openService(t, tempBolt(t))
}

// tempBolt opens a bolt store on a new file in t.TempDir().
func tempBolt(t testing.TB) store.Store {
	t.Helper()
	return openBolt(t, filepath.Join(t.TempDir(), "s.db"))
}

func openService(t testing.TB, st store.Store) *Service {
	t.Helper()
	s, err := Open(context.Background(), st, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func code(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return fmt.Sprintf("not an API error: %v", err)
}

// TestStateSurvivesReopen checks that everything a write acknowledged is there after the
// service is reopened on the same store, and that a deleted default VPC stays deleted.
func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)
	vpc, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16", Tags: model.Tags{"Name": "main"}})
	if err != nil {
		t.Fatal(err)
	}
	web, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "w", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	auth, res, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: web.ID}, Permissions: []Permission{{
		Protocol: "tcp", FromPort: 443, ToPort: 443, HasFrom: true, HasTo: true, IPv4: []CIDRPeer{{CIDR: "0.0.0.0/0", Description: "https"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision <= 0 || res.Revision != s.Revision() {
		t.Errorf("revision %d, store at %d", res.Revision, s.Revision())
	}
	deleteDefaultVPC(t, s, alice)
	st.Close()

	s2 := openService(t, openBolt(t, path))
	err = s2.View(ctx, alice, func(v View) error {
		g, err := v.Group(web.ID)
		if err != nil {
			return err
		}
		if len(g.Ingress) != 1 || g.Ingress[0].ID != auth.Rules[0].ID || g.Ingress[0].Description != "https" {
			return fmt.Errorf("rules after reopen: %+v", g.Ingress)
		}
		if v.DefaultVPC() != nil {
			return errors.New("deleted default VPC came back")
		}
		got, err := v.VPC(vpc.ID)
		if err != nil || got.Tags["Name"] != "main" || got.DefaultGroupID == "" {
			return fmt.Errorf("vpc after reopen: %+v %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mustView is mustViewOf alice's state.
func mustView[T any](t *testing.T, s *Service, f func(View) T) T {
	t.Helper()
	return mustViewOf(t, s, alice, f)
}

// mustViewOf returns f of tn's state, failing the test if the view fails.
func mustViewOf[T any](t testing.TB, s *Service, tn Tenant, f func(View) T) T {
	t.Helper()
	var out T
	if err := s.View(context.Background(), tn, func(v View) error { out = f(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFailedCommitStopsTheService injects a store failure at commit. The write fails with
// InternalError (the cause's text is not shown), and because later writes may already build
// on it, the service stops: every further request fails, even once the disk recovers, until a
// restart reloads exactly what was durable.
func TestFailedCommitStopsTheService(t *testing.T) {
	ctx := context.Background()
	fs := &flakyStore{Store: tempBolt(t)}
	s := openService(t, fs)
	vpc, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	web, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "w", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	// A validation failure changes nothing and does not stop anything.
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "again", VpcID: vpc.ID}); code(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("duplicate: %v", err)
	}

	fs.setFailing(true)
	_, _, err = s.CreateGroup(ctx, alice, CreateGroupInput{Name: "app", Description: "a", VpcID: vpc.ID})
	if code(err) != "InternalError" {
		t.Fatalf("CreateGroup with failing store: %v", err)
	}
	var me *model.Error
	errors.As(err, &me)
	if me.Message != "An internal error has occurred" {
		t.Errorf("internal cause leaked into the message: %q", me.Message)
	}
	if s.Err() == nil {
		t.Fatal("service still accepts requests after a failed commit")
	}
	fs.setFailing(false)
	if _, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: web.ID}, Permissions: []Permission{{
		Protocol: "-1", IPv4: []CIDRPeer{{CIDR: "10.0.0.0/8"}}}}}); code(err) != "InternalError" {
		t.Errorf("write after the failure: %v", err)
	}
	if err := s.View(ctx, alice, func(View) error { return nil }); code(err) != "InternalError" {
		t.Errorf("read after the failure: %v", err)
	}

	// A restart sees exactly the durable state: web, not app.
	s2 := openService(t, fs.Store)
	groups := mustView(t, s2, func(v View) []string {
		var names []string
		for _, g := range v.Groups() {
			if g.VpcID == vpc.ID {
				names = append(names, g.Name)
			}
		}
		return names
	})
	if fmt.Sprint(groups) != "[default web]" && fmt.Sprint(groups) != "[web default]" {
		t.Errorf("groups after restart: %v", groups)
	}
}

// TestConcurrentWriters runs writers of several tenants and groups at once (run with -race).
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tn := Tenant{Account: fmt.Sprintf("%012d", 100000000000+w%2), Region: "us-east-1"}
			for i := 0; i < 10; i++ {
				g, _, err := s.CreateGroup(ctx, tn, CreateGroupInput{Name: fmt.Sprintf("g-%d-%d", w, i), Description: "d"})
				if err != nil {
					errs <- err
					return
				}
				_, _, err = s.Authorize(ctx, tn, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{{
					Protocol: "tcp", FromPort: int64(i), ToPort: int64(i), HasFrom: true, HasTo: true, IPv4: []CIDRPeer{{CIDR: "10.0.0.0/8"}}}}})
				if err != nil {
					errs <- err
					return
				}
				s.View(ctx, tn, func(v View) error { _ = v.Groups(); return nil })
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for a := 0; a < 2; a++ {
		tn := Tenant{Account: fmt.Sprintf("%012d", 100000000000+a), Region: "us-east-1"}
		var n int
		s.View(ctx, tn, func(v View) error { n = len(v.Groups()); return nil })
		if n != 41 { // 4 writers × 10 groups + the default VPC's default group
			t.Errorf("tenant %d has %d groups, want 41", a, n)
		}
	}
}

// gatedStore holds every commit until the test opens the gate.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g *gatedStore) Submit(ctx context.Context, conds []store.Cond, ops []store.Op) store.Pending {
	return gated{g.Store.Submit(ctx, conds, ops), g.gate}
}

type gated struct {
	p    store.Pending
	gate chan struct{}
}

func (g gated) Wait() (int64, error) { <-g.gate; return g.p.Wait() }

// startStagedWrite starts creating a group in alice's tenant of s (on a gatedStore) and
// returns once the group is staged in memory; the write's error comes on the channel when
// its commit completes, which is not before the gate opens.
func startStagedWrite(ctx context.Context, s *Service) <-chan error {
	created := make(chan error, 1)
	go func() {
		_, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "w"})
		created <- err
	}()
	for staged := uint64(0); staged == 0; {
		runtime.Gosched()
		tn, _ := s.tenant(ctx, alice)
		tn.mu.RLock()
		staged = tn.staged
		tn.mu.RUnlock()
	}
	return created
}

// TestReadsWaitForDurability: a write's change is visible in memory before its commit
// completes, so a reader that saw it must not reply until the commit is durable.
func TestReadsWaitForDurability(t *testing.T) {
	ctx := context.Background()
	gs := &gatedStore{Store: tempBolt(t), gate: make(chan struct{})}
	s := openService(t, gs)
	mustView(t, s, func(v View) int { return 0 }) // initialise the tenant (a synchronous commit)
	// Once the write has staged its group, read it.
	created := startStagedWrite(ctx, s)
	read := make(chan struct{})
	go func() {
		s.View(ctx, alice, func(v View) error { _ = v.Groups(); return nil })
		close(read)
	}()
	select {
	case <-read:
		t.Fatal("a read returned while the write it saw was not yet durable")
	case err := <-created:
		t.Fatalf("the write returned before its commit: %v", err)
	case <-time.After(100 * time.Millisecond): // a correct implementation never returns here early
	}
	close(gs.gate)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	<-read
}

// concurrently runs fn iterations times on each of workers goroutines (run with -race) and
// fails the test with the first error; a worker stops at its first error.
func concurrently(t *testing.T, workers, iterations int, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range iterations {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
