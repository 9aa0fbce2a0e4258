package trail

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
)

// replicaServer is one API server's trail on a shared store: its own Log, Recorder and
// Replica.
type replicaServer struct {
	log     *Log
	rec     *Recorder
	replica *Replica
	stop    func()
}

func startReplicaServer(t *testing.T, dir string, st store.Store, opts ReplicaOptions) *replicaServer {
	t.Helper()
	l := openLog(t, dir, LogOptions{Shared: true})
	r, err := NewReplica(l, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	rc := NewRecorder(l, st, RecorderOptions{Replica: r, Linger: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { r.Run(ctx); done <- struct{}{} }()
	rctx, rcancel := context.WithCancel(context.Background())
	go func() { rc.Run(rctx); done <- struct{}{} }()
	s := &replicaServer{log: l, rec: rc, replica: r}
	var stopped bool
	s.stop = func() { // the Recorder first, as the server stops its trail
		if stopped {
			return
		}
		stopped = true
		rcancel()
		<-done
		cancel()
		<-done
	}
	t.Cleanup(s.stop)
	return s
}

// waitContains waits until l holds every record of recs (the follower's delay is a watch's),
// failing after a generous bound: the test asserts arrival, not speed.
func waitContains(t *testing.T, l *Log, recs ...*Record) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing := ""
		for _, r := range recs {
			if !l.contains(r.RecipientAccountID, r.AWSRegion, r.Time.Unix(), r.EventID) {
				missing = r.EventID
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %s never arrived", missing)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recent is everything of the last hour in the test's scope.
func recent(now time.Time) query {
	return query{account: acct, region: "eu-west-1", from: now.Add(-time.Hour), to: now.Add(time.Hour), limit: 50}
}

// TestReplicaSharesRecords: the records of calls served by A, reads and changes, reach B's
// Log and the other way round, byte for byte, once each (a server's own chunks and replays
// are not appended again), and are published in one chunk per batch, not one per call.
func TestReplicaSharesRecords(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	a := startReplicaServer(t, filepath.Join(dir, "a"), st, ReplicaOptions{})
	b := startReplicaServer(t, filepath.Join(dir, "b"), st, ReplicaOptions{})
	now := time.Now().Truncate(time.Second)
	onA := []*Record{rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "a-change"), rec(t, "DescribeSecurityGroups", "sg-1", now, "a-read")}
	onB := []*Record{rec(t, "RevokeSecurityGroupIngress", "sg-1", now, "b-change")}
	for _, r := range onA {
		a.rec.Record(r)
	}
	for _, r := range onB {
		b.rec.Record(r)
	}
	waitContains(t, b.log, onA...)
	waitContains(t, a.log, onB...)
	a.stop()
	b.stop()
	for name, l := range map[string]*Log{"A": a.log, "B": b.log} {
		got := map[string][]byte{}
		for _, e := range findAll(t, l, recent(now)) {
			if _, dup := got[e.EventID]; dup {
				t.Errorf("%s holds %s twice", name, e.EventID)
			}
			got[e.EventID] = e.JSON
		}
		want := map[string][]byte{}
		for _, r := range append(append([]*Record{}, onA...), onB...) {
			want[r.EventID] = entryOf(r).JSON
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s's Log (-want +got):\n%s", name, diff)
		}
	}
	kvs, _, err := st.List(context.Background(), ReplicaPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) > 3 || len(kvs) == 0 {
		t.Errorf("%d chunks for 3 records in at most 3 batches", len(kvs))
	}
	if a.replica.Published() != 2 || b.replica.Published() != 1 || b.replica.Applied() != 2 || a.replica.Applied() != 1 {
		t.Errorf("published A %d B %d, applied A %d B %d; want 2, 1, 1, 2",
			a.replica.Published(), b.replica.Published(), a.replica.Applied(), b.replica.Applied())
	}
}

// TestReplicaCatchesUp: a server that was not running when records were published gets them
// from the listing when it starts, and a restarted server (same Log, same ID) does not append
// its own records again.
func TestReplicaCatchesUp(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	a := startReplicaServer(t, filepath.Join(dir, "a"), st, ReplicaOptions{})
	now := time.Now().Truncate(time.Second)
	r1 := rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "early")
	a.rec.Record(r1)
	a.stop() // publishes what it appended before it returns
	kvs, _, err := st.List(context.Background(), ReplicaPrefix)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("after A stopped: %d chunks (%v), want 1; published %d lost %d skipped %d", len(kvs), err, a.replica.Published(), a.replica.Lost(), a.replica.Skipped())
	}
	b := startReplicaServer(t, filepath.Join(dir, "b"), st, ReplicaOptions{})
	waitContains(t, b.log, r1)
	a.log.Close()
	again := startReplicaServer(t, filepath.Join(dir, "a"), st, ReplicaOptions{})
	r2 := rec(t, "RevokeSecurityGroupIngress", "sg-1", now, "later")
	b.rec.Record(r2)
	waitContains(t, again.log, r2) // the listing, with A's own chunk, came first
	if got := ids(findAll(t, again.log, recent(now))); !cmp.Equal(got, []string{"later", "early"}) {
		t.Errorf("restarted A holds %v, want [later early]", got)
	}
	if again.replica.Applied() != 1 {
		t.Errorf("restarted A applied %d records, want 1 (its own chunk is skipped)", again.replica.Applied())
	}
}

// TestReplicaReadBudget: reads' records beyond the budget are not published (counted), while
// changes' records always are.
func TestReplicaReadBudget(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	a := startReplicaServer(t, filepath.Join(dir, "a"), st, ReplicaOptions{ReadBytes: -1})
	b := startReplicaServer(t, filepath.Join(dir, "b"), st, ReplicaOptions{})
	now := time.Now().Truncate(time.Second)
	read, change := rec(t, "DescribeSecurityGroups", "sg-1", now, "read"), rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "change")
	a.rec.Record(read)
	a.rec.Record(change)
	waitContains(t, b.log, change)
	a.stop() // every batch A appended was sent or skipped
	b.stop()
	if b.log.contains(acct, "eu-west-1", now.Unix(), "read") {
		t.Error("a read over the budget reached B")
	}
	if a.replica.Skipped() != 1 || a.replica.Published() != 1 {
		t.Errorf("skipped %d, published %d; want 1 and 1", a.replica.Skipped(), a.replica.Published())
	}
}

// TestReplicaChunks: a batch is split into chunks under etcd's request size, each chunk
// decodes to its records byte for byte, a record too large alone is left out, and a damaged
// chunk is refused.
func TestReplicaChunks(t *testing.T) {
	now := time.Now()
	var es []*entry
	for i := range 5 {
		e := entryOf(rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, fmt.Sprintf("e-%d", i)))
		e.JSON = bytes.Repeat([]byte("x"), 400) // with the rest, two fit a chunk of 1,200 bytes, not three
		es = append(es, e)
	}
	huge := entryOf(rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "huge"))
	huge.JSON = bytes.Repeat([]byte("y"), 1200)
	const limit = 1200
	cs := chunks(append(es, huge), limit)
	zw := newChunkWriter()
	var sizes []int
	var got []*entry
	for _, c := range cs {
		sizes = append(sizes, len(c.encoded))
		v, err := encodeChunk(zw, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) > limit {
			t.Errorf("chunk of %d bytes", len(v))
		}
		d, err := decodeChunk(v)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d...)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, sizes); diff != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(es, got, cmp.AllowUnexported(entry{}, position{})); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	v, _ := encodeChunk(zw, chunks(es[:1], limit)[0])
	for _, bad := range [][]byte{nil, {9}, v[:len(v)/2]} {
		if _, err := decodeChunk(bad); err == nil {
			t.Errorf("damaged chunk %q decoded", bad)
		}
	}
}

// TestReplicaExpire: chunks older than the TTL are deleted, by any server, and newer ones
// kept.
func TestReplicaExpire(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	ctx := context.Background()
	now := time.Now()
	var ops []store.Op
	for i := range 70 { // more than one deletion batch
		ops = append(ops, store.Op{Key: fmt.Sprintf("%s%s/old/%016x", ReplicaPrefix, timeKey(now.Add(-20*time.Minute)), i), Value: []byte{chunkFormat}})
	}
	ops = append(ops, store.Op{Key: ReplicaPrefix + timeKey(now) + "/new/0000000000000001", Value: []byte{chunkFormat}})
	if _, err := st.Txn(ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	r, err := NewReplica(openLog(t, filepath.Join(dir, "l"), LogOptions{Shared: true}), st, ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	kvs, _, err := st.List(ctx, ReplicaPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 1 || !strings.Contains(kvs[0].Key, "/new/") {
		t.Errorf("after expiry: %d chunks, want only the new one", len(kvs))
	}
}

// TestExportCursorPerServer: on a shared store each server's export keeps its own cursor (a
// place in its own Log, kept under the Log's ID): B's export is not cut short by how far A
// got in A's Log, and each exports what its Log holds once.
func TestExportCursorPerServer(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	export := func(l *Log) int {
		root, err := os.OpenRoot(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		files, _, err := Export(ctx, st, l, root, now)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range files {
			n += len(readLogFile(t, filepath.Join(root.Name(), f)))
		}
		return n
	}
	a := openLog(t, filepath.Join(dir, "a"), LogOptions{Shared: true})
	b := openLog(t, filepath.Join(dir, "b"), LogOptions{Shared: true})
	appendRecords(t, a, rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "a-1"), rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "a-2"))
	appendRecords(t, b, rec(t, "AuthorizeSecurityGroupIngress", "sg-1", now, "b-1"))
	if got := []int{export(a), export(b), export(a), export(b)}; !cmp.Equal(got, []int{2, 1, 0, 0}) {
		t.Errorf("records exported by A, B, A, B: %v, want [2 1 0 0]", got)
	}
}
