package audit

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
