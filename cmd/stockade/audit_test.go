package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/stockade/stockade/audit"
)

// runAuditArgs runs `stockade audit` with args and returns its output and error.
func runAuditArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(t, auditCmd(), args...)
}

// runCommand runs a command with args and returns its output (stdout and stderr) and error.
func runCommand(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestAuditSnapshot audits the export in testdata/audit (snapshot/testdata/valid plus an empty
// describe-flow-logs.json and a list-rules.json whose one enabled rule watches every
// security-group change, and whose NACL rule is disabled): the findings by key, the exit status of
// --fail-on, the three outputs, the catalogue listing, and the usage errors.
func TestAuditSnapshot(t *testing.T) {
	dir := filepath.Join("testdata", "audit")
	out, err := runAuditArgs(t, "--snapshot", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var keys []string
	for _, f := range r.Findings {
		keys = append(keys, f.Check+" "+f.Resource)
	}
	want := []string{
		"MON-002 123456789012",
		"MON-004 vpc-0a1b2c3d4e5f60718",
		"NACL-001 acl-0000000000000000d",
		"SGA-014 sg-0000000000000000a",
		"SGE-001 sg-0000000000000000a",
		"NACL-003 acl-0000000000000000a",
		"NACL-006 acl-0000000000000000a",
		"NACL-008 acl-0000000000000000a",
		"NACL-008 acl-0000000000000000d",
		"SGH-006 sg-0000000000000000a",
		"SGH-006 sg-0000000000000000b",
		"SGH-007 sg-0000000000000000a",
		"SGH-007 sg-0000000000000000b",
		"NACL-002 acl-0000000000000000d",
		"NACL-005 subnet-0000000000000000a",
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	if r.Account != "123456789012" || r.Skipped["MON-004"] != "" || r.Skipped["MON-001"] != "" || r.Skipped["MON-005"] == "" {
		t.Errorf("account %q, skipped %v", r.Account, r.Skipped)
	}

	if _, err := runAuditArgs(t, "--snapshot", dir, "--fail-on", "medium"); !errors.Is(err, exitFindings) {
		t.Errorf("--fail-on medium with medium findings: %v", err)
	}
	if _, err := runAuditArgs(t, "--snapshot", dir, "--fail-on", "high"); err != nil {
		t.Errorf("--fail-on high without high findings: %v", err)
	}
	// Suppressed findings do not fail the build.
	cfg := filepath.Join(t.TempDir(), "audit.yaml")
	os.WriteFile(cfg, []byte(`suppressions:
  - {check: NACL-001, reason: "default ACL, tracked in NET-12", expires: 2099-01-01T00:00:00Z}
  - {check: MON-004, reason: "flow logs in the SIEM account", expires: 2099-01-01T00:00:00Z}
  - {check: MON-002, resource: "123456789012", reason: "NACL alerts in the SIEM", expires: 2099-01-01T00:00:00Z}
  - {check: SGA-014, reason: "ICMP from the VPC, reviewed in NET-13", expires: 2099-01-01T00:00:00Z}
  - {check: SGE-001, reason: "egress reviewed per tier", expires: 2099-01-01T00:00:00Z}
`), 0o600)
	if _, err := runAuditArgs(t, "--snapshot", dir, "--config", cfg, "--fail-on", "medium"); err != nil {
		t.Errorf("--fail-on medium with the medium findings suppressed: %v", err)
	}

	text, err := runAuditArgs(t, "--snapshot", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"MEDIUM (5)", "NACL-001 acl-0000000000000000d in vpc-0a1b2c3d4e5f60718",
		"aws ec2 create-network-acl-entry --network-acl-id acl-0000000000000000d --ingress --rule-number 99 --protocol 6 --port-range From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny",
		"MON-005: not known: FlowRecords"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
	sarif, err := runAuditArgs(t, "--snapshot", dir, "--sarif")
	if err != nil || !strings.Contains(sarif, `"version": "2.1.0"`) || !strings.Contains(sarif, `"ruleId": "NACL-001"`) {
		t.Errorf("sarif: %v\n%s", err, sarif)
	}
	list, err := runAuditArgs(t, "--list-checks")
	if err != nil || !strings.Contains(list, "MON-005") || !strings.Contains(list, "FlowRecords") {
		t.Errorf("--list-checks: %v\n%s", err, list)
	}
	for _, bad := range [][]string{{"--snapshot", dir, "--json", "--sarif"}, {"--snapshot", dir, "--all"}, {"--snapshot", dir, "--fail-on", "severe"},
		{"--snapshot", t.TempDir()}, {"--snapshot", dir, "--config", filepath.Join(t.TempDir(), "none.yaml")}} {
		if _, err := runAuditArgs(t, bad...); err == nil || errors.Is(err, exitFindings) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
