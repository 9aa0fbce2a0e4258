package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestS3WithAWSCLI: `aws s3 mb`, `cp` up and down, `ls` and `ls --recursive` against the
// server's S3 API, and another account neither sees the bucket nor can take its name.
func TestS3WithAWSCLI(t *testing.T) {
	cliTest(t)
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

// TestLogsWithAWSCLI: `aws logs create-log-group`, `create-log-stream`, `put-log-events` and
// `filter-log-events` with the space-delimited pattern people use on flow logs; another
// account does not see the group.
func TestLogsWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	alice := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	bob := otherAccount(t, s, "bob")
	g := "/stockade/flowlogs"
	alice.ok(nil, "logs", "create-log-group", "--log-group-name", g)
	alice.ok(nil, "logs", "create-log-stream", "--log-group-name", g, "--log-stream-name", "eni-0a1b2c3d-all")
	alice.ok(nil, "logs", "put-log-events", "--log-group-name", g, "--log-stream-name", "eni-0a1b2c3d-all", "--log-events",
		`[{"timestamp":1764600000000,"message":"2 123456789012 eni-0a1b2c3d 203.0.113.12 10.0.1.5 49761 22 6 1 40 1764600000 1764600060 REJECT OK"},`+
			`{"timestamp":1764600001000,"message":"2 123456789012 eni-0a1b2c3d 10.0.1.9 10.0.1.5 49762 22 6 5 400 1764600000 1764600060 ACCEPT OK"},`+
			`{"timestamp":1764600002000,"message":"2 123456789012 eni-0a1b2c3d 203.0.113.12 10.0.1.5 49763 443 6 1 40 1764600000 1764600060 REJECT OK"}]`)
	var out struct {
		Events []struct{ LogStreamName, Message string }
	}
	alice.ok(&out, "logs", "filter-log-events", "--log-group-name", g, "--filter-pattern",
		`[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`)
	if len(out.Events) != 1 || !strings.Contains(out.Events[0].Message, " 49761 22 ") || out.Events[0].LogStreamName != "eni-0a1b2c3d-all" {
		t.Errorf("filter-log-events: %+v", out.Events)
	}
	var groups struct {
		LogGroups []struct{ LogGroupName string }
	}
	bob.ok(&groups, "logs", "describe-log-groups")
	if len(groups.LogGroups) != 0 {
		t.Errorf("bob sees %+v", groups.LogGroups)
	}
	bob.fails("ResourceNotFoundException", "logs", "filter-log-events", "--log-group-name", g)
	alice.fails("ResourceAlreadyExistsException", "logs", "create-log-group", "--log-group-name", g)
}

// TestS3MultipartWithAWSCLI: `aws s3 cp` of a file over the CLI's multipart threshold
// (lowered to S3's 5 MiB minimum part in the test's CLI configuration, so that the object
// stays under the server's 8 MiB per object) uploads it in parts; the object is the file,
// with S3's multipart ETag, and reads back whole.
func TestS3MultipartWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("[default]\ns3 =\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n"), 0o600)
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("aws", append([]string{"--endpoint-url", s.endpoint, "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(s.dataDir, "credentials"), "AWS_PROFILE=default",
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+cfg, "AWS_PAGER=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}
	data := make([]byte, 6<<20+12345)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	f := filepath.Join(dir, "big.log")
	os.WriteFile(f, data, 0o600)
	aws("s3", "mb", "s3://multipart-e2e")
	aws("s3", "cp", f, "s3://multipart-e2e/big.log")
	var head struct {
		ETag          string
		ContentLength int64
	}
	if err := json.Unmarshal([]byte(aws("s3api", "head-object", "--bucket", "multipart-e2e", "--key", "big.log")), &head); err != nil {
		t.Fatal(err)
	}
	if head.ContentLength != int64(len(data)) || !strings.HasSuffix(head.ETag, `-2"`) {
		t.Errorf("head-object: %+v, want %d bytes and a two-part ETag", head, len(data))
	}
	back := filepath.Join(dir, "back.log")
	aws("s3", "cp", "s3://multipart-e2e/big.log", back)
	if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the object read back: %d bytes, %v; want the file's %d", len(got), err, len(data))
	}
}
