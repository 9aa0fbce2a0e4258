package host

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSandboxCommand pins what a sandbox is made of: a shell that waits for the go-ahead (its
// cgroups), every namespace but the network's new, a bounded tmpfs root with nothing of the
// host bound in but /usr (read-only), Docker's capabilities and no others, a seccomp filter,
// a plain environment, EC2's hostname, and the files handed over as descriptors. The root is
// the instance's writable layer, mounted by the host (rootfs.go) and handed over open. The
// kernel-tier tests (e2e TestUserDataIsSandboxed, TestSandboxEscapes) run the attacks.
func TestSandboxCommand(t *testing.T) {
	dir, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	h := &Host{cfg: Config{Sandbox: &Sandbox{UIDBase: 200000}}, dir: dir}
	in := Instance{PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest launch"}
	in.ID, in.Address = "i-0123456789abcdef0", "10.0.1.4"
	files := &fileSet{first: 5}
	defer files.close()
	root, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files.files = append(files.files, root)
	argv, err := h.sandboxArgv(in, "'/bin/sh' '/var/lib/cloud/instance/user-data'", root, true, files)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(argv, " ")
	for _, want := range []string{
		`/bin/sh -c read -r go <&3 || exit 125; exec 3<&-; exec "$@" sh bwrap `,
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname ip-10-0-1-4", "--bind-fd 5 / --ro-bind /usr /usr",
		"--proc /proc", "--tmpfs /tmp", "--tmpfs /dev/shm", "--cap-drop ALL",
		"--info-fd 4 --seccomp 6", "--clearenv", "--setenv INSTANCE_ID i-0123456789abcdef0",
		"-- /bin/sh " + bootPath,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the sandbox command lacks %q:\n%s", want, line)
		}
	}
	for i, a := range argv {
		if (a == "--bind" || a == "--dev-bind") || a == "--ro-bind" && argv[i+1] != "/usr" {
			t.Errorf("the host's %s is bound into the sandbox", argv[i+1])
		}
		if a == "--unshare-net" || a == "--unshare-user" {
			t.Errorf("%s: the sandbox stays in the instance's network namespace, in the user namespace the host made", a)
		}
		if a == "--cap-add" && (argv[i+1] == "CAP_SYS_ADMIN" || argv[i+1] == "CAP_NET_ADMIN" || argv[i+1] == "CAP_NET_RAW") {
			t.Errorf("the sandbox keeps %s", argv[i+1])
		}
	}
	got := handedOver(t, argv, files)
	for path, want := range map[string]string{
		"/etc/passwd":                         "ec2-user:x:1000:1000:",
		"/etc/hosts":                          "10.0.1.4 ip-10-0-1-4",
		"/home/ec2-user/.ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest launch",
		"/root/.ssh/authorized_keys":          `command="echo 'Please login as the user \"ec2-user\" rather than the user \"root\".';echo;sleep 10;exit 142" ssh-ed25519`,
		"/etc/ssh/ssh_host_ed25519_key":       "BEGIN OPENSSH PRIVATE KEY",
		bootPath:                              "'/bin/sh' '/var/lib/cloud/instance/user-data'\necho \"[stockade] user data finished with status $?\"",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s = %q, want it to contain %q", path, got[path], want)
		}
	}
	seccompFD, _ := strconv.Atoi(argv[slices.Index(argv, "--seccomp")+1])
	if profile, _ := io.ReadAll(files.files[seccompFD-files.first]); len(profile)%8 != 0 || len(profile) < 80 {
		t.Errorf("the seccomp filter is %d bytes: not a filter program", len(profile))
	}
	if _, ok := got[""]; ok || len(files.files) != len(got)+2 {
		t.Errorf("%d descriptors for %d files, the root and the filter", len(files.files), len(got))
	}
	// The host key is the instance's for good: the second boot hands over the same one.
	again := &fileSet{first: 5}
	defer again.close()
	again.files = append(again.files, root)
	argv2, err := h.sandboxArgv(in, "", root, true, again)
	if err != nil {
		t.Fatal(err)
	}
	if handedOver(t, argv2, again)["/etc/ssh/ssh_host_ed25519_key"] != got["/etc/ssh/ssh_host_ed25519_key"] {
		t.Error("the host key changed between boots")
	}
}

// handedOver reads the files a sandbox command line hands over, by their path inside.
func handedOver(t *testing.T, argv []string, files *fileSet) map[string]string {
	t.Helper()
	got := map[string]string{}
	for i, a := range argv {
		if a == "--file" {
			fd, err := strconv.Atoi(argv[i+1])
			if err != nil {
				t.Fatalf("--file %s", argv[i+1])
			}
			b, _ := io.ReadAll(files.files[fd-files.first])
			got[argv[i+2]] = string(b)
		}
	}
	return got
}

// TestBootScriptWithoutUserData: a later boot starts sshd and runs no user data.
func TestBootScriptWithoutUserData(t *testing.T) {
	s := bootScript("i-1", "256 SHA256:x root@i-1 (ED25519)", false, "")
	if strings.Contains(s, "user data") || !strings.Contains(s, "/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &") ||
		!strings.Contains(s, "echo '256 SHA256:x root@i-1 (ED25519)'") || !strings.HasSuffix(s, "exec sleep infinity\n") {
		t.Errorf("boot script:\n%s", s)
	}
}
