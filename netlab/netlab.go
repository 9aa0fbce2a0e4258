// Package netlab builds the host side of a VPC on one Linux machine: a router network
// namespace per VPC and, per lab instance, a namespace joined to its router by a veth pair
// (design.md, "The data plane on one host").
//
// Routing is layer 3 so that every packet between two instances crosses the router's forward
// hook, where the data plane filters it, even inside one subnet: an instance's eth0 has its
// private address with the subnet's prefix length and a default route to the subnet gateway
// (base + 1, as on AWS); the router holds a /32 route to each instance over its veth, answers
// ARP for the rest of the subnet on that veth (proxy ARP), and owns the gateway addresses on
// its loopback. Each VPC has its own namespace, hence its own routing table and conntrack
// table, so VPCs with the same CIDR cannot see each other.
//
// When a VPC spans hosts, its router on each host also has a VXLAN device with static entries
// towards the other hosts (overlay.go); several simulated hosts can share one machine
// (testbed.go, docs/cross-host.md).
//
// Everything is done through netlink (vishvananda/netlink and netns), on an OS thread locked
// for the time it spends in another namespace.
package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/stockade/stockade/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces are mounted (as by `ip netns add`).
const Dir = "/run/netns"

// Path is the mount point of a named namespace.
func Path(ns string) string { return filepath.Join(Dir, ns) }

// Names derives every name from a short prefix, so that several labs (and tests) can share a
// host without touching each other's namespaces and links.
type Names struct{ Prefix string }

// Validate checks that the prefix leaves room in a 15-character link name.
func (n Names) Validate() error {
	if n.Prefix == "" || len(n.Prefix) > 5 || strings.ContainsAny(n.Prefix, "/ \t") {
		return fmt.Errorf("lab prefix %q: must be 1 to 5 characters without spaces or slashes", n.Prefix)
	}
	return nil
}

// Router is the namespace of a VPC's router.
func (n Names) Router(vpc string) string { return n.Prefix + "-" + vpc }

// Instance is the namespace of a lab instance.
func (n Names) Instance(instance string) string { return n.Prefix + "-" + instance }

// Link is the router-side veth of an interface: the prefix and 40 bits of a hash of the
// interface ID (Linux allows 15 characters; two of a million interfaces share a name with a
// probability under one in two million).
func (n Names) Link(eni string) string {
	// FNV-1a, and ten hex digits, written out: the host names every interface at every change.
	h := uint64(14695981039346656037)
	for i := 0; i < len(eni); i++ {
		h = (h ^ uint64(eni[i])) * 1099511628211
	}
	h &= 0xff_ffff_ffff
	b := make([]byte, len(n.Prefix)+10)
	copy(b, n.Prefix)
	for i := len(b) - 1; i >= len(n.Prefix); i-- {
		b[i] = "0123456789abcdef"[h&0xf]
		h >>= 4
	}
	return string(b)
}

// Exists reports whether a named namespace exists.
func Exists(ns string) bool {
	_, err := os.Stat(Path(ns))
	return err == nil
}

// List returns the named namespaces whose names start with prefix.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Do runs fn on an OS thread that is in the named namespace, and puts the thread back. Sockets
// opened inside fn belong to the namespace for their whole life.
func Do(ns string, fn func() error) error { return nsthread.In(Path(ns), fn) }

// create makes a named namespace without moving the calling goroutine into it.
func create(ns string) error {
	if Exists(ns) {
		return nil
	}
	if err := prepareDir(); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nsthread.Isolated(func() error {
		h, err := netns.NewNamed(ns) // moves this thread into the new namespace
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		return h.Close()
	})
}

// prepareDir makes Dir a shared mount point of its own, as `ip netns add` does the first time
// it runs on a host. Made later, over namespaces mounted here already — a lab started before
// anyone ran `ip netns add` since the host booted — that bind mount hides their mounts, and
// they can no longer be deleted by their path (EBUSY): the namespaces leak.
func prepareDir() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", Dir, err)
		}
		err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", Dir, err)
	}
	return nil
}

// handle is a netlink handle whose requests act inside the named namespace.
func handle(ns string) (*netlink.Handle, error) {
	h, err := netns.GetFromPath(Path(ns))
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer h.Close()
	return netlink.NewHandleAt(h)
}

// Sysctl writes a value under /proc/sys/net inside a namespace (key like "ipv4.ip_forward").
func Sysctl(ns, key, value string) error {
	return Do(ns, func() error {
		return os.WriteFile(sysctlPath(key), []byte(value), 0o644)
	})
}

// ReadSysctl reads a value under /proc/sys/net inside a namespace, without its newline.
func ReadSysctl(ns, key string) (string, error) {
	var v []byte
	err := Do(ns, func() error {
		var err error
		v, err = os.ReadFile(sysctlPath(key))
		return err
	})
	return strings.TrimSpace(string(v)), err
}

func sysctlPath(key string) string { return "/proc/sys/net/" + strings.ReplaceAll(key, ".", "/") }

// Remove deletes a named namespace after killing the processes inside it (user data and lab
// exec commands, all started by the lab). A missing namespace is not an error.
func Remove(ctx context.Context, ns string) error {
	if !Exists(ns) {
		return nil
	}
	if err := KillAll(ctx, ns); err != nil {
		return err
	}
	if err := netns.DeleteNamed(ns); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

// KillAll kills every process whose network namespace is ns. A process that is gone by the
// time it is signalled is not an error.
func KillAll(ctx context.Context, ns string) error {
	pids, err := Pids(ctx, ns)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill process %d in %s: %w", pid, ns, err)
		}
	}
	return nil
}

// Pids lists the processes in a namespace, as `ip netns pids` does. A process that exits
// while the list is read is skipped; not being able to read /proc at all is an error, since
// the caller would otherwise take "no processes" for an answer.
func Pids(ctx context.Context, ns string) ([]int, error) {
	var want syscall.Stat_t
	if err := syscall.Stat(Path(ns), &want); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, p := range procs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns/net"), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Command prepares a command that runs inside a namespace (through nsenter, so that it is a
// normal child process with its own environment), killed if ctx ends before it does.
func Command(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + Path(ns), "--"}, argv...)...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Unavailable says why this host cannot run what this package does — namespaces, veths and
// nftables in them — or returns "" when it can. Tests of the kernel tier skip with its answer.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "needs root to create network namespaces and nftables tables (CI runs as root)"
	}
	// bwrap and setpriv: lab instances run their user data in a sandbox (host.Sandbox).
	for bin, pkg := range map[string]string{"nft": "nftables", "nsenter": "util-linux", "bwrap": "bubblewrap", "setpriv": "util-linux"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("the %s binary is missing (apt-get install %s)", bin, pkg)
		}
	}
	return ""
}
