package audit

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// TestPlaceholders: the <…> of a fix command, each once, and nothing that only looks like one
// across a quote.
func TestPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"aws ec2 delete-security-group --group-id sg-1", nil},
		{"aws ec2 create-tags --resources sg-1 --tags 'Key=owner,Value=<owner>' 'Key=env,Value=<env>'", []string{"<owner>", "<env>"}},
		{"aws ec2 update-security-group-rule-descriptions-ingress --group-id sg-1 --security-group-rule-descriptions " +
			"'SecurityGroupRuleId=sgr-1,Description=<why: ticket and owner>' 'SecurityGroupRuleId=sgr-2,Description=<why: ticket and owner>'",
			[]string{"<why: ticket and owner>"}},
		{"aws events put-targets --rule r --targets 'Id=1,Arn=<target-arn>'", []string{"<target-arn>"}},
	} {
		if d := cmp.Diff(tc.want, Placeholders(tc.cmd)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.cmd, d)
		}
	}
}

// fixLinesRunnable fails the test when a fix line of r is neither advice nor a command the
// shell runs as printed: every placeholder inside single quotes (unquoted, "<owner>" is a
// redirection), and quotes balanced.
func fixLinesRunnable(t testing.TB, r *Report) {
	t.Helper()
	for _, f := range r.Findings {
		for _, line := range f.Fix {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.HasPrefix(line, "aws ") && !strings.Contains(line, "=$(aws ") {
				t.Errorf("%s %s: not an AWS CLI command: %s", f.Check, f.Resource, line)
			}
			if strings.Count(line, "'")%2 != 0 {
				t.Errorf("%s %s: unbalanced quotes: %s", f.Check, f.Resource, line)
			}
			for _, p := range Placeholders(line) {
				if i := strings.Index(line, p); strings.Count(line[:i], "'")%2 == 0 {
					t.Errorf("%s %s: placeholder %s outside quotes: %s", f.Check, f.Resource, p, line)
				}
			}
		}
	}
}

// TestLanesAnswerAsOneAfterAnother: Run's two lanes of checks give the findings — fixes, and
// so the network ACL rule numbers they take, included — that running every check in ID order
// on one audit gives, on a generated network and on one whose ACL fixes compete for numbers;
// so does Run on one worker (Config.Workers 1, the continuous audit's).
func TestLanesAnswerAsOneAfterAnother(t *testing.T) {
	nets := map[string]netmap.Snapshot{"generated": genNet(3, 5, 300, 20, 400),
		"acl fixes": naclNet(t, "100 in allow -1 - 0.0.0.0/0", "101 in allow -1 - ::/0", "100 out allow -1 - 0.0.0.0/0"),
		// NACL-001's denies and NACL-006's reply allow both want the numbers below 49.
		"acl numbers": naclNet(t, "49 in deny 6 1024-65535 0.0.0.0/0", "50 in allow -1 - 0.0.0.0/0", "100 out allow 6 443-443 0.0.0.0/0")}
	for name, s := range nets {
		in := Input{Account: account, Region: "us-east-1", Snapshot: s, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		got, err := Run(in, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		a := newAudit(in, DefaultConfig(), p)
		results, skipped := map[string][]Finding{}, map[string]string{}
		for _, c := range a.checks() {
			if missing := a.missing(c.Needs); missing != "" {
				skipped[c.ID] = missing
				continue
			}
			results[c.ID] = c.Run(a)
		}
		want := report(in, DefaultConfig(), results, skipped)
		if len(want.Findings) == 0 {
			t.Fatalf("%s: no findings to compare", name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: lanes differ from one check after another (-sequential +lanes):\n%s", name, diff)
		}
		one := DefaultConfig()
		one.Workers = 1
		serial, err := Run(in, one)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, serial); diff != "" {
			t.Errorf("%s: one worker differs from one check after another (-sequential +one worker):\n%s", name, diff)
		}
	}
}

// TestNACLChecksShareALane: the NACL-* checks take ACL rule numbers in turn for their fixes,
// so they must run in one lane, in ID order.
func TestNACLChecksShareALane(t *testing.T) {
	lanes := map[int]bool{}
	for _, c := range Catalogue() {
		if strings.HasPrefix(c.ID, "NACL-") {
			lanes[laneOf(c.ID)] = true
		}
	}
	if len(lanes) != 1 {
		t.Fatalf("the NACL-* checks run in lanes %v", lanes)
	}
}

// TestSortedFindingsInOrder: the report's findings, sorted in two halves side by side and
// merged when there are many, come out in findingOrder, every one once.
func TestSortedFindingsInOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{0, 1, 7, parallelSort - 1, parallelSort, 3*parallelSort + 1} {
		fs := make([]Finding, n)
		for i := range fs {
			fs[i] = Finding{Severity: Severity(rnd.IntN(5)), Check: fmt.Sprintf("SGA-%03d", rnd.IntN(15)),
				Resource: fmt.Sprintf("sg-%d", rnd.IntN(50)), Rules: []string{fmt.Sprintf("sgr-%d", i)}}
		}
		want := slices.Clone(fs)
		slices.SortFunc(want, findingOrder)
		ps := make([]*Finding, n)
		for i := range fs {
			ps[i] = &fs[i]
		}
		for _, parallel := range []bool{true, false} {
			if d := cmp.Diff(want, sortedFindings(ps, parallel), cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("%d findings, parallel %v (-sorted +sortedFindings):\n%s", n, parallel, d)
			}
		}
	}
}
