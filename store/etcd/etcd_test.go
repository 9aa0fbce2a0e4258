package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/etcd/etcdtest"
	"github.com/stockade/stockade/store/storetest"
)

var prefixes atomic.Int64

// open returns a store under a prefix of its own on srv, closed when the test ends.
func open(t *testing.T, srv *etcdtest.Server, opts Options) *Store {
	t.Helper()
	opts.Endpoints = srv.Endpoints
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("/test%d/", prefixes.Add(1))
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance: the suite bolt passes, every subtest on a prefix of its own of one etcd.
func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv, Options{}) })
}

func put(k, v string) store.Op { return store.Op{Key: k, Value: []byte(v)} }

// TestLimits: what etcd would refuse for its size is refused by Check with ErrInvalid, and
// what Check lets through etcd takes, at the edges of etcd's default limits.
func TestLimits(t *testing.T) {
	srv := etcdtest.Start(t)
	s := open(t, srv, Options{})
	ctx := context.Background()
	puts := func(n int) []store.Op {
		var ops []store.Op
		for i := range n {
			ops = append(ops, put(fmt.Sprintf("k%03d", i), "v"))
		}
		return ops
	}
	deletes := func(n int) []store.Op {
		var ops []store.Op
		for i := range n {
			ops = append(ops, store.Op{Key: fmt.Sprintf("d%03d", i), Delete: true})
		}
		return ops
	}
	// The largest value Check lets through with key "big" (see the package doc's count).
	biggest := DefaultMaxRequestBytes - requestHeader - opFraming - len(s.prefix) - len("big")
	cases := []struct {
		name string
		ops  []store.Op
		ok   bool
	}{
		{"128 puts", puts(128), true},
		{"129 puts", puts(129), false},
		{"127 deletes and the revision's own put", deletes(127), true},
		{"128 deletes and the revision's own put", deletes(128), false},
		{"one key put three times", append(puts(1), puts(1)[0], puts(1)[0]), true},
		{"the largest value", []store.Op{{Key: "big", Value: make([]byte, biggest)}}, true},
		{"one byte more", []store.Op{{Key: "big", Value: make([]byte, biggest+1)}}, false},
		{"an empty key", []store.Op{put("", "v")}, false},
		{"no ops", nil, false},
	}
	for _, c := range cases {
		err := s.Check(c.ops)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("%s: Check = %v, want ok %v", c.name, err, c.ok)
			continue
		}
		rev, err := s.Txn(ctx, nil, c.ops)
		if c.ok && err != nil {
			t.Errorf("%s: Check passed, etcd refused: %v", c.name, err)
		}
		if !c.ok && (!errors.Is(err, store.ErrInvalid) || rev != 0) {
			t.Errorf("%s: Txn = %d, %v, want ErrInvalid", c.name, rev, err)
		}
	}
	tooManyConds := make([]store.Cond, DefaultMaxTxnOps+1)
	for i := range tooManyConds {
		tooManyConds[i].Key = fmt.Sprint("c", i)
	}
	if _, err := s.Txn(ctx, tooManyConds, puts(1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("129 conditions: %v", err)
	}

	// A store told of larger limits than the cluster has sends what etcd refuses: the
	// refusal is still ErrInvalid, and the store keeps working.
	lax := open(t, srv, Options{MaxTxnOps: 1000, MaxRequestBytes: 4 << 20})
	if _, err := lax.Txn(ctx, nil, puts(129)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("etcd's refusal of 129 ops: %v", err)
	}
	for _, size := range []int{DefaultMaxRequestBytes + 100<<10, 3 << 20} { // etcd's limit, then gRPC's
		if _, err := lax.Txn(ctx, nil, []store.Op{{Key: "big", Value: make([]byte, size)}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("etcd's refusal of %d bytes: %v", size, err)
		}
	}
	if _, err := lax.Txn(ctx, nil, puts(1)); err != nil {
		t.Errorf("Txn after etcd's refusals: %v", err)
	}
}

// TestWatchCompacted: a watch from a compacted revision is ErrCompacted at once, and a watch
// that compaction overtakes ends with ErrCompacted.
func TestWatchCompacted(t *testing.T) {
	srv := etcdtest.Start(t)
	s := open(t, srv, Options{})
	ctx := context.Background()
	var revs []int64
	for i := range 4 {
		rev, err := s.Txn(ctx, nil, []store.Op{put("k", fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	if _, err := s.cli.Compact(ctx, revs[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(ctx, revs[1]); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch from a compacted revision: %v", err)
	}
	// The stream's own report, as when compaction passes a watch between Watch's check and
	// the server's start of the watch, or while it lags.
	w, err := s.follow(ctx, revs[1])
	if err != nil {
		t.Fatal(err)
	}
	for range w.C {
		t.Error("an event from a compacted revision")
	}
	if !errors.Is(w.Err(), store.ErrCompacted) {
		t.Errorf("watch overtaken by compaction: %v", w.Err())
	}
	// From the compaction revision on, history is there.
	w, err = s.Watch(ctx, revs[2])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range revs[2:] {
		select {
		case ev := <-w.C:
			if ev.Revision != want {
				t.Errorf("event at %d, want %d", ev.Revision, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d: %v", want, w.Err())
		}
	}
}

// TestEtcdStopped: with the cluster gone, writes (queued ones included) and reads fail
// within the store's timeout rather than hang, and nothing is reported written.
func TestEtcdStopped(t *testing.T) {
	srv := etcdtest.Start(t)
	s := open(t, srv, Options{Timeout: 3 * time.Second})
	ctx := context.Background()
	if _, err := s.Txn(ctx, nil, []store.Op{put("a", "1")}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	done := make(chan []error, 1)
	go func() {
		var errs []error
		var ps []store.Pending
		for i := range 3 {
			ps = append(ps, s.Submit(ctx, nil, []store.Op{put(fmt.Sprint("b", i), "1")}))
		}
		for _, p := range ps {
			_, err := p.Wait()
			errs = append(errs, err)
		}
		_, _, err := s.Get(ctx, "a")
		errs = append(errs, err)
		_, _, err = s.List(ctx, "")
		errs = append(errs, err)
		_, err = s.Watch(ctx, 0)
		errs = append(errs, err)
		done <- errs
	}()
	select {
	case errs := <-done:
		for i, err := range errs {
			if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) {
				t.Errorf("call %d with etcd stopped: %v, want a storage error", i, err)
			}
		}
	case <-time.After(time.Minute): // a hang detector, far above the 3 s timeout: not a timing assertion
		t.Fatal("calls on a stopped etcd hang")
	}
	s.Close()
	for range w.C {
	}
	if !errors.Is(w.Err(), store.ErrClosed) {
		t.Errorf("watch after Close: %v", w.Err())
	}
}

// TestOpenUnreachable: Open fails within its timeout on an endpoint with nobody there.
func TestOpenUnreachable(t *testing.T) {
	srv := etcdtest.Start(t)
	endpoints := srv.Endpoints
	srv.Stop()
	_, err := Open(context.Background(), Options{Endpoints: endpoints, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), endpoints[0]) {
		t.Errorf("Open of a stopped etcd = %v, want an error naming it", err)
	}
}

// TestPrefixesAndUnwatched: stores on two prefixes of one cluster see only their own keys and
// events; ops under an Unwatched prefix are left out of events, not their revision.
func TestPrefixesAndUnwatched(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	a := open(t, srv, Options{Prefix: "/a/", Unwatched: []string{"trail/"}})
	b := open(t, srv, Options{Prefix: "/a/b/"}) // nested: a's keys "b/..." are b's
	w, err := a.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := a.Txn(ctx, nil, []store.Op{put("x", "1"), put("trail/1", "record")})
	r2, _ := a.Txn(ctx, nil, []store.Op{put("trail/2", "record")})
	r3, _ := a.Txn(ctx, nil, []store.Op{{Key: "gone", Delete: true}})
	if _, err := b.Txn(ctx, nil, []store.Op{put("y", "1")}); err != nil {
		t.Fatal(err)
	}
	// etcd reports no event for the delete of a missing key: the transaction is there, without it.
	want := []store.Event{{Revision: r1, Ops: []store.Op{put("x", "1")}}, {Revision: r2}, {Revision: r3}}
	var got []store.Event
	for range want {
		select {
		case ev := <-w.C:
			got = append(got, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far %+v: %v", got, w.Err())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a's events (-want +got):\n%s", diff)
	}
	kvs, _, err := b.List(ctx, "")
	if err != nil || len(kvs) != 1 || kvs[0].Key != "y" {
		t.Errorf("b's keys = %+v, %v", kvs, err)
	}
	if kvs, _ := b.Scan(ctx, "", "", 10, true); len(kvs) != 1 {
		t.Errorf("b's reverse scan = %+v", kvs)
	}
	if _, ok, _ := a.Get(ctx, ""); ok {
		t.Error("the prefix's own key is visible")
	}
}

// TestListPages: a list larger than one range request is whole and in order.
func TestListPages(t *testing.T) {
	srv := etcdtest.Start(t)
	s := open(t, srv, Options{})
	ctx := context.Background()
	n := 2*listPage + 7
	var want []string
	for i := 0; i < n; i += 100 {
		var ops []store.Op
		for j := i; j < min(i+100, n); j++ {
			k := fmt.Sprintf("p/%05d", j)
			ops = append(ops, put(k, k))
			want = append(want, k)
		}
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	kvs, rev, err := s.List(ctx, "p/")
	if err != nil || rev != s.Revision() {
		t.Fatalf("List = %d keys at %d, %v; store at %d", len(kvs), rev, err, s.Revision())
	}
	var got []string
	for _, kv := range kvs {
		got = append(got, kv.Key)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List over pages (-want +got):\n%s", diff)
	}
}

// TestExclusive: an exclusive store holds its prefix: another is refused while it lives, takes
// the prefix when it closes or its lease ends, and the old holder's writes are then fenced
// off rather than applied.
func TestExclusive(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	a := open(t, srv, Options{Prefix: "/x/", Exclusive: true, Holder: "server a", LeaseTTL: time.Second})
	r1, err := a.Txn(ctx, nil, []store.Op{put("k", "a")})
	if err != nil {
		t.Fatal(err)
	}
	if r2, err := a.Txn(ctx, nil, []store.Op{{Key: "missing", Delete: true}}); err != nil || r2 <= r1 {
		t.Errorf("a holder's Txn of deletes only = %d after %d, %v", r2, r1, err)
	}
	// Short bounds: the refusal comes after the TTL and the timeout, as a dead holder's would.
	second := Options{Endpoints: srv.Endpoints, Prefix: "/x/", Exclusive: true, Holder: "server b", LeaseTTL: time.Second, Timeout: time.Second}
	if b, err := Open(ctx, second); err == nil || !strings.Contains(err.Error(), "held by another stockade server (server a)") {
		if b != nil {
			b.Close()
		}
		t.Fatalf("a second holder's Open = %v", err)
	}

	// a's lease ends as if it had been cut off past its TTL; b takes the prefix.
	if _, err := a.cli.Revoke(ctx, a.hold.lease); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, second)
	if err != nil {
		t.Fatalf("Open after the holder's lease ended: %v", err)
	}
	defer b.Close()
	for _, c := range []struct {
		name  string
		conds []store.Cond
	}{{"unconditional", nil}, {"with a failing condition", []store.Cond{{Key: "k"}}}} {
		_, err := a.Txn(ctx, c.conds, []store.Op{put("k", "stale")})
		if err == nil || errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "no longer holds") {
			t.Errorf("the old holder's Txn %s: %v, want fenced off", c.name, err)
		}
	}
	if _, err := b.Txn(ctx, []store.Cond{{Key: "k", ModRevision: r1}}, []store.Op{put("k", "b")}); err != nil {
		t.Errorf("the new holder's Txn: %v", err)
	}
	if kv, _, _ := b.Get(ctx, "k"); string(kv.Value) != "b" {
		t.Errorf("k = %q, want the new holder's", kv.Value)
	}

	// Close hands the prefix over at once: c would give up long before b's lease ran out.
	b.Close()
	c := open(t, srv, Options{Prefix: "/x/", Exclusive: true, Holder: "server c", LeaseTTL: time.Minute})
	c.Close()
	d, err := Open(ctx, second)
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	d.Close()
}

// TestExclusiveAfterShared: the key a store without a holder leaves (for a transaction of
// deletes only) does not keep an exclusive store out.
func TestExclusiveAfterShared(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	shared := open(t, srv, Options{Prefix: "/y/"})
	if _, err := shared.Txn(ctx, nil, []store.Op{{Key: "missing", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	open(t, srv, Options{Prefix: "/y/", Exclusive: true, LeaseTTL: time.Second, Timeout: 5 * time.Second})
}

// TestTLS: with the CA, certificate and key files (etcdctl's --cacert, --cert, --key) the
// store works on a cluster that requires client certificates; without a certificate Open fails.
func TestTLS(t *testing.T) {
	srv := etcdtest.StartTLS(t)
	ctx := context.Background()
	s := open(t, srv, Options{CACertFile: srv.CACert, CertFile: srv.ClientCert, KeyFile: srv.ClientKey})
	if _, err := s.Txn(ctx, nil, []store.Op{put("k", "v")}); err != nil {
		t.Fatalf("Txn over TLS: %v", err)
	}
	if kv, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(kv.Value) != "v" {
		t.Errorf("Get over TLS = %+v %v %v", kv, ok, err)
	}
	if st, err := Open(ctx, Options{Endpoints: srv.Endpoints, CACertFile: srv.CACert, Timeout: time.Second}); err == nil {
		st.Close()
		t.Error("Open without a client certificate succeeded")
	}
	if _, err := Open(ctx, Options{Endpoints: srv.Endpoints, CACertFile: srv.CACert, CertFile: "/nonexistent.pem", KeyFile: srv.ClientKey}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("Open with a missing certificate file: %v", err)
	}
}

// TestAuth: with a user name and password (etcdctl's --user) the store works on a cluster with
// authentication; with a wrong password or none, Open fails.
func TestAuth(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	admin := open(t, srv, Options{Prefix: "/"})
	for _, step := range []func() error{
		func() error { _, err := admin.cli.UserAdd(ctx, "root", "secret"); return err },
		func() error { _, err := admin.cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, srv, Options{Username: "root", Password: "secret"})
	if _, err := s.Txn(ctx, nil, []store.Op{put("k", "v")}); err != nil {
		t.Fatalf("Txn as root: %v", err)
	}
	for _, o := range []Options{{Username: "root", Password: "wrong"}, {}} {
		o.Endpoints, o.Timeout = srv.Endpoints, time.Second
		if st, err := Open(ctx, o); err == nil {
			st.Close()
			t.Errorf("Open as %q with password %q succeeded", o.Username, o.Password)
		}
	}
}

// TestReconnectAfterPartition: a client cut off from etcd (etcdtest.Proxy refuses its
// connections) keeps trying at least every reconnectMax, so that the first call after the
// partition heals succeeds. gRPC's own backoff (1 s growing by 1.6 to 120 s) takes about two
// minutes for the ten attempts counted here (seven in the first 30 s) and then waits longer
// than the store's timeout; capped, they take about 8 s on a loaded 2-core machine.
func TestReconnectAfterPartition(t *testing.T) {
	srv := etcdtest.Start(t)
	p := etcdtest.NewProxy(t, strings.TrimPrefix(srv.Endpoints[0], "http://"))
	s, err := Open(context.Background(), Options{Endpoints: []string{p.Endpoint()}, Prefix: "/partition/", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Txn(ctx, nil, []store.Op{put("a", "1")}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, 0) // a stream the client keeps reconnecting for, as an agent's
	if err != nil {
		t.Fatal(err)
	}
	p.Cut()
	for deadline := time.Now().Add(40 * time.Second); p.Refused() < 10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d reconnection attempts in 40 s: the backoff is not capped", p.Refused())
		}
	}
	p.Heal()
	if _, _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("the first read after the heal: %v", err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{put("b", "1")}); err != nil {
		t.Fatal(err)
	}
	ev := <-w.C
	if len(ev.Ops) != 1 || ev.Ops[0].Key != "b" {
		t.Errorf("the watch after the heal: %+v (err %v)", ev, w.Err())
	}
}
