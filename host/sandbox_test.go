package host

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSandboxCommand pins what a sandbox is made of: an unprivileged host user, every namespace
// but the network's new, nothing of the host bound in but /usr (read-only), a plain
// environment, EC2's hostname, and the script and /etc handed over as descriptors. The
// kernel-tier test e2e TestUserDataIsSandboxed runs the attacks against it.
func TestSandboxCommand(t *testing.T) {
	script, err := os.CreateTemp(t.TempDir(), "ud")
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	s := Sandbox{UIDBase: 200000}
	in := Instance{}
	in.ID, in.Address = "i-0123456789abcdef0", "10.0.1.4"
	argv, files, err := s.argv(in, script, "/bin/sh", userDataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(files[1:])
	line := strings.Join(argv, " ")
	uid := s.uid(in.ID)
	if uid < 200000 || uid >= 200000+65536 || uid != s.uid(in.ID) || uid == s.uid("i-0123456789abcdef1") {
		t.Errorf("uid %d: not stable, out of range or shared with another instance", uid)
	}
	for _, want := range []string{
		"setpriv --reuid=" + itoa(uid) + " --regid=" + itoa(uid) + " --clear-groups -- bwrap ",
		"--unshare-user --uid 0 --gid 0", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname ip-10-0-1-4", "--ro-bind /usr /usr", "--proc /proc", "--tmpfs /tmp", "--tmpfs /dev/shm",
		"--file 3 " + userDataPath, "--clearenv", "--setenv INSTANCE_ID i-0123456789abcdef0",
		"-- /bin/sh " + userDataPath,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the sandbox command lacks %q:\n%s", want, line)
		}
	}
	for i, a := range argv {
		if (a == "--bind" || a == "--ro-bind" || a == "--dev-bind") && argv[i+1] != "/usr" {
			t.Errorf("the host's %s is bound into the sandbox", argv[i+1])
		}
		if a == "--unshare-net" {
			t.Errorf("the sandbox must stay in the instance's network namespace")
		}
	}
	if len(files) != 5 || files[0] != script {
		t.Fatalf("files = %d, want the script and four of /etc", len(files))
	}
	passwd, _ := io.ReadAll(files[1])
	if !strings.Contains(string(passwd), "ec2-user:x:1000:1000:") {
		t.Errorf("/etc/passwd: %q", passwd)
	}
	if !slices.Contains(argv, "/etc/hosts") {
		t.Error("no /etc/hosts")
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
