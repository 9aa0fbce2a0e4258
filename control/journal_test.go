package control

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
)

// journalCalls is a Journal that stages one key per call and counts the calls.
type journalCalls struct {
	key   string
	calls int
}

func (j *journalCalls) journal() []store.Op {
	j.calls++
	return []store.Op{{Key: j.key, Value: []byte("record")}}
}

// TestJournalCommitsWithChange: the ops of a request's journal commit in the transaction of
// its change (same revision) and are there after a restart; a write that fails, a dry run and
// a write the store refuses stage nothing and call no journal, or commit nothing of it.
func TestJournalCommitsWithChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)

	ok := &journalCalls{key: "trail/test/ok"}
	g, res, err := s.CreateGroup(WithJournal(ctx, ok.journal), alice, CreateGroupInput{Name: "web", Description: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if ok.calls != 1 {
		t.Errorf("journal called %d times for one write, want 1", ok.calls)
	}

	dup := &journalCalls{key: "trail/test/dup"}
	if _, _, err := s.CreateGroup(WithJournal(ctx, dup.journal), alice, CreateGroupInput{Name: "web", Description: "again"}); code(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("duplicate group: %v", err)
	}
	dry := &journalCalls{key: "trail/test/dry"}
	if _, _, err := s.CreateGroup(WithJournal(ctx, dry.journal), alice, CreateGroupInput{Name: "app", Description: "a", DryRun: true}); code(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	// A journal whose ops the store cannot hold (a key over bbolt's limit) refuses the change
	// with it: the change never commits without its record.
	huge := &journalCalls{key: "trail/" + strings.Repeat("k", 40000)}
	if _, _, err := s.CreateGroup(WithJournal(ctx, huge.journal), alice, CreateGroupInput{Name: "db", Description: "d"}); code(err) != "InvalidParameterValue" {
		t.Fatalf("unstorable record: %v", err)
	}
	calls := map[string]int{"dup": dup.calls, "dry": dry.calls, "huge": huge.calls}
	if diff := cmp.Diff(map[string]int{"dup": 0, "dry": 0, "huge": 1}, calls); diff != "" {
		t.Errorf("journal calls (-want +got):\n%s", diff)
	}
	st.Close()

	st2 := openBolt(t, path)
	s2 := openService(t, st2)
	kv, found, err := st2.Get(ctx, ok.key)
	if err != nil || !found {
		t.Fatalf("record of the committed change after restart: found=%v err=%v", found, err)
	}
	if kv.ModRevision != res.Revision {
		t.Errorf("record at revision %d, its change at %d: not one transaction", kv.ModRevision, res.Revision)
	}
	for _, k := range []string{dup.key, dry.key} {
		if _, found, _ := st2.Get(ctx, k); found {
			t.Errorf("%s stored for a write that did not commit", k)
		}
	}
	var names []string
	s2.View(ctx, alice, func(v View) error {
		for _, x := range v.Groups() {
			names = append(names, x.Name)
		}
		return nil
	})
	if diff := cmp.Diff([]string{"default", "web"}, slices.Sorted(slices.Values(names))); diff != "" {
		t.Errorf("groups after restart (-want +got):\n%s", diff)
	}
	if g.Name != "web" {
		t.Fatal(g)
	}
}

// TestChangesState: the feed wakes the reconciler for the service's own keys only.
func TestChangesState(t *testing.T) {
	for _, c := range []struct {
		keys []string
		want bool
	}{
		{[]string{"trail/e/111122223333/us-east-1/000000000001/x", "trail/t/000000000001/x"}, false},
		{[]string{"acct/AKIAEXAMPLE"}, false},
		{[]string{"trail/e/x", storeKey(alice, "group", "sg-1")}, true},
		{[]string{poolKeyPrefix + "198.18.0.1"}, true},
		{nil, false},
	} {
		var ops []store.Op
		for _, k := range c.keys {
			ops = append(ops, store.Op{Key: k})
		}
		if got := changesState(ops); got != c.want {
			t.Errorf("changesState(%v) = %v, want %v", c.keys, got, c.want)
		}
	}
}
