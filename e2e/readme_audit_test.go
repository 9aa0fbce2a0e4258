package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeBlocks returns the ```sh blocks of the README's section whose heading line starts with
// heading, up to the next heading of the same or a higher level.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The section's lines: from its heading to the next heading of its level or higher,
	// outside code blocks (whose shell comments start with "#" too).
	level := strings.Index(heading, " ")
	var rest strings.Builder
	in, fenced := false, false
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			switch {
			case strings.HasPrefix(line, heading):
				in = true
				continue
			case in && hashes <= level:
				in = false
			}
		}
		if in {
			rest.WriteString(line)
		}
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(rest.String(), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("README: section %q has no sh block", heading)
	}
	return out
}

// TestREADMEAuditing runs the README's "Auditing" section as written, after the Quick start's
// lines that make the three tiers, against a server: the planted SSH rule is found with its
// fix, the fix run from the JSON report clears it, the CI export fails --fail-on high and
// passes with the configuration's suppression. Only the server's address, the credentials
// file and the binary's path are the test's own.
func TestREADMEAuditing(t *testing.T) {
	cliTest(t)
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the README's commands use it", tool)
		}
	}
	s := startServer(t, "")
	quick := readmeBlocks(t, "## Quick start with the AWS CLI")[0]
	end := strings.Index(quick, "\nec2 describe-security-groups")
	if end < 0 {
		t.Fatal("README: the Quick start no longer makes the three tiers before describing them")
	}
	script := quick[:end] + "\n" + strings.Join(readmeBlocks(t, "## Auditing"), "\n")
	script = strings.NewReplacer("http://127.0.0.1:8787", s.endpoint,
		"~/.local/share/stockade/credentials", filepath.Join(s.dataDir, "credentials"),
		"./stockade", binary).Replace(script)
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = t.TempDir()
	// The shell starts as the reader's would: no AWS settings but what the README exports.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "STOCKADE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "STOCKADE_DATA_DIR="+s.dataDir, "AWS_CONFIG_FILE=/dev/null")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's commands: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
	// The first audit names the planted rule with its fix.
	planted := regexp.MustCompile(`(?s)SGA-002 (sg-\w+) in vpc-\w+: Remote admin ports open to 0.0.0.0/0\n    rules: (sgr-\w+)\n.*?      aws ec2 revoke-security-group-ingress --group-id (sg-\w+) --security-group-rule-ids (sgr-\w+)\n`)
	m := planted.FindStringSubmatch(out)
	if m == nil || m[1] != m[3] || m[2] != m[4] {
		t.Fatalf("the audit does not show SGA-002 with its fix:\n%s", out)
	}
	// The fix ran (sh -x traces it), and the audit after it is clean for SGA-002.
	if !strings.Contains(stderr.String(), "+ aws ec2 revoke-security-group-ingress --group-id "+m[1]+" --security-group-rule-ids "+m[2]) {
		t.Errorf("the fix did not run:\n%s", stderr.String())
	}
	want := regexp.MustCompile(`(?m)^0\n(?s:.*)^exit 1\n(?s:.*)^exit 0\n`)
	if !want.MatchString(out) {
		t.Errorf("want SGA-002 count 0, then exit 1 without the configuration and exit 0 with it:\n%s", out)
	}
	for _, f := range []string{"audit.sarif", "audit-snap/list-rules.json", "audit-snap/describe-launch-template-versions.json"} {
		if st, err := os.Stat(filepath.Join(cmd.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
