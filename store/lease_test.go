package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/store"
)

// TestLease: one holder at a time, on etcd and bolt. A held lease is refused to another
// server and renewed by its holder; once it expires unrenewed, another takes it and the old
// holder is refused; a released lease is free at once; of ten servers racing for a free
// lease, one gets it.
func TestLease(t *testing.T) {
	ctx := context.Background()
	onEtcd, onBolt := bothStores(t)

	for name, st := range map[string]store.Store{"etcd": onEtcd, "bolt": onBolt} {
		t.Run(name, func(t *testing.T) {
			const ttl = 300 * time.Millisecond
			a, b := store.NewLease(st, "role", "a", ttl), store.NewLease(st, "role", "b", ttl)
			hold := func(l *store.Lease, who string, want bool) {
				t.Helper()
				if got, err := l.Hold(ctx); got != want || err != nil {
					t.Fatalf("%s holds: %v (%v), want %v", who, got, err, want)
				}
			}
			hold(a, "a", true)
			hold(b, "b", false)
			for range 3 { // renewed within the TTL: a keeps it
				time.Sleep(ttl / 2)
				hold(a, "a", true)
				hold(b, "b", false)
			}
			time.Sleep(ttl + 50*time.Millisecond) // a stops renewing
			hold(b, "b", true)
			hold(a, "a", false)
			if err := a.Release(ctx); err != nil { // not a's: nothing happens
				t.Fatal(err)
			}
			hold(a, "a", false)
			if err := b.Release(ctx); err != nil {
				t.Fatal(err)
			}
			hold(a, "a", true)

			var wg sync.WaitGroup
			var mu sync.Mutex
			var holders []string
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					who := fmt.Sprintf("s%d", i)
					if ok, err := store.NewLease(st, "race", who, time.Minute).Hold(ctx); err != nil {
						t.Error(err)
					} else if ok {
						mu.Lock()
						holders = append(holders, who)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(holders) != 1 {
				t.Errorf("holders of a lease ten servers raced for: %v, want one", holders)
			}
		})
	}
}
