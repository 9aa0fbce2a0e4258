package trail

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{Staged: []string{OutboxPrefix}}) // as the server opens it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openLog(t testing.TB, dir string, opts LogOptions) *Log {
	t.Helper()
	l, err := OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
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

func appendRecords(t testing.TB, l *Log, recs ...*Record) {
	t.Helper()
	var es []*entry
	for _, r := range recs {
		es = append(es, entryOf(r))
	}
	if err := l.append(es); err != nil {
		t.Fatal(err)
	}
}

func ids(es []*entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.EventID)
	}
	return out
}

func findAll(t testing.TB, l *Log, q query) []*entry {
	t.Helper()
	got, _, err := find(l, q)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var everything = query{account: acct, region: "eu-west-1", to: callTime.Add(time.Hour), limit: 50}

// TestEntryRoundTrip: what the Log keeps of a record is what LookupEvents reports, and the
// record's JSON byte for byte.
func TestEntryRoundTrip(t *testing.T) {
	r := rec(t, "AuthorizeSecurityGroupIngress", "sg-1", callTime, "e-1")
	e := entryOf(r)
	got, err := decodeEntry(e.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(e, got, cmpopts.IgnoreUnexported(entry{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	b := e.encode(nil)
	for n := range len(b) - len(e.JSON) { // every cut inside the fields is refused, never a panic
		if _, err := decodeEntry(b[:n]); err == nil {
			t.Errorf("entry cut at %d decoded", n)
		}
	}
}

// TestFindOrderPagesAndAttributes: newest first, ties by eventID descending, pages that join
// up without gaps or repeats, each attribute of §2.2 finding exactly its records, and scope
// by account and region.
func TestFindOrderPagesAndAttributes(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{})
	var recs []*Record
	for _, i := range []int{0, 2, 1, 3, 5, 4, 6} { // appended a little out of order, as batches are
		action := "AuthorizeSecurityGroupIngress"
		if i%2 == 1 {
			action = "DescribeSecurityGroups"
		}
		// Two records per second: the second of each pair has the larger event ID.
		recs = append(recs, rec(t, action, fmt.Sprintf("sg-%d", i%3), callTime.Add(time.Duration(i/2)*time.Second), fmt.Sprintf("e-%d", i)))
	}
	other := rec(t, "AuthorizeSecurityGroupIngress", "sg-0", callTime, "e-other-region")
	other.AWSRegion = "us-east-1"
	appendRecords(t, l, append(recs, other)...)

	newestFirst := []string{"e-6", "e-5", "e-4", "e-3", "e-2", "e-1", "e-0"}
	got, cursor, err := find(l, everything)
	if err != nil || cursor != "" {
		t.Fatalf("find = %v, cursor %q", err, cursor)
	}
	if diff := gocmp.Diff(newestFirst, ids(got)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	var paged []string
	q := everything
	q.limit = 3
	for pages := 0; ; pages++ {
		got, cursor, err := find(l, q)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		paged = append(paged, ids(got)...)
		if cursor == "" {
			break
		}
		q.cursor = cursor
	}
	if diff := gocmp.Diff(newestFirst, paged); diff != "" {
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
		{EventIDAttr, "e-", nil},
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
		if diff := gocmp.Diff(c.want, ids(findAll(t, l, q))); diff != "" {
			t.Errorf("%s=%s (-want +got):\n%s", c.attr, c.value, diff)
		}
	}

	q = everything
	q.from, q.to = callTime.Add(time.Second), callTime.Add(2*time.Second)
	if diff := gocmp.Diff([]string{"e-5", "e-4", "e-3", "e-2"}, ids(findAll(t, l, q))); diff != "" {
		t.Errorf("time range (-want +got):\n%s", diff)
	}
	q = everything
	q.region = "us-east-1"
	if diff := gocmp.Diff([]string{"e-other-region"}, ids(findAll(t, l, q))); diff != "" {
		t.Errorf("other region (-want +got):\n%s", diff)
	}
	q.account = "444455556666"
	if got := findAll(t, l, q); len(got) != 0 {
		t.Errorf("another account sees %v", ids(got))
	}
}

// TestAttributeValuesCannotCollide: values are compared whole, so a lookup of a value's
// prefix finds nothing of it, whatever characters it has.
func TestAttributeValuesCannotCollide(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{})
	r := rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-1")
	r.Username = "a/b\x00c"
	appendRecords(t, l, r)
	for value, want := range map[string]int{"a": 0, "a/b": 0, "a/b\x00c": 1} {
		q := everything
		q.attr, q.value = UsernameAttr, value
		if got := findAll(t, l, q); len(got) != want {
			t.Errorf("Username %q finds %d records, want %d", value, len(got), want)
		}
	}
}

// TestLogReopen: records survive a reopen in their order; a torn append at the end (a crash
// during the write) is cut off, and appends go on after the last whole record.
func TestLogReopen(t *testing.T) {
	dir, want := tornLog(t)
	l := openLog(t, dir, LogOptions{SegmentBytes: 4096})
	if diff := gocmp.Diff(want, ids(findAll(t, l, everything))); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	appendRecords(t, l, rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Minute), "e-20"))
	l.Close()
	l = openLog(t, dir, LogOptions{SegmentBytes: 4096})
	if got := ids(findAll(t, l, everything)); len(got) != 21 || got[0] != "e-20" {
		t.Errorf("after an append past the torn end: %v", got)
	}
}

// TestLogReadAfter: with After, OpenLog returns before reading the segments, and every call
// waits for the read, which starts when After is closed; it then sees what the reopened log
// holds, the torn append cut off, and what is appended lands after it.
func TestLogReadAfter(t *testing.T) {
	dir, want := tornLog(t)
	after := make(chan struct{})
	l := openLog(t, dir, LogOptions{SegmentBytes: 4096, After: after})
	if l.bytes != 0 || len(l.scopes) != 0 {
		t.Fatal("the segments were read before After was closed")
	}
	named := make(chan error, 1)
	go func() { _, err := l.ID(); named <- err }() // a replica's publisher name does not wait
	select {
	case err := <-named:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ID waited for the read")
	}
	found, appended := make(chan []*entry, 1), make(chan error, 1)
	go func() {
		got, _, _ := find(l, everything)
		found <- got
	}()
	go func() {
		appended <- l.append([]*entry{entryOf(rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Minute), "e-20"))})
	}()
	select {
	case <-found:
		t.Fatal("a lookup answered before the segments were read")
	case <-appended:
		t.Fatal("an append went through before the segments were read")
	case <-time.After(100 * time.Millisecond):
	}
	close(after)
	got := <-found
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	// The lookup may have run before or after the append: the append is never before the old
	// records, and is there once it returned.
	if len(got) == 21 {
		got = got[1:]
	}
	if diff := gocmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("lookup waiting for the read (-want +got):\n%s", diff)
	}
	if got := ids(findAll(t, l, everything)); len(got) != 21 || got[0] != "e-20" {
		t.Errorf("after the append: %v", got)
	}
	l.Close()
	l = openLog(t, dir, LogOptions{SegmentBytes: 4096})
	if got := ids(findAll(t, l, everything)); len(got) != 21 || got[0] != "e-20" {
		t.Errorf("reopened after the append: %v", got)
	}
}

// TestLogReadAfterFails: a deferred read that cannot cut off a torn append leaves a Log every
// call of which fails with why; one closed before After was closed is closed, and never read.
func TestLogReadAfterFails(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, LogOptions{})
	appendRecords(t, l, rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-1"))
	l.Close()
	tearLastSegment(t, dir)
	defer func(f func(*os.File, int64) error) { truncateFile = f }(truncateFile)
	truncateFile = func(*os.File, int64) error { return errors.New("read-only file system") }

	after := make(chan struct{})
	l = openLog(t, dir, LogOptions{After: after})
	close(after)
	if _, _, err := find(l, everything); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("lookup: %v, want the failed cut", err)
	}
	if err := l.append([]*entry{entryOf(rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-2"))}); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("append: %v, want the failed cut", err)
	}
	if _, err := l.Prune(callTime); err == nil {
		t.Error("prune of a log that was not read")
	}
	if err := l.Sync(); err == nil {
		t.Error("sync of a log that was not read")
	}

	l = openLog(t, dir, LogOptions{After: make(chan struct{})}) // never closed
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := find(l, everything); !errors.Is(err, errLogClosed) {
		t.Errorf("lookup after Close: %v", err)
	}
	if l.bytes != 0 {
		t.Error("a closed log was read")
	}
}

// tornLog writes 20 records in several segments of 4 KiB into a new directory, then tears
// the last segment's end (tearLastSegment); want is the records' IDs, newest first.
func tornLog(t *testing.T) (dir string, want []string) {
	t.Helper()
	dir = t.TempDir()
	l, err := OpenLog(dir, LogOptions{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendRecords(t, l, rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Duration(i)*time.Second), fmt.Sprintf("e-%02d", i)))
		want = append([]string{fmt.Sprintf("e-%02d", i)}, want...)
	}
	l.Close()
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	tearLastSegment(t, dir)
	return dir, want
}

// tearLastSegment appends a frame header and a few bytes of its payload to the newest
// segment in dir: an append a crash cut short.
func tearLastSegment(t *testing.T, dir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 1, 0, 0, 1, 2, 3, 4, 5})
	f.Close()
}

// TestLogPrune: segments past the 90 days go whole, with their index entries; the segment
// being appended to goes too once it is entirely past retention; and past MaxBytes the oldest
// go early.
func TestLogPrune(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{SegmentBytes: 4096})
	now := callTime.Add(Retention)
	for i := range 30 {
		appendRecords(t, l, rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Duration(i-10)*time.Hour), fmt.Sprintf("e-%02d", i)))
	}
	n, err := l.Prune(now)
	if err != nil {
		t.Fatal(err)
	}
	left := findAll(t, l, query{account: acct, region: "eu-west-1", to: now, limit: 50})
	if n == 0 || n+len(left) != 30 {
		t.Fatalf("pruned %d, %d left, of 30", n, len(left))
	}
	for i, e := range left[:20] { // a segment goes when its newest record is past: the ten oldest, in several segments
		if want := fmt.Sprintf("e-%02d", 29-i); e.EventID != want {
			t.Errorf("left[%d] = %s, want %s: a record within retention was pruned", i, e.EventID, want)
		}
	}
	if n, _ := l.Prune(now.Add(Retention)); n != len(left) || l.Size() != 0 {
		t.Errorf("a quiet log past retention: pruned %d of %d, %d bytes left", n, len(left), l.Size())
	}
	appendRecords(t, l, rec(t, "DeleteSecurityGroup", "sg-1", now, "e-after"))
	if got := ids(findAll(t, l, query{account: acct, region: "eu-west-1", to: now, limit: 50})); len(got) != 1 {
		t.Errorf("after pruning everything: %v", got)
	}

	small := openLog(t, t.TempDir(), LogOptions{SegmentBytes: 4096, MaxBytes: 3 * 4096})
	for i := range 60 {
		appendRecords(t, small, rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Duration(i)*time.Second), fmt.Sprintf("e-%02d", i)))
	}
	if _, err := small.Prune(callTime); err != nil {
		t.Fatal(err)
	}
	if small.Size() > 3*4096+4096 {
		t.Errorf("%d bytes after pruning to 3 segments of 4 KiB", small.Size())
	}
	if got := findAll(t, small, everything); len(got) == 0 || got[0].EventID != "e-59" {
		t.Errorf("the newest records must stay: %v", ids(got))
	}
}

// TestRecordCommitsWithItsChange is the crash test of §1.5's promise: a record staged as Ops
// in the transaction of its change is durable exactly when the change is — after a crash
// before its completion reached the Log, Recover moves it there; a transaction refused for a
// failed condition or an invalid op leaves neither.
func TestRecordCommitsWithItsChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
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
	st.Close() // the crash: the completion never came

	st = openStore(t, filepath.Join(dir, "s.db"))
	l := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	if err := NewRecorder(l, st, RecorderOptions{}).Recover(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got := findAll(t, l, everything)
	if diff := gocmp.Diff([]string{"e-committed"}, ids(got)); diff != "" {
		t.Errorf("records after recovery (-want +got):\n%s", diff)
	}
	if kvs, _, _ := st.List(ctx, Prefix); len(kvs) != 0 {
		t.Errorf("%d trail keys left in the store after recovery", len(kvs))
	}
}

// TestRecoverTakesTheLastRunsOnly: a server recovers, while its API serves, the records
// staged before the second it started; one staged from that second on is a call of its own,
// whose completion is still to come, and stays in the outbox.
func TestRecoverTakesTheLastRunsOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	started := callTime.Add(time.Hour)
	for _, r := range []*Record{
		rec(t, "DeleteSecurityGroup", "sg-1", started.Add(-time.Second), "e-last-run"),
		rec(t, "DeleteSecurityGroup", "sg-2", started, "e-this-run"),
	} {
		if _, err := st.Txn(ctx, nil, r.Ops()); err != nil {
			t.Fatal(err)
		}
	}
	l := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	if err := NewRecorder(l, st, RecorderOptions{}).Recover(ctx, started.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got := ids(findAll(t, l, everything)); !slices.Equal(got, []string{"e-last-run"}) {
		t.Errorf("recovered %v, want the last run's record only", got)
	}
	kvs, _, _ := st.List(ctx, OutboxPrefix)
	if len(kvs) != 1 || !strings.HasSuffix(kvs[0].Key, "/e-this-run") {
		t.Errorf("outbox after recovery: %v", kvs)
	}
}

// TestOutboxOnEtcd: on etcd, whose transactions hold 128 operations, the Recorder moves 300
// staged records into its log and deletes their outbox keys at a start (Recover), and deletes
// those of 300 calls it completes (the cleanup after its appends); in one transaction etcd
// refused those deletes every time.
func TestOutboxOnEtcd(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Start(t)
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: srv.Endpoints, Prefix: "/outbox/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := openLog(t, filepath.Join(t.TempDir(), "log"), LogOptions{})
	rc := NewRecorder(l, st, RecorderOptions{})
	check := func(when string, records int) {
		t.Helper()
		q := everything
		q.to, q.limit = time.Now().Add(time.Hour), 1000
		kvs, _, err := st.List(ctx, OutboxPrefix)
		if got := len(findAll(t, l, q)); got != records || len(kvs) != 0 || err != nil || rc.Failed() != 0 {
			t.Errorf("%s: %d records in the log, %d outbox keys left (%v), %d failed; want %d, none, none", when, got, len(kvs), err, rc.Failed(), records)
		}
	}

	started := callTime.Add(time.Hour)
	for i := range 300 { // the last run's calls, never completed
		r := rec(t, "DeleteSecurityGroup", "sg-1", started.Add(-time.Second), fmt.Sprintf("e-%03d", i))
		if _, err := st.Txn(ctx, nil, r.Ops()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Recover(ctx, started); err != nil {
		t.Fatal(err)
	}
	check("after Recover", 300)

	c := goldenCalls["authorize-ip-permissions"]
	c.Time, c.EventID = time.Time{}, ""
	reply := c.Response
	c.Response = nil
	for range 300 { // this run's: staged with their change, then completed
		p := NewPending(c)
		p.Prepare()
		if _, err := st.Txn(ctx, nil, p.Journal()); err != nil {
			t.Fatal(err)
		}
		if !rc.Complete(p, reply, nil) {
			t.Fatal("queue full")
		}
	}
	rc.Flush(ctx)
	check("after the completions", 600)
}

// TestRecorderBoundedQueue: a full queue drops and counts instead of blocking; Flush appends
// the queue in batches of at most Batch records; what was accepted survives a reopen.
func TestRecorderBoundedQueue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	l, err := OpenLog(filepath.Join(dir, "log"), LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := NewRecorder(l, st, RecorderOptions{Queue: 5, Batch: 2})
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
	if l.appends != 3 {
		t.Errorf("5 records in batches of 2 took %d appends, want 3", l.appends)
	}
	l.Close()
	l = openLog(t, filepath.Join(dir, "log"), LogOptions{})
	if diff := gocmp.Diff([]string{"e-4", "e-3", "e-2", "e-1", "e-0"}, ids(findAll(t, l, everything))); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func runRecorder(t *testing.T, rc *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestRecorderRun: Run writes what is queued and, when stopped, what is still queued, and
// hands each record to Appended once it is in the log.
func TestRecorderRun(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, LogOptions{})
	var published []string // Appended runs in the Recorder's goroutine, which stop waits for
	rc := NewRecorder(l, openStore(t, filepath.Join(dir, "s.db")), RecorderOptions{Appended: func(recs []*Record) {
		for _, r := range recs {
			if !l.contains(r.RecipientAccountID, r.AWSRegion, r.Time.Unix(), r.EventID) {
				t.Errorf("%s published before it is in the log", r.EventID)
			}
			published = append(published, r.EventID)
		}
	}})
	stop := runRecorder(t, rc)
	for i := range 20 {
		rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, fmt.Sprintf("e-%02d", i)))
	}
	stop()
	if got := findAll(t, l, everything); len(got) != 20 || rc.Failed() != 0 {
		t.Errorf("after Run: %d records, %d failed", len(got), rc.Failed())
	}
	if len(published) != 20 || published[0] != "e-00" {
		t.Errorf("published %v, want the 20 records in order", published)
	}
	if rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, "late")) != true {
		t.Error("Record after Run refused although the queue has room")
	}
}

// TestRecorderLingers: records that arrive one by one while a batch waits (Linger) are
// appended together, not one each.
func TestRecorderLingers(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, LogOptions{})
	rc := NewRecorder(l, openStore(t, filepath.Join(dir, "s.db")), RecorderOptions{Linger: time.Hour})
	stop := runRecorder(t, rc)
	for i := range 5 {
		rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, fmt.Sprintf("e-%02d", i)))
		time.Sleep(time.Millisecond) // one by one: the first is already being batched
	}
	stop() // ends the wait: the batch is written, then Run returns
	if got := findAll(t, l, everything); len(got) != 5 || l.appends != 1 {
		t.Errorf("%d records in %d appends, want 5 in 1", len(got), l.appends)
	}
}

// TestRecorderCountsFailures: records the Log refuses are counted as lost.
func TestRecorderCountsFailures(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, LogOptions{})
	rc := NewRecorder(l, openStore(t, filepath.Join(dir, "s.db")), RecorderOptions{})
	rc.Record(rec(t, "DescribeSecurityGroups", "sg-1", callTime, "e-1"))
	l.Close()
	rc.Flush(context.Background())
	if rc.Failed() != 1 {
		t.Errorf("Failed = %d, want 1", rc.Failed())
	}
}

// TestCompletes: a write's record staged in the outbox without its response, then completed
// once the response exists, is one record in the Log, the complete one, found by the group
// only its response names; its outbox key is gone. A completion that never comes (dropped by
// a full queue) is replaced by the staged record after a minute (Sweep), and one that comes
// later still is not recorded twice.
func TestCompletes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	l := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	rc := NewRecorder(l, st, RecorderOptions{})
	build := func(id string, response bool) (*Record, *Record) {
		c := call("CreateSecurityGroup", alice, q("GroupName", "web", "GroupDescription", "w"), "", nil)
		c.Time, c.EventID = callTime, id
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
		if _, err := st.Txn(ctx, nil, staged.Ops()); err != nil {
			t.Fatal(err)
		}
		return staged, done
	}
	_, done := build("00000000-0000-4000-8000-000000000001", true)
	rc.Record(done)
	rc.Flush(ctx)
	byGroup := everything
	byGroup.attr, byGroup.value = ResourceNameAttr, "sg-0123456789abcdef0"
	for name, qu := range map[string]query{"all": everything, "by group": byGroup} {
		got := findAll(t, l, qu)
		if len(got) != 1 || !strings.Contains(string(got[0].JSON), "sg-0123456789abcdef0") {
			t.Errorf("%s: %d records, want the completed one", name, len(got))
		}
	}
	if kvs, _, _ := st.List(ctx, OutboxPrefix); len(kvs) != 0 {
		t.Errorf("outbox keys left after the completion: %d", len(kvs))
	}

	_, late := build("00000000-0000-4000-8000-000000000002", true)
	if err := rc.Sweep(ctx, callTime.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rc.Record(late)
	rc.Flush(ctx)
	got := findAll(t, l, everything)
	if diff := gocmp.Diff([]string{"00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000001"}, ids(got)); diff != "" {
		t.Errorf("after a sweep and a late completion (-want +got):\n%s", diff)
	}
	if strings.Contains(string(got[0].JSON), "sg-0123456789abcdef0") {
		t.Error("the swept record is the staged one: the late completion must not replace it")
	}
	if kvs, _, _ := st.List(ctx, OutboxPrefix); len(kvs) != 0 {
		t.Errorf("outbox keys left after the sweep: %d", len(kvs))
	}
}

// TestMigrateLegacy: records of the first layout (kept in the store) move into the Log at
// Recover, with everything LookupEvents reports, and their keys leave the store.
func TestMigrateLegacy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	r := rec(t, "DeleteSecurityGroup", "sg-1", callTime, "e-legacy")
	js, _ := json.Marshal(r)
	stored, _ := json.Marshal(legacyStored{Record: js, Username: r.Username, Lookup: r.Lookup})
	ops := []store.Op{
		{Key: legacyRecords + acct + "/eu-west-1/" + timeKey(callTime) + "/e-legacy", Value: stored},
		{Key: legacyIndex + acct + "/eu-west-1/EventName/DeleteSecurityGroup/" + timeKey(callTime) + "/e-legacy", Value: []byte{}},
		{Key: legacyTimes + timeKey(callTime) + "/" + acct + "/eu-west-1/e-legacy", Value: []byte{}},
	}
	if _, err := st.Txn(ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	if err := NewRecorder(l, st, RecorderOptions{}).Recover(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	q := everything
	q.attr, q.value = ResourceNameAttr, "sg-1"
	got := findAll(t, l, q)
	if len(got) != 1 {
		t.Fatalf("after migration: %v", ids(got))
	}
	if diff := gocmp.Diff(entryOf(r), got[0], cmpopts.IgnoreUnexported(entry{})); diff != "" {
		t.Errorf("migrated record (-want +got):\n%s", diff)
	}
	if kvs, _, _ := st.List(ctx, Prefix); len(kvs) != 0 {
		t.Errorf("%d keys of the first layout left", len(kvs))
	}
}

// TestFindMatchesReference: many records in few seconds, with random eventIDs, appended in
// batches that bring some a second late, are found page by page exactly as a sort of them
// all orders them (§2.3: newest first, ties by eventID descending), for every record and for
// one attribute value, from every cursor.
func TestFindMatchesReference(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{})
	rng := rand.New(rand.NewPCG(3, 4))
	var all []*entry
	var batch []*entry
	for i := range 600 {
		at := callTime.Add(time.Duration(i/100) * time.Second)
		if rng.IntN(10) == 0 && i >= 100 {
			at = at.Add(-time.Second) // late
		}
		action := benchActions[rng.IntN(3)]
		r := rec(t, action, "sg-1", at, newUUID())
		all = append(all, entryOf(r))
		batch = append(batch, entryOf(r))
		if len(batch) == 37 || i == 599 {
			if err := l.append(batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if a.Time != b.Time {
			return cmp.Compare(b.Time, a.Time)
		}
		return strings.Compare(b.EventID, a.EventID)
	})
	for _, attr := range []struct {
		key   Attribute
		value string
	}{{"", ""}, {EventNameAttr, benchActions[1]}} {
		var want []string
		for _, e := range all {
			if attr.key == "" || e.EventName == attr.value {
				want = append(want, e.EventID)
			}
		}
		var got []string
		q := everything
		q.attr, q.value, q.limit = attr.key, attr.value, 7
		for pages := 0; ; pages++ {
			page, cursor, err := find(l, q)
			if err != nil || pages > 200 {
				t.Fatalf("page %d: %v", pages, err)
			}
			got = append(got, ids(page)...)
			if cursor == "" {
				break
			}
			q.cursor = cursor
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("%s=%s (-want +got):\n%s", attr.key, attr.value, diff)
		}
	}
}

// TestRecorderComplete: a call's record completed by the Recorder (Complete, after the reply
// has gone) is the complete record — responseElements from the reply, the staged record's
// eventTime and eventID — and its staged form leaves the outbox; a completion of a failure
// carries the error.
func TestRecorderComplete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	l := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	rc := NewRecorder(l, st, RecorderOptions{})

	c := goldenCalls["authorize-ip-permissions"]
	c.Time, c.EventID = time.Time{}, ""
	reply := c.Response
	c.Response = nil
	p := NewPending(c)
	p.Prepare()
	if _, err := st.Txn(ctx, nil, append([]store.Op{{Key: "sg/sg-1", Value: []byte("group")}}, p.Journal()...)); err != nil {
		t.Fatal(err)
	}
	want, err := p.Finish(reply, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := NewPending(c)
	if !rc.Complete(p, reply, nil) || !rc.Complete(failed, nil, &Failure{Code: "InvalidGroup.NotFound", Message: "gone"}) {
		t.Fatal("queue full")
	}
	rc.Flush(ctx)

	now := everything
	now.to = time.Now().Add(time.Hour) // the calls were made now, not at callTime
	got := findAll(t, l, now)
	if len(got) != 2 {
		t.Fatalf("%d records in the log, want 2", len(got))
	}
	byID := map[string]string{got[0].EventID: string(got[0].JSON), got[1].EventID: string(got[1].JSON)}
	if byID[want.EventID] != string(want.JSON()) {
		t.Errorf("completed record\n%s\nwant\n%s", byID[want.EventID], want.JSON())
	}
	for id, js := range byID {
		if id != want.EventID && !strings.Contains(js, `"errorCode":"Client.InvalidGroup.NotFound"`) {
			t.Errorf("the failure's record has no error: %s", js)
		}
	}
	if kvs, _, _ := st.List(ctx, Prefix); len(kvs) != 0 {
		t.Errorf("%d trail keys left in the store after the completion", len(kvs))
	}
}

// TestRecorderCompleteBounded: what a queued completion keeps of its call until the Recorder
// builds the record is bounded: a read's reply, which its record does not use, is not kept;
// a call whose parameters and reply are over maxDeferred has its record built at once, capped
// as every record is, and queued as a record; a small change keeps its reply for the Recorder.
func TestRecorderCompleteBounded(t *testing.T) {
	dir := t.TempDir()
	rc := NewRecorder(openLog(t, filepath.Join(dir, "log"), LogOptions{}), openStore(t, filepath.Join(dir, "s.db")), RecorderOptions{})
	big := []byte("<x>" + strings.Repeat("y", maxDeferred) + "</x>")
	read := goldenCalls["describe"]
	change := goldenCalls["authorize-ip-permissions"]
	small := change.Response
	read.Response, change.Response = nil, nil

	for _, tt := range []struct {
		name     string
		call     Call
		response []byte
		deferred bool // queued as a completion, not as a record
		keeps    int  // bytes of reply the completion keeps
	}{
		{"a read with a large reply", read, big, true, 0},
		{"a change with a small reply", change, small, true, len(small)},
		{"a change with a reply over the bound", change, big, false, 0},
	} {
		if !rc.Complete(NewPending(tt.call), tt.response, nil) {
			t.Fatalf("%s: queue full", tt.name)
		}
		q := <-rc.queue
		if (q.pending != nil) != tt.deferred || len(q.response) != tt.keeps {
			t.Errorf("%s: queued completion %v with %d bytes of reply, want %v with %d", tt.name, q.pending != nil, len(q.response), tt.deferred, tt.keeps)
		}
		if !tt.deferred && (q.rec == nil || len(q.rec.JSON()) > maxElements+4096) {
			t.Errorf("%s: not queued as a capped record", tt.name)
		}
	}
}
