package control

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// gateQueue holds the commits of the transactions submitted after hold, each until its own
// gate gives nil (the store's answer then) or an error (a failed commit).
type gateQueue struct {
	store.Store
	mu        sync.Mutex
	gates     []chan error
	submitted chan struct{}
}

func (g *gateQueue) hold() chan error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gate := make(chan error, 1)
	g.gates = append(g.gates, gate)
	return gate
}

func (g *gateQueue) Submit(ctx context.Context, conds []store.Cond, ops []store.Op) store.Pending {
	g.mu.Lock()
	var gate chan error
	if len(g.gates) > 0 {
		gate, g.gates = g.gates[0], g.gates[1:]
	}
	g.mu.Unlock()
	p := g.Store.Submit(ctx, conds, ops)
	if gate == nil {
		return p
	}
	g.submitted <- struct{}{}
	return queuedPending{p, gate}
}

type queuedPending struct {
	store.Pending
	gate chan error
}

func (p queuedPending) Wait() (int64, error) {
	if err := <-p.gate; err != nil {
		return 0, err
	}
	return p.Pending.Wait()
}

// networksLater calls Networks in the background.
func networksLater(s *Service) <-chan []netmap.Network {
	out := make(chan []netmap.Network, 1)
	go func() {
		_, nets := s.Networks()
		out <- nets
	}()
	return out
}

// TestNetworksWaitsForTheWritesItSees: the host feed's answer holds writes that memory has
// and the disk may not yet; it waits until every one of them is durable — a commit of an
// earlier write is not enough — and hands out nothing once a commit failed.
func TestNetworksWaitsForTheWritesItSees(t *testing.T) {
	ctx := context.Background()
	st := &gateQueue{Store: tempBolt(t), submitted: make(chan struct{}, 4)}
	s := openService(t, st)
	web, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	db, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "db", Description: "db"})
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(g, cidr string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g}, Permissions: []Permission{ssh(cidr)}})
			done <- err
		}()
		select {
		case <-st.submitted: // in memory: a read from now on sees it
		case err := <-done:
			t.Fatalf("the authorize returned before its commit: %v", err)
		}
		return done
	}
	first, second := st.hold(), st.hold()
	firstDone, secondDone := authorize(web.ID, "10.0.0.0/8"), authorize(db.ID, "10.0.0.0/8")
	nets := networksLater(s)
	waitForReads(t, s, 1)
	first <- nil
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	select {
	case <-nets:
		t.Fatal("Networks answered while the second write it holds was not durable")
	case <-time.After(100 * time.Millisecond):
	}
	second <- nil
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-nets:
		if !hasOneRule(got, web.ID) || !hasOneRule(got, db.ID) {
			t.Fatal("Networks after both writes were durable: a rule is missing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("both writes durable: Networks still waits")
	}

	// A failed commit stops the service; a read waiting for it is released and the feed
	// keeps its last answer (all of it durable), without the write that failed.
	third := st.hold()
	thirdDone := authorize(web.ID, "192.168.0.0/16")
	waiting := networksLater(s)
	waitForReads(t, s, 1)
	third <- errors.New("injected: disk full")
	if err := <-thirdDone; err == nil {
		t.Fatal("a write whose commit failed succeeded")
	}
	select {
	case got := <-waiting:
		if !hasOneRule(got, web.ID) {
			t.Fatal("the feed after a failed commit: not its last answer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a commit failed: Networks still waits")
	}
}

// waitForReads waits until n reads of alice's tenant wait for durable writes.
func waitForReads(t *testing.T, s *Service, n int) {
	t.Helper()
	tn, err := s.tenant(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		tn.durableMu.Lock()
		got := len(tn.durableWaits)
		tn.durableMu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads wait for durable writes, want %d", got, n)
		}
	}
}
