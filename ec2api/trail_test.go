package ec2api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/events/eventsapi"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// trailAPI is a server with the trail on, over a bolt store the test can close and reopen.
// The Recorder is not running: the test flushes it (settle), so that what is recorded is
// deterministic, and can leave it unflushed to "crash" before a record is completed.
type trailAPI struct {
	*testAPI
	path     string
	st       store.Store
	recorder *trail.Recorder
	// inflight is held (read) by every request being served, so that settle can wait until
	// every handler has finished — a handler records after its reply is written.
	inflight sync.RWMutex
}

// openTrail opens the trail's log in dir, moves into it what st's outbox holds (as the server
// does at start-up), and returns a Recorder and a Lookup (unthrottled) on them. Tests write
// the Recorder's queue with Flush.
func openTrail(t *testing.T, st store.Store, dir string) (*trail.Recorder, *trail.Lookup) {
	t.Helper()
	ctx := context.Background()
	log, err := trail.OpenLog(dir, trail.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	rec := trail.NewRecorder(log, st, trail.RecorderOptions{})
	if err := rec.Recover(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	lookup, err := trail.NewLookup(ctx, st, log, trail.LookupOptions{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	return rec, lookup
}

func newTrailAPI(t *testing.T) *trailAPI {
	t.Helper()
	ctx := context.Background()
	ta := &trailAPI{path: filepath.Join(t.TempDir(), "stockade.db")}
	st, err := bolt.Open(ta.path, bolt.Options{Staged: []string{trail.OutboxPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	ta.st = st
	t.Cleanup(func() { ta.st.Close() })
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := control.Open(ctx, st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var lookup *trail.Lookup
	ta.recorder, lookup = openTrail(t, st, filepath.Join(filepath.Dir(ta.path), "trail-log"))
	cfg := DefaultConfig()
	cfg.Log, cfg.Recorder, cfg.Lookup = discardLogger(), ta.recorder, lookup
	bus, err := events.Open(ctx, st, events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Events = eventsapi.New(bus)
	api := New(cfg, svc, accounts, NewMetrics(prometheus.NewRegistry()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ta.inflight.RLock()
		defer ta.inflight.RUnlock()
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ta.testAPI = &testAPI{t: t, srv: srv, accounts: accounts, svc: svc}
	return ta
}

// settle waits for every request's handler to finish, then writes what the Recorder holds.
func (ta *trailAPI) settle() {
	ta.inflight.Lock()
	ta.inflight.Unlock()
	ta.recorder.Flush(context.Background())
}

// lookupEvent is one event of a LookupEvents answer, with its record decoded.
type lookupEvent struct {
	EventName, ReadOnly, Username, AccessKeyId string
	Resources                                  []trail.Resource
	CloudTrailEvent                            string
	record                                     map[string]any
}

// lookup calls LookupEvents, signed for cloudtrail in the client's region, with body.
func (c *client) lookup(body string) (status int, events []lookupEvent, raw string) {
	t := c.api.t
	t.Helper()
	status, b := c.jsonCall("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", "cloudtrail", body)
	var out struct{ Events []lookupEvent }
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("LookupEvents answer %s: %v", b, err)
		}
		for i := range out.Events {
			if err := json.Unmarshal([]byte(out.Events[i].CloudTrailEvent), &out.Events[i].record); err != nil {
				t.Fatalf("CloudTrailEvent %s: %v", out.Events[i].CloudTrailEvent, err)
			}
		}
	}
	return status, out.Events, string(b)
}

// summary is what the tests compare of a record.
type summary struct {
	EventName, EventSource, ErrorCode string
	ReadOnly                          bool
	Identity                          string // userIdentity.type arn
	HasResponse                       bool
	Request                           string // requestParameters.groupName or .groupId
}

func summarise(e lookupEvent) summary {
	r := e.record
	id, _ := r["userIdentity"].(map[string]any)
	req, _ := r["requestParameters"].(map[string]any)
	s := summary{EventName: r["eventName"].(string), EventSource: r["eventSource"].(string),
		ReadOnly: r["readOnly"].(bool), HasResponse: r["responseElements"] != nil}
	s.ErrorCode, _ = r["errorCode"].(string)
	s.Identity = id["type"].(string) + " " + id["arn"].(string)
	if v, ok := req["groupName"].(string); ok {
		s.Request = v
	} else if v, ok := req["groupId"].(string); ok {
		s.Request = v
	}
	return s
}

// TestTrailRecordsEveryCall: every authenticated call — a write, a read, a failure, a dry
// run, STS — becomes one record, newest first, as the account's root; a write's record has
// its responseElements (the completed form replaced the staged one, no duplicate); the
// lookups by EventName and ResourceName find them; LookupEvents is recorded too; another
// account and another region see none of it.
func TestTrailRecordsEveryCall(t *testing.T) {
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	sg := field(c.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web tier"), "groupId")
	c.ok("DescribeSecurityGroups")
	c.fails("InvalidGroup.Duplicate", "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "again")
	c.fails("DryRunOperation", "AuthorizeSecurityGroupIngress", "GroupId", sg, "DryRun", "true",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", sg,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	sts := &client{api: c.api, acct: c.acct, region: c.region, service: "sts"}
	sts.ok("GetCallerIdentity")
	ta.settle()

	root := "Root arn:aws:iam::" + c.acct.ID + ":root"
	status, events, raw := c.lookup(`{}`)
	if status != http.StatusOK {
		t.Fatalf("LookupEvents: %d %s", status, raw)
	}
	var got []summary
	for _, e := range events {
		got = append(got, summarise(e))
	}
	want := []summary{
		{EventName: "GetCallerIdentity", EventSource: "sts.amazonaws.com", ReadOnly: true, Identity: root},
		{EventName: "AuthorizeSecurityGroupIngress", EventSource: "ec2.amazonaws.com", Identity: root, HasResponse: true, Request: sg},
		{EventName: "AuthorizeSecurityGroupIngress", EventSource: "ec2.amazonaws.com", Identity: root, ErrorCode: "Client.DryRunOperation", Request: sg},
		{EventName: "CreateSecurityGroup", EventSource: "ec2.amazonaws.com", Identity: root, ErrorCode: "Client.InvalidGroup.Duplicate", Request: "web"},
		{EventName: "DescribeSecurityGroups", EventSource: "ec2.amazonaws.com", ReadOnly: true, Identity: root},
		{EventName: "CreateSecurityGroup", EventSource: "ec2.amazonaws.com", Identity: root, HasResponse: true, Request: "web"},
	}
	// Records within one second are ordered by eventID (§2.3), not by arrival: compare as sets.
	if diff := cmp.Diff(want, got, sortSummaries); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	_, byName, _ := c.lookup(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"CreateSecurityGroup"}]}`)
	for _, e := range byName {
		if e.record["errorCode"] == nil {
			resp, _ := e.record["responseElements"].(map[string]any)
			if resp["groupId"] != sg || resp["requestId"] == nil {
				t.Errorf("CreateSecurityGroup responseElements %v, want groupId %s and the requestId", resp, sg)
			}
		}
	}
	if len(byName) != 2 {
		t.Errorf("EventName=CreateSecurityGroup: %d events, want 2 (the completed record replaces the staged one)", len(byName))
	}
	_, byGroup, _ := c.lookup(`{"LookupAttributes":[{"AttributeKey":"ResourceName","AttributeValue":"` + sg + `"}]}`)
	var names []string
	for _, e := range byGroup {
		if e.record["errorCode"] == nil {
			names = append(names, e.EventName)
		}
	}
	if diff := cmp.Diff([]string{"AuthorizeSecurityGroupIngress", "CreateSecurityGroup"}, slices.Sorted(slices.Values(names))); diff != "" {
		t.Errorf("ResourceName=%s, successful calls (-want +got):\n%s", sg, diff)
	}

	ta.settle()
	_, lookups, _ := c.lookup(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"LookupEvents"}]}`)
	if len(lookups) != 3 || summarise(lookups[0]).EventSource != "cloudtrail.amazonaws.com" || !summarise(lookups[0]).ReadOnly {
		t.Errorf("LookupEvents records: %d, want the 3 lookups before, read-only, from cloudtrail: %+v", len(lookups), lookups)
	}

	other := ta.newAccount("bob")
	if _, evs, _ := other.lookup(`{}`); len(evs) != 0 {
		t.Errorf("another account sees %d events", len(evs))
	}
	west := &client{api: c.api, acct: c.acct, region: "eu-west-1"}
	if _, evs, raw := west.lookup(`{"LookupAttributes":[{"AttributeKey":"EventSource","AttributeValue":"ec2.amazonaws.com"}]}`); len(evs) != 0 {
		t.Errorf("another region sees %d EC2 events: %s", len(evs), raw)
	}
}

// TestReplyBuffersOutliveTheirRecords: replies are written into recycled buffers, but not a
// reply the trail's record still holds: a write's reply waits in the Recorder's queue while
// reads reuse buffers, and its record's responseElements are still the write's. The reads'
// replies are whole and their own (a recycled buffer starts empty).
func TestReplyBuffersOutliveTheirRecords(t *testing.T) {
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	sg := field(c.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web tier"), "groupId")
	ta.settle()
	reply := c.ok("AuthorizeSecurityGroupIngress", "GroupId", sg,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	rule := field(reply, "securityGroupRuleId")
	for i := range 50 { // the authorize's completion is queued, unflushed, meanwhile
		name := fmt.Sprintf("g%02d", i)
		c.ok("CreateSecurityGroup", "GroupName", name, "GroupDescription", strings.Repeat("x", 1+5*i))
		got := c.ok("DescribeSecurityGroups", "Filter.1.Name", "group-name", "Filter.1.Value.1", name)
		if !strings.HasPrefix(got, "<?xml") || strings.Count(got, "<groupName>") != 1 || field(got, "groupName") != name ||
			field(got, "groupDescription") != strings.Repeat("x", 1+5*i) {
			t.Fatalf("describe of %s: %.300s", name, got)
		}
	}
	ta.settle()
	_, events, _ := c.lookup(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"AuthorizeSecurityGroupIngress"}]}`)
	if len(events) != 1 {
		t.Fatalf("%d authorize records", len(events))
	}
	resp, _ := events[0].record["responseElements"].(map[string]any)
	if b, _ := json.Marshal(resp); !strings.Contains(string(b), rule) || !strings.Contains(string(b), sg) {
		t.Errorf("the authorize's responseElements are not its reply's: %s", b)
	}
}

var sortSummaries = cmp.Transformer("sort", func(in []summary) map[summary]int {
	m := map[summary]int{}
	for _, s := range in {
		m[s]++
	}
	return m
})

// TestTrailCrashBeforeCompletion: a write's record commits with the change, so a crash after
// the commit and before the completed record is written (the Recorder never flushed) leaves
// the change and its record, without responseElements.
func TestTrailCrashBeforeCompletion(t *testing.T) {
	ctx := context.Background()
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	sg := field(c.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web tier"), "groupId")
	ta.settle()
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", sg,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	ta.inflight.Lock() // the handler has finished: its completion is queued, never written
	ta.st.Close()

	st, err := bolt.Open(ta.path, bolt.Options{Staged: []string{trail.OutboxPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	ta.st = st
	svc, err := control.Open(ctx, st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.View(ctx, control.Tenant{Account: c.acct.ID, Region: c.region}, func(v control.View) error {
		_, err := v.Group(sg)
		return err
	}); err != nil {
		t.Fatalf("the group after the crash: %v", err)
	}
	_, lookup := openTrail(t, st, filepath.Join(filepath.Dir(ta.path), "trail-log"))
	res := lookup.Serve(ctx, trail.Scope{Account: c.acct.ID, Region: c.region}, trail.Target,
		[]byte(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"AuthorizeSecurityGroupIngress"}]}`))
	var out struct{ Events []lookupEvent }
	if err := json.Unmarshal(res.Body, &out); err != nil || len(out.Events) != 1 {
		t.Fatalf("after the crash: %s (%v)", res.Body, err)
	}
	json.Unmarshal([]byte(out.Events[0].CloudTrailEvent), &out.Events[0].record)
	want := summary{EventName: "AuthorizeSecurityGroupIngress", EventSource: "ec2.amazonaws.com",
		Identity: "Root arn:aws:iam::" + c.acct.ID + ":root", Request: sg}
	if diff := cmp.Diff(want, summarise(out.Events[0])); diff != "" {
		t.Errorf("the staged record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]trail.Resource{{ResourceType: "AWS::EC2::SecurityGroup", ResourceName: sg}}, out.Events[0].Resources); diff != "" {
		t.Errorf("the staged record's resources (-want +got):\n%s", diff)
	}
}

// TestTrailOff: without a Recorder nothing is recorded and CloudTrail is not served.
func TestTrailOff(t *testing.T) {
	a := newTestAPI(t)
	c := a.newAccount("alice")
	c.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web tier")
	status, _, raw := c.lookup(`{}`)
	if status != http.StatusBadRequest || !bytes.Contains([]byte(raw), []byte("UnknownOperationException")) {
		t.Errorf("LookupEvents with the trail off: %d %s", status, raw)
	}
}

// TestLookupEventsAuthentication: a CloudTrail call is verified as one (service cloudtrail in
// the scope) and refused in the JSON protocol's words, unrecorded.
func TestLookupEventsAuthentication(t *testing.T) {
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	for _, tc := range []struct {
		name string
		edit func(*client)
		want string
	}{
		{"unknown key", func(c *client) { c.acct.AccessKeyID = "AKIAUNKNOWNKEY000000" }, jsonUnrecognizedClient},
		{"wrong secret", func(c *client) { c.acct.SecretAccessKey = "wrong" }, jsonInvalidSignature},
	} {
		bad := *c
		tc.edit(&bad)
		status, _, raw := bad.lookup(`{}`)
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal([]byte(raw), &e)
		if status != http.StatusBadRequest || e.Type != tc.want {
			t.Errorf("%s: %d %s, want 400 %s", tc.name, status, raw, tc.want)
		}
	}
	ta.settle()
	if _, evs, _ := c.lookup(`{}`); len(evs) != 0 {
		t.Errorf("refused calls recorded: %d events", len(evs))
	}
}
