package host

import (
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Sandbox is how an instance's user data runs: not as the server (host root, the host's files,
// processes and environment, as the security review of 2026-12 found) but in namespaces of its
// own, set up by bubblewrap (bwrap, Debian's bubblewrap) inside the instance's network
// namespace:
//
//   - a user namespace in which root is an unprivileged host user (UIDBase plus a number
//     derived from the instance ID): no capability over anything outside the sandbox, not even
//     over the instance's own network namespace (so no nftables changes);
//   - its own mount namespace on an empty root: the host's /usr read-only (with the usual
//     /bin, /sbin, /lib links), a generated /etc (passwd and group with root and ec2-user,
//     hostname, hosts), private /tmp, /run and /dev/shm, its own /proc and a minimal /dev;
//     nothing else of the host — no data directory, no admin socket, no /run/netns;
//   - its own PID, IPC, UTS (hostname ip-10-0-1-4, as EC2 names it) and cgroup namespaces;
//   - a plain environment.
//
// The sandbox runs in cgroups of the instance's own (Cgroups) that limit its memory, CPU and
// processes by instance type; the images of issue 11 are not here yet.
type Sandbox struct {
	// UIDBase is the first host user (and group) ID that root in a sandbox maps to; each
	// instance gets UIDBase + a number below 65,536 derived from its ID.
	UIDBase uint32
	// Cgroups, when set, holds each instance's processes in groups of its own, limited by
	// its type and killed as a whole at its termination. Nil runs without limits: for tests
	// with a fake namespace only.
	Cgroups *Cgroups
}

// DefaultSandbox maps sandboxes into the host IDs from 200,000 on, above the ranges Debian
// hands out to users and subordinate ID ranges by default.
var DefaultSandbox = Sandbox{UIDBase: 200000}

// Check says what this host lacks to run sandboxes.
func (Sandbox) Check() error {
	for bin, pkg := range map[string]string{"bwrap": "bubblewrap", "setpriv": "util-linux"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("the %s binary is missing (apt-get install %s): instances run their user data in a bubblewrap sandbox", bin, pkg)
		}
	}
	return nil
}

// uid is the host ID that root in the instance's sandbox is.
func (s Sandbox) uid(instance string) uint32 {
	return s.UIDBase + crc32.ChecksumIEEE([]byte(instance))%65536
}

// hostname is the instance's hostname as EC2 gives it: ip-10-0-1-4.
func hostname(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil && a.Is4() {
		return "ip-" + strings.ReplaceAll(a.String(), ".", "-")
	}
	return "localhost"
}

// userDataPath is where the script is inside the sandbox (cloud-init keeps it there).
const userDataPath = "/var/lib/cloud/instance/user-data"

// argv is the command line that runs argv (the user data, at userDataPath) in the instance's
// sandbox, and the files it needs open (ExtraFiles, from descriptor 3 on): script is the user
// data file, handed to bwrap as a descriptor because the sandbox's user cannot read the host's
// copy; the files of the generated /etc are handed over the same way, through pipes. The
// caller starts the command inside the instance's network namespace, as root, and closes the
// files once it has started.
func (s Sandbox) argv(in Instance, script *os.File, argv ...string) ([]string, []*os.File, error) {
	id := strconv.FormatUint(uint64(s.uid(in.ID)), 10)
	name := hostname(in.Address)
	etc := []struct{ path, data string }{
		{"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh\n"},
		{"/etc/group", "root:x:0:\nec2-user:x:1000:\n"},
		{"/etc/hostname", name + "\n"},
		{"/etc/hosts", "127.0.0.1 localhost\n" + in.Address + " " + name + "\n"},
	}
	files := []*os.File{script}
	out := []string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--",
		"bwrap", "--unshare-user", "--uid", "0", "--gid", "0",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", name, "--new-session",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/dev/shm",
		"--dir", "/root", "--dir", "/home/ec2-user", "--dir", "/var/lib/cloud/instance", "--dir", "/etc",
		"--perms", "0755", "--file", "3", userDataPath,
	}
	for i, f := range etc {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(files[1:])
			return nil, nil, err
		}
		// The contents are far below a pipe's buffer: written and closed before bwrap reads.
		_, werr := w.WriteString(f.data)
		w.Close()
		files = append(files, r)
		if werr != nil {
			closeAll(files[1:])
			return nil, nil, werr
		}
		out = append(out, "--perms", "0644", "--file", strconv.Itoa(4+i), f.path)
	}
	out = append(out, "--chdir", "/root", "--clearenv",
		"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", "/root", "--setenv", "INSTANCE_ID", in.ID, "--")
	return append(out, argv...), files, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
