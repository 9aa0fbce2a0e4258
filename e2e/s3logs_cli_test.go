package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestS3WithAWSCLI: `aws s3 mb`, `cp` up and down, `ls` and `ls --recursive` against the
// server's S3 API, and another account neither sees the bucket nor can take its name.
func TestS3WithAWSCLI(t *testing.T) {
	needCLI(t)
	s := startServer(t, "")
	alice := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	bob := otherAccount(t, s, "bob")

	text := func(a awsCLI, args ...string) string {
		t.Helper()
		out, errOut, err := a.run(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	text(alice, "s3", "mb", "s3://flow-logs-e2e")
	f := filepath.Join(t.TempDir(), "rec.log")
	os.WriteFile(f, []byte("2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1 2 ACCEPT OK\n"), 0o600)
	key := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/12/01/x_20261201T1620Z_ab12cd34.log"
	text(alice, "s3", "cp", f, "s3://flow-logs-e2e/"+key)
	text(alice, "s3", "cp", f, "s3://flow-logs-e2e/top.txt")
	if ls := text(alice, "s3", "ls"); !strings.Contains(ls, "flow-logs-e2e") {
		t.Errorf("aws s3 ls: %q", ls)
	}
	if ls := text(alice, "s3", "ls", "s3://flow-logs-e2e/"); !strings.Contains(ls, "PRE AWSLogs/") || !strings.Contains(ls, "top.txt") {
		t.Errorf("aws s3 ls s3://flow-logs-e2e/: %q", ls)
	}
	if ls := text(alice, "s3", "ls", "--recursive", "s3://flow-logs-e2e/"); !strings.Contains(ls, key) || !strings.Contains(ls, "top.txt") {
		t.Errorf("aws s3 ls --recursive: %q", ls)
	}
	if got := text(alice, "s3", "cp", "s3://flow-logs-e2e/"+key, "-"); !strings.HasPrefix(got, "2 123456789012 eni-1 ") {
		t.Errorf("aws s3 cp s3://… -: %q", got)
	}

	if ls := text(bob, "s3", "ls"); strings.Contains(ls, "flow-logs-e2e") {
		t.Errorf("bob sees alice's bucket: %q", ls)
	}
	if _, errOut, err := bob.run("s3api", "create-bucket", "--bucket", "flow-logs-e2e"); err == nil || !strings.Contains(errOut, "BucketAlreadyExists") {
		t.Errorf("bob takes alice's bucket name: %v %s", err, errOut)
	}
	if _, errOut, err := bob.run("s3", "cp", "s3://flow-logs-e2e/top.txt", "-"); err == nil || !strings.Contains(errOut, "403") {
		t.Errorf("bob reads alice's object: %v %s", err, errOut)
	}
	if _, errOut, err := alice.run("s3", "rb", "s3://flow-logs-e2e"); err == nil || !strings.Contains(errOut, "BucketNotEmpty") {
		t.Errorf("rb of a full bucket: %v %s", err, errOut)
	}
}

// otherAccount creates an account with `stockade account create` and returns its CLI.
func otherAccount(t *testing.T, s *server, name string) awsCLI {
	t.Helper()
	out, err := exec.Command(binary, "account", "create", name, "--data-dir", s.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v %s", err, out)
	}
	credFile := filepath.Join(t.TempDir(), name)
	os.WriteFile(credFile, out, 0o600)
	parseCredentials(t, bufio.NewScanner(strings.NewReader(string(out))), name)
	return awsCLI{t, s, credFile, name}
}
