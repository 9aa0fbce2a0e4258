package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/flows"
)

// flowRecordsDir writes, in the layout `aws s3 cp --recursive` leaves, one gzipped object of
// default-format records about the export in testdata/audit: https to eni-a and its reply,
// eni-a to the database eni-b on 5432 (seen on both), and SSH attempts refused at eni-a.
func flowRecordsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// A day ago, so that MON-005's 90 days hold them.
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Minute).Unix()
	when := fmt.Sprintf("%d %d", start, start+60)
	body := strings.Join([]string{
		"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
		"2 123456789012 eni-0000000000000000a 198.51.100.7 10.0.1.4 50000 443 6 10 4000 WHEN ACCEPT OK",
		"2 123456789012 eni-0000000000000000a 10.0.1.4 198.51.100.7 443 50000 6 12 9000 WHEN ACCEPT OK",
		"2 123456789012 eni-0000000000000000a 10.0.1.4 10.0.2.4 40000 5432 6 5 500 WHEN ACCEPT OK",
		"2 123456789012 eni-0000000000000000b 10.0.1.4 10.0.2.4 40000 5432 6 5 500 WHEN ACCEPT OK",
		"2 123456789012 eni-0000000000000000a 203.0.113.9 10.0.1.4 61000 22 6 3 180 WHEN REJECT OK",
	}, "\n") + "\n"
	body = strings.ReplaceAll(body, "WHEN", when)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(body))
	w.Close()
	p := filepath.Join(dir, "123456789012/vpcflowlogs/us-east-1/2025/12/01/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d_20251201T0000Z_0badf00d.log.gz")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runFlows(t *testing.T, v any, args ...string) error {
	t.Helper()
	out, err := runCommand(t, flowsCmd(), args...)
	if err == nil && v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	return err
}

// TestFlowsOffline runs each analysis on an export's records and network.
func TestFlowsOffline(t *testing.T) {
	recs, snap := flowRecordsDir(t), filepath.Join("testdata", "audit")
	var uses []flows.RuleUse
	if err := runFlows(t, &uses, "rules", "--records", recs, "--snapshot", snap, "--json"); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, u := range uses {
		status[u.RuleID] = u.Status
	}
	want := map[string]string{
		"sgr-0000000000000000a": "used",   // https from anywhere
		"sgr-0000000000000000b": "unused", // icmp from the VPC
		"sgr-0000000000000000c": "used",   // eni-a's egress to the database (not the https reply)
		"sgr-0000000000000000d": "unused",
		"sgr-0000000000000000e": "unused", // the prefix list does not hold 10.0.1.4
		"sgr-0000000000000000f": "used",   // from sg-a, by group reference
	}
	if d := cmp.Diff(want, status); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}

	var refused []flows.Refused
	if err := runFlows(t, &refused, "impact", "--revoke", "sgr-0000000000000000f", "--records", recs, "--snapshot", snap, "--json"); err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused[0].Dst != "10.0.2.4:5432" || refused[0].Records != 2 {
		t.Errorf("impact of revoking the database rule: %+v", refused)
	}
	out, err := runCommand(t, flowsCmd(), "impact", "--revoke", "sgr-0000000000000000b", "--records", recs, "--snapshot", snap)
	if err != nil || !strings.Contains(out, "no flow of the period") {
		t.Errorf("impact of an unused rule: %v\n%s", err, out)
	}

	var rej []flows.Attempts
	if err := runFlows(t, &rej, "rejected", "--records", recs, "--json"); err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 || rej[0].Port != "tcp/22" || !rej[0].Admin || rej[0].Packets != 3 {
		t.Errorf("rejected: %+v", rej)
	}
	var top []flows.Talker
	if err := runFlows(t, &top, "top", "--by", "port", "-n", "1", "--records", recs, "--json"); err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].Key != "tcp/50000" || top[0].Bytes != 9000 {
		t.Errorf("top by port: %+v", top)
	}
	// Outside the period nothing is used.
	if err := runFlows(t, &uses, "rules", "--records", recs, "--snapshot", snap, "--json", "--until", "2025-11-30T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	for _, u := range uses {
		if u.Status == "used" {
			t.Errorf("used before the period's records: %+v", u)
		}
	}

	for name, args := range map[string][]string{
		"rules without the network":     {"rules", "--records", recs},
		"impact without a change":       {"impact", "--records", recs, "--snapshot", snap},
		"impact of an unknown rule":     {"impact", "--revoke", "sgr-nope", "--records", recs, "--snapshot", snap},
		"a snapshot without records":    {"rules", "--snapshot", snap},
		"a bad period":                  {"top", "--records", recs, "--since", "yesterday"},
		"an admin port that is no port": {"rejected", "--records", recs, "--admin-ports", "70000"},
	} {
		if err := runFlows(t, nil, args...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAuditFlows: with --flows the export's records feed MON-005.
func TestAuditFlows(t *testing.T) {
	out, err := runAuditArgs(t, "--snapshot", filepath.Join("testdata", "audit"), "--flows", flowRecordsDir(t), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Skipped["MON-005"] != "" {
		t.Fatalf("MON-005 skipped: %v", r.Skipped)
	}
	var unused []string
	for _, f := range r.Findings {
		if f.Check == "MON-005" {
			unused = append(unused, f.Rules...)
		}
	}
	if d := cmp.Diff([]string{"sgr-0000000000000000b", "sgr-0000000000000000d", "sgr-0000000000000000e"}, unused); d != "" {
		t.Errorf("MON-005 (-want +got):\n%s", d)
	}
	if _, err := runAuditArgs(t, "--flows", "x"); err == nil {
		t.Error("--flows without --snapshot: no error")
	}
}
