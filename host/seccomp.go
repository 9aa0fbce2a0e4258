package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The sandbox's seccomp profile: what Docker's default profile refuses a container without
// CAP_SYS_ADMIN, as a deny list (everything else is allowed). Most of these calls already fail
// for lack of a capability in the sandbox's user namespace; the filter is the second wall, and
// the only one for what a user namespace does allow: new user namespaces (the attack surface
// behind most container escapes), keyrings (shared per host user), and the ptrace family.
var (
	// deniedCalls fail with EPERM.
	deniedCalls = []string{
		// Kernel modules, kexec, reboot, swap, clocks, accounting, quotas.
		"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
		"swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct",
		"quotactl", "syslog", "iopl", "ioperm", "lookup_dcookie",
		// Mounts and namespaces: the sandbox's root filesystem is fixed at boot.
		"mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount",
		"fspick", "move_mount", "open_tree", "mount_setattr", "unshare", "setns",
		// Files by handle (the "shocker" escape), kernel keyrings, BPF and performance events.
		"open_by_handle_at", "name_to_handle_at", "add_key", "request_key", "keyctl", "bpf",
		"perf_event_open", "userfaultfd",
		// Other processes' memory and the NUMA policy of the host.
		"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "mbind", "set_mempolicy",
		"move_pages", "get_mempolicy",
		// Obsolete calls no program needs.
		"uselib", "ustat", "sysfs", "vm86", "vm86old", "nfsservctl",
	}
	// clone3's arguments are in memory, beyond a filter's reach: it fails with ENOSYS, which
	// makes the C library fall back to clone, whose flags the filter can read.
	nosysCalls = []string{"clone3"}
)

// SeccompProfile is the sandbox's seccomp filter, for `stockade lab exec`, whose commands get
// the same as the instance's own processes.
func SeccompProfile() ([]byte, error) { return seccompProfile() }

// Capabilities are what root in a sandbox keeps (capabilities), for `stockade lab exec`.
func Capabilities() []string { return slices.Clone(capabilities) }

// seccompProfile is the sandbox's filter as bwrap --seccomp reads it: an array of struct
// sock_filter in the host's byte order. It is the same for every instance, assembled once.
var seccompProfile = sync.OnceValues(func() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	// Some calls exist on some architectures only (vm86 on 386, ioperm on x86).
	var names []string
	for _, n := range deniedCalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	p := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, Names: names},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: nosysCalls},
			// Typing into a terminal the sandbox shares with an operator (`stockade lab exec`
			// with a terminal): TIOCSTI pushes input that the operator's shell would run.
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{{
				Name: "ioctl",
				Conditions: seccomp.ArgumentConditions{{
					Argument: 1, Operation: seccomp.Equal, Value: unix.TIOCSTI,
				}},
			}}},
			// A new user namespace through clone: unshare is refused whole, above.
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{{
				Name: "clone",
				Conditions: seccomp.ArgumentConditions{{
					Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_NEWUSER,
				}},
			}}},
		},
	}
	ins, err := p.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	var b bytes.Buffer
	for _, r := range raw {
		// struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
		_ = binary.Write(&b, binary.NativeEndian, struct {
			Op     uint16
			Jt, Jf uint8
			K      uint32
		}{r.Op, r.Jt, r.Jf, r.K})
	}
	return b.Bytes(), nil
})
