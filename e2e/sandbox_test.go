package e2e

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/host"
)

// TestUserDataIsSandboxed runs the attacks of the security review of 2026-12 (§1: rows 1.1–1.12;
// 1.13–1.15 are TestUserDataSandboxLimits, 1.16 TestUserDataOnceAcrossRestart) and more as a
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
	victim := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		UserData: aws.String(b64("#!/bin/sh\necho victim secret\n"))})
	// Each line prints "<row> <result>"; a denied attack prints its row and "denied".
	script := fmt.Sprintf(`#!/bin/sh
try() { row=$1; shift; if "$@" >/dev/null 2>&1; then echo "$row allowed"; else echo "$row denied"; fi; }
echo "1.1 $(id -u) $(grep CapEff /proc/self/status | tr -d '\t')"
try 1.2 cat %[1]s/credentials
try 1.2b cat %[1]s/stockade.db
echo "1.3 canary=$(env | grep -c CANARY)"
echo "1.4 processes=$(ls /proc | grep -c '^[0-9]')"
try 1.5 nsenter --net=/proc/%[2]d/ns/net true
try 1.6 nft list ruleset
try 1.7 nft add table inet sandboxprobe
try 1.7b ls /run/netns
try 1.8 nsenter --net=/run/netns/%[7]s true
try 1.8b cat %[1]s/lab/%[8]s.log
try 1.8c cat %[1]s/lab/%[8]s.user-data
try 1.9 kill -0 %[2]d
try 1.10 sh -c 'echo x > %[3]s'
try 1.10b sh -c 'echo x > /usr/sandboxprobe'
mkdir -p /tmp/mnt; try 1.10c mount -t tmpfs none /tmp/mnt
try 1.11 ls %[1]s/admin.sock
try 1.12 cat /proc/%[2]d/root%[1]s/credentials
# Beyond the review: each must fail with EPERM (a refusal), not some other error.
eperm() { row=$1; shift; e=$(python3 -c "import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); l.syscall(*[int(a) for a in sys.argv[1:]]); print(ctypes.get_errno())" "$@"); if [ "$e" = 1 ]; then echo "$row denied"; else echo "$row allowed errno=$e"; fi; }
eperm 2.1-module %[4]d -1 0 0
eperm 2.2-ptrace %[5]d 16 1 0 0
try 2.3-proc-sys sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
try 2.4-raw-socket python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)'
try 2.5-address ip addr add 10.40.1.99/24 dev eth0
try 2.6-userns unshare -U true
try 2.7-keyring python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); sys.exit(l.syscall(%[6]d, b"user", b"k", b"v", 1, -3) < 0)'
echo "host $(hostname)"
python3 -m http.server 80 >/dev/null 2>&1 &
echo "sandbox done"
`, dd, pid, probe, unix.SYS_FINIT_MODULE, unix.SYS_PTRACE, unix.SYS_ADD_KEY, victim.NS, victim.ID)
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
		// Root inside, with Docker's default capabilities over its own namespaces only: no
		// CAP_SYS_ADMIN (mounts), CAP_NET_ADMIN or CAP_NET_RAW, none over the host.
		"1.1 0 CapEff:00000000a80405fb",
		"1.2 denied", "1.2b denied", "1.3 canary=0", "1.5 denied", "1.6 denied", "1.7 denied", "1.7b denied",
		"1.8 denied", "1.8b denied", "1.8c denied",
		"1.9 denied", "1.10 denied", "1.10b denied", "1.10c denied", "1.11 denied", "1.12 denied",
		"2.1-module denied", "2.2-ptrace denied", "2.3-proc-sys denied", "2.4-raw-socket denied",
		"2.5-address denied", "2.6-userns denied", "2.7-keyring denied",
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
	// Still an instance: its web server on port 80 answers a neighbour the group admits (once
	// it listens: python starts in the background, slowly on a busy machine).
	client := e.launch(sn, def)
	e.waitListening(in, 80)
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

// TestUserDataSandboxLimits runs the security review's exhaustion attacks (rows 1.13 and 1.14) as
// user data: a fork bomb stops at its instance type's process limit, a memory hog is killed
// at its type's memory while the server keeps answering, and terminating the instances leaves
// none of their processes, detached ones included.
func TestUserDataSandboxLimits(t *testing.T) {
	e := newLabEnv(t)
	cg, err := host.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("cgroups: %v", err)
	}
	vpc, def := e.vpc("10.41.0.0/16")
	sn := e.subnet(vpc, "10.41.1.0/24")
	hostBefore := processCount()
	// A t2.nano: 1 vCPU, so 512 processes. Each sleep outlives the script, in a session of
	// its own (setsid), as a detached daemon would.
	bomb := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		InstanceType: types.InstanceTypeT2Nano, UserData: aws.String(b64(`#!/bin/sh
i=0
while [ $i -lt 3000 ]; do setsid sleep 30 & i=$((i+1)); done
echo "bomb done $i"
`))})
	bombNS := e.prefix + "-" + bomb.ID
	t.Cleanup(func() { _ = cg.Remove(bombNS) }) // if the test fails before the server removes it
	// A t3.nano: 512 MiB. It tries to fill 2 GiB, 64 MiB at a time.
	hog := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		InstanceType: types.InstanceTypeT3Nano, UserData: aws.String(b64(`#!/bin/sh
python3 -c '
l = []
for i in range(32):
    l.append(b"x" * (64 << 20))
print("hog allocated 2 GiB", flush=True)
'
echo "hog status $?"
`))})
	hogNS := e.prefix + "-" + hog.ID
	t.Cleanup(func() { _ = cg.Remove(hogNS) })

	bombOut, hogOut := e.console(bomb, "finished", 30*time.Second), e.console(hog, "finished", 30*time.Second)
	// The bomb's shell cannot fork once the limit is reached (dash gives up then): its
	// sleeps are what it managed to start.
	inGroup := groupProcs(t, cg.Dirs(bombNS)[len(cg.Dirs(bombNS))-1])
	byUID := uidProcs(200000 + crc32.ChecksumIEEE([]byte(bomb.ID))%65536)
	hostAfter := processCount()
	t.Logf("fork bomb: %d processes in its cgroup, %d of its sandbox user on the host; host processes %d → %d\n%s",
		inGroup, byUID, hostBefore, hostAfter, lastLines(bombOut, 3))
	if inGroup > 512 || byUID > 512 || inGroup < 100 {
		t.Errorf("fork bomb on a t2.nano: %d processes in its cgroup, %d of its user; want at most 512 (and the bomb to have run)", inGroup, byUID)
	}
	if byUID > inGroup {
		t.Errorf("%d processes of the sandbox user, only %d in its cgroup: some escaped it", byUID, inGroup)
	}
	if hostAfter-hostBefore > 600 {
		t.Errorf("the host's process count grew by %d", hostAfter-hostBefore)
	}
	t.Logf("memory hog:\n%s", lastLines(hogOut, 3))
	if strings.Contains(hogOut, "hog allocated") || !strings.Contains(hogOut, "hog status 137") {
		t.Errorf("a t3.nano allocated 2 GiB, or the hog was not killed (status 137):\n%s", hogOut)
	}
	// The limits the kernel holds are the types' (t3.nano: 512 MiB, 2 vCPUs, 1,024 processes).
	if !cg.V2 {
		for file, want := range map[string]string{
			"memory/stockade/" + hogNS + "/memory.limit_in_bytes": "536870912",
			"pids/stockade/" + hogNS + "/pids.max":                "1024",
			"cpu/stockade/" + hogNS + "/cpu.cfs_quota_us":         "200000",
			"pids/stockade/" + bombNS + "/pids.max":               "512",
		} {
			if b, err := os.ReadFile(filepath.Join(cg.Root, file)); err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, %v; want %s", file, b, err, want)
			}
		}
	}
	// And the hog was killed by its group's limit, not by the host running out.
	if !cg.V2 {
		b, _ := os.ReadFile(filepath.Join(cg.Root, "memory/stockade", hogNS, "memory.oom_control"))
		t.Logf("hog's memory.oom_control: %q", b)
		if n := between(string(b), "oom_kill ", "\n"); n != "" && n == "0" {
			t.Errorf("no OOM kill in the hog's group: %q", b)
		}
	}
	// The server still answers.
	must[*ec2.DescribeVpcsOutput](t)(e.c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{}))

	must[*ec2.TerminateInstancesOutput](t)(e.c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{bomb.ID, hog.ID}}))
	e.enforced()
	for _, d := range append(cg.Dirs(bombNS), cg.Dirs(hogNS)...) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s is still there after TerminateInstances", d)
		}
	}
	// A killed process stays a zombie until its parent (the server, for the sandbox's first
	// process) collects it: moments, not a leak.
	uid := 200000 + crc32.ChecksumIEEE([]byte(bomb.ID))%65536
	n := uidProcs(uid)
	for deadline := time.Now().Add(5 * time.Second); n != 0 && time.Now().Before(deadline); n = uidProcs(uid) {
		time.Sleep(50 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("%d processes of the terminated instance's sandbox user are left", n)
	}
}

// console waits (up to d) for want in an instance's console output and returns it.
func (e *labEnv) console(in instance, want string, d time.Duration) string {
	e.t.Helper()
	var out string
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && !strings.Contains(out, want); {
		co := must[*ec2.GetConsoleOutputOutput](e.t)(e.c.GetConsoleOutput(ctx(e.t), &ec2.GetConsoleOutputInput{InstanceId: aws.String(in.ID)}))
		out = unb64(e.t, aws.ToString(co.Output))
		time.Sleep(100 * time.Millisecond) // the script runs in the background; bounded by the deadline
	}
	if !strings.Contains(out, want) {
		e.t.Fatalf("no %q in %s's console output after %v:\n%s\nserver log:\n%s", want, in.ID, d, out, e.s.stderr.String())
	}
	return out
}

// groupProcs counts the processes in a cgroup.
func groupProcs(t *testing.T, dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatalf("the instance's cgroup: %v", err)
	}
	return len(strings.Fields(string(b)))
}

// processCount is how many processes the host has.
func processCount() int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}

// uidProcs counts the host's processes whose real user is uid.
func uidProcs(uid uint32) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // gone
		}
		if f := strings.Fields(between(string(b), "\nUid:", "\n")); len(f) > 0 && f[0] == strconv.FormatUint(uint64(uid), 10) {
			n++
		}
	}
	return n
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}

// TestUserDataOnceAcrossRestart (security review row 1.16): a server restart without
// --keep-lab boots the instance again — sshd, with the same host key — but its user data ran
// at its first boot and does not run again.
func TestUserDataOnceAcrossRestart(t *testing.T) {
	e := newLabEnv(t)
	vpc, def := e.vpc("10.44.0.0/16")
	sn := e.subnet(vpc, "10.44.1.0/24")
	in := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		UserData: aws.String(b64("#!/bin/sh\necho first boot work\n"))})
	e.consoleUntil(in.ID, "user data finished")
	dataDir := e.s.dataDir
	e.s.stop(t, syscall.SIGTERM) // a normal shutdown: the lab goes, the instance stays running
	e.start(dataDir)
	e.enforced()
	var out string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out = e.consoleUntil(in.ID, "booting"); strings.Count(out, "-----END SSH HOST KEY FINGERPRINTS-----") == 2 {
			break
		}
	}
	boots := strings.Split(out, "booting "+in.ID)
	if len(boots) == 3 && between(boots[1], "FINGERPRINTS-----\n", "\n") != between(boots[2], "FINGERPRINTS-----\n", "\n") {
		t.Errorf("the host key changed across the restart:\n%s", out)
	}
	if n := strings.Count(out, "booting "+in.ID); n != 2 {
		t.Errorf("booted %d times, want 2:\n%s\nserver log:\n%s", n, out, e.s.stderr.String())
	}
	if n := strings.Count(out, "first boot work"); n != 1 {
		t.Errorf("the user data ran %d times, want once:\n%s", n, out)
	}
}
