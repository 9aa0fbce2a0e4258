package iam

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
)

// TestJournal: a write commits its store.Journal's ops in its own transaction (they survive a
// reopen beside the change); a refused write never asks for them, so no staged record
// claims a change that did not happen.
func TestJournal(t *testing.T) {
	e := newEnv(t)
	var calls []string
	journal := func(name string) context.Context {
		return store.WithJournal(context.Background(), func() []store.Op {
			calls = append(calls, name)
			return []store.Op{{Key: "trail/test/" + name, Value: []byte(name)}}
		})
	}
	must[User](t)(e.s.CreateUser(journal("create"), accountA, CreateUserInput{Name: "alice"}))
	if _, err := e.s.CreateUser(journal("duplicate"), accountA, CreateUserInput{Name: "ALICE"}); code(err) == "" {
		t.Fatal("duplicate user accepted")
	}
	if err := e.s.PutPolicy(journal("malformed"), accountA, UserEntity, "alice", "p", "bad Statement"); code(err) == "" {
		t.Fatal("malformed policy accepted")
	}
	if err := e.s.DeleteUser(journal("missing"), accountA, "bob"); code(err) == "" {
		t.Fatal("unknown user deleted")
	}

	e.reopen()
	if _, err := e.s.GetUser(ctx, accountA, "alice"); err != nil {
		t.Fatalf("user lost: %v", err)
	}
	var stored []string
	for _, name := range []string{"create", "duplicate", "malformed", "missing"} {
		if _, found, err := e.s.st.Get(ctx, "trail/test/"+name); err != nil {
			t.Fatal(err)
		} else if found {
			stored = append(stored, name)
		}
	}
	want := []string{"create"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("journal called (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("journal ops committed (-want +got):\n%s", diff)
	}
}
