package auth

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/store/bolt"
)

// TestRegistriesShareAStore: two servers' registries on one store — an account created on
// one is found by the other (which follows the store's watch), and of two creates of one name
// at once, exactly one succeeds; the other fails with ErrNameTaken.
func TestRegistriesShareAStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Follow(ctx) }()
	defer wg.Wait()
	defer cancel()

	alice, err := a.Create(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, ok := b.Lookup(alice.AccessKeyID); ok {
			if got != alice {
				t.Fatalf("B has %+v, A created %+v", got, alice)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B never saw the account A created")
		}
		time.Sleep(10 * time.Millisecond)
	}

	errs := make([]error, 2)
	var cw sync.WaitGroup
	for i, r := range []*Registry{a, b} {
		cw.Add(1)
		go func() { defer cw.Done(); _, errs[i] = r.Create(ctx, "bob", false) }()
	}
	cw.Wait()
	ok, taken := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrNameTaken):
			taken++
		default:
			t.Errorf("create bob: %v", err)
		}
	}
	if ok != 1 || taken != 1 {
		t.Fatalf("two creates of bob: %d succeeded, %d refused (%v)", ok, taken, errs)
	}
}
