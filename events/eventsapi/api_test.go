package eventsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/store/bolt"
)

var sc = events.Scope{Account: "111122223333", Region: "eu-west-1"}

func newAPI(t *testing.T, q events.Quotas) (*API, *events.Service, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	guard := &events.Guard{Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8787")}}
	svc, err := events.Open(context.Background(), st, events.Config{Quotas: q, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	return New(svc), svc, st
}

// call runs one action and returns the error code ("" on success) and the decoded reply.
func call(t *testing.T, a *API, action, body string) (string, map[string]any) {
	t.Helper()
	res := a.Serve(context.Background(), sc.Account, sc.Region, TargetPrefix+action, []byte(body))
	var m map[string]any
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatalf("%s: reply %q is not JSON", action, res.Body)
	}
	if res.Code != "" {
		if m["__type"] != res.Code || res.Status != 400 {
			t.Errorf("%s: error shape %d %s", action, res.Status, res.Body)
		}
	}
	return res.Code, m
}

const sshPattern = `{"source":["aws.ec2"],"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestAPI walks the actions in order: each step's error code, and the fields it checks.
func TestAPI(t *testing.T) {
	a, _, _ := newAPI(t, events.Quotas{RulesPerBus: 2, TargetsPerRule: 5, Connections: 50, APIDestinations: 3000})
	ruleARN := "arn:aws:events:eu-west-1:111122223333:rule/ssh"
	steps := []struct {
		action, body, code string
		want               map[string]any // fields of the reply compared
	}{
		{"PutRule", `{"Name":"ssh","EventPattern":` + q(sshPattern) + `}`, "", map[string]any{"RuleArn": ruleARN}},
		{"DescribeRule", `{"Name":"ssh"}`, "", map[string]any{"Name": "ssh", "Arn": ruleARN, "State": "ENABLED", "EventBusName": "default", "EventPattern": sshPattern, "CreatedBy": sc.Account}},
		{"PutRule", `{"Name":"ssh","EventPattern":` + q(sshPattern) + `,"State":"ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS","Description":"d"}`, "", nil},
		{"DescribeRule", `{"Name":"ssh"}`, "", map[string]any{"State": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", "Description": "d"}},
		{"PutRule", `{"Name":"bad name","EventPattern":"{}"}`, "ValidationException", nil},
		{"PutRule", `{"EventPattern":"{}"}`, "ValidationException", nil},
		{"PutRule", `{"Name":"x"}`, "ValidationException", nil},
		{"PutRule", `{"Name":"x","ScheduleExpression":"rate(5 minutes)"}`, "ValidationException", nil},
		{"PutRule", `{"Name":"x","EventPattern":"{\"a\":\"b\"}"}`, "InvalidEventPatternException", nil},
		{"PutRule", `{"Name":"x","EventPattern":` + q(sshPattern) + `,"State":"ON"}`, "ValidationException", nil},
		{"PutRule", `{"Name":"x","EventPattern":` + q(sshPattern) + `,"EventBusName":"other"}`, "ResourceNotFoundException", nil},
		{"PutRule", `{"Name":"x","EventPattern":` + q(sshPattern) + `,"EventBusName":"arn:aws:events:eu-west-1:111122223333:event-bus/default"}`, "", nil},
		{"PutRule", `{"Name":"y","EventPattern":` + q(sshPattern) + `}`, "LimitExceededException", nil},
		{"DescribeRule", `{"Name":"y"}`, "ResourceNotFoundException", map[string]any{"message": "Rule y does not exist on EventBus default."}},
		{"ListRules", `{"NamePrefix":"s"}`, "", map[string]any{"Rules": []any{map[string]any{"Name": "ssh", "Arn": ruleARN, "EventPattern": sshPattern, "State": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", "Description": "d", "EventBusName": "default"}}}},
		{"ListRules", `{"Limit":1}`, "", map[string]any{"NextToken": "c3No"}},
		{"ListRules", `{"Limit":1,"NextToken":"c3No"}`, "", map[string]any{"NextToken": nil}},
		{"ListRules", `{"Limit":101}`, "ValidationException", nil},
		{"DisableRule", `{"Name":"ssh"}`, "", nil},
		{"DescribeRule", `{"Name":"ssh"}`, "", map[string]any{"State": "DISABLED"}},
		{"EnableRule", `{"Name":"ssh"}`, "", nil},
		{"EnableRule", `{"Name":"nope"}`, "ResourceNotFoundException", nil},
		{"CreateConnection", `{"Name":"c","AuthorizationType":"OAUTH_CLIENT_CREDENTIALS"}`, "ValidationException", nil},
		{"CreateConnection", `{"Name":"c","AuthorizationType":"API_KEY","AuthParameters":{"ApiKeyAuthParameters":{"ApiKeyName":"x-api-key"}}}`, "ValidationException", nil},
		{"CreateConnection", `{"Name":"c","AuthorizationType":"API_KEY","AuthParameters":{"ApiKeyAuthParameters":{"ApiKeyName":"x-api-key","ApiKeyValue":"s3cret"}}}`, "", map[string]any{"ConnectionState": "AUTHORIZED"}},
		{"CreateConnection", `{"Name":"c","AuthorizationType":"BASIC","AuthParameters":{"BasicAuthParameters":{"Username":"u","Password":"p"}}}`, "ResourceAlreadyExistsException", nil},
		{"DescribeConnection", `{"Name":"c"}`, "", map[string]any{"Name": "c", "AuthorizationType": "API_KEY", "AuthParameters": map[string]any{"ApiKeyAuthParameters": map[string]any{"ApiKeyName": "x-api-key"}}}},
		{"DescribeConnection", `{"Name":"nope"}`, "ResourceNotFoundException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"arn:aws:events:eu-west-1:111122223333:connection/nope/1","InvocationEndpoint":"http://127.0.0.1:9/x","HttpMethod":"POST"}`, "ResourceNotFoundException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"http://169.254.169.254/latest","HttpMethod":"POST"}`, "ValidationException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"http://127.0.0.1:8787/","HttpMethod":"POST"}`, "ValidationException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"ftp://h/","HttpMethod":"POST"}`, "ValidationException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"http://127.0.0.1:9/x","HttpMethod":"GET"}`, "ValidationException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"http://127.0.0.1:9/x","HttpMethod":"POST","InvocationRateLimitPerSecond":301}`, "ValidationException", nil},
		{"CreateApiDestination", `{"Name":"d","ConnectionArn":"$CONN","InvocationEndpoint":"http://127.0.0.1:9/x","HttpMethod":"POST","InvocationRateLimitPerSecond":5}`, "", map[string]any{"ApiDestinationState": "ACTIVE"}},
		{"DescribeApiDestination", `{"Name":"d"}`, "", map[string]any{"Name": "d", "InvocationEndpoint": "http://127.0.0.1:9/x", "HttpMethod": "POST", "InvocationRateLimitPerSecond": 5.0, "ConnectionArn": "$CONN"}},
		{"ListApiDestinations", `{"ConnectionArn":"$CONN"}`, "", nil},
		{"DeleteConnection", `{"Name":"c"}`, "ValidationException", nil},
		{"PutTargets", `{"Rule":"ssh","Targets":[{"Id":"hook","Arn":"$DEST"},{"Id":"file","Arn":"arn:stockade:events:eu-west-1:111122223333:file/alerts"},{"Id":"bad","Arn":"arn:aws:sns:eu-west-1:111122223333:t"}]}`, "", map[string]any{"FailedEntryCount": 1.0}},
		{"PutTargets", `{"Rule":"ssh","Targets":[{"Id":"a","Arn":"$DEST"},{"Id":"b","Arn":"$DEST"},{"Id":"c","Arn":"$DEST"},{"Id":"d","Arn":"$DEST"}]}`, "LimitExceededException", nil},
		{"PutTargets", `{"Rule":"nope","Targets":[{"Id":"a","Arn":"$DEST"}]}`, "ResourceNotFoundException", nil},
		{"ListTargetsByRule", `{"Rule":"ssh"}`, "", map[string]any{"Targets": []any{map[string]any{"Id": "file", "Arn": "arn:stockade:events:eu-west-1:111122223333:file/alerts"}, map[string]any{"Id": "hook", "Arn": "$DEST"}}}},
		{"DeleteRule", `{"Name":"ssh"}`, "ValidationException", map[string]any{"message": "Rule can't be deleted since it has targets."}},
		{"RemoveTargets", `{"Rule":"ssh","Ids":["hook","file","ghost"]}`, "", map[string]any{"FailedEntryCount": 1.0}},
		{"DeleteRule", `{"Name":"ssh"}`, "", nil},
		{"DescribeRule", `{"Name":"ssh"}`, "ResourceNotFoundException", nil},
		{"DeleteApiDestination", `{"Name":"d"}`, "", nil},
		{"DeleteApiDestination", `{"Name":"d"}`, "ResourceNotFoundException", nil},
		{"DeleteConnection", `{"Name":"c"}`, "", map[string]any{"ConnectionState": "DELETING"}},
		{"TestEventPattern", `{"EventPattern":` + q(sshPattern) + `,"Event":` + q(`{"id":"1","account":"1","source":"aws.ec2","time":"t","region":"r","detail-type":"x","detail":{"eventName":"AuthorizeSecurityGroupIngress"}}`) + `}`, "", map[string]any{"Result": true}},
		{"TestEventPattern", `{"EventPattern":` + q(sshPattern) + `,"Event":` + q(`{"id":"1","account":"1","source":"aws.iam","time":"t","region":"r","detail-type":"x"}`) + `}`, "", map[string]any{"Result": false}},
		{"TestEventPattern", `{"EventPattern":` + q(sshPattern) + `,"Event":"{\"source\":\"aws.ec2\"}"}`, "ValidationException", nil},
		{"TestEventPattern", `{"EventPattern":"[1]","Event":"{}"}`, "InvalidEventPatternException", nil},
		{"PutRule", `not json`, "SerializationException", nil},
		{"PutEvents", `{}`, "UnknownOperationException", nil},
	}
	vars := map[string]string{}
	for i, s := range steps {
		t.Run(fmt.Sprintf("%02d-%s", i, s.action), func(t *testing.T) {
			body := s.body
			for k, v := range vars {
				body = strings.ReplaceAll(body, k, v)
			}
			code, got := call(t, a, s.action, body)
			if code != s.code {
				t.Fatalf("code = %q, want %q (%v)", code, s.code, got)
			}
			if arn, ok := got["ConnectionArn"].(string); ok && s.action == "CreateConnection" {
				vars["$CONN"] = arn
			}
			if arn, ok := got["ApiDestinationArn"].(string); ok && s.action == "CreateApiDestination" {
				vars["$DEST"] = arn
			}
			for k, want := range s.want {
				if w, ok := want.(string); ok {
					if v, ok := vars[w]; ok {
						want = v
					}
				}
				if ts, ok := want.([]any); ok {
					for _, e := range ts {
						if m, ok := e.(map[string]any); ok && m["Arn"] == "$DEST" {
							m["Arn"] = vars["$DEST"]
						}
					}
				}
				if diff := cmp.Diff(want, got[k]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// TestSecretsNeverLeave: a connection's secret is in no reply and not in the trail's
// requestParameters.
func TestSecretsNeverLeave(t *testing.T) {
	a, _, _ := newAPI(t, events.Quotas{})
	body := `{"Name":"c","AuthorizationType":"BASIC","AuthParameters":{"BasicAuthParameters":{"Username":"u","Password":"hunter2"}}}`
	for _, step := range [][2]string{{"CreateConnection", body}, {"DescribeConnection", `{"Name":"c"}`}, {"ListConnections", `{}`}} {
		res := a.Serve(context.Background(), sc.Account, sc.Region, TargetPrefix+step[0], []byte(step[1]))
		if res.Code != "" || strings.Contains(string(res.Body), "hunter2") {
			t.Errorf("%s: %s", step[0], res.Body)
		}
	}
	if p := RequestParameters("CreateConnection", []byte(body)); strings.Contains(string(p), "hunter2") || !strings.Contains(string(p), sensitive) {
		t.Errorf("requestParameters %s", p)
	}
}

// TestStateSurvivesReopen: rules, targets and webhooks are read back from the store.
func TestStateSurvivesReopen(t *testing.T) {
	a, _, st := newAPI(t, events.Quotas{})
	call(t, a, "PutRule", `{"Name":"r","EventPattern":`+q(sshPattern)+`,"State":"DISABLED"}`)
	call(t, a, "PutTargets", `{"Rule":"r","Targets":[{"Id":"f","Arn":"arn:stockade:events:eu-west-1:111122223333:file/x"}]}`)
	svc, err := events.Open(context.Background(), st, events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.DescribeRule(sc, "r", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]events.Target{{ID: "f", ARN: "arn:stockade:events:eu-west-1:111122223333:file/x"}}, r.Targets); diff != "" || r.State != "DISABLED" {
		t.Errorf("reopened rule %+v\n%s", r, diff)
	}
	if _, err := svc.DescribeRule(events.Scope{Account: "999999999999", Region: "eu-west-1"}, "r", ""); err == nil {
		t.Error("another account sees the rule")
	}
}
