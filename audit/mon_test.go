package audit

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestCovers: the patterns people write for change alerts, read as EventBridge would —
// exact, prefix, suffix, ignore-case, wildcard, anything-but, $or — and the ones that watch
// only some calls of a name (a requestParameters filter) or another source do not count.
func TestCovers(t *testing.T) {
	const ev = "AuthorizeSecurityGroupIngress"
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{"source":["aws.ec2"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`, true},
		{`{"detail":{"eventName":["RevokeSecurityGroupIngress"]}}`, false},
		{`{"source":["aws.ec2"]}`, true},
		{`{"source":["aws.iam"]}`, false},
		{`{"detail-type":["AWS Console Sign In via CloudTrail"],"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`, false},
		{`{"detail":{"eventName":[{"prefix":"Authorize"}]}}`, true},
		{`{"detail":{"eventName":[{"prefix":{"equals-ignore-case":"authorize"}}]}}`, true},
		{`{"detail":{"eventName":[{"suffix":"Ingress"}]}}`, true},
		{`{"detail":{"eventName":[{"suffix":"Egress"}]}}`, false},
		{`{"detail":{"eventName":[{"equals-ignore-case":"authorizesecuritygroupingress"}]}}`, true},
		{`{"detail":{"eventName":[{"wildcard":"*SecurityGroup*"}]}}`, true},
		{`{"detail":{"eventName":[{"wildcard":"Revoke*"}]}}`, false},
		{`{"detail":{"eventName":[{"wildcard":"Authorize*Group\\*"}]}}`, false},
		{`{"detail":{"eventName":[{"anything-but":{"prefix":"Describe"}}]}}`, true},
		{`{"detail":{"eventName":[{"anything-but":["AuthorizeSecurityGroupIngress","X"]}]}}`, false},
		{`{"detail":{"eventName":[{"anything-but":"CreateSecurityGroup"}]}}`, true},
		{`{"detail":{"eventName":[{"exists":true}]}}`, true},
		{`{"detail":{"eventName":["AuthorizeSecurityGroupIngress"],"errorCode":[{"exists":false}]}}`, true},
		{`{"detail":{"eventName":["AuthorizeSecurityGroupIngress"],"eventSource":["ec2.amazonaws.com"],"readOnly":[false]}}`, true},
		{`{"detail":{"eventName":["AuthorizeSecurityGroupIngress"],"requestParameters":{"cidrIp":["0.0.0.0/0"]}}}`, false},
		{`{"detail":{"$or":[{"eventName":["CreateSecurityGroup"]},{"eventName":[{"prefix":"Authorize"}]}]}}`, true},
		{`{"$or":[{"source":["aws.iam"]},{"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}]}`, true},
		{`{"account":["111122223333"],"region":["us-east-1"]}`, true},
		{`{"account":["999999999999"]}`, false},
		{`not json`, false},
	} {
		if got := covers(json.RawMessage(tc.pattern), "111122223333", "us-east-1", ev); got != tc.want {
			t.Errorf("covers(%s) = %v, want %v", tc.pattern, got, tc.want)
		}
	}
}

// TestMonitoringChecks: MON-001/002 name the events no rule covers and their fix rule covers
// them; unknown alert rules, changes or flow logs skip the checks that need them, and MON-005
// is skipped without flow-log records.
func TestMonitoringChecks(t *testing.T) {
	s := naclNet(t)
	run := func(in Input) *Report {
		t.Helper()
		in.Account, in.Region, in.Snapshot = "111122223333", "us-east-1", s
		r, err := Run(in, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		fixLinesRunnable(t, r)
		return r
	}
	r := run(Input{})
	for _, c := range []string{"MON-001", "MON-002", "MON-003", "MON-004", "MON-005"} {
		if r.Skipped[c] == "" {
			t.Errorf("%s not skipped without its input: %v", c, r.Skipped)
		}
	}
	partial := json.RawMessage(`{"source":["aws.ec2"],"detail":{"eventName":[{"suffix":"SecurityGroupIngress"}]}}`)
	r = run(Input{AlertPatterns: []json.RawMessage{partial}})
	var mon []Finding
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Check, "MON-") {
			mon = append(mon, f)
		}
	}
	if d := cmp.Diff([]brief{{"MON-001", Medium, "111122223333", ""}, {"MON-002", Medium, "111122223333", ""}}, briefs(mon)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if !strings.Contains(mon[0].Why, "AuthorizeSecurityGroupEgress") || strings.Contains(mon[0].Why, "AuthorizeSecurityGroupIngress,") {
		t.Errorf("MON-001 why: %s", mon[0].Why)
	}
	// The fix's put-rule pattern, once enabled, clears both.
	var patterns []json.RawMessage
	for _, f := range mon {
		c := f.Fix[0]
		i, j := strings.Index(c, "'"), strings.LastIndex(c, "'")
		patterns = append(patterns, json.RawMessage(c[i+1:j]))
	}
	r = run(Input{AlertPatterns: patterns})
	for _, f := range r.Findings {
		if f.Check == "MON-001" || f.Check == "MON-002" {
			t.Errorf("after the fix: %v", f)
		}
	}
	if r.Skipped["MON-005"] == "" || r.Skipped["MON-001"] != "" {
		t.Errorf("skipped: %v", r.Skipped)
	}
}

// TestFlap: an SSH-to-the-world rule added and revoked within the window is MON-003, however
// the state looks now; outside the window once is not, three times in a day is; an authorized
// port or a private source never is.
func TestFlap(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rule := func(proto string, port int32, cidr string) model.Rule {
		return model.Rule{Protocol: proto, FromPort: port, ToPort: port, Peer: model.Peer{CIDR: netip.MustParsePrefix(cidr)}}
	}
	ssh := rule("tcp", 22, "0.0.0.0/0")
	change := func(min int, id string, added bool, r model.Rule) RuleChange {
		return RuleChange{Time: now.Add(time.Duration(min) * time.Minute), GroupID: "sg-1", RuleID: id, Added: added, Rule: r, EventID: "ev" + id}
	}
	for _, tc := range []struct {
		name    string
		changes []RuleChange
		want    int
	}{
		{"opened and closed in 10 minutes", []RuleChange{change(-30, "sgr-1", true, ssh), change(-20, "sgr-1", false, ssh)}, 1},
		{"closed by tuple (no rule ID)", []RuleChange{change(-30, "sgr-1", true, ssh), change(-20, "", false, ssh)}, 1},
		{"closed after 3 hours, once", []RuleChange{change(-300, "sgr-1", true, ssh), change(-100, "sgr-1", false, ssh)}, 0},
		{"three slow cycles in a day", []RuleChange{change(-1000, "sgr-1", true, ssh), change(-800, "sgr-1", false, ssh),
			change(-700, "sgr-2", true, ssh), change(-500, "sgr-2", false, ssh), change(-400, "sgr-3", true, ssh), change(-200, "sgr-3", false, ssh)}, 1},
		{"still open", []RuleChange{change(-30, "sgr-1", true, ssh)}, 0},
		{"authorized port", []RuleChange{change(-30, "sgr-1", true, rule("tcp", 443, "0.0.0.0/0")), change(-20, "sgr-1", false, rule("tcp", 443, "0.0.0.0/0"))}, 0},
		{"private source", []RuleChange{change(-30, "sgr-1", true, rule("tcp", 22, "10.0.0.0/8")), change(-20, "sgr-1", false, rule("tcp", 22, "10.0.0.0/8"))}, 0},
		{"yesterday", []RuleChange{change(-2000, "sgr-1", true, ssh), change(-1990, "sgr-1", false, ssh)}, 0},
		{"ipv6 all traffic", []RuleChange{change(-30, "sgr-1", true, rule("-1", -1, "::/0")), change(-29, "sgr-1", false, rule("-1", -1, "::/0"))}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(Input{Snapshot: naclNet(t), Changes: tc.changes, Now: now}, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range r.Findings {
				if f.Check == "MON-003" {
					got = append(got, f)
				}
			}
			if len(got) != tc.want {
				t.Fatalf("%d MON-003 findings, want %d: %v", len(got), tc.want, got)
			}
			if len(got) > 0 && (got[0].Resource != "sg-1" || !strings.Contains(got[0].Why, "evsgr-1")) {
				t.Fatalf("finding: %+v", got[0])
			}
		})
	}
}

// TestFlowLogs: a VPC without a flow log recording rejects is MON-004 (an ACCEPT-only one does
// not count); a VPC-level log, or subnet-level logs on every subnet, clear it.
func TestFlowLogs(t *testing.T) {
	s := naclNet(t)
	run := func(fls ...*model.FlowLog) []Finding {
		t.Helper()
		r, err := Run(Input{Account: "111122223333", Snapshot: s, FlowLogs: append([]*model.FlowLog{}, fls...)}, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		var out []Finding
		for _, f := range r.Findings {
			if f.Check == "MON-004" {
				out = append(out, f)
			}
		}
		return out
	}
	got := run(&model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ACCEPT"})
	if len(got) != 1 || got[0].Resource != "vpc-1" || !strings.Contains(got[0].Why, "ACCEPT only") {
		t.Fatalf("accept-only: %v", got)
	}
	if !strings.HasPrefix(got[0].Fix[0], "aws ec2 create-flow-logs --resource-type VPC --resource-ids vpc-1 --traffic-type ALL") {
		t.Fatalf("fix: %v", got[0].Fix)
	}
	if got := run(&model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "REJECT"}); len(got) > 0 {
		t.Fatalf("VPC logged: %v", got)
	}
	if got := run(&model.FlowLog{ResourceID: "subnet-1", TrafficType: "ALL"}); len(got) != 1 || !strings.Contains(got[0].Why, "subnet-2") || strings.Contains(got[0].Why, "subnet-1") {
		t.Fatalf("one subnet logged: %v", got)
	}
	if got := run(&model.FlowLog{ResourceID: "subnet-1", TrafficType: "ALL"}, &model.FlowLog{ResourceID: "subnet-2", TrafficType: "ALL"}); len(got) > 0 {
		t.Fatalf("every subnet logged: %v", got)
	}
}
