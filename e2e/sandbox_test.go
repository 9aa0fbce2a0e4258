package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestUserDataIsSandboxed runs the attacks of the security review of 2026-12 (§1) as a
// tenant's user data and checks that each is denied: the script is root only inside a sandbox
// of its own, with none of the host's files, processes, environment or capabilities. It also
// checks that the sandbox is still an instance: it serves on port 80 (a group decides who
// reaches it) and has EC2's hostname.
func TestUserDataIsSandboxed(t *testing.T) {
	t.Setenv("STOCKADE_OPERATOR_CANARY", "canary-operator-env-42")
	e := newLabEnv(t)
	dd, pid := e.s.dataDir, e.s.cmd.Process.Pid
	probe := filepath.Join(t.TempDir(), "written-by-user-data")
	vpc, def := e.vpc("10.40.0.0/16")
	sn := e.subnet(vpc, "10.40.1.0/24")
	e.allowIn(def, perm("tcp", 80, 80, "10.40.0.0/16"))
	// Each line prints "<row> <result>"; a denied attack prints its row and "denied".
	script := fmt.Sprintf(`#!/bin/sh
try() { row=$1; shift; if "$@" >/dev/null 2>&1; then echo "$row allowed"; else echo "$row denied"; fi; }
echo "1.1 $(id -u) $(grep CapEff /proc/self/status | tr -d '\t')"
try 1.2 cat %[1]s/credentials
try 1.2b cat %[1]s/stockade.db
echo "1.3 canary=$(env | grep -c CANARY)"
echo "1.4 processes=$(ls /proc | grep -c '^[0-9]')"
try 1.5 nsenter --net=/proc/%[2]d/ns/net true
try 1.7 nft add table inet sandboxprobe
try 1.7b ls /run/netns
try 1.9 kill -0 %[2]d
try 1.10 sh -c 'echo x > %[3]s'
try 1.10b sh -c 'echo x > /usr/sandboxprobe'
try 1.10c mount -t tmpfs none /mnt
try 1.11 ls %[1]s/admin.sock
echo "host $(hostname)"
python3 -m http.server 80 >/dev/null 2>&1 &
echo "sandbox done"
`, dd, pid, probe)
	in := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		UserData: aws.String(b64(script))})
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(out, "finished") {
		co := must[*ec2.GetConsoleOutputOutput](t)(e.c.GetConsoleOutput(ctx(t), &ec2.GetConsoleOutputInput{InstanceId: aws.String(in.ID)}))
		out = unb64(t, aws.ToString(co.Output))
		time.Sleep(50 * time.Millisecond) // the script runs in the background; bounded by the deadline
	}
	if !strings.Contains(out, "sandbox done") {
		t.Fatalf("user data did not run to its end:\n%s\nserver log:\n%s", out, e.s.stderr.String())
	}
	for _, want := range []string{
		"1.1 0 CapEff:0000000000000000", // root inside, no capability
		"1.2 denied", "1.2b denied", "1.3 canary=0", "1.5 denied", "1.7 denied", "1.7b denied",
		"1.9 denied", "1.10 denied", "1.10b denied", "1.10c denied", "1.11 denied",
		"host ip-" + strings.ReplaceAll(in.IP.String(), ".", "-"),
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q in the console output:\n%s", want, out)
		}
	}
	if n := between(out, "1.4 processes=", "\n"); n == "" || len(n) > 1 { // a handful, not the host's
		t.Errorf("the sandbox sees %s processes:\n%s", n, out)
	}
	if _, err := os.Stat(probe); err == nil {
		t.Errorf("user data wrote %s on the host", probe)
	}
	// Still an instance: its web server on port 80 answers a neighbour the group admits.
	client := e.launch(sn, def)
	e.expectTCP(client, in, 80, true)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
