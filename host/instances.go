package host

// The instance half of the host: each lab instance's namespace and interfaces, what is left by
// an earlier run, user data at first boot, the console, and the list that stockade lab list
// reads.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stockade/stockade/netmap"
)

// add wires one instance. isNew is false when its namespace already existed (adopted after a
// restart that kept the lab): user data ran at its launch and does not run again.
func (h *Host) add(ctx context.Context, in Instance) (isNew bool, err error) {
	exists, err := h.cfg.Namespaces.Exists(ctx, in.Namespace)
	if err != nil {
		return false, err
	}
	if !exists {
		for _, i := range in.Interfaces {
			if err := h.cfg.Namespaces.Attach(ctx, in.Router, i); err != nil {
				if derr := h.cfg.Namespaces.Detach(ctx, in.Router, in.Namespace, in.Links...); derr != nil {
					h.cfg.Log.Warn("cleaning up a half-made instance", "instance", in.ID, "error", derr)
				}
				return false, fmt.Errorf("%s: %w", i.Device(), err)
			}
		}
		h.cfg.Log.Info("lab instance up", "instance", in.ID, "address", in.Address, "interfaces", len(in.Interfaces), "namespace", in.Namespace)
	} else if err := h.adopt(ctx, in); err != nil {
		return false, err
	}
	h.instances[in.ID] = in
	h.changed = true
	return !exists, nil
}

// adopt brings an instance whose namespace an earlier run left (an agent killed or stopped, a
// server restarted with its lab kept) to in's interfaces. rewire compares with what this
// process wired and would never see what changed while no reconciler ran, so what the kernel
// holds (Namespaces.Wiring) stands in for it: an interface attached meanwhile is attached, one
// detached is unplugged (its link leaves the router, its ethN the instance), and addresses
// unassigned leave the device with the router's route to each — the same steps a live change
// takes. The router's ruleset, the other half of what admits an address, was replaced whole
// from the store's state before this runs (the first transaction of a process is a
// replacement), so an address no longer the interface's already fails its source check, and
// an interface attached here meets its groups at once.
func (h *Host) adopt(ctx context.Context, in Instance) error {
	have, err := h.cfg.Namespaces.Wiring(ctx, in.Router, in.Namespace)
	if err != nil {
		return fmt.Errorf("read its interfaces: %w", err)
	}
	was := in
	was.Interfaces = have
	if sameInterfaces(have, in.Interfaces) {
		return nil
	}
	h.cfg.Log.Info("adopted instance differs from the store: rewiring", "instance", in.ID, "kernel", len(have), "store", len(in.Interfaces))
	_, err = h.rewire(ctx, was, in)
	return err
}

// remove takes an instance down: its namespace, processes and links, and — when the instance
// is gone (gone), not when the server shuts down with it still running — its files: the
// console output, the first-boot mark and the writable layer outlive a restart, as an EC2
// instance's do a reboot. An instance that is not gone has its layer saved (layer.go).
func (h *Host) remove(ctx context.Context, in Instance, gone bool) error {
	delete(h.instances, in.ID)
	h.stopMetadata(in.ID)
	h.changed = true
	// Every process of the instance goes first, wherever it is (detached, in a session of its
	// own): its cgroups hold them all.
	err := h.removeCgroups(in.Namespace)
	err = errors.Join(err, h.cfg.Namespaces.Detach(ctx, in.Router, in.Namespace, in.Links...))
	if gone {
		err = errors.Join(err, unmountRoot(in.Namespace), removeFiles(h.dir, in.ID)) // its layer too
	} else if serr := h.saveRoot(in); serr != nil {
		// The layer stays mounted, as it is, for the next boot: unmounted, it would be lost.
		err = errors.Join(err, serr)
	} else {
		err = errors.Join(err, unmountRoot(in.Namespace))
	}
	if err != nil {
		return fmt.Errorf("remove instance %s: %w", in.ID, err)
	}
	h.cfg.Log.Info("lab instance removed", "instance", in.ID, "namespace", in.Namespace)
	return nil
}

// sweep removes what an earlier run left that d does not want: instance namespaces and files
// of instances no longer running (left by a crash, or terminated while the server was down)
// and routers of VPCs without instances. What d wants is adopted by the rest of apply: a
// router's ruleset is replaced atomically before anything else happens to it.
func (h *Host) sweep(ctx context.Context, d Desired) error {
	prefix := h.cfg.Names.Prefix + "-"
	nss, err := h.cfg.Namespaces.List(ctx, prefix)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, in := range d.Instances {
		wanted[in.Namespace] = true
	}
	for _, r := range d.Routers {
		wanted[r.Namespace] = true
		if r.Routing.Uplink != nil {
			wanted[r.Routing.Uplink.Internet] = true
		}
	}
	var errs []error
	for _, ns := range nss {
		rest := strings.TrimPrefix(ns, prefix)
		// The internet namespace goes when no VPC router needs it: the links of routers
		// that stay are adopted (and their public addresses set again) by the rest of apply.
		leftover := strings.HasPrefix(rest, "i-") || strings.HasPrefix(rest, "vpc-") || ns == h.cfg.Names.Internet()
		if leftover && !wanted[ns] {
			errs = append(errs, h.cfg.Namespaces.Remove(ctx, ns))
		}
	}
	if cg := h.cgroups(); cg != nil {
		groups, err := cg.List(prefix + "i-")
		errs = append(errs, err)
		for _, g := range groups {
			if !wanted[g] {
				errs = append(errs, cg.Remove(g))
			}
		}
	}
	// After the cgroups: nothing of an instance writes to its layer while it is saved. A
	// layer still mounted for an instance that was stopped while this server could not save
	// it (a crash) is saved now.
	errs = append(errs, unmountRoots(prefix+"i-", wanted, func(ns string) error {
		id := strings.TrimPrefix(ns, prefix)
		if !d.Stopped[id] {
			return nil
		}
		return h.saveRoot(Instance{LabInstance: netmap.LabInstance{ID: id, Namespace: ns}})
	}))
	ents, err := fs.ReadDir(h.dir.FS(), ".")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range ents {
		if id := instanceOfFile(e.Name()); id != "" {
			if _, ok := d.Instances[id]; !ok && !d.Stopped[id] {
				errs = append(errs, removeFiles(h.dir, id))
			}
		}
	}
	return errors.Join(errs...)
}

// cgroups are the instances' cgroups, or nil when the host runs without limits.
func (h *Host) cgroups() *Cgroups {
	if h.cfg.Sandbox == nil {
		return nil
	}
	return h.cfg.Sandbox.Cgroups
}

// removeCgroups kills every process of the instance whose namespace is ns and removes its
// cgroups.
func (h *Host) removeCgroups(ns string) error {
	if cg := h.cgroups(); cg != nil {
		return cg.Remove(ns)
	}
	return nil
}

// interpreter is the command line that runs a user data script at path: the script itself
// when it names its interpreter ("#!"), /bin/sh otherwise.
func interpreter(userData []byte, path string) []string {
	if strings.HasPrefix(string(userData), "#!") {
		return []string{path}
	}
	return []string{"/bin/sh", path}
}

// startUserData starts argv in the instance's namespace, in the background, with its output
// going to the console log, and files open from descriptor 3 on.
func (h *Host) startUserData(in Instance, console io.WriteCloser, argv []string, files []*os.File) {
	log := h.cfg.Log.With("instance", in.ID)
	// The script outlives this reconcile (and, with --keep-lab, the server): it ends with its
	// namespace, not with a context.
	cmd := h.cfg.Namespaces.Command(context.Background(), in.Namespace, argv...)
	cmd.Dir = "/"
	cmd.ExtraFiles = files
	// The server's environment (the operator's variables, paths into the data directory) is
	// not the instance's: the script gets a plain one (the sandbox sets its own as well).
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "INSTANCE_ID=" + in.ID}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The output goes through a pipe that this process drains into the bounded log: a script
	// printing without end fills no disk. Processes the script leaves in the background keep
	// writing to the same pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Error("console pipe", "error", err)
		console.Close()
		return
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	fmt.Fprintf(console, "[stockade] %s running user data for %s\n", time.Now().UTC().Format(time.RFC3339), in.ID)
	err = cmd.Start()
	pw.Close()
	if err != nil {
		fmt.Fprintf(console, "[stockade] user data failed to start: %v\n", err)
		pr.Close()
		console.Close()
		return
	}
	h.drainConsole(cmd, pr, console, "[stockade] user data finished with status %s\n")
}

// Console returns the most recent output of an instance's console, at most ConsoleTail bytes
// as EC2 returns (empty when it has none).
func (h *Host) Console(instance string) ([]byte, error) {
	return readTail(h.dir, logName(instance), ConsoleTail)
}

// publish makes the current instances what Instances returns.
func (h *Host) publish() {
	h.changed = false
	out := make([]netmap.LabInstance, 0, len(h.instances))
	for _, in := range h.instances {
		li := in.LabInstance
		li.InstanceType = in.InstanceType
		if h.cfg.Sandbox != nil {
			l := LimitsOf(in.InstanceType)
			li.Limits = netmap.Limits{MemoryMiB: int(l.MemoryMiB), VCPUs: l.VCPUs, Processes: l.Processes, DiskMiB: DefaultDiskMiB}
		}
		if cg := h.cgroups(); cg != nil {
			li.Cgroups = cg.Dirs(in.Namespace)
		}
		out = append(out, li)
	}
	slices.SortFunc(out, func(a, b netmap.LabInstance) int { return strings.Compare(a.ID, b.ID) })
	h.list.Store(&out)
	owners := make(map[string]netmap.Tenant, len(out))
	for _, in := range out {
		owners[in.ID] = netmap.Tenant{Account: in.Account, Region: in.Region}
	}
	h.owners.Store(&owners)
}

// Instances lists the lab instances, sorted by ID, as of the last reconcile. It never waits:
// it reads a copy published after each change.
// Each instance's sandbox PID and state are read at the call.
func (h *Host) Instances() []netmap.LabInstance {
	out := slices.Clone(*h.list.Load())
	for i := range out {
		out[i].State = "stopped"
		if h.cfg.Sandbox == nil {
			out[i].State = "running" // only a namespace: nothing to stop
		} else if out[i].PID = h.SandboxPID(out[i].ID); out[i].PID != 0 {
			out[i].State = "running"
		} else if _, ok := h.sandboxes.Load(out[i].ID); ok {
			out[i].State = "booting"
		}
	}
	return out
}

// Booted reports whether a lab instance runs on this host and has booted: its sandbox's
// first process is up (or, without sandboxes, its namespace is wired). DescribeInstanceStatus
// shows its checks as passed from then on, "initializing" before. It never waits.
func (h *Host) Booted(instance string) bool {
	list := *h.list.Load()
	i, ok := slices.BinarySearchFunc(list, instance, func(in netmap.LabInstance, id string) int { return strings.Compare(in.ID, id) })
	if !ok {
		return false
	}
	return h.cfg.Sandbox == nil || h.SandboxPID(list[i].ID) != 0
}

// drainConsole copies what an instance's processes print into its console log until the
// last of them is gone, and notes how cmd ended with format (given its status).
func (h *Host) drainConsole(cmd *exec.Cmd, pr *os.File, console io.WriteCloser, format string) {
	drained := make(chan struct{})
	h.scripts.Add(2)
	go func() {
		defer h.scripts.Done()
		defer close(drained)
		_, _ = io.Copy(console, pr) // ends when the last writer (the script or what it left running) is gone
		pr.Close()
	}()
	go func() {
		defer h.scripts.Done()
		defer func() { <-drained; console.Close() }()
		status := strings.TrimPrefix(exitStatus(cmd.Wait()), "status ")
		// What the script printed just before it ended is still in the pipe: let it reach the
		// log first, unless something it left behind keeps the pipe open.
		select {
		case <-drained:
		case <-time.After(200 * time.Millisecond):
		}
		fmt.Fprintf(console, format, status)
	}()
}
