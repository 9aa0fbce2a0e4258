package host

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/stockade/stockade/netmap"
)

// Sandbox is what every instance runs in: not the server's world (host root, the host's files,
// processes and environment, as the security review of 2026-12 found) but namespaces of its
// own, set up by bubblewrap (bwrap, Debian's bubblewrap) inside the instance's network
// namespace:
//
//   - a user namespace in which the instance's users 0…65535 are the unprivileged host users
//     UIDBase…UIDBase+65535 (one range for every instance, as Docker's userns-remap does; the
//     other namespaces keep instances apart). Root inside has no capability over anything
//     outside the sandbox, not even over the instance's own network namespace (no nftables
//     changes, no raw sockets, no address changes), and only Docker's default capabilities
//     within it: no CAP_SYS_ADMIN, so no mounts;
//   - a seccomp filter (seccomp.go) refusing what Docker's default profile refuses;
//   - its own mount namespace on a root filesystem of its own (rootfs.go): a tmpfs bounded in
//     size (the writable layer, kept while the instance is stopped; its pages count towards
//     the instance's memory limit) holding the host's /usr read-only with the usual /bin,
//     /sbin, /lib links, and a generated /etc
//     (passwd and group with root, ec2-user and sshd, hostname, hosts, sshd's configuration
//     and the instance's host key), private /tmp, /run and /dev/shm, its own /proc and a
//     minimal /dev; nothing else of the host — no data directory, no admin socket, no
//     /run/netns;
//   - its own PID, IPC, UTS (hostname ip-10-0-1-4, as EC2 names it) and cgroup namespaces;
//   - a plain environment.
//
// The sandbox's first process is a boot script (boot.go): sshd, then the user data at first
// boot, then it waits. The sandbox runs in cgroups of the instance's own (Cgroups) that limit
// its memory, CPU and processes by instance type.
type Sandbox struct {
	// UIDBase is the host user (and group) ID that root in a sandbox is; the sandbox's IDs
	// 0…65535 are UIDBase…UIDBase+65535.
	UIDBase uint32
	// Cgroups, when set, holds each instance's processes in groups of its own, limited by
	// its type and killed as a whole at its termination. Nil runs without limits: for tests
	// with a fake namespace only.
	Cgroups *Cgroups
}

// HostUsr is where the host's /usr is inside every sandbox, read-only.
const HostUsr = "/run/stockade/usr"

// sandboxIDs is how many user and group IDs a sandbox has.
const sandboxIDs = 65536

// DefaultSandbox maps sandboxes into the host IDs from 200,000 on, above the ranges Debian
// hands out to users and subordinate ID ranges by default.
var DefaultSandbox = Sandbox{UIDBase: 200000}

// DefaultDiskMiB bounds an instance's writable layer (the tmpfs its root filesystem is, or
// is the upper layer of).
const DefaultDiskMiB = 1024

// Check says what this host lacks to run sandboxes.
func (Sandbox) Check() error {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return fmt.Errorf("the bwrap binary is missing (apt-get install bubblewrap): every instance runs in a bubblewrap sandbox")
	}
	if _, err := seccompProfile(); err != nil {
		return err
	}
	return nil
}

// capabilities are what root in a sandbox keeps, within its own user namespace: Docker's
// default set. Without CAP_SYS_ADMIN nothing can be mounted; CAP_SYS_CHROOT and the ID
// changes are what sshd needs for its privilege separation.
var capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_MKNOD",
	"CAP_AUDIT_WRITE", "CAP_SETFCAP",
}

// hostname is the instance's hostname as EC2 gives it: ip-10-0-1-4 after its private IPv4
// address, or in an IPv6-only subnet (its address is IPv6) its resource-based name, the
// instance ID ("Amazon EC2 instance hostname types").
func hostname(in netmap.LabInstance) string {
	a, err := netip.ParseAddr(in.Address)
	switch {
	case err == nil && a.Is4():
		return "ip-" + strings.ReplaceAll(a.String(), ".", "-")
	case err == nil && in.ID != "":
		return in.ID
	}
	return "localhost"
}

// userDataPath is where the user data is inside the sandbox (cloud-init keeps it there).
const userDataPath = "/var/lib/cloud/instance/user-data"

// bootPath is where the boot script is inside the sandbox.
const bootPath = "/run/stockade/boot"

// sandboxPath is the PATH inside a sandbox.
const sandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// fileSet is the files a bwrap command line creates in the sandbox, handed over as
// descriptors (from descriptor first on): the sandbox's user cannot read the host's copies.
type fileSet struct {
	first int
	args  []string
	files []*os.File
}

// add hands f over as the file at path, with perms.
func (s *fileSet) add(path, perms string, f *os.File) {
	s.args = append(s.args, "--perms", perms, "--file", strconv.Itoa(s.first+len(s.files)), path)
	s.files = append(s.files, f)
}

// data hands data over as the file at path, with perms.
func (s *fileSet) data(path, perms string, data []byte) error {
	fd, err := s.pipe(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s.args = append(s.args, "--perms", perms, "--file", strconv.Itoa(fd), path)
	return nil
}

// pipe hands data over through a pipe and returns its descriptor in the child. The contents
// are below a pipe's buffer (64 KiB): written and closed before bwrap reads.
func (s *fileSet) pipe(data []byte) (int, error) {
	if len(data) > 60<<10 {
		return 0, fmt.Errorf("%d bytes do not fit a pipe's buffer", len(data))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	_, werr := w.Write(data)
	w.Close()
	if werr != nil {
		r.Close()
		return 0, werr
	}
	s.files = append(s.files, r)
	return s.first + len(s.files) - 1, nil
}

func (s *fileSet) close() { closeAll(s.files) }

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// bwrapArgv is the bwrap command line of an instance's sandbox up to (not including) the
// files and the command: namespaces, capabilities, the root filesystem open at descriptor
// rootFD (rootfs.go) and, on the default image, the host's /usr in it, read-only.
func (s Sandbox) bwrapArgv(name string, rootFD int, defaultImage bool) []string {
	out := []string{"bwrap",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", name, "--new-session",
		"--bind-fd", strconv.Itoa(rootFD), "/",
	}
	if defaultImage {
		out = append(out, "--ro-bind", "/usr", "/usr")
	}
	out = append(out,
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/dev/shm",
		"--perms", "0755", "--dir", "/run/sshd", "--dir", "/run/stockade",
		// The host's /usr, read-only, where stockade lab exec finds bwrap and its libraries
		// whatever the image holds (the default image has it at /usr too).
		"--ro-bind", "/usr", HostUsr,
		"--perms", "0700", "--dir", "/root", "--dir", "/root/.ssh",
		"--perms", "0755", "--dir", "/home/"+DefaultUser, "--perms", "0700", "--dir", "/home/"+DefaultUser+"/.ssh",
		"--perms", "0755",
		"--dir", "/var/lib/cloud/instance", "--dir", "/var/tmp", "--dir", "/var/log",
		"--dir", "/etc/ssh", "--dir", "/usr/local",
		"--cap-drop", "ALL",
	)
	for _, c := range capabilities {
		out = append(out, "--cap-add", c)
	}
	return out
}

// userNamespace is how the sandbox's first process is started: in a new user namespace that
// maps the sandbox's IDs onto the host range, as its root. bwrap, started as root there, makes
// the other namespaces itself.
func (s Sandbox) userNamespace() *syscall.SysProcAttr {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(s.UIDBase), Size: sandboxIDs}}
	return &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                m,
		GidMappings:                m,
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		Setpgid:                    true,
	}
}
