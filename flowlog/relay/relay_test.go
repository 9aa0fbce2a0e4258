package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

const (
	acct       = "123456789010"
	opKey      = "AKIAOPERATOR0000001"
	opSecret   = "operator-secret"
	tenantKey  = "AKIATENANT000000001"
	tenantSecr = "tenant-secret"
)

var (
	ifcA = &flowlog.Interface{ID: "eni-0a", Account: acct, VPC: "vpc-1", Subnet: "subnet-a", Region: "us-east-1",
		Primary: netip.MustParseAddr("10.0.1.10"), VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}
	ifcB = &flowlog.Interface{ID: "eni-0b", Account: acct, VPC: "vpc-1", Subnet: "subnet-b", Region: "us-east-1",
		Primary: netip.MustParseAddr("10.0.2.20"), Unlogged: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	window = time.Date(2026, 12, 1, 16, 24, 0, 0, time.UTC)
	recs   = []flowlog.Record{
		{Iface: ifcA, Dir: flowlog.Egress, Action: flowlog.Accept, Flow: flow("10.0.1.10", 5, "10.0.2.20", 80),
			Packets: 2, Bytes: 120, Start: window.Unix(), End: window.Unix() + 1, Flags: 3},
		{Iface: ifcB, Dir: flowlog.Ingress, Action: flowlog.Reject, Flow: flow("10.0.1.10", 6, "10.0.2.20", 22),
			Packets: 1, Bytes: 60, Start: window.Unix(), End: window.Unix()},
		{Iface: ifcB, Status: flowlog.NoData, Start: window.Unix(), End: window.Unix() + 59},
	}
	toBucket = flowlog.Log{Def: &model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "s3",
		Destination: "arn:aws:s3:::flows", Format: model.DefaultFlowLogFormat}, Account: acct, Region: "us-east-1"}
	toGroup = flowlog.Log{Def: &model.FlowLog{ID: "fl-2", ResourceID: "vpc-1", TrafficType: "ACCEPT", DestType: "cloud-watch-logs",
		LogGroupName: "vpc/flows", Format: "${interface-id} ${action} ${log-status}"}, Account: acct, Region: "us-east-1"}
)

func flow(src string, sport uint16, dst string, dport uint16) flowlog.Flow {
	return flowlog.Flow{Proto: 6, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport}
}

// TestEncodeDecode: a window's records survive the wire (JSON) whole, interfaces included,
// and a window of more than MaxRecords records goes as several batches that add up to it.
func TestEncodeDecode(t *testing.T) {
	many := make([]flowlog.Record, MaxRecords+2)
	for i := range many {
		many[i] = recs[i%len(recs)]
	}
	for _, tt := range []struct {
		name    string
		recs    []flowlog.Record
		batches int
	}{
		{"none", nil, 0},
		{"one window", recs, 1},
		{"split", many, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bs := Encode([]flowlog.Log{toBucket, toGroup}, tt.recs, window)
			if len(bs) != tt.batches {
				t.Fatalf("%d batches, want %d", len(bs), tt.batches)
			}
			var got []flowlog.Record
			for _, b := range bs {
				data, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				var back Batch
				if err := json.Unmarshal(data, &back); err != nil {
					t.Fatal(err)
				}
				logs, rs, start, err := back.Decode()
				if err != nil {
					t.Fatal(err)
				}
				if !start.Equal(window) || len(back.Interfaces) > 2 {
					t.Errorf("start %v, %d interfaces", start, len(back.Interfaces))
				}
				if diff := cmp.Diff([]flowlog.Log{toBucket, toGroup}, logs); diff != "" {
					t.Errorf("logs (-want +got)\n%s", diff)
				}
				got = append(got, rs...)
			}
			if diff := cmp.Diff(tt.recs, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("records (-want +got)\n%s", diff)
			}
		})
	}
}

// stores is a Writer over fresh stores with the bucket "flows" of acct.
func stores(t *testing.T) (*flowlog.Writer, *objstore.Store, *logstore.Store) {
	t.Helper()
	objs, err := objstore.Open(t.TempDir(), objstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	if err := objs.CreateBucket(acct, "us-east-1", "flows"); err != nil {
		t.Fatal(err)
	}
	logs, err := logstore.Open(t.TempDir(), logstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return &flowlog.Writer{Objects: objs, Logs: logs}, objs, logs
}

// counting counts the deliveries it passes on.
type counting struct {
	Sink
	mu sync.Mutex
	n  int
}

func (c *counting) Deliver(ctx context.Context, logs []flowlog.Log, recs []flowlog.Record, start time.Time) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.Sink.Deliver(ctx, logs, recs, start)
}

func operator() (string, string, bool) { return opKey, opSecret, true }

// request is a delivery of body, gzipped when zip, signed with key for service ("": unsigned).
func request(t *testing.T, body []byte, zip bool, key, secret, service string) *http.Request {
	t.Helper()
	if zip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	r := httptest.NewRequest(http.MethodPost, "http://api.test"+Path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if zip {
		r.Header.Set("Content-Encoding", "gzip")
	}
	if key != "" {
		sigv4.Sign(r, body, key, secret, "us-east-1", service, time.Now())
	}
	return r
}

func batchJSON(t *testing.T, b Batch) []byte {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestHandler: only the operator's key, in a signature scoped to the delivery service,
// delivers; a tenant's key, another service's scope or no signature is refused (403), a body
// that is no batch or too large is refused (400), and nothing refused reaches the writer. A
// delivered batch's records are in the flow logs' bucket and log group, as the server's own
// Writer writes them; a batch sent again is written once.
func TestHandler(t *testing.T) {
	good := Encode([]flowlog.Log{toBucket, toGroup}, recs, window)[0]
	good.ID = "b-1"
	goodJSON := batchJSON(t, good)
	badIface := good
	badIface.Records = []Record{{Iface: 7, Start: 1, End: 2}}
	noStart := good
	noStart.Start = time.Time{}
	badLog := good
	badLog.Logs = []flowlog.Log{{Def: &model.FlowLog{ID: "fl-9", DestType: "kinesis", Format: model.DefaultFlowLogFormat}, Account: acct, Region: "us-east-1"}}
	huge := bytes.Repeat([]byte(" "), MaxBody+1) // compresses to little: refused once decompressed
	for _, tt := range []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
		want   string // in the reply
	}{
		{"operator", func(t *testing.T) *http.Request { return request(t, goodJSON, true, opKey, opSecret, Service) }, 200, `"records":3`},
		{"operator, plain JSON", func(t *testing.T) *http.Request { return request(t, goodJSON, false, opKey, opSecret, Service) }, 200, `"records":3`},
		{"tenant", func(t *testing.T) *http.Request { return request(t, goodJSON, true, tenantKey, tenantSecr, Service) }, 403, "only the operator"},
		{"operator's key, wrong secret", func(t *testing.T) *http.Request { return request(t, goodJSON, true, opKey, "guess", Service) }, 403, "only the operator"},
		{"signed for EC2", func(t *testing.T) *http.Request { return request(t, goodJSON, true, opKey, opSecret, "ec2") }, 403, "correct service"},
		{"unsigned", func(t *testing.T) *http.Request { return request(t, goodJSON, true, "", "", "") }, 403, "only the operator"},
		{"GET", func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://api.test"+Path, nil)
		}, 405, "POST"},
		{"not JSON", func(t *testing.T) *http.Request {
			return request(t, []byte("records!"), true, opKey, opSecret, Service)
		}, 400, "not a batch"},
		{"unknown field", func(t *testing.T) *http.Request {
			return request(t, []byte(`{"start":"2026-12-01T16:24:00Z","bucket":"x"}`), false, opKey, opSecret, Service)
		}, 400, "unknown field"},
		{"not gzip", func(t *testing.T) *http.Request {
			r := request(t, goodJSON, false, opKey, opSecret, Service)
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, 400, "not gzip"},
		{"record without interface", func(t *testing.T) *http.Request {
			return request(t, batchJSON(t, badIface), true, opKey, opSecret, Service)
		}, 400, "names interface 7"},
		{"no window", func(t *testing.T) *http.Request {
			return request(t, batchJSON(t, noStart), true, opKey, opSecret, Service)
		}, 400, "window start"},
		{"unknown destination", func(t *testing.T) *http.Request {
			return request(t, batchJSON(t, badLog), true, opKey, opSecret, Service)
		}, 400, "destination type"},
		{"oversized body", func(t *testing.T) *http.Request { return request(t, huge, false, opKey, opSecret, Service) }, 400, "larger than"},
		{"oversized once decompressed", func(t *testing.T) *http.Request { return request(t, huge, true, opKey, opSecret, Service) }, 400, "decompressed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, objs, logs := stores(t)
			sink := &counting{Sink: w}
			h := &Handler{Sink: sink, Operator: operator}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req(t))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("%d %s, want %d with %q", rec.Code, rec.Body, tt.status, tt.want)
			}
			list, err := objs.List(acct, "flows", objstore.ListQuery{MaxKeys: 100})
			if err != nil {
				t.Fatal(err)
			}
			sc := logstore.Scope{Account: acct, Region: "us-east-1"}
			if tt.status != 200 {
				if sink.n != 0 || len(list.Objects) != 0 || logs.HasGroup(sc, "vpc/flows") {
					t.Errorf("refused, yet %d deliveries, %d objects, log group %v", sink.n, len(list.Objects), logs.HasGroup(sc, "vpc/flows"))
				}
				return
			}
			if len(list.Objects) != 1 || !strings.HasPrefix(list.Objects[0].Key, "AWSLogs/"+acct+"/vpcflowlogs/us-east-1/2026/12/01/"+acct+"_vpcflowlogs_us-east-1_fl-1_20261201T1620Z_") {
				t.Errorf("objects %+v, want one of fl-1 under AWS's layout", list.Objects)
			}
			evs, err := logs.Events(sc, "vpc/flows", "eni-0a-all")
			if err != nil || len(evs) != 1 || evs[0].Message != "eni-0a ACCEPT OK" {
				t.Errorf("log group vpc/flows, stream eni-0a-all: %+v %v", evs, err)
			}
			// The same batch again (its reply lost): acknowledged, not written twice.
			again := httptest.NewRecorder()
			h.ServeHTTP(again, tt.req(t))
			if again.Code != 200 || sink.n != 1 {
				t.Errorf("sent again: %d %s, %d deliveries", again.Code, again.Body, sink.n)
			}
		})
	}
}

// server is an API server's delivery endpoint over a Writer, with a front that answers the
// first failures requests with 503, and the bodies' windows in the order delivered.
type server struct {
	*httptest.Server
	mu        sync.Mutex
	requests  int
	failures  int
	delivered chan time.Time
}

type chanSink struct{ c chan time.Time }

func (s chanSink) Deliver(_ context.Context, _ []flowlog.Log, _ []flowlog.Record, start time.Time) {
	s.c <- start
}

func newServer(t *testing.T, failures int) *server {
	s := &server{failures: failures, delivered: make(chan time.Time, 100)}
	h := &Handler{Sink: chanSink{s.delivered}, Operator: operator}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		fail := s.requests <= s.failures
		s.mu.Unlock()
		if fail {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "store failed", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// run runs c until the test ends.
func run(t *testing.T, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func next(t *testing.T, c chan time.Time) time.Time {
	t.Helper()
	select {
	case w := <-c:
		return w
	case <-time.After(30 * time.Second): // a bound on a failure, not a timing assertion
		t.Fatal("nothing delivered within 30 s")
		return time.Time{}
	}
}

// TestClientRetries: a batch the server fails is sent again after a backoff until taken;
// one that fails every attempt is dropped and the next goes on; a refusal (403: a tenant's
// key) is not sent again.
func TestClientRetries(t *testing.T) {
	t.Run("taken on the third attempt", func(t *testing.T) {
		s := newServer(t, 2)
		c := &Client{Endpoint: s.URL, AccessKeyID: opKey, Secret: opSecret, Backoff: time.Millisecond}
		run(t, c)
		c.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, window)
		if got := next(t, s.delivered); !got.Equal(window) {
			t.Errorf("window %v, want %v", got, window)
		}
		if n := s.count(); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("out of attempts", func(t *testing.T) {
		s := newServer(t, 3)
		c := &Client{Endpoint: s.URL, AccessKeyID: opKey, Secret: opSecret, Backoff: time.Millisecond, Attempts: 3}
		run(t, c)
		c.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, window)
		c.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, window.Add(time.Minute))
		if got := next(t, s.delivered); !got.Equal(window.Add(time.Minute)) {
			t.Errorf("window %v delivered, want only the second", got)
		}
		if n := s.count(); n != 4 {
			t.Errorf("%d requests, want 3 for the first batch and 1 for the second", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		s := newServer(t, 0)
		c := &Client{Endpoint: s.URL, AccessKeyID: tenantKey, Secret: tenantSecr, Backoff: time.Millisecond}
		run(t, c)
		c.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, window)
		// The operator's client after it: once its batch is in, the tenant's was tried.
		op := &Client{Endpoint: s.URL, AccessKeyID: opKey, Secret: opSecret}
		run(t, op)
		waitEmpty(t, c)
		op.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, window.Add(time.Minute))
		if got := next(t, s.delivered); !got.Equal(window.Add(time.Minute)) {
			t.Errorf("window %v delivered, want only the operator's", got)
		}
		if n := s.count(); n != 2 {
			t.Errorf("%d requests, want one each", n)
		}
	})
}

// waitEmpty waits until c's queue is empty.
func waitEmpty(t *testing.T, c *Client) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("queue not empty within 30 s")
		}
	}
}

// TestClientBound: while the server is away the queue keeps at most MaxQueued bytes,
// dropping the oldest windows; what it kept is delivered in order once the server is back.
func TestClientBound(t *testing.T) {
	s := newServer(t, 0)
	c := &Client{Endpoint: s.URL, AccessKeyID: opKey, Secret: opSecret}
	one, err := gzipJSON(Encode([]flowlog.Log{toBucket}, recs, window)[0])
	if err != nil {
		t.Fatal(err)
	}
	c.MaxQueued = 3*len(one) + len(one)/2 // three batches' worth, give or take the ID's bytes
	var windows []time.Time
	for i := range 6 {
		windows = append(windows, window.Add(time.Duration(i)*time.Minute))
		c.Deliver(context.Background(), []flowlog.Log{toBucket}, recs, windows[i])
	}
	if c.dropped != 3 || len(c.queue) != 3 || c.bytes > c.MaxQueued {
		t.Fatalf("dropped %d, queued %d (%d bytes of %d), want 3 and 3", c.dropped, len(c.queue), c.bytes, c.MaxQueued)
	}
	run(t, c)
	var got []time.Time
	for range 3 {
		got = append(got, next(t, s.delivered))
	}
	if diff := cmp.Diff(windows[3:], got); diff != "" {
		t.Errorf("delivered (-want +got)\n%s", diff)
	}
	waitEmpty(t, c)
	if c.bytes != 0 {
		t.Errorf("%d bytes left counted", c.bytes)
	}
}

// TestHandlerReadsNoForeignBody: a request that names another key than the operator's is
// refused before its body, up to MaxBody, is read.
func TestHandlerReadsNoForeignBody(t *testing.T) {
	for _, key := range []string{tenantKey, ""} {
		r := request(t, []byte("{}"), false, key, tenantSecr, Service)
		body := &readCounter{}
		r.Body = body
		rec := httptest.NewRecorder()
		(&Handler{Sink: &counting{}, Operator: operator}).ServeHTTP(rec, r)
		if rec.Code != http.StatusForbidden || body.n > 0 {
			t.Errorf("key %q: %d %s, %d bytes of the body read; want 403 and none", key, rec.Code, rec.Body, body.n)
		}
	}
}

// readCounter is an endless body that counts what was read of it.
type readCounter struct{ n int }

func (c *readCounter) Read(p []byte) (int, error) { c.n += len(p); return len(p), nil }
func (c *readCounter) Close() error               { return nil }
