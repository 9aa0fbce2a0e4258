package e2e

import (
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/audit"
)

// TestContinuousAuditEvents: a rule on the continuous audit's events delivers to a webhook
// (API destination made with the AWS CLI): authorizing SSH from 0.0.0.0/0 opens an SGA-002
// finding that arrives as a "Stockade Audit Finding" event (state OPEN); revoking it closes
// it (a second event, CLOSED) and, since it was open for less than the flap window, a
// "Stockade Exposure Flap" event follows; the live audit then reports MON-003 from the
// trail, and the history shows the closed episode.
func TestContinuousAuditEvents(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	h := &hookReceiver{}
	hook := httptest.NewServer(h)
	defer hook.Close()

	var conn struct{ ConnectionArn string }
	a.ok(&conn, "events", "create-connection", "--name", "hook", "--authorization-type", "API_KEY",
		"--auth-parameters", `{"ApiKeyAuthParameters":{"ApiKeyName":"X-Api-Key","ApiKeyValue":"s3cret"}}`)
	in, _ := json.Marshal(map[string]string{"Name": "hook", "ConnectionArn": conn.ConnectionArn, "InvocationEndpoint": hook.URL + "/audit", "HttpMethod": "POST"})
	var dest struct{ ApiDestinationArn string }
	a.ok(&dest, "events", "create-api-destination", "--cli-input-json", string(in))
	a.ok(nil, "events", "put-rule", "--name", "audit", "--event-pattern", `{"source":["stockade.audit"],"detail":{"check":["SGA-002","MON-003"]}}`)
	a.ok(nil, "events", "put-targets", "--rule", "audit", "--targets", "Id=hook,Arn="+dest.ApiDestinationArn)

	var g struct{ GroupId string }
	a.ok(&g, "ec2", "create-security-group", "--group-name", "web", "--description", "web")
	type event struct {
		DetailType string `json:"detail-type"`
		Source     string
		Detail     struct {
			Check, State, Resource string
			Checks                 []string
		}
	}
	events := func() []event {
		bodies, _ := h.snapshot()
		var out []event
		for _, b := range bodies {
			var e event
			if err := json.Unmarshal([]byte(b), &e); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			out = append(out, e)
		}
		return out
	}
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	waitFor(t, 10*time.Second, "the OPEN event", func() bool { return len(events()) >= 1 })
	if e := events()[0]; e.DetailType != "Stockade Audit Finding" || e.Source != "stockade.audit" || e.Detail.Check != "SGA-002" ||
		e.Detail.State != "OPEN" || e.Detail.Resource != g.GroupId {
		t.Fatalf("first event: %+v", e)
	}

	a.ok(nil, "ec2", "revoke-security-group-ingress", "--group-id", g.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	waitFor(t, 10*time.Second, "the CLOSED and flap events", func() bool { return len(events()) >= 3 })
	got := events()
	closed := slices.IndexFunc(got, func(e event) bool { return e.DetailType == "Stockade Audit Finding" && e.Detail.State == "CLOSED" })
	flap := slices.IndexFunc(got, func(e event) bool {
		return e.DetailType == "Stockade Exposure Flap" && e.Detail.Check == "MON-003" && slices.Contains(e.Detail.Checks, "SGA-002") && e.Detail.Resource == g.GroupId
	})
	if len(got) != 3 || closed < 0 || flap < 0 {
		t.Fatalf("events after the revoke: %+v", got)
	}

	// The live audit reads the trail's rule changes: the flap is MON-003 there too (once the
	// trail has written the revoke's record). Each try runs `stockade audit`, a process of its
	// own: on a loaded CI machine a few tries took more than 10 s, hence the wider bound (the
	// time it took is logged).
	since := time.Now()
	waitFor(t, 30*time.Second, "MON-003 in the live audit", func() bool {
		out, err := exec.Command(binary, "audit", "--json", "--data-dir", s.dataDir, "--region", "us-east-1").Output()
		if err != nil {
			t.Fatalf("audit: %v %s", err, out)
		}
		var r audit.Report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(r.Findings, func(f audit.Finding) bool { return f.Check == "MON-003" && f.Resource == g.GroupId })
	})
	t.Logf("MON-003 in the live audit after %v", time.Since(since).Round(time.Millisecond))
	out, err := exec.Command(binary, "audit", "--history", "--data-dir", s.dataDir, "--region", "us-east-1").CombinedOutput()
	if err != nil || !slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool {
		return strings.HasPrefix(l, "CLOSED") && strings.Contains(l, "SGA-002") && strings.Contains(l, g.GroupId)
	}) {
		t.Fatalf("audit --history: %v\n%s", err, out)
	}
	if m := metrics(t, s); m["stockade_events_dead_lettered_total"] != 0 {
		t.Errorf("dead letters: %v", m["stockade_events_dead_lettered_total"])
	}
}
