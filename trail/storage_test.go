package trail

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rec builds a record of a call at t with event ID id.
func rec(t testing.TB, action, group string, at time.Time, id string) *Record {
	t.Helper()
	c := call(action, alice, q("GroupId", group), returnResponse(action), nil)
	c.Time, c.EventID = at, id
	r, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(recs []*Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.EventID)
	}
	return out
}

var everything = query{account: acct, region: "eu-west-1", to: callTime.Add(time.Hour), limit: 50}

// TestRecordCommitsWithItsChange is the crash-style test of §1.5's promise: a record staged as
// Ops in the transaction of its change is durable exactly when the change is — after a
// reopen both are there; a transaction refused for a failed condition or an invalid op leaves
// neither.
func TestRecordCommitsWithItsChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openStore(t, path)
	change := store.Op{Key: "sg/sg-1", Value: []byte("group")}

	committed := rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-committed")
	if _, err := st.Txn(ctx, []store.Cond{{Key: change.Key}}, append([]store.Op{change}, committed.Ops()...)); err != nil {
		t.Fatal(err)
	}
	conflicted := rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-conflicted")
	_, err := st.Txn(ctx, []store.Cond{{Key: change.Key}}, append([]store.Op{change}, conflicted.Ops()...))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting change: %v", err)
	}
	invalid := rec(t, "DeleteSecurityGroup", "sg-2", callTime, "e-invalid")
	_, err = st.Txn(ctx, nil, append([]store.Op{{Key: "sg/" + strings.Repeat("x", 40000), Value: []byte("v")}}, invalid.Ops()...))
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid change: %v", err)
	}
	st.Close()

	st = openStore(t, path)
	got, _, err := find(ctx, st, everything)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*Record{committed}, got); diff != "" {
		t.Errorf("records after reopen (-want +got):\n%s", diff)
	}
	kvs, _, _ := st.List(ctx, Prefix)
	if len(kvs) != len(committed.Ops()) {
		t.Errorf("%d trail keys after reopen, want the %d of the committed record", len(kvs), len(committed.Ops()))
	}
	for _, kv := range kvs {
		if strings.Contains(kv.Key, "e-conflicted") || strings.Contains(kv.Key, "e-invalid") {
			t.Errorf("key of a refused transaction's record: %s", kv.Key)
		}
	}
}

// TestFindOrderPagesAndAttributes: newest first, ties by eventID descending, pages that join
// up without gaps or repeats, each attribute of §2.2 finding exactly its records, and scope
// by account and region.
func TestFindOrderPagesAndAttributes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	var all []*Record
	for i := range 7 {
		action := "AuthorizeSecurityGroupIngress"
		if i%2 == 1 {
			action = "DescribeSecurityGroups"
		}
		// Two records per second: the second of each pair has the larger event ID.
		r := rec(t, action, fmt.Sprintf("sg-%d", i%3), callTime.Add(time.Duration(i/2)*time.Second), fmt.Sprintf("e-%d", i))
		all = append(all, r)
		st.Txn(ctx, nil, r.Ops())
	}
	other := rec(t, "AuthorizeSecurityGroupIngress", "sg-0", callTime, "e-other-region")
	other.AWSRegion = "us-east-1"
	st.Txn(ctx, nil, other.Ops())

	newestFirst := []string{"e-6", "e-5", "e-4", "e-3", "e-2", "e-1", "e-0"}
	got, cursor, err := find(ctx, st, everything)
	if err != nil || cursor != "" {
		t.Fatalf("find = %v, cursor %q", err, cursor)
	}
	if diff := cmp.Diff(newestFirst, ids(got)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	var paged []string
	q := everything
	q.limit = 3
	for pages := 0; ; pages++ {
		got, cursor, err := find(ctx, st, q)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		paged = append(paged, ids(got)...)
		if cursor == "" {
			break
		}
		q.cursor = cursor
	}
	if diff := cmp.Diff(newestFirst, paged); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	for _, c := range []struct {
		attr  Attribute
		value string
		want  []string
	}{
		{EventNameAttr, "DescribeSecurityGroups", []string{"e-5", "e-3", "e-1"}},
		{ReadOnlyAttr, "false", []string{"e-6", "e-4", "e-2", "e-0"}},
		{EventIDAttr, "e-4", []string{"e-4"}},
		{UsernameAttr, "alice", newestFirst},
		{UsernameAttr, "bob", nil},
		{EventSourceAttr, "ec2.amazonaws.com", newestFirst},
		{AccessKeyIDAttr, alice.AccessKeyID, newestFirst},
		{ResourceNameAttr, "sg-1", []string{"e-4", "e-1"}},
		{ResourceTypeAttr, "AWS::EC2::SecurityGroup", newestFirst},
		{EventNameAttr, "Describe", nil}, // exact, not a prefix
	} {
		q := everything
		q.attr, q.value = c.attr, c.value
		got, _, err := find(ctx, st, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, ids(got)); diff != "" {
			t.Errorf("%s=%s (-want +got):\n%s", c.attr, c.value, diff)
		}
	}

	q = everything
	q.from, q.to = callTime.Add(time.Second), callTime.Add(2*time.Second)
	got, _, _ = find(ctx, st, q)
	if diff := cmp.Diff([]string{"e-5", "e-4", "e-3", "e-2"}, ids(got)); diff != "" {
		t.Errorf("time range (-want +got):\n%s", diff)
	}
	q = everything
	q.region = "us-east-1"
	got, _, _ = find(ctx, st, q)
	if diff := cmp.Diff([]string{"e-other-region"}, ids(got)); diff != "" {
		t.Errorf("other region (-want +got):\n%s", diff)
	}
	q.account = "444455556666"
	if got, _, _ = find(ctx, st, q); len(got) != 0 {
		t.Errorf("another account sees %v", ids(got))
	}
}

// TestAttributeValuesCannotCollide: a value with a "/" is escaped, so a lookup of its prefix
// finds nothing of it.
func TestAttributeValuesCannotCollide(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	r := rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-1")
	r.Username = "a/b"
	st.Txn(ctx, nil, r.Ops())
	for value, want := range map[string]int{"a": 0, "a/b": 1} {
		q := everything
		q.attr, q.value = UsernameAttr, value
		if got, _, _ := find(ctx, st, q); len(got) != want {
			t.Errorf("Username %q finds %d records, want %d", value, len(got), want)
		}
	}
}

// TestPrune: records past the 90 days go, with every key they had, in batches of the size
// asked; younger ones stay.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	now := callTime
	young := rec(t, "DeleteSecurityGroup", "sg-y", now.Add(-Retention+time.Second), "e-young")
	st.Txn(ctx, nil, young.Ops())
	for i := range 3 {
		old := rec(t, "DeleteSecurityGroup", "sg-o", now.Add(-Retention-time.Duration(i+1)*time.Hour), fmt.Sprint("e-old-", i))
		st.Txn(ctx, nil, old.Ops())
	}
	for _, want := range []struct {
		deleted int
		more    bool
	}{{2, true}, {1, false}, {0, false}} {
		n, more, err := Prune(ctx, st, now, 2)
		if err != nil || n != want.deleted || more != want.more {
			t.Fatalf("Prune = %d, %v, %v; want %d, %v", n, more, err, want.deleted, want.more)
		}
	}
	kvs, _, _ := st.List(ctx, Prefix)
	var keys, wantKeys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	for _, op := range young.Ops() {
		wantKeys = append(wantKeys, op.Key)
	}
	if diff := cmp.Diff(wantKeys, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("keys after prune (-want +got):\n%s", diff)
	}
}

// TestRecorderBoundedQueue: a full queue drops and counts instead of blocking; Flush writes
// the queue in transactions of at most Batch records; what was accepted survives a reopen.
func TestRecorderBoundedQueue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openStore(t, path)
	rc := NewRecorder(st, RecorderOptions{Queue: 5, Batch: 2})
	for i := range 7 {
		ok := rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, fmt.Sprint("e-", i)))
		if ok != (i < 5) {
			t.Errorf("Record %d = %v", i, ok)
		}
	}
	if rc.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", rc.Dropped())
	}
	rc.Flush(ctx)
	if st.Revision() != 3 {
		t.Errorf("5 records in batches of 2 took %d transactions, want 3", st.Revision())
	}
	st.Close()
	st = openStore(t, path)
	got, _, _ := find(ctx, st, everything)
	if diff := cmp.Diff([]string{"e-4", "e-3", "e-2", "e-1", "e-0"}, ids(got)); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

// TestRecorderRun: Run writes what is queued and, when stopped, what is still queued.
func TestRecorderRun(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	rc := NewRecorder(st, RecorderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	for i := range 20 {
		rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, fmt.Sprintf("e-%02d", i)))
	}
	cancel()
	<-done
	got, _, _ := find(context.Background(), st, everything)
	if len(got) != 20 || rc.Failed() != 0 {
		t.Errorf("after Run: %d records, %d failed", len(got), rc.Failed())
	}
	if rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, "late")) != true {
		t.Error("Record after Run refused although the queue has room")
	}
}

// TestRecorderLingers: records that arrive one by one while a batch waits (Linger) are
// written in one transaction, not one each.
func TestRecorderLingers(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	rc := NewRecorder(st, RecorderOptions{Linger: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	before := st.Revision()
	for i := range 5 {
		rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, fmt.Sprintf("e-%02d", i)))
		time.Sleep(time.Millisecond) // one by one: the first is already being batched
	}
	cancel() // ends the wait: the batch is written, then Run returns
	<-done
	got, _, _ := find(context.Background(), st, everything)
	if len(got) != 5 || st.Revision()-before != 1 {
		t.Errorf("%d records in %d transactions, want 5 in 1", len(got), st.Revision()-before)
	}
}

// TestRecorderCountsFailures: a batch the store refuses is counted as lost.
func TestRecorderCountsFailures(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	rc := NewRecorder(st, RecorderOptions{})
	rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, "e-1"))
	st.Close()
	rc.Flush(context.Background())
	if rc.Failed() != 1 {
		t.Errorf("Failed = %d, want 1", rc.Failed())
	}
}

// TestCompletes: a write's record staged without its response, then completed once the
// response exists, is one record: the completion rewrites the record and adds only the index
// keys of what the response names (CreateSecurityGroup's new group), a lookup by that group
// finds it with its responseElements, and Prune removes every key of it.
func TestCompletes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	c := call("CreateSecurityGroup", alice, q("GroupName", "web", "GroupDescription", "w"), "", nil)
	c.Time, c.EventID = callTime, "00000000-0000-4000-8000-000000000001"
	staged, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Response = []byte(`<CreateSecurityGroupResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>` + reqID +
		`</requestId><return>true</return><groupId>sg-0123456789abcdef0</groupId></CreateSecurityGroupResponse>`)
	done, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	done.Completes(staged)
	var keys []string
	for _, op := range done.Ops() {
		keys = append(keys, strings.TrimPrefix(op.Key, Prefix))
	}
	scope := acct + "/eu-west-1/"
	tail := timeKey(callTime) + "/" + c.EventID
	want := []string{"e/" + scope + tail, "i/" + scope + "ResourceType/AWS::EC2::SecurityGroup/" + tail,
		"i/" + scope + "ResourceName/sg-0123456789abcdef0/" + tail}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("completion ops (-want +got):\n%s", diff)
	}
	for _, r := range []*Record{staged, done} {
		if _, err := st.Txn(ctx, nil, r.Ops()); err != nil {
			t.Fatal(err)
		}
	}
	byGroup := everything
	byGroup.attr, byGroup.value = ResourceNameAttr, "sg-0123456789abcdef0"
	for name, qu := range map[string]query{"all": everything, "by group": byGroup} {
		recs, _, err := find(ctx, st, qu)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || !strings.Contains(string(recs[0].ResponseElements), "sg-0123456789abcdef0") {
			t.Errorf("%s: %d records, want the completed one", name, len(recs))
		}
	}
	if n, _, err := Prune(ctx, st, callTime.Add(Retention+time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if kvs, _, _ := st.List(ctx, eventsPrefix); len(kvs) != 0 {
		t.Errorf("records left after prune: %d", len(kvs))
	}
	if kvs, _, _ := st.List(ctx, indexPrefix); len(kvs) != 0 {
		t.Errorf("index keys left after prune: %d", len(kvs))
	}

	other := *staged
	other.EventID = "00000000-0000-4000-8000-000000000002"
	again, _ := Build(c)
	again.Completes(&other)
	if len(again.Ops()) != len(done.Ops())+len(staged.Ops())-1 {
		t.Errorf("completing another call's record dropped keys: %d ops", len(again.Ops()))
	}
}
