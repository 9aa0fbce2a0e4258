package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/internal/procmem"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// published is one event the monitor put on the bus.
type published struct {
	account, detailType string
	detail              map[string]any
}

type bus struct {
	mu  sync.Mutex
	got []published
}

func (b *bus) publish(account, _, source, detailType string, detail any) bool {
	if source != auditSource {
		panic(source)
	}
	var m map[string]any
	js, _ := json.Marshal(detail)
	json.Unmarshal(js, &m)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, published{account, detailType, m})
	return true
}

// take returns the events of detail-type dt about check, and forgets every event.
func (b *bus) take(dt, check string) []published {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []published
	for _, p := range b.got {
		if p.detailType == dt && (p.detail["check"] == check || p.detail["checks"] != nil && slices.Contains(p.detail["checks"].([]any), any(check))) {
			out = append(out, p)
		}
	}
	b.got = nil
	return out
}

// TestTimedPassReturnsMemory: after a timed pass the heap's free memory has gone back to the
// system; 64 MiB of garbage, collected but kept by the runtime, is there to go. So have the
// store file's pages that the open and restore read through its memory map.
func TestTimedPassReturnsMemory(t *testing.T) {
	ctx := context.Background()
	storeFile := filepath.Join(t.TempDir(), "stockade.db")
	st, svc := monitoredState(t, storeFile)
	m := newAuditMonitor(svc, st, auditSources{}, (&bus{}).publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
	if err := m.restore(ctx); err != nil {
		t.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection but the test's own
	junk := make([][]byte, 64)
	for i := range junk {
		junk[i] = make([]byte, 1<<20)
	}
	runtime.KeepAlive(junk)
	junk = nil
	runtime.GC()
	if free := heapFree(); free < 32<<20 {
		t.Skipf("the runtime kept only %d bytes free after a collection: nothing to check", free)
	}
	mapped, err := procmem.MappedKB(storeFile)
	if err != nil || mapped == 0 {
		t.Fatalf("the store file has %d KB resident before the pass (%v): the test reads the wrong file", mapped, err)
	}
	m.pass(ctx, true)
	if free := heapFree(); free > 16<<20 {
		t.Errorf("%d bytes free and not returned after a timed pass", free)
	}
	if mapped, err := procmem.MappedKB(storeFile); err != nil || mapped != 0 {
		t.Errorf("%d KB of the store file resident after a timed pass (%v), want 0", mapped, err)
	}
}

// monitoredState opens a store at path as the server does for the continuous audit (its
// history unwatched) and the control service over it, closed when the test ends.
func monitoredState(t *testing.T, path string) (store.Store, *control.Service) {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{Unwatched: []string{auditPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := control.Open(context.Background(), st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return st, svc
}

// webGroup creates a VPC in tn and a group "web" in it, with AWS's egress rule.
func webGroup(t *testing.T, svc *control.Service, tn control.Tenant) *model.Group {
	t.Helper()
	ctx := context.Background()
	vpc, _, err := svc.CreateVPC(ctx, tn, control.CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := svc.CreateGroup(ctx, tn, control.CreateGroupInput{Name: "web", Description: "web", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// etcdState is monitoredState on an etcd of its own.
func etcdState(t *testing.T) (store.Store, *control.Service) {
	t.Helper()
	srv := etcdtest.Start(t)
	st, err := etcd.Open(context.Background(), etcd.Options{Endpoints: srv.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := control.Open(context.Background(), st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return st, svc
}

// heapFree is the heap memory that is free and not yet returned to the system.
func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestAuditMonitor: SSH from 0.0.0.0/0 opens an SGA-002 episode at the authorize's revision,
// published OPEN and counted in the metrics; revoking it closes the episode (CLOSED, and a
// flap since it was open for less than the window); a restarted monitor reads the history
// back and opens nothing again.
func TestAuditMonitor(t *testing.T) {
	ctx := context.Background()
	st, svc := monitoredState(t, filepath.Join(t.TempDir(), "stockade.db"))
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := accounts.Create(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	tn := control.Tenant{Account: admin.ID, Region: "eu-west-1"}
	g := webGroup(t, svc, tn)
	b := &bus{}
	reg := prometheus.NewRegistry()
	m := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), reg, quiet())
	if m.cfg.Workers != 1 {
		t.Errorf("the continuous audit computes on %d workers, want 1 (background work)", m.cfg.Workers)
	}
	if err := m.restore(ctx); err != nil { // what run does first
		t.Fatal(err)
	}
	m.pass(ctx, false)
	if got := b.take(findingDetail, "SGA-002"); len(got) != 0 {
		t.Fatalf("SGA-002 before the rule: %+v", got)
	}
	ssh := control.Permission{Protocol: "tcp", FromPort: 22, ToPort: 22, HasFrom: true, HasTo: true, IPv4: []control.CIDRPeer{{CIDR: "0.0.0.0/0"}}}
	if _, _, err := svc.Authorize(ctx, tn, control.AuthorizeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	opened := st.Revision()
	m.pass(ctx, false)
	got := b.take(findingDetail, "SGA-002")
	if len(got) != 1 || got[0].detail["state"] != findingOpen || got[0].detail["resource"] != g.ID || got[0].detail["revision"] != float64(opened) ||
		got[0].account != tn.Account {
		t.Fatalf("opened: %+v", got)
	}
	sev := got[0].detail["severity"].(string)
	if n := metric(t, reg, "stockade_audit_findings", "SGA-002", sev); n != 1 {
		t.Errorf("stockade_audit_findings{SGA-002,%s} = %v, want 1", sev, n)
	}
	if n := metric(t, reg, "stockade_audit_runs_total", auditKindIncrem); n < 1 {
		t.Errorf("incremental runs: %v", n)
	}

	if _, _, err := svc.Revoke(ctx, tn, control.RevokeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	m.pass(ctx, false)
	if got := b.take(findingDetail, "SGA-002"); len(got) != 1 || got[0].detail["state"] != findingClosed || got[0].detail["openedRevision"] != float64(opened) {
		t.Fatalf("closed: %+v", got)
	}
	m.pass(ctx, false) // nothing changed: nothing published again
	if got := b.take(findingDetail, "SGA-002"); len(got) != 0 {
		t.Fatalf("published again: %+v", got)
	}

	// The flap: published with the closing event.
	if _, _, err := svc.Authorize(ctx, tn, control.AuthorizeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	m.pass(ctx, false)
	if _, _, err := svc.Revoke(ctx, tn, control.RevokeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	m.pass(ctx, false)
	if got := b.take(flapDetail, "SGA-002"); len(got) != 1 || got[0].detail["check"] != "MON-003" || got[0].detail["resource"] != g.ID {
		t.Fatalf("flap: %+v", got)
	}

	// A restart: the history comes back from the store; nothing opens or closes again.
	var h auditHistory
	js, _ := m.history(ctx, tn.Account, tn.Region)
	json.Unmarshal(js, &h)
	m2 := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
	waiting, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := m2.history(waiting, tn.Account, tn.Region); err == nil {
		t.Error("the history answered before it was read back")
	}
	cancel()
	if err := m2.restore(ctx); err != nil {
		t.Fatal(err)
	}
	m2.pass(ctx, false)
	b.mu.Lock()
	if len(b.got) != 0 {
		t.Errorf("after a restart, published %+v", b.got)
	}
	b.mu.Unlock()
	var h2 auditHistory
	js, _ = m2.history(ctx, tn.Account, tn.Region)
	json.Unmarshal(js, &h2)
	key := func(e audit.Episode) string { return e.Finding.Key() }
	var ssh2 []audit.Episode
	for _, e := range h2.Closed {
		if e.Finding.Check == "SGA-002" {
			ssh2 = append(ssh2, e)
		}
	}
	if len(h.Open) == 0 || !slices.Equal(keys(h.Open, key), keys(h2.Open, key)) || len(h2.Closed) != len(h.Closed) ||
		len(ssh2) != 2 || ssh2[0].OpenedRevision != opened || ssh2[0].ClosedRevision <= opened {
		t.Errorf("history after a restart: %d open (was %d), SGA-002 closed %+v", len(h2.Open), len(h.Open), ssh2)
	}

	// stockade audit --history, through the admin socket.
	dir := t.TempDir()
	ln, err := adminapi.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: adminapi.WithHistory(adminapi.Handler(accounts, nil, nil, nil), accounts, m2.history)}
	go srv.Serve(ln)
	defer srv.Close()
	out, err := runAuditArgs(t, "--history", "--data-dir", dir, "--region", tn.Region)
	if err != nil {
		t.Fatal(err)
	}
	line := func(state, check string) bool {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, state) && strings.Contains(l, check) && strings.Contains(l, g.ID) {
				return true
			}
		}
		return false
	}
	if !line("CLOSED", "SGA-002") || !line("OPEN", "SGH-007") || !strings.Contains(out, fmt.Sprintf("(%d)", opened)) {
		t.Errorf("stockade audit --history:\n%s", out)
	}
	if js, err := runAuditArgs(t, "--history", "--json", "--data-dir", dir, "--region", tn.Region); err != nil || !json.Valid([]byte(js)) {
		t.Errorf("--history --json: %v %s", err, js)
	}
	if _, err := runAuditArgs(t, "--history", "--snapshot", dir); err == nil {
		t.Error("--history with --snapshot is accepted")
	}
}

func keys[T any](xs []T, k func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, k(x))
	}
	return out
}

// metric is the value of the gauge or counter name whose label values are values, 0 when
// there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestAuditEventPatterns: the README's rules on the continuous audit's events match what the
// monitor publishes, as the bus matches them.
func TestAuditEventPatterns(t *testing.T) {
	f := audit.Finding{Check: "SGA-002", Severity: audit.High, Resource: "sg-1", Rules: []string{"sgr-1"}}
	low := audit.Finding{Check: "SGH-007", Severity: audit.Low, Resource: "sg-1"}
	envelope := func(dt string, detail any) string {
		d, _ := json.Marshal(detail)
		return fmt.Sprintf(`{"id":"1","account":"111122223333","source":%q,"time":"t","region":"eu-west-1","detail-type":%q,"detail":%s}`, auditSource, dt, d)
	}
	openHigh := envelope(findingDetail, findingEvent{Finding: f, State: findingOpen, Revision: 3})
	closedHigh := envelope(findingDetail, findingEvent{Finding: f, State: findingClosed, Revision: 4})
	openLow := envelope(findingDetail, findingEvent{Finding: low, State: findingOpen, Revision: 3})
	flap := envelope(flapDetail, flapEvent{Check: "MON-003", Severity: audit.High, Resource: "sg-1", Checks: []string{"SGA-002"}, Exposure: f})
	for _, tc := range []struct {
		pattern, event string
		want           bool
	}{
		{`{"source":["stockade.audit"],"detail":{"severity":["critical","high"]}}`, openHigh, true},
		{`{"source":["stockade.audit"],"detail":{"severity":["critical","high"]}}`, closedHigh, true},
		{`{"source":["stockade.audit"],"detail":{"severity":["critical","high"]}}`, flap, true},
		{`{"source":["stockade.audit"],"detail":{"severity":["critical","high"]}}`, openLow, false},
		{`{"source":["stockade.audit"],"detail-type":["Stockade Audit Finding"],"detail":{"state":["OPEN"],"check":[{"prefix":"SGA-00"}]}}`, openHigh, true},
		{`{"source":["stockade.audit"],"detail-type":["Stockade Audit Finding"],"detail":{"state":["OPEN"],"check":[{"prefix":"SGA-00"}]}}`, closedHigh, false},
		{`{"source":["stockade.audit"],"detail-type":["Stockade Audit Finding"],"detail":{"state":["OPEN"],"check":[{"prefix":"SGA-00"}]}}`, flap, false},
	} {
		got, err := events.TestPattern(tc.pattern, tc.event)
		if err != nil || got != tc.want {
			t.Errorf("%s on %s: %v %v, want %v", tc.pattern, tc.event, got, err, tc.want)
		}
	}
}

// TestServerAuditConfig: --audit-config is read over the defaults, a bad file is an error
// naming the flag, and the flag without the continuous audit is refused.
func TestServerAuditConfig(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("flapWindow: 10m\nadminPorts: [22, 2222]\n"), 0o600)
	os.WriteFile(bad, []byte("flapWindw: 10m\n"), 0o600)
	c, err := serverConfig{Audit: true, AuditConfig: good}.auditConfig()
	if err != nil || c.FlapWindow != 10*time.Minute || !slices.Equal(c.AdminPorts, []uint16{22, 2222}) || c.MaxRules != 50 {
		t.Errorf("good: %+v %v", c, err)
	}
	if _, err := (serverConfig{Audit: true, AuditConfig: bad}).auditConfig(); err == nil || !strings.Contains(err.Error(), "--audit-config") {
		t.Errorf("bad: %v", err)
	}
	if _, err := (serverConfig{Audit: false, AuditConfig: good}).auditConfig(); err == nil || !strings.Contains(err.Error(), "--audit=false") {
		t.Errorf("without the audit: %v", err)
	}
	if c, err := (serverConfig{Audit: true}).auditConfig(); err != nil || c.FlapWindow != time.Hour {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

// recordingStore passes transactions on to a store and keeps their operations.
type recordingStore struct {
	store.Store
	txns [][]store.Op
}

func (r *recordingStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	r.txns = append(r.txns, ops)
	return r.Store.Txn(ctx, conds, ops)
}

// TestAuditHistoryStoreSkipsTheForgotten: when one audit closes more episodes than the
// history keeps, those it forgets at once are neither written nor deleted, and the store
// ends up holding what the history holds; episodes forgotten later, which were written, are
// deleted.
func TestAuditHistoryStoreSkipsTheForgotten(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recordingStore{Store: st}
	m := &auditMonitor{st: rec}
	tn := netmap.Tenant{Account: "111122223333", Region: "us-east-1"}
	h := audit.NewHistory(2)
	findings := func(from, to int) []audit.Finding {
		var out []audit.Finding
		for i := from; i < to; i++ {
			out = append(out, audit.Finding{Check: "SGH-003", Resource: fmt.Sprintf("sg-%017d", i), Why: "unused"})
		}
		return out
	}
	step := func(d audit.Delta, rev int64) (forgotten int) {
		t.Helper()
		opened, closed, gone := h.Apply(d, rev, time.Unix(rev, 0))
		if err := m.store(ctx, tn, opened, closed, gone); err != nil {
			t.Fatal(err)
		}
		return len(gone)
	}
	// kept is what the store holds under the tenant's history, by open and closed.
	kept := func() (open, closed int) {
		t.Helper()
		kvs, _, err := st.List(ctx, auditPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if strings.Contains(kv.Key, "/open/") {
				open++
			} else {
				closed++
			}
		}
		return open, closed
	}

	step(audit.Delta{Opened: findings(0, 5)}, 1)
	if n := step(audit.Delta{Closed: findings(0, 5)}, 2); n != 3 {
		t.Fatalf("forgotten at once: %d, want 3", n)
	}
	last := rec.txns[len(rec.txns)-1]
	put, deleted := map[string]bool{}, map[string]bool{}
	for _, op := range last {
		if op.Delete {
			deleted[op.Key] = true
		} else {
			put[op.Key] = true
		}
	}
	for k := range put {
		if deleted[k] {
			t.Errorf("%s put and deleted in one transaction", k)
		}
	}
	if len(put) != 2 || len(deleted) != 5 {
		t.Errorf("closing five with room for two: %d puts and %d deletes, want 2 and 5 (the open ones)", len(put), len(deleted))
	}
	if open, closed := kept(); open != 0 || closed != 2 {
		t.Fatalf("stored %d open and %d closed, want 0 and 2", open, closed)
	}

	// Two more close: the two stored are forgotten and deleted.
	step(audit.Delta{Opened: findings(5, 7)}, 3)
	if n := step(audit.Delta{Closed: findings(5, 7)}, 4); n != 2 {
		t.Fatalf("forgotten: %d, want 2", n)
	}
	if open, closed := kept(); open != 0 || closed != 2 {
		t.Fatalf("stored %d open and %d closed, want 0 and 2", open, closed)
	}
	kvs, _, _ := st.List(ctx, auditPrefix)
	for _, kv := range kvs {
		var e audit.Episode
		if err := json.Unmarshal(kv.Value, &e); err != nil || (e.Finding.Resource != fmt.Sprintf("sg-%017d", 5) && e.Finding.Resource != fmt.Sprintf("sg-%017d", 6)) {
			t.Errorf("stored %s: %+v (%v), want the episodes of sg-…5 and sg-…6", kv.Key, e.Finding, err)
		}
	}
}

// TestEpisodeKeysStayPut: where an episode is stored is what servers before wrote — the
// first 12 bytes of the SHA-256 of the finding's key, in hex — so that a restarted server of
// a later version finds the history it left. (Where a finding's key itself changed, restore
// moves its episodes: TestAuditHistoryMoved.)
func TestEpisodeKeysStayPut(t *testing.T) {
	tn := netmap.Tenant{Account: "111122223333", Region: "eu-west-1"}
	f := audit.Finding{Check: "SGA-002", Resource: "sg-1", Rules: []string{"sgr-1", "sgr-2"}}
	const h = "6dde9a2616b516ab14c4cf3a" // sha256("SGA-002 sg-1 sgr-1,sgr-2")[:12]
	if got := episodeKey(tn, audit.Episode{Finding: f}); got != "audit/111122223333/eu-west-1/open/"+h {
		t.Errorf("open episode at %q", got)
	}
	closed := time.Unix(1700000000, 5)
	if got := episodeKey(tn, audit.Episode{Finding: f, Closed: closed}); got != "audit/111122223333/eu-west-1/closed/01700000000000000005-"+h {
		t.Errorf("closed episode at %q", got)
	}
}

// TestAuditHistoryMoved: an open SGH-006 episode stored by a server before this one, under
// the hash of its old key (which named the finding's rules), is moved at restore to where
// this one keeps it. It stays open across the restart, and when it closes nothing of it is
// left among the stored open episodes (without the move the old key stayed, and came back
// open at every start).
func TestAuditHistoryMoved(t *testing.T) {
	ctx := context.Background()
	st, svc := monitoredState(t, filepath.Join(t.TempDir(), "stockade.db"))
	tn := control.Tenant{Account: "111122223333", Region: "eu-west-1"}
	g := webGroup(t, svc, tn)
	b := &bus{}
	monitor := func() *auditMonitor {
		m := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
		if err := m.restore(ctx); err != nil {
			t.Fatal(err)
		}
		m.pass(ctx, false)
		return m
	}
	// events are g's SGH-006 events in state.
	events := func(state string) (n int) {
		for _, p := range b.take(findingDetail, "SGH-006") {
			if p.detail["resource"] == g.ID && p.detail["state"] == state {
				n++
			}
		}
		return n
	}
	// stored are the keys of g's stored open SGH-006 episodes.
	stored := func() (keys []string) {
		t.Helper()
		kvs, _, err := st.List(ctx, auditPrefix+tn.Account+"/"+tn.Region+"/open/")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			var e audit.Episode
			if json.Unmarshal(kv.Value, &e) == nil && e.Finding.Check == "SGH-006" && e.Finding.Resource == g.ID {
				keys = append(keys, kv.Key)
			}
		}
		return keys
	}

	monitor() // AWS's egress rule has no description
	if n := events(findingOpen); n != 1 {
		t.Fatalf("%d SGH-006 opened on %s, want 1", n, g.ID)
	}
	now := stored()
	if len(now) != 1 {
		t.Fatalf("stored open SGH-006 episodes of %s: %v", g.ID, now)
	}
	kv, _, _ := st.Get(ctx, now[0])
	var e audit.Episode
	json.Unmarshal(kv.Value, &e)
	sum := sha256.Sum256([]byte(e.Finding.Check + " " + e.Finding.Resource + " " + strings.Join(e.Finding.Rules, ",")))
	old := auditPrefix + tn.Account + "/" + tn.Region + "/open/" + hex.EncodeToString(sum[:12])
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: now[0], Delete: true}, {Key: old, Value: kv.Value}}); err != nil {
		t.Fatal(err)
	}

	monitor() // a restart
	if got := stored(); !slices.Equal(got, now) {
		t.Errorf("after the restore, stored at %v, want %v (moved from %s)", got, now, old)
	}
	if n := events(findingOpen) + events(findingClosed); n != 0 {
		t.Errorf("the restart published %d SGH-006 events about %s", n, g.ID)
	}

	m := monitor()
	egress := control.Permission{Protocol: "-1", IPv4: []control.CIDRPeer{{CIDR: "0.0.0.0/0"}}}
	if _, _, err := svc.Revoke(ctx, tn, control.RevokeInput{Group: control.GroupRef{ID: g.ID}, Egress: true, Permissions: []control.Permission{egress}}); err != nil {
		t.Fatal(err)
	}
	m.pass(ctx, false)
	if n := events(findingClosed); n != 1 {
		t.Errorf("%d SGH-006 closed on %s once its one undescribed rule went, want 1", n, g.ID)
	}
	if got := stored(); len(got) != 0 {
		t.Errorf("closed, and still stored open at %v", got)
	}
}

// TestAuditHistoryOnEtcd: on etcd, whose transactions hold 128 operations, the continuous
// audit's first pass stores the hundreds of episodes it opens, and a restarted monitor finds
// them all and publishes nothing again.
func TestAuditHistoryOnEtcd(t *testing.T) {
	ctx := context.Background()
	st, svc := etcdState(t)
	tn := control.Tenant{Account: "111122223333", Region: "eu-west-1"}
	vpc, _, err := svc.CreateVPC(ctx, tn, control.CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 { // each unused, untagged, its egress rule undescribed: three findings
		if _, _, err := svc.CreateGroup(ctx, tn, control.CreateGroupInput{Name: fmt.Sprintf("g%d", i), Description: "app", VpcID: vpc.ID}); err != nil {
			t.Fatal(err)
		}
	}
	b := &bus{}
	m := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
	if err := m.restore(ctx); err != nil {
		t.Fatal(err)
	}
	m.pass(ctx, false)
	b.mu.Lock()
	opened := len(b.got)
	b.got = nil
	b.mu.Unlock()
	kvs, _, err := st.List(ctx, auditPrefix)
	if err != nil || opened < etcd.DefaultMaxTxnOps || len(kvs) != opened {
		t.Fatalf("the first pass opened %d findings and stored %d episodes (%v); want more than %d, all stored", opened, len(kvs), err, etcd.DefaultMaxTxnOps)
	}
	m2 := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
	if err := m2.restore(ctx); err != nil {
		t.Fatal(err)
	}
	m2.pass(ctx, false)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got) != 0 {
		t.Errorf("after a restart, %d findings published again", len(b.got))
	}
}

// TestAuditLeaseOnEtcd: two servers' monitors on one etcd. The one holding the lease audits
// and publishes; the other publishes nothing and serves the history from the store. When the
// auditor stops renewing, the other takes over from the stored history: an exposure the
// first opened stays open (nothing published again) and closes with its opening revision.
func TestAuditLeaseOnEtcd(t *testing.T) {
	ctx := context.Background()
	st, svc := etcdState(t)
	tn := control.Tenant{Account: "111122223333", Region: "eu-west-1"}
	g := webGroup(t, svc, tn)
	const ttl = 500 * time.Millisecond
	monitor := func(who string) (*auditMonitor, *bus) {
		b := &bus{}
		m := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
		m.lease = store.NewLease(st, auditLeaseKey, who, ttl)
		if err := m.restore(ctx); err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	one, bus1 := monitor("one")
	two, bus2 := monitor("two")
	if !one.lead(ctx) || two.lead(ctx) {
		t.Fatalf("leading: one %v, two %v; want one only", one.leading.Load(), two.leading.Load())
	}
	one.pass(ctx, true)
	ssh := control.Permission{Protocol: "tcp", FromPort: 22, ToPort: 22, HasFrom: true, HasTo: true, IPv4: []control.CIDRPeer{{CIDR: "0.0.0.0/0"}}}
	if _, _, err := svc.Authorize(ctx, tn, control.AuthorizeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	opened := st.Revision()
	one.pass(ctx, false)
	if got := bus1.take(findingDetail, "SGA-002"); len(got) != 1 || got[0].detail["state"] != findingOpen {
		t.Fatalf("the auditor published %+v, want SGA-002 opened", got)
	}
	episodes := func(m *auditMonitor, check string) (open, closed []audit.Episode) {
		t.Helper()
		js, err := m.history(ctx, tn.Account, tn.Region)
		if err != nil {
			t.Fatal(err)
		}
		var h auditHistory
		json.Unmarshal(js, &h)
		of := func(eps []audit.Episode) (out []audit.Episode) {
			for _, e := range eps {
				if e.Finding.Check == check && e.Finding.Resource == g.ID {
					out = append(out, e)
				}
			}
			return out
		}
		return of(h.Open), of(h.Closed)
	}
	if open, _ := episodes(two, "SGA-002"); len(open) != 1 || open[0].OpenedRevision != opened {
		t.Errorf("the other server's history: SGA-002 open %+v, want the auditor's episode", open)
	}

	time.Sleep(ttl + 100*time.Millisecond) // one stops renewing
	if !two.lead(ctx) || one.lead(ctx) {
		t.Fatalf("after one's lease ran out, leading: one %v, two %v; want two only", one.leading.Load(), two.leading.Load())
	}
	two.pass(ctx, true)
	bus2.mu.Lock()
	if len(bus2.got) != 0 {
		t.Errorf("taking over, two published %d events, want none (the findings were open already)", len(bus2.got))
	}
	bus2.mu.Unlock()
	if _, _, err := svc.Revoke(ctx, tn, control.RevokeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	two.pass(ctx, false)
	if got := bus2.take(findingDetail, "SGA-002"); len(got) != 1 || got[0].detail["state"] != findingClosed || got[0].detail["openedRevision"] != float64(opened) {
		t.Errorf("the new auditor published %+v, want SGA-002 closed, opened at %d", got, opened)
	}
	if _, closed := episodes(one, "SGA-002"); len(closed) != 1 || closed[0].OpenedRevision != opened {
		t.Errorf("the former auditor's history: SGA-002 closed %+v, want the episode two closed", closed)
	}
	if got := bus1.take(findingDetail, "SGA-002"); len(got) != 0 {
		t.Errorf("the former auditor published %+v", got)
	}
}

// TestAuditLeaseRun: the same with the monitors running as the servers run them. One audits
// and publishes the exposure; when it stops (its server shuts down, releasing the lease),
// the other takes over and publishes the exposure's closing.
func TestAuditLeaseRun(t *testing.T) {
	ctx := context.Background()
	st, svc := etcdState(t)
	tn := control.Tenant{Account: "111122223333", Region: "eu-west-1"}
	g := webGroup(t, svc, tn)
	type server struct {
		b    *bus
		stop func()
	}
	start := func(who string) server {
		b := &bus{}
		m := newAuditMonitor(svc, st, auditSources{}, b.publish, audit.DefaultConfig(), prometheus.NewRegistry(), quiet())
		m.lease = store.NewLease(st, auditLeaseKey, who, 600*time.Millisecond)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { m.run(rctx); close(done) }()
		return server{b, func() { cancel(); <-done }}
	}
	servers := []server{start("one"), start("two")}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	// await waits for one server's bus to have the exposure in state, and says which.
	await := func(state string) int {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			for i, s := range servers {
				for _, p := range s.b.take(findingDetail, "SGA-002") {
					if p.detail["state"] == state && p.detail["resource"] == g.ID {
						return i
					}
				}
			}
		}
		t.Fatalf("no server published SGA-002 %s", state)
		return -1
	}
	ssh := control.Permission{Protocol: "tcp", FromPort: 22, ToPort: 22, HasFrom: true, HasTo: true, IPv4: []control.CIDRPeer{{CIDR: "0.0.0.0/0"}}}
	if _, _, err := svc.Authorize(ctx, tn, control.AuthorizeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	auditor := await(findingOpen)
	other := 1 - auditor
	time.Sleep(300 * time.Millisecond) // passes after the exposure: the other publishes nothing
	if got := servers[other].b.take(findingDetail, "SGA-002"); len(got) != 0 {
		t.Errorf("the server that does not audit published %+v", got)
	}
	servers[auditor].stop()
	servers[auditor].stop = func() {}
	if _, _, err := svc.Revoke(ctx, tn, control.RevokeInput{Group: control.GroupRef{ID: g.ID}, Permissions: []control.Permission{ssh}}); err != nil {
		t.Fatal(err)
	}
	if got := await(findingClosed); got != other {
		t.Errorf("server %d published the closing, want %d", got, other)
	}
}
