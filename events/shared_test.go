package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// openShared opens n services on one store, each as an API server of a shared store.
func openShared(t *testing.T, n int) []*Service {
	t.Helper()
	st, _ := openStore(t)
	out := make([]*Service, n)
	for i := range out {
		s, err := Open(context.Background(), st, Config{Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func ruleNames(t *testing.T, s *Service) []string {
	t.Helper()
	rules, _, err := s.ListRules(tsc, "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
	}
	return names
}

// TestSharedWritesAreConditional: a write on a server whose memory another server's write
// made stale commits nothing and answers ConcurrentModificationException, after which that
// server shows the other's write and the retry succeeds, keeping the other's change (a target
// added on A is not lost to B's PutRule of the same rule).
func TestSharedWritesAreConditional(t *testing.T) {
	ctx := context.Background()
	ss := openShared(t, 2)
	a, b := ss[0], ss[1]
	if _, err := a.PutRule(ctx, tsc, RuleInput{Name: "r", Pattern: `{"source":["aws.ec2"]}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutRule(ctx, tsc, RuleInput{Name: "r2", Pattern: `{"source":["aws.ec2"]}`}); err == nil {
		t.Fatal("B's write on stale memory committed")
	} else {
		wantCode(t, err, CodeConcurrentModification)
	}
	if diff := cmp.Diff([]string{"r"}, ruleNames(t, b)); diff != "" {
		t.Errorf("B after the refusal (-want +got):\n%s", diff)
	}
	if _, err := b.PutRule(ctx, tsc, RuleInput{Name: "r2", Pattern: `{"source":["aws.ec2"]}`}); err != nil {
		t.Fatalf("B's retry: %v", err)
	}
	if f, err := a.PutTargets(ctx, tsc, "r", "", []Target{{ID: "file", ARN: FileARN(tsc, "r")}}); err == nil || len(f) > 0 {
		t.Fatalf("A's write on stale memory: %v %v", f, err)
	}
	if f, err := a.PutTargets(ctx, tsc, "r", "", []Target{{ID: "file", ARN: FileARN(tsc, "r")}}); err != nil || len(f) > 0 {
		t.Fatalf("A's retry: %v %v", f, err)
	}
	_, err := b.PutRule(ctx, tsc, RuleInput{Name: "r", Pattern: `{"source":["aws.ec2"]}`, Description: "changed"})
	wantCode(t, err, CodeConcurrentModification)
	if _, err := b.PutRule(ctx, tsc, RuleInput{Name: "r", Pattern: `{"source":["aws.ec2"]}`, Description: "changed"}); err != nil {
		t.Fatal(err)
	}
	// A third server started now loads what the store holds: both rules, r with its target.
	c, err := Open(ctx, a.st, Config{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.DescribeRule(tsc, "r", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Description != "changed" || len(r.Targets) != 1 {
		t.Errorf("rule r in the store: %+v, want B's description and A's target", r)
	}
	if diff := cmp.Diff([]string{"r", "r2"}, ruleNames(t, c)); diff != "" {
		t.Errorf("rules in the store (-want +got):\n%s", diff)
	}
}

// TestSharedFollow: rules and targets made on one server after the other started reach the
// other through Follow: it lists them, matches events with them, and its next write is not
// refused.
func TestSharedFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := openShared(t, 2)
	a, b := ss[0], ss[1]
	done := make(chan struct{})
	go func() { defer close(done); a.Follow(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := b.PutRule(ctx, tsc, RuleInput{Name: "made-on-b", Pattern: `{"source":["aws.ec2"]}`}); err != nil {
		t.Fatal(err)
	}
	if f, err := b.PutTargets(ctx, tsc, "made-on-b", "", []Target{{ID: "file", ARN: FileARN(tsc, "made-on-b")}}); err != nil || len(f) > 0 {
		t.Fatalf("targets: %v %v", f, err)
	}
	ev := mustEvent(t, `{"source":"aws.ec2"}`)
	deadline := time.Now().Add(20 * time.Second) // arrival, not speed, is asserted
	for len(a.match(tsc, ev, false)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("B's rule and target never matched on A")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff([]string{"made-on-b"}, ruleNames(t, a)); diff != "" {
		t.Errorf("A's rules (-want +got):\n%s", diff)
	}
	if _, err := a.PutRule(ctx, tsc, RuleInput{Name: "made-on-a", Pattern: `{"source":["aws.ec2"]}`}); err != nil {
		t.Errorf("A's write after following B's: %v", err)
	}
}

func mustEvent(t *testing.T, js string) Event {
	t.Helper()
	ev, err := DecodeEvent([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
