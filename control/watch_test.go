package control

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/store"
)

// countedWatches counts the store's watches and keeps their contexts.
type countedWatches struct {
	store.Store
	mu   sync.Mutex
	ctxs []context.Context
}

func (c *countedWatches) Watch(ctx context.Context, from int64) (*store.Watcher, error) {
	c.mu.Lock()
	c.ctxs = append(c.ctxs, ctx)
	c.mu.Unlock()
	return c.Store.Watch(ctx, from)
}

func (c *countedWatches) watches() []context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]context.Context(nil), c.ctxs...)
}

// TestWatchShared: the service's consumers share one watch of the store. Each is told of
// every write; one that leaves stops hearing while the others go on; when the last leaves
// the store's watch ends, and a consumer after that starts another.
func TestWatchShared(t *testing.T) {
	st := &countedWatches{Store: tempBolt(t)}
	s := openService(t, st)
	ctx := context.Background()
	ctxs := make([]context.Context, 3)
	cancels := make([]context.CancelFunc, 3)
	revs := make([]<-chan int64, 3)
	for i := range revs {
		ctxs[i], cancels[i] = context.WithCancel(ctx)
		defer cancels[i]()
		revs[i] = s.Watch(ctxs[i])
	}
	_, res, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ch := range revs {
		waitRevision(t, ch, res.Revision, i)
	}
	if n := len(st.watches()); n != 1 {
		t.Fatalf("three consumers: %d watches of the store, want 1", n)
	}

	cancels[0]()
	if _, ok := drain(revs[0]); ok {
		t.Fatal("a consumer whose context ended: its channel is still open")
	}
	_, res, err = s.CreateGroup(ctx, alice, CreateGroupInput{Name: "db", Description: "db"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ch := range revs[1:] {
		waitRevision(t, ch, res.Revision, i+1)
	}

	cancels[1]()
	cancels[2]()
	first := st.watches()[0]
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("every consumer left: the store's watch goes on")
	}
	late, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(late)
	_, res, err = s.CreateGroup(ctx, alice, CreateGroupInput{Name: "cache", Description: "cache"})
	if err != nil {
		t.Fatal(err)
	}
	waitRevision(t, ch, res.Revision, 3)
	if n := len(st.watches()); n != 2 {
		t.Fatalf("a consumer after the others left: %d watches of the store in all, want 2", n)
	}
}

// TestWatchClosesWithStore: the consumers' channels close when the store does.
func TestWatchClosesWithStore(t *testing.T) {
	st := tempBolt(t)
	s := openService(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := s.Watch(ctx), s.Watch(ctx)
	st.Close()
	for _, ch := range []<-chan int64{a, b} {
		if _, ok := drain(ch); ok {
			t.Fatal("the store closed: a consumer's channel is still open")
		}
	}
}

// waitRevision waits until consumer i is told of rev or a later revision.
func waitRevision(t *testing.T, ch <-chan int64, rev int64, i int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("consumer %d: channel closed before revision %d", i, rev)
			}
			if got >= rev {
				return
			}
		case <-timeout:
			t.Fatalf("consumer %d: not told of revision %d", i, rev)
		}
	}
}

// drain reads ch until it closes (ok false) or 10 s pass (ok true).
func drain(ch <-chan int64) (last int64, ok bool) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case rev, open := <-ch:
			if !open {
				return last, false
			}
			last = rev
		case <-timeout:
			return last, true
		}
	}
}
