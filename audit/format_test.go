package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleReport(t *testing.T) *Report {
	t.Helper()
	s := expNet(t, "100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0")
	r, err := Run(Input{Account: "111122223333", Region: "us-east-1", Snapshot: s}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) < 3 {
		t.Fatalf("sample report: %v", briefs(r.Findings))
	}
	return r
}

// TestWriteText: severities in order, worst first, each finding with its check, resource,
// rules, why and fix; the skipped checks listed with why.
func TestWriteText(t *testing.T) {
	r := sampleReport(t)
	var b bytes.Buffer
	r.WriteText(&b)
	out := b.String()
	last := -1
	for _, h := range []string{"CRITICAL (", "MEDIUM (", "INFO ("} {
		i := strings.Index(out, "\n"+h)
		if i < 0 || i < last {
			t.Fatalf("heading %q missing or out of order:\n%s", h, out)
		}
		last = i
	}
	for _, w := range []string{"EXP-001 eni-web in vpc-1: Instance reachable", "rules: acl-1/ingress/100, sgr-ssh",
		"aws ec2 revoke-security-group-ingress --group-id sg-web --security-group-rule-ids sgr-ssh",
		"skipped:\n", "MON-005: not known: FlowRecords"} {
		if !strings.Contains(out, w) {
			t.Errorf("text lacks %q:\n%s", w, out)
		}
	}
}

// TestWriteJSON: the JSON is the Report, and reads back into an equal one.
func TestWriteJSON(t *testing.T) {
	r := sampleReport(t)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, &back); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

// TestWriteSARIF checks the output against the properties SARIF 2.1.0's schema
// (sarif-schema-2.1.0.json) requires of the objects it uses — sarifLog: version and runs; run:
// tool; tool: driver; toolComponent: name; reportingDescriptor: id; result: message (with
// text); multiformatMessageString: text — and its enums (level), plus the links: a result's
// ruleIndex names the rule of its ruleId, one rule per check, each with help.
func TestWriteSARIF(t *testing.T) {
	r := sampleReport(t)
	var b bytes.Buffer
	if err := r.WriteSARIF(&b); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	var problems []string
	need := func(obj any, path string, keys ...string) map[string]any {
		m, ok := obj.(map[string]any)
		if !ok {
			problems = append(problems, path+": not an object")
			return map[string]any{}
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s: no %q", path, k))
			}
		}
		return m
	}
	top := need(log, "sarifLog", "version", "runs")
	if top["version"] != "2.1.0" {
		problems = append(problems, fmt.Sprintf("version %v", top["version"]))
	}
	runs, _ := top["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("runs: %v", top["runs"])
	}
	run := need(runs[0], "run", "tool")
	driver := need(need(run["tool"], "tool", "driver")["driver"], "driver", "name")
	rules, _ := driver["rules"].([]any)
	var ids []string
	for i, x := range rules {
		rule := need(x, fmt.Sprintf("rules[%d]", i), "id", "shortDescription", "help")
		need(rule["shortDescription"], "shortDescription", "text")
		need(rule["help"], "help", "text")
		ids = append(ids, rule["id"].(string))
	}
	var catalogueIDs []string
	for _, c := range Catalogue() {
		catalogueIDs = append(catalogueIDs, c.ID)
	}
	if d := cmp.Diff(catalogueIDs, ids); d != "" {
		t.Errorf("rules (-catalogue +sarif):\n%s", d)
	}
	results, _ := run["results"].([]any)
	if len(results) != len(r.Findings) {
		t.Fatalf("%d results for %d findings", len(results), len(r.Findings))
	}
	for i, x := range results {
		res := need(x, fmt.Sprintf("results[%d]", i), "message", "ruleId", "ruleIndex", "level", "locations")
		need(res["message"], "message", "text")
		if !slices.Contains([]string{"none", "note", "warning", "error"}, res["level"].(string)) {
			problems = append(problems, fmt.Sprintf("results[%d]: level %v", i, res["level"]))
		}
		if idx := int(res["ruleIndex"].(float64)); idx < 0 || idx >= len(ids) || ids[idx] != res["ruleId"] {
			problems = append(problems, fmt.Sprintf("results[%d]: ruleIndex %d does not name %v", i, idx, res["ruleId"]))
		}
		locs, _ := res["locations"].([]any)
		if len(locs) == 0 {
			problems = append(problems, fmt.Sprintf("results[%d]: no location", i))
			continue
		}
		ll, _ := need(locs[0], "location", "logicalLocations")["logicalLocations"].([]any)
		if len(ll) == 0 {
			problems = append(problems, "no logical location")
			continue
		}
		need(ll[0], "logicalLocation", "name", "fullyQualifiedName", "kind")
	}
	first := results[0].(map[string]any)
	if first["ruleId"] != r.Findings[0].Check || first["level"] != "error" {
		t.Errorf("first result %v for %v", first, r.Findings[0])
	}
	if fqn := first["locations"].([]any)[0].(map[string]any)["logicalLocations"].([]any)[0].(map[string]any)["fullyQualifiedName"]; fqn != "111122223333/us-east-1/vpc-1/eni-web" {
		t.Errorf("fullyQualifiedName %v", fqn)
	}
	if len(problems) > 0 {
		t.Fatalf("not SARIF 2.1.0:\n%s", strings.Join(problems, "\n"))
	}
}
