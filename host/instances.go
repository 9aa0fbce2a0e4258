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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stockade/stockade/cloudinit"
	"github.com/stockade/stockade/netmap"
	"golang.org/x/crypto/ssh"
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
	}
	h.instances[in.ID] = in
	h.changed = true
	return !exists, nil
}

// Owner returns the account and region of a lab instance, as of the last reconcile; it never
// waits. The metadata service finds an instance's record with it.
func (h *Host) Owner(instance string) (netmap.Tenant, bool) {
	t, ok := (*h.owners.Load())[instance]
	return t, ok
}

// serveMetadata starts an instance's metadata service unless it is serving.
func (h *Host) serveMetadata(in Instance) {
	if h.cfg.Metadata == nil || h.metadata[in.ID] != nil {
		return
	}
	if len(in.Links) == 0 {
		return
	}
	l, err := h.cfg.Namespaces.ListenMetadata(in.Router, in.Links[0])
	if err != nil {
		h.cfg.Log.Error("metadata service", "instance", in.ID, "error", err)
		return
	}
	h.metadata[in.ID] = l
	h.scripts.Add(1)
	go func() {
		defer h.scripts.Done()
		if err := h.cfg.Metadata.Serve(l, in.ID); err != nil {
			h.cfg.Log.Warn("metadata service", "instance", in.ID, "error", err)
		}
	}()
}

// stopMetadata closes an instance's metadata service.
func (h *Host) stopMetadata(instance string) {
	if l := h.metadata[instance]; l != nil {
		l.Close()
		delete(h.metadata, instance)
	}
}

// remove takes an instance down: its namespace, processes and links, and — when the instance
// is gone (gone), not when the server shuts down with it still running — its files: the
// console output and the first-boot mark outlive a restart, as an EC2 instance's do a reboot.
func (h *Host) remove(ctx context.Context, in Instance, gone bool) error {
	delete(h.instances, in.ID)
	h.stopMetadata(in.ID)
	h.changed = true
	// Every process of the instance goes first, wherever it is (detached, in a session of its
	// own): its cgroups hold them all.
	err := h.removeCgroups(in.Namespace)
	err = errors.Join(err, h.cfg.Namespaces.Detach(ctx, in.Router, in.Namespace, in.Links...))
	err = errors.Join(err, unmountRoot(in.Namespace)) // its writable layer ends with it
	if gone {
		err = errors.Join(err, removeFiles(h.dir, in.ID))
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
	}
	var errs []error
	for _, ns := range nss {
		rest := strings.TrimPrefix(ns, prefix)
		if (strings.HasPrefix(rest, "i-") || strings.HasPrefix(rest, "vpc-")) && !wanted[ns] {
			errs = append(errs, h.cfg.Namespaces.Remove(ctx, ns))
		}
	}
	if h.cfg.Images != nil {
		errs = append(errs, unmountRoots(prefix+"i-", wanted))
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
	ents, err := fs.ReadDir(h.dir.FS(), ".")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range ents {
		if id := instanceOfFile(e.Name()); id != "" {
			if _, ok := d.Instances[id]; !ok {
				errs = append(errs, removeFiles(h.dir, id))
			}
		}
	}
	return errors.Join(errs...)
}

// boot starts an instance's sandbox (sandbox.go, boot.go) unless it is already running (a
// restart with --keep-lab adopts it as it is). At the instance's first boot its user data runs
// in it; never again, and never in an instance whose namespace was adopted (it booted
// before). Without a sandbox (tests with fake namespaces) only the user data runs, directly.
func (h *Host) boot(in Instance, adopted bool) {
	log := h.cfg.Log.With("instance", in.ID)
	if h.cfg.Sandbox == nil {
		if !adopted {
			h.userData(in)
		}
		return
	}
	if h.sandboxRunning(in.ID) {
		log.Info("instance sandbox still running; adopted")
		return
	}
	first, err := h.firstBoot(in.ID)
	if err != nil {
		log.Error("first-boot mark", "error", err)
		return
	}
	first = first && !adopted
	console, err := openTail(h.dir, logName(in.ID), h.cfg.ConsoleLimit)
	if err != nil {
		log.Error("console log", "error", err)
		return
	}
	files := &fileSet{first: 5} // 3: the go-ahead, 4: bwrap's info, then the files
	defer files.close()         // the child has its own copies once started
	userData := ""
	if first {
		userData = h.firstBootScript(in, files, console)
	}
	root, err := h.imageRoot(in)
	if err != nil {
		log.Error("root filesystem", "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %v\n", err)
		console.Close()
		return
	}
	if root != nil {
		files.files = append(files.files, root) // closed with the others once the sandbox has it
	}
	argv, err := h.sandboxArgv(in, userData, root, files)
	if err != nil {
		log.Error("sandbox", "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %v\n", err)
		console.Close()
		return
	}
	h.startSandbox(in, console, argv, files)
}

// firstBootScript hands the instance's user data over to the sandbox, as the script that
// cloud-init's formats make of it (package cloudinit: a "#!" script as it is, #cloud-config
// as a shell script, MIME multi-part, gzip), and returns the quoted command line that runs it,
// or "" when nothing is to run.
func (h *Host) firstBootScript(in Instance, files *fileSet, console io.Writer) string {
	log := h.cfg.Log.With("instance", in.ID)
	if len(in.UserData) == 0 {
		return ""
	}
	plan, err := cloudinit.Script(in.UserData, cloudinit.Instance{ID: in.ID, Hostname: hostname(in.Address), DefaultUser: DefaultUser})
	if err != nil {
		log.Error("user data", "error", err)
		fmt.Fprintf(console, "[stockade] user data not run: %v\n", err)
		return ""
	}
	if plan.Kind == cloudinit.None {
		return ""
	}
	if err := writeNew(h.dir, userDataName(in.ID), plan.Script, 0o700); err != nil {
		log.Error("user data", "error", err)
		return ""
	}
	f, err := h.dir.Open(userDataName(in.ID))
	if err != nil {
		log.Error("user data", "error", err)
		return ""
	}
	files.add(userDataPath, "0700", f)
	return quoteArgv(plan.Argv(userDataPath))
}

// firstBoot reports whether the instance boots for the first time, and marks that it has.
func (h *Host) firstBoot(instance string) (bool, error) {
	if _, err := h.dir.Lstat(bootedName(instance)); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, writeNew(h.dir, bootedName(instance), nil, 0o600)
}

// sandboxArgv is the command line of an instance's sandbox: a shell that waits for the
// go-ahead on descriptor 3 (given once the host has put it in the instance's cgroups, so that
// nothing of the tenant ever runs outside them), then bwrap with the instance's files, the
// seccomp filter and the boot script.
func (h *Host) sandboxArgv(in Instance, userData string, root *os.File, files *fileSet) ([]string, error) {
	profile, err := seccompProfile()
	if err != nil {
		return nil, err
	}
	hostPriv, pub, err := h.hostKeyPair(in.ID)
	if err != nil {
		return nil, err
	}
	hostPub := ssh.MarshalAuthorizedKey(pub)
	seccompFD, err := files.pipe(profile)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	rootFD := -1
	if root != nil {
		rootFD = slices.Index(files.files, root) + files.first
	}
	if err := bootFiles(files, in, root == nil, hostPriv, hostPub); err != nil {
		return nil, err
	}
	if err := files.data(bootPath, "0755", []byte(bootScript(in.ID, fingerprint(pub, in.ID), root != nil, userData))); err != nil {
		return nil, err
	}
	argv := []string{"/bin/sh", "-c", `read -r go <&3 || exit 125; exec 3<&-; exec "$@"`, "sh"}
	argv = append(argv, h.cfg.Sandbox.bwrapArgv(hostname(in.Address), rootFD, DefaultDiskMiB)...)
	argv = append(argv, files.args...)
	argv = append(argv, "--info-fd", "4", "--seccomp", strconv.Itoa(seccompFD),
		"--chdir", "/root", "--clearenv",
		"--setenv", "PATH", sandboxPath, "--setenv", "HOME", "/root", "--setenv", "INSTANCE_ID", in.ID,
		"--", "/bin/sh", bootPath)
	return argv, nil
}

// startSandbox starts an instance's sandbox in its network namespace, puts it in its
// cgroups, lets it go, and keeps its output as the console.
func (h *Host) startSandbox(in Instance, console io.WriteCloser, argv []string, files *fileSet) {
	log := h.cfg.Log.With("instance", in.ID)
	fail := func(what string, err error) {
		log.Error(what, "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %s: %v\n", what, err)
		console.Close()
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		fail("pipe", err)
		return
	}
	defer goW.Close()
	infoR, infoW, err := os.Pipe()
	if err != nil {
		goR.Close()
		fail("pipe", err)
		return
	}
	defer func() {
		if infoR != nil {
			infoR.Close()
		}
	}()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + sandboxPath}
	cmd.ExtraFiles = append([]*os.File{goR, infoW}, files.files...)
	cmd.SysProcAttr = h.cfg.Sandbox.userNamespace()
	pr, pw, err := os.Pipe()
	if err != nil {
		goR.Close()
		infoW.Close()
		fail("pipe", err)
		return
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = h.cfg.Namespaces.Start(in.Namespace, cmd)
	goR.Close()
	infoW.Close()
	pw.Close()
	if err != nil {
		pr.Close()
		fail("start", err)
		return
	}
	if cg := h.cgroups(); cg != nil {
		// Without its limits the instance does not run: a tenant's fork bomb or memory hog
		// would take the host down.
		l := LimitsOf(in.InstanceType)
		if err := cg.Place(in.Namespace, l, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			pr.Close()
			fail("instance cgroups", err)
			return
		}
		log.Info("instance limits", "type", in.InstanceType, "memory_mib", l.MemoryMiB, "vcpus", l.VCPUs, "processes", l.Processes)
	}
	if _, err := goW.Write([]byte("go\n")); err != nil {
		_ = cmd.Process.Kill()
	}
	goW.Close()
	// The sandbox's PID is published (for lab exec) once its root filesystem is in place; the
	// reconcile does not wait for that.
	info := infoR
	infoR = nil
	h.scripts.Add(1)
	go func() {
		defer h.scripts.Done()
		defer info.Close()
		pid, err := readChildPID(info)
		if err == nil {
			err = waitForRoot(pid, bootPath, 10*time.Second)
		}
		if err == nil {
			err = h.dir.WriteFile(pidName(in.ID), []byte(procIdentity(pid)), 0o600)
		}
		if err != nil {
			log.Warn("sandbox pid", "error", err)
		}
	}()
	h.sandboxes.Store(in.ID, cmd)
	h.drainConsole(in, cmd, pr, console, "[stockade] instance stopped (status %s)\n")
}

// drainConsole copies what an instance's processes print into its console log until the
// last of them is gone, and notes how cmd ended with format (given its status).
func (h *Host) drainConsole(in Instance, cmd *exec.Cmd, pr *os.File, console io.WriteCloser, format string) {
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
		err := cmd.Wait()
		h.sandboxes.CompareAndDelete(in.ID, cmd)
		status := "0"
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = fmt.Sprint(exit.ExitCode())
		} else if err != nil {
			status = err.Error()
		}
		// What the script printed just before it ended is still in the pipe: let it reach the
		// log first, unless something it left behind keeps the pipe open.
		select {
		case <-drained:
		case <-time.After(200 * time.Millisecond):
		}
		fmt.Fprintf(console, format, status)
	}()
}

// userData runs an instance's user data directly in its namespace, without a sandbox: for
// tests with fake namespaces only (Config.Sandbox nil).
func (h *Host) userData(in Instance) {
	if len(in.UserData) == 0 {
		return
	}
	log := h.cfg.Log.With("instance", in.ID)
	first, err := h.firstBoot(in.ID)
	if err != nil || !first {
		log.Info("user data ran at the instance's first boot; not running it again", "error", err)
		return
	}
	if err := writeNew(h.dir, userDataName(in.ID), in.UserData, 0o700); err != nil {
		log.Error("user data", "error", err)
		return
	}
	console, err := openTail(h.dir, logName(in.ID), h.cfg.ConsoleLimit)
	if err != nil {
		log.Error("console log", "error", err)
		return
	}
	h.startUserData(in, console, interpreter(in.UserData, h.cfg.Dir+"/"+userDataName(in.ID)), nil)
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
	h.drainConsole(in, cmd, pr, console, "[stockade] user data finished with status %s\n")
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
