package iam

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/store/bolt"
)

// openSharedPair opens two IAM services on one store, as two API servers of a shared store,
// the second following the store's watch.
func openSharedPair(t *testing.T) (a, b *Service) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Validate: testValidate, Shared: true}
	if a, err = Open(context.Background(), st, cfg); err != nil {
		t.Fatal(err)
	}
	if b, err = Open(context.Background(), st, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Follow(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return a, b
}

// TestSharedWritesBuildOnOtherServers: a user created on A gets an access key on B at once
// (B's write finds its memory behind and loads the account again), and B's follower makes the
// key A created usable on B.
func TestSharedWritesBuildOnOtherServers(t *testing.T) {
	ctx := context.Background()
	a, b := openSharedPair(t)
	const acct = "111122223333"
	if _, err := a.CreateUser(ctx, acct, CreateUserInput{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateAccessKey(ctx, acct, "alice"); err != nil {
		t.Fatalf("B: CreateAccessKey for a user A created: %v", err)
	}
	k, err := a.CreateAccessKey(ctx, acct, "alice")
	if err != nil {
		t.Fatalf("A: second key: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, _, err := b.Lookup(k.ID, "")
		if err == nil {
			if p.ARN != "arn:aws:iam::"+acct+":user/alice" {
				t.Fatalf("B: key of %s", p.ARN)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never learnt A's key: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.CreateAccessKey(ctx, acct, "alice"); !strings.HasPrefix(code(err), "LimitExceeded:") {
		t.Fatalf("a third key (two per user, one made on each server): %v, want LimitExceeded", err)
	}
}

// TestSharedConcurrentCreates: two servers creating users in one account at once — every
// name is created once, the other create answers EntityAlreadyExists, and both servers end
// up with every user.
func TestSharedConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	a, b := openSharedPair(t)
	const acct = "111122223333"
	const n = 15
	var mu sync.Mutex
	ok, exists := 0, 0
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				_, err := s.CreateUser(ctx, acct, CreateUserInput{Name: fmt.Sprintf("u%d", i)})
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case strings.HasPrefix(code(err), "EntityAlreadyExists:"):
					exists++
				default:
					t.Errorf("create u%d: %v", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != n || exists != n {
		t.Fatalf("%d created, %d EntityAlreadyExists; want %d each", ok, exists, n)
	}
	for i := range n {
		if _, err := a.GetUser(ctx, acct, fmt.Sprintf("u%d", i)); err != nil {
			t.Errorf("A: u%d: %v", i, err)
		}
	}
}
