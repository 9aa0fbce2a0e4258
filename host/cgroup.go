package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroups are the host's control groups as the lab uses them: each instance's user data, and
// everything it starts, runs in a group of its own, stockade/<namespace> (the instance's
// namespace name, so that servers with different lab prefixes on one host leave each other's
// groups alone), limited by the instance type (limits.go). Terminating the instance kills
// every process in its group, including ones that detached or left the sandbox's session.
//
// Two layouts are supported. cgroup v1 (Debian before 11, and this project's CI): one
// hierarchy per controller under Root (Root/memory, Root/pids, Root/cpu; a v2 "unified" mount
// next to them without controllers is ignored), and a group in each. cgroup v2 (a pure unified
// hierarchy at Root, found by Root/cgroup.controllers): one group with memory.max, pids.max
// and cpu.max, the controllers enabled for it in Root and Root/stockade.
type Cgroups struct {
	Root string
	V2   bool
}

// cgroupParent is the group under which the instances' groups are, in each hierarchy.
const cgroupParent = "stockade"

// v1Controllers are the cgroup v1 hierarchies an instance has a group in.
var v1Controllers = []string{"memory", "pids", "cpu"}

// DetectCgroups finds how cgroups are mounted under root (/sys/fs/cgroup), and says what is
// missing when the memory, pids or cpu controller is not available.
func DetectCgroups(root string) (*Cgroups, error) {
	if b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil {
		have := strings.Fields(string(b))
		for _, c := range v1Controllers {
			if !slices.Contains(have, c) {
				return nil, fmt.Errorf("cgroup v2 at %s lacks the %s controller (it has %q)", root, c, have)
			}
		}
		return &Cgroups{Root: root, V2: true}, nil
	}
	for _, c := range v1Controllers {
		if _, err := os.Stat(filepath.Join(root, c, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("no cgroup v2 at %s and no cgroup v1 %s hierarchy at %s", root, c, filepath.Join(root, c))
		}
	}
	return &Cgroups{Root: root}, nil
}

// parents are the stockade groups, one per hierarchy.
func (c *Cgroups) parents() []string {
	if c.V2 {
		return []string{filepath.Join(c.Root, cgroupParent)}
	}
	out := make([]string, len(v1Controllers))
	for i, ctl := range v1Controllers {
		out[i] = filepath.Join(c.Root, ctl, cgroupParent)
	}
	return out
}

// Dirs are the groups of the instance whose namespace is ns: one on v2, one per controller
// (memory, pids, cpu, in that order) on v1.
func (c *Cgroups) Dirs(ns string) []string {
	ps := c.parents()
	for i := range ps {
		ps[i] = filepath.Join(ps[i], ns)
	}
	return ps
}

// files are the control files of the instance's groups and what to write in them, in order
// (on v1 the memory+swap limit can only be set once the memory limit is at or below it).
func (c *Cgroups) files(ns string, l Limits) [][2]string {
	mem := strconv.FormatInt(l.MemoryMiB<<20, 10)
	pids := strconv.Itoa(l.Processes)
	const period = 100000 // µs, the kernel's default CFS period
	quota := strconv.Itoa(l.VCPUs * period)
	d := c.Dirs(ns)
	if c.V2 {
		return [][2]string{
			{filepath.Join(d[0], "memory.max"), mem},
			{filepath.Join(d[0], "memory.swap.max"), "0"},
			{filepath.Join(d[0], "pids.max"), pids},
			{filepath.Join(d[0], "cpu.max"), quota + " " + strconv.Itoa(period)},
		}
	}
	return [][2]string{
		{filepath.Join(d[0], "memory.limit_in_bytes"), mem},
		{filepath.Join(d[0], "memory.memsw.limit_in_bytes"), mem},
		{filepath.Join(d[1], "pids.max"), pids},
		{filepath.Join(d[2], "cpu.cfs_period_us"), strconv.Itoa(period)},
		{filepath.Join(d[2], "cpu.cfs_quota_us"), quota},
	}
}

// optional are the control files a kernel may lack: the swap limits exist only when swap
// accounting is on (a host without swap has nothing to limit).
func optional(file string) bool {
	b := filepath.Base(file)
	return b == "memory.memsw.limit_in_bytes" || b == "memory.swap.max"
}

// Create makes the instance's groups with the limits l and returns them. A group left by an
// earlier run of the same instance is emptied first.
func (c *Cgroups) Create(ns string, l Limits) ([]string, error) {
	if err := validGroup(ns); err != nil {
		return nil, err
	}
	if c.V2 {
		// Controllers reach a group only when every ancestor enables them for its children.
		for _, d := range []string{c.Root, filepath.Join(c.Root, cgroupParent)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
				return nil, fmt.Errorf("enable cgroup controllers in %s: %w", d, err)
			}
		}
	}
	if err := c.Remove(ns); err != nil {
		return nil, err
	}
	dirs := c.Dirs(ns)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, errors.Join(err, c.Remove(ns))
		}
	}
	for _, f := range c.files(ns, l) {
		if err := os.WriteFile(f[0], []byte(f[1]), 0); err != nil && !(optional(f[0]) && errors.Is(err, fs.ErrNotExist)) {
			return nil, errors.Join(fmt.Errorf("cgroup limit %s: %w", f[0], err), c.Remove(ns))
		}
	}
	return dirs, nil
}

// Remove kills every process in the instance's groups and removes them; groups that do not
// exist are not an error. Processes forking while they are killed are killed in turn (the
// pids limit bounds how many there can be); it gives up after a few seconds.
func (c *Cgroups) Remove(ns string) error {
	if err := validGroup(ns); err != nil {
		return err
	}
	dirs := c.Dirs(ns)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			return nil
		}
		for _, d := range left {
			killGroup(d)
		}
		var errs []error
		for _, d := range left {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
		if len(errs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		time.Sleep(10 * time.Millisecond) // the killed processes are on their way out
	}
}

// killGroup kills every process in the group at d: with cgroup.kill where the kernel has it
// (v2, Linux 5.14), otherwise one by one from cgroup.procs.
func killGroup(d string) {
	if f, err := os.OpenFile(filepath.Join(d, "cgroup.kill"), os.O_WRONLY, 0); err == nil {
		_, werr := f.WriteString("1")
		f.Close()
		if werr == nil {
			return
		}
	}
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
		}
	}
}

// List returns the namespace names of the instance groups whose names start with prefix, in
// any hierarchy.
func (c *Cgroups) List(prefix string) ([]string, error) {
	var out []string
	for _, p := range c.parents() {
		ents, err := os.ReadDir(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) && !slices.Contains(out, e.Name()) {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveAll removes the groups of every instance whose namespace name starts with prefix, as
// Remove does: what a lab left when its server or agent stopped without removing its
// instances (killed, or --keep-lab) and nothing will adopt it.
func (c *Cgroups) RemoveAll(prefix string) error {
	groups, err := c.List(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		errs = append(errs, c.Remove(g))
	}
	return errors.Join(errs...)
}

// validGroup refuses a name that is not one path element below the stockade group.
func validGroup(ns string) error {
	if ns == "" || ns == "." || ns == ".." || strings.ContainsAny(ns, "/\x00") {
		return fmt.Errorf("invalid cgroup name %q", ns)
	}
	return nil
}

// Place makes the instance's groups with the limits l (as Create) and moves the process pid
// into them. The process must not have started anything yet: its children stay where they
// are.
func (c *Cgroups) Place(ns string, l Limits, pid int) error {
	dirs, err := c.Create(ns, l)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return errors.Join(fmt.Errorf("join %s: %w", d, err), c.Remove(ns))
		}
	}
	return nil
}
