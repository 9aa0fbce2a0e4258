package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

var tsc = Scope{Account: "111122223333", Region: "eu-west-1"}

// receiver is a webhook that records what it gets; fail makes it answer 503.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    [][]byte
	heads  []http.Header
	fail   atomic.Bool
	status atomic.Int32 // when set, answered instead of 200
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if s := r.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		r.mu.Lock()
		r.got = append(r.got, body)
		r.heads = append(r.heads, req.Header.Clone())
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

// world is a Service and a Bus over one store, with a rule whose only target is a webhook.
type world struct {
	t    *testing.T
	st   *bolt.Store
	svc  *Service
	bus  *Bus
	dir  string
	stop func()
}

func newWorld(t *testing.T, st *bolt.Store, dir string, cfg BusConfig) *world {
	t.Helper()
	svc, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	if cfg.Backoff == 0 {
		cfg.Backoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	w := &world{t: t, st: st, svc: svc, bus: NewBus(svc, st, cfg), dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.bus.Run(ctx) }()
	w.stop = func() { cancel(); <-done }
	t.Cleanup(w.stop)
	return w
}

func openStore(t *testing.T) (*bolt.Store, string) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "stockade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// hook creates a connection, an API destination to url and a rule with pattern and state
// targeting it.
func (w *world) hook(rule, pattern, state, endpoint string) {
	w.t.Helper()
	ctx := context.Background()
	c, err := w.svc.CreateConnection(ctx, tsc, Connection{Name: rule, AuthType: AuthAPIKey, APIKeyName: "X-Api-Key", APIKeyValue: "k-" + rule})
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := w.svc.CreateDestination(ctx, tsc, Destination{Name: rule, ConnectionARN: c.ARN, Endpoint: endpoint, Method: "POST"})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.svc.PutRule(ctx, tsc, RuleInput{Name: rule, Pattern: pattern, State: state}); err != nil {
		w.t.Fatal(err)
	}
	if f, err := w.svc.PutTargets(ctx, tsc, rule, "", []Target{{ID: "hook", ARN: d.ARN}, {ID: "file", ARN: FileARN(tsc, rule)}}); err != nil || len(f) > 0 {
		w.t.Fatal(err, f)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func record(t *testing.T, action string) *trail.Record {
	rec, err := trail.Build(trail.Call{Service: trail.EC2, Action: action, Region: tsc.Region, Time: time.Now(),
		Identity: trail.Identity{Kind: trail.Root, AccountID: tsc.Account, AccessKeyID: "AKIA"},
		Params:   url.Values{"GroupId": {"sg-1"}, "IpProtocol": {"tcp"}, "FromPort": {"22"}, "ToPort": {"22"}, "CidrIp": {"0.0.0.0/0"}}})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestDeliveryOnceSignedAndFiled(t *testing.T) {
	st, dir := openStore(t)
	w := newWorld(t, st, dir, BusConfig{})
	r := newReceiver(t)
	w.hook("ssh", `{"source":["aws.ec2"],"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`, Enabled, r.URL+"/hook")
	w.bus.PublishRecords([]*trail.Record{record(t, "AuthorizeSecurityGroupIngress"), record(t, "RevokeSecurityGroupIngress")})
	eventually(t, "delivery", func() bool { return w.bus.Stats().Delivered == 1 })
	if r.count() != 1 {
		t.Fatalf("received %d events", r.count())
	}
	body, h := r.got[0], r.heads[0]
	var env struct {
		Source, Account, Region string
		DetailType              string `json:"detail-type"`
		Detail                  struct{ EventName string }
		Resources               []string
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Source != "aws.ec2" || env.DetailType != CloudTrailDetailType || env.Account != tsc.Account || env.Region != tsc.Region ||
		env.Detail.EventName != "AuthorizeSecurityGroupIngress" || env.Resources == nil {
		t.Errorf("envelope %s", body)
	}
	mac := hmac.New(sha256.New, []byte("k-ssh"))
	mac.Write(body)
	if got, want := h.Get(SignatureHeader), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if h.Get("X-Api-Key") != "k-ssh" || h.Get(DeliveryHeader) == "" {
		t.Errorf("headers %v", h)
	}
	eventually(t, "file target", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "events", tsc.Account, tsc.Region, "ssh.jsonl"))
		return strings.Count(string(b), "\n") == 1
	})
	eventually(t, "queue emptied", func() bool { kvs, _, _ := st.List(context.Background(), queuePrefix); return len(kvs) == 0 })
}

func TestReadOnlyEventsOnlyToAllManagementEventRules(t *testing.T) {
	st, dir := openStore(t)
	w := newWorld(t, st, dir, BusConfig{})
	plain, all := newReceiver(t), newReceiver(t)
	w.hook("plain", `{"source":["aws.ec2"]}`, Enabled, plain.URL)
	w.hook("all", `{"source":["aws.ec2"]}`, EnabledWithReads, all.URL)
	w.hook("off", `{"source":["aws.ec2"]}`, Disabled, plain.URL)
	w.bus.PublishRecords([]*trail.Record{record(t, "DescribeSecurityGroups")})
	w.bus.PublishRecords([]*trail.Record{record(t, "AuthorizeSecurityGroupIngress")})
	eventually(t, "deliveries", func() bool { return w.bus.Stats().Delivered == 3 })
	if plain.count() != 1 || all.count() != 2 {
		t.Errorf("plain got %d, all got %d", plain.count(), all.count())
	}
}

func TestPublishStockadeEvent(t *testing.T) {
	st, dir := openStore(t)
	w := newWorld(t, st, dir, BusConfig{})
	r := newReceiver(t)
	w.hook("audit", `{"source":["stockade.audit"],"detail-type":["Stockade Audit Finding"],"detail":{"severity":["HIGH"]}}`, Enabled, r.URL)
	w.bus.Publish(tsc.Account, tsc.Region, "stockade.audit", "Stockade Audit Finding", map[string]string{"severity": "LOW"})
	w.bus.Publish(tsc.Account, tsc.Region, "stockade.audit", "Stockade Audit Finding", map[string]string{"severity": "HIGH"})
	w.bus.Publish("999999999999", tsc.Region, "stockade.audit", "Stockade Audit Finding", map[string]string{"severity": "HIGH"})
	eventually(t, "delivery", func() bool { return w.bus.Stats().Delivered == 1 })
	if !strings.Contains(string(r.got[0]), `"severity":"HIGH"`) {
		t.Errorf("got %s", r.got[0])
	}
}

// TestReceiverDownThenBack: failures are retried until the receiver answers, and the
// deliveries waiting survive a restart of the bus.
func TestReceiverDownThenBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int64 // failed attempts before the receiver comes back
		restart  bool
	}{{"retried", 3, false}, {"across a restart", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			w := newWorld(t, st, dir, BusConfig{})
			r := newReceiver(t)
			r.fail.Store(true)
			w.hook("ssh", `{"source":["aws.ec2"]}`, Enabled, r.URL)
			w.bus.PublishRecords([]*trail.Record{record(t, "AuthorizeSecurityGroupIngress")})
			eventually(t, "failed attempts", func() bool { return w.bus.Stats().Retried >= tc.failures })
			if tc.restart {
				w.stop()
				if kvs, _, _ := st.List(context.Background(), queuePrefix); len(kvs) != 1 {
					t.Fatalf("%d deliveries persisted, want 1", len(kvs))
				}
				w = newWorld(t, st, dir, BusConfig{}) // as a server restarts
			}
			r.fail.Store(false)
			eventually(t, "delivery", func() bool { return w.bus.Stats().Delivered == 1 })
			if r.count() != 1 {
				t.Errorf("received %d", r.count())
			}
		})
	}
}

func TestDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		cfg    BusConfig
	}{
		{"retries exhausted", 500, BusConfig{MaxAge: time.Nanosecond}},
		{"not retryable", 400, BusConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			w := newWorld(t, st, dir, tc.cfg)
			r := newReceiver(t)
			r.status.Store(int32(tc.status))
			w.hook("ssh", `{"source":["aws.ec2"]}`, Enabled, r.URL)
			w.bus.PublishRecords([]*trail.Record{record(t, "AuthorizeSecurityGroupIngress")})
			eventually(t, "dead letter", func() bool { return w.bus.Stats().DeadLettered == 1 })
			b, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
			if err != nil {
				t.Fatal(err)
			}
			var d delivery
			if err := json.Unmarshal(b, &d); err != nil || d.Rule != "ssh" || d.Attempts != 1 || !strings.Contains(d.LastError, "HTTP") {
				t.Errorf("dead letter %s (%v)", b, err)
			}
			eventually(t, "queue emptied", func() bool { kvs, _, _ := st.List(context.Background(), queuePrefix); return len(kvs) == 0 })
		})
	}
}

// TestGuardAtDelivery: a name that resolves to the server's own address is refused when the
// webhook connects, and the delivery is not retried.
func TestGuardAtDelivery(t *testing.T) {
	st, dir := openStore(t)
	r := newReceiver(t)
	self := netip.MustParseAddrPort(r.Listener.Addr().String())
	svc, err := Open(context.Background(), st, Config{Guard: &Guard{Self: []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), self.Port())}}})
	if err != nil {
		t.Fatal(err)
	}
	// A literal address is refused at once.
	c, _ := svc.CreateConnection(context.Background(), tsc, Connection{Name: "c", AuthType: AuthBasic, Username: "u", Password: "p"})
	if _, err := svc.CreateDestination(context.Background(), tsc, Destination{Name: "d", ConnectionARN: c.ARN, Endpoint: r.URL, Method: "POST"}); err == nil {
		t.Fatal("the server's own address was accepted")
	}
	// A name passes creation, and is refused when it resolves.
	d, err := svc.CreateDestination(context.Background(), tsc, Destination{Name: "d", ConnectionARN: c.ARN, Endpoint: "http://localhost:" + u16(self.Port()), Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	svc.PutRule(context.Background(), tsc, RuleInput{Name: "r", Pattern: `{"source":["aws.ec2"]}`})
	svc.PutTargets(context.Background(), tsc, "r", "", []Target{{ID: "t", ARN: d.ARN}})
	bus := NewBus(svc, st, BusConfig{DataDir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bus.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	bus.PublishRecords([]*trail.Record{record(t, "AuthorizeSecurityGroupIngress")})
	eventually(t, "dead letter", func() bool { return bus.Stats().DeadLettered == 1 })
	if r.count() != 0 || bus.Stats().Retried != 0 {
		t.Errorf("received %d, retried %d", r.count(), bus.Stats().Retried)
	}
}

func u16(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func TestGuard(t *testing.T) {
	g := &Guard{Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8787")}, Allow: []netip.Prefix{netip.MustParsePrefix("169.254.10.0/24")}}
	for _, tc := range []struct {
		ap string
		ok bool
	}{
		{"127.0.0.1:9000", true}, {"10.0.0.1:443", true}, {"[::1]:80", true},
		{"127.0.0.1:8787", false}, {"169.254.169.254:80", false}, {"[fe80::1]:80", false},
		{"0.0.0.0:80", false}, {"224.0.0.1:80", false}, {"169.254.10.5:80", true},
		{"[::ffff:169.254.169.254]:80", false},
	} {
		if err := g.Check(netip.MustParseAddrPort(tc.ap)); (err == nil) != tc.ok {
			t.Errorf("Check(%s) = %v, want ok=%v", tc.ap, err, tc.ok)
		}
	}
}

// TestPublishNeverBlocks: with nothing consuming, a full queue drops and counts. An event of
// an account and region without an enabled rule is not queued at all.
func TestPublishNeverBlocks(t *testing.T) {
	st, dir := openStore(t)
	svc, _ := Open(context.Background(), st, Config{})
	bus := NewBus(svc, st, BusConfig{Queue: 2, DataDir: dir})
	for range 5 {
		bus.Publish(tsc.Account, tsc.Region, "s", "d", map[string]int{})
	}
	if got := bus.Stats().Dropped; got != 0 {
		t.Errorf("without a rule: dropped %d, want 0 (nothing queued)", got)
	}
	if _, err := svc.PutRule(context.Background(), tsc, RuleInput{Name: "r", Pattern: `{"source":["s"]}`}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		bus.Publish(tsc.Account, tsc.Region, "s", "d", map[string]int{})
	}
	if got := bus.Stats().Dropped; got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
}

func TestLimiter(t *testing.T) {
	l := &limiter{rate: 2, tokens: 2, last: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	l.wait(ctx)
	l.wait(ctx)
	cancel()
	if err := l.wait(ctx); err == nil {
		t.Error("a third invocation within the second did not wait")
	}
}

// TestAppendLineRotates: a JSON-lines file at its bound becomes NAME.1, replacing the one
// before, so that at most two files' worth stays on disk.
func TestAppendLineRotates(t *testing.T) {
	dir := t.TempDir()
	line := bytes.Repeat([]byte("x"), maxLineFile/3)
	for range 7 {
		if err := appendLine(dir, "f.jsonl", line); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	for _, name := range []string{"f.jsonl", "f.jsonl.1"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= maxLineFile {
			t.Errorf("%s: %d bytes, bound %d", name, fi.Size(), maxLineFile)
		}
		total += fi.Size()
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 || total == 0 {
		t.Errorf("%d files, %d bytes", len(entries), total)
	}
}

// TestPendingPerAccount: an account whose deliveries pile up (a receiver that never answers)
// stops at its share of the pending bound; the other accounts keep theirs.
func TestPendingPerAccount(t *testing.T) {
	st, dir := openStore(t)
	svc, _ := Open(context.Background(), st, Config{})
	bus := NewBus(svc, st, BusConfig{DataDir: dir, MaxPending: 10, MaxPendingPerAccount: 3})
	for i := range 4 {
		if got := bus.reservePending("111111111111"); got != (i < 3) {
			t.Errorf("reservation %d of the flooding account: %v", i+1, got)
		}
	}
	if !bus.reservePending("222222222222") {
		t.Error("another account refused while the bus has room")
	}
	bus.addPending("111111111111", -1)
	if !bus.reservePending("111111111111") {
		t.Error("a finished delivery did not free its account's room")
	}
	if got := bus.Stats().Pending; got != 4 {
		t.Errorf("pending %d, want 4", got)
	}
}

// TestNoListenerNoWork: records of an account and region without an enabled rule, or reads
// where no rule takes reads, are skipped before they reach the queue (a queue of one would
// otherwise overflow and count drops).
func TestNoListenerNoWork(t *testing.T) {
	st, dir := openStore(t)
	svc, _ := Open(context.Background(), st, Config{})
	bus := NewBus(svc, st, BusConfig{Queue: 1, DataDir: dir})
	var recs []*trail.Record
	for i := range 5 {
		recs = append(recs, &trail.Record{RecipientAccountID: tsc.Account, AWSRegion: tsc.Region, EventSource: "ec2.amazonaws.com",
			EventName: "DescribeVpcs", ReadOnly: i%2 == 0, EventTime: "2025-03-04T10:15:30Z"})
	}
	bus.PublishRecords(recs)
	if got := bus.Stats().Dropped; got != 0 {
		t.Errorf("dropped %d records of an account nobody listens to: they reached the queue", got)
	}
}
