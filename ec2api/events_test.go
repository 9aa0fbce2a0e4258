package ec2api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// events calls an EventBridge action, signed for service events in the client's region.
func (c *client) events(action, body string) (int, map[string]any) {
	t := c.api.t
	t.Helper()
	status, b := c.jsonCall("AWSEvents."+action, "events", body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %s is not JSON", action, b)
	}
	return status, m
}

// jsonCall sends a JSON 1.1 call with target, signed for service in the client's region.
func (c *client) jsonCall(target, service, body string) (int, []byte) {
	c.api.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.api.srv.URL+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		c.api.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	return c.do(req, body, service)
}

// TestEventsServedAndRecorded: the EventBridge actions answer over the signed API, for the
// caller's account only, and each call is recorded with eventSource events.amazonaws.com,
// reads as readOnly, and a connection's secret never in the record.
func TestEventsServedAndRecorded(t *testing.T) {
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	pattern := `{"source":["aws.ec2"]}`
	p, _ := json.Marshal(pattern)
	if st, m := c.events("PutRule", `{"Name":"sg","EventPattern":`+string(p)+`}`); st != 200 || m["RuleArn"] != "arn:aws:events:"+c.region+":"+c.acct.ID+":rule/sg" {
		t.Fatalf("PutRule: %d %v", st, m)
	}
	if st, m := c.events("DescribeRule", `{"Name":"sg"}`); st != 200 || m["EventPattern"] != pattern {
		t.Fatalf("DescribeRule: %d %v", st, m)
	}
	if st, m := c.events("CreateConnection", `{"Name":"c","AuthorizationType":"API_KEY","AuthParameters":{"ApiKeyAuthParameters":{"ApiKeyName":"k","ApiKeyValue":"hunter2"}}}`); st != 200 {
		t.Fatalf("CreateConnection: %d %v", st, m)
	}
	if st, m := c.events("DescribeRule", `{"Name":"nope"}`); st != 400 || m["__type"] != "ResourceNotFoundException" {
		t.Fatalf("DescribeRule nope: %d %v", st, m)
	}
	bob := ta.newAccount("bob")
	if st, m := bob.events("DescribeRule", `{"Name":"sg"}`); st != 400 || m["__type"] != "ResourceNotFoundException" {
		t.Fatalf("another account sees the rule: %d %v", st, m)
	}
	ta.settle()

	_, recs, raw := c.lookup(`{"LookupAttributes":[{"AttributeKey":"EventSource","AttributeValue":"events.amazonaws.com"}]}`)
	if strings.Contains(raw, "hunter2") {
		t.Errorf("the connection's secret is in the trail: %s", raw)
	}
	var got []summary
	for _, e := range recs {
		got = append(got, summarise(e))
	}
	root := "Root arn:aws:iam::" + c.acct.ID + ":root"
	want := []summary{
		{EventName: "DescribeRule", EventSource: "events.amazonaws.com", ReadOnly: true, Identity: root, ErrorCode: "ResourceNotFoundException"},
		{EventName: "CreateConnection", EventSource: "events.amazonaws.com", Identity: root},
		{EventName: "DescribeRule", EventSource: "events.amazonaws.com", ReadOnly: true, Identity: root},
		{EventName: "PutRule", EventSource: "events.amazonaws.com", Identity: root},
	}
	if diff := cmp.Diff(want, got, sortSummaries); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// TestEventsBadSignature: an EventBridge call that fails authentication is answered in the
// JSON protocol's words.
func TestEventsBadSignature(t *testing.T) {
	ta := newTrailAPI(t)
	c := ta.newAccount("alice")
	c.acct.SecretAccessKey = "wrong"
	if st, m := c.events("ListRules", `{}`); st != 400 || m["__type"] != "InvalidSignatureException" {
		t.Fatalf("ListRules with a bad signature: %d %v", st, m)
	}
}

// TestEventsAuthorized: an IAM user's EventBridge calls are decided as events:<Action>, on the
// rule's ARN for the actions that name a rule, and a denial is AccessDeniedException.
func TestEventsAuthorized(t *testing.T) {
	a := newAuthzAPI(t)
	alice := a.user("alice", "/", `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"events:PutRule","Resource":"arn:aws:events:eu-west-1:*:rule/ops-*"},
	  {"Effect":"Allow","Action":"events:Describe*","Resource":"*"}]}`)
	pattern := `{"EventPattern":"{\"source\":[\"aws.ec2\"]}"}`
	for _, tc := range []struct {
		action, body, code string
	}{
		{"PutRule", `{"Name":"ops-ssh",` + pattern[1:], ""},
		{"PutRule", `{"Name":"dev-ssh",` + pattern[1:], "AccessDeniedException"},
		{"DescribeRule", `{"Name":"ops-ssh"}`, ""},
		{"ListRules", `{}`, "AccessDeniedException"},
		{"DeleteRule", `{"Name":"ops-ssh"}`, "AccessDeniedException"},
	} {
		st, m := alice.events(tc.action, tc.body)
		if code, _ := m["__type"].(string); code != tc.code || (code == "") != (st == 200) {
			t.Errorf("%s %s: %d %v, want %q", tc.action, tc.body, st, m, tc.code)
		}
	}
	if _, m := alice.events("PutRule", `{"Name":"dev-ssh",`+pattern[1:]); !strings.Contains(m["message"].(string), "events:PutRule on resource: arn:aws:events:eu-west-1:"+a.root.acct.ID+":rule/dev-ssh") {
		t.Errorf("denial message %v", m)
	}
}
