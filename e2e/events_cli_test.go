package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookReceiver is the test's webhook: it keeps what it gets; down makes it answer 503, and
// hold makes every request wait until released.
type hookReceiver struct {
	mu     sync.Mutex
	bodies []string
	down   bool
	hold   chan struct{} // nil: answer at once
	waits  int           // requests waiting on hold
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	hold, down := h.hold, h.down
	if hold != nil {
		h.waits++
	}
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *hookReceiver) set(f func(h *hookReceiver)) { h.mu.Lock(); f(h); h.mu.Unlock() }

func (h *hookReceiver) snapshot() (bodies []string, waits int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...), h.waits
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
	}
}

// TestEventsWebhookWithAWSCLI: an alert rule set up with `aws events` — a connection, an API
// destination to a local webhook, a rule on SSH from the world — delivers the event of an
// AuthorizeSecurityGroupIngress of port 22 from 0.0.0.0/0 within a second, once, and not
// those of port 443 or of a private range; a receiver that is down gets the event once it is
// back; a receiver that hangs does not hold up the API.
func TestEventsWebhookWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	h := &hookReceiver{}
	hook := httptest.NewServer(h)
	defer hook.Close()

	var conn struct{ ConnectionArn, ConnectionState string }
	a.ok(&conn, "events", "create-connection", "--name", "hook", "--authorization-type", "API_KEY",
		"--auth-parameters", `{"ApiKeyAuthParameters":{"ApiKeyName":"X-Api-Key","ApiKeyValue":"s3cret"}}`)
	var dest struct{ ApiDestinationArn string }
	// The AWS CLI fetches a parameter given as an http:// URL (cli_follow_urlparam), so the
	// endpoint goes in --cli-input-json.
	destInput := func(name, endpoint string) string {
		b, _ := json.Marshal(map[string]string{"Name": name, "ConnectionArn": conn.ConnectionArn, "InvocationEndpoint": endpoint, "HttpMethod": "POST"})
		return string(b)
	}
	a.ok(&dest, "events", "create-api-destination", "--cli-input-json", destInput("hook", hook.URL+"/alerts"))
	a.fails("ValidationException", "events", "create-api-destination", "--cli-input-json", destInput("self", s.endpoint+"/"))
	pattern := `{"source":["aws.ec2"],"detail-type":["AWS API Call via CloudTrail"],
	  "detail":{"eventName":["AuthorizeSecurityGroupIngress"],"errorCode":[{"exists":false}],
	    "requestParameters":{"ipPermissions":{"items":{"fromPort":[22],"ipRanges":{"items":{"cidrIp":["0.0.0.0/0"]}}}}}}}`
	a.ok(nil, "events", "put-rule", "--name", "ssh-world", "--event-pattern", pattern)
	a.fails("InvalidEventPatternException", "events", "put-rule", "--name", "bad", "--event-pattern", `{"source":"aws.ec2"}`)
	var put struct{ FailedEntryCount int }
	a.ok(&put, "events", "put-targets", "--rule", "ssh-world", "--targets", "Id=hook,Arn="+dest.ApiDestinationArn)
	if put.FailedEntryCount != 0 {
		t.Fatalf("put-targets: %+v", put)
	}
	a.fails("ValidationException", "events", "delete-rule", "--name", "ssh-world")

	var g struct{ GroupId string }
	a.ok(&g, "ec2", "create-security-group", "--group-name", "web", "--description", "web")
	authorize := func(port, cidr string) {
		t.Helper()
		a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--ip-permissions",
			"IpProtocol=tcp,FromPort="+port+",ToPort="+port+",IpRanges=[{CidrIp="+cidr+"}]")
	}
	revoke := func(port, cidr string) {
		t.Helper()
		a.ok(nil, "ec2", "revoke-security-group-ingress", "--group-id", g.GroupId, "--ip-permissions",
			"IpProtocol=tcp,FromPort="+port+",ToPort="+port+",IpRanges=[{CidrIp="+cidr+"}]")
	}
	authorize("443", "0.0.0.0/0")
	authorize("22", "10.0.0.0/8")
	authorize("22", "0.0.0.0/0")
	// Within a second of the reply (the trail's 20 ms linger, one store commit, one POST).
	waitFor(t, time.Second, "the SSH-to-the-world event at the webhook", func() bool { b, _ := h.snapshot(); return len(b) == 1 })
	// Once: every delivery the bus made is the one received, and nothing is pending.
	waitFor(t, 5*time.Second, "the bus to settle", func() bool {
		m := metrics(t, s)
		return m["stockade_events_delivered_total"] == 1 && m["stockade_events_pending"] == 0
	})
	bodies, _ := h.snapshot()
	var ev struct {
		Source, Account string
		Detail          struct {
			EventName   string
			EventSource string
		}
	}
	if err := json.Unmarshal([]byte(bodies[0]), &ev); err != nil || ev.Source != "aws.ec2" || ev.Detail.EventName != "AuthorizeSecurityGroupIngress" {
		t.Fatalf("event %s (%v)", bodies[0], err)
	}

	t.Run("receiver down, then back", func(t *testing.T) {
		h.set(func(h *hookReceiver) { h.down = true })
		revoke("22", "0.0.0.0/0")
		authorize("22", "0.0.0.0/0")
		waitFor(t, 5*time.Second, "a failed attempt", func() bool { return metrics(t, s)["stockade_events_retries_total"] >= 1 })
		h.set(func(h *hookReceiver) { h.down = false })
		waitFor(t, 150*time.Second, "the retried delivery", func() bool { b, _ := h.snapshot(); return len(b) == 2 })
	})

	t.Run("a receiver that hangs does not hold up the API", func(t *testing.T) {
		release := make(chan struct{})
		h.set(func(h *hookReceiver) { h.hold = release })
		defer h.set(func(h *hookReceiver) { h.hold = nil })
		for range 3 {
			revoke("22", "0.0.0.0/0")
			authorize("22", "0.0.0.0/0")
		}
		// Every call above was answered while the receiver still holds its first request:
		// the API did not wait for the webhook.
		waitFor(t, 5*time.Second, "the webhook to be called", func() bool { _, w := h.snapshot(); return w >= 1 })
		if b, _ := h.snapshot(); len(b) != 2 {
			t.Fatalf("deliveries completed while the receiver hangs: %d", len(b))
		}
		close(release)
		h.set(func(h *hookReceiver) { h.hold = nil })
		// The deliveries that timed out while the receiver hung wait for their retry, whose
		// back-off doubles from 1 s: on a loaded machine the hang lasts long enough for the
		// next attempt to be a minute away.
		// Delivery is at least once, as EventBridge's: a POST held past the bus's timeout (5 s;
		// each AWS CLI call above takes about a second) is attempted again, and the held one
		// still lands when released. The repeat is the same body (a receiver drops it by the
		// events.DeliveryHeader ID): without repeats, the two bodies before and these three.
		waitFor(t, 150*time.Second, "the three deliveries", func() bool {
			b, _ := h.snapshot()
			slices.Sort(b)
			return len(slices.Compact(b)) == 5
		})
	})

	var rules struct {
		Rules []struct{ Name, State string }
	}
	a.ok(&rules, "events", "list-rules")
	if len(rules.Rules) != 1 || rules.Rules[0].Name != "ssh-world" || rules.Rules[0].State != "ENABLED" {
		t.Errorf("list-rules: %+v", rules)
	}
	var desc struct{ AuthParameters map[string]map[string]string }
	out, _, _ := a.run("events", "describe-connection", "--name", "hook")
	if strings.Contains(out, "s3cret") || json.Unmarshal([]byte(out), &desc) != nil || desc.AuthParameters["ApiKeyAuthParameters"]["ApiKeyName"] != "X-Api-Key" {
		t.Errorf("describe-connection: %s", out)
	}
}

// metrics reads the server's /metrics as name → value (unlabelled series only).
func metrics(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		var name string
		var v float64
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		if n, _ := fmt.Sscan(line, &name, &v); n == 2 {
			m[name] = v
		}
	}
	return m
}
