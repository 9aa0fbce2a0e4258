// Package host keeps one Linux host in step with the store: it is the host reconciler. For
// every committed revision it takes one snapshot of every network, computes what the host
// should hold (Plan, a pure function: the VPC routers with their rendered rulesets, and the lab
// instances with their interfaces and user data) and applies it (Apply) in an order that never
// forwards a packet unfiltered: router namespace, ruleset, forwarding, instance namespaces,
// user data. It then reports the store revision the kernel enforces (design.md: "Revisions
// everywhere", "Fail closed").
//
// Each VPC router is programmed with one atomic nftables transaction per change: the first
// time (and after any doubt, such as a hand edit of the ruleset) a replacement of the
// namespace's whole ruleset, otherwise an in-place update that touches only the sets, maps and
// chains that changed. A failed transaction leaves the previous ruleset in force and is retried
// with backoff. Every resync period the host checks each router's ruleset generation and
// replaces the ruleset if someone else changed it (a foreign table included), and turns
// forwarding back on if someone turned it off.
//
// Every running instance is a lab instance: a network namespace joined to its VPC's router
// with its interfaces' addresses and routes. At launch its user data runs inside the namespace
// as a shell script, as cloud-init would run it, and what it prints is the instance's console
// output (bounded on disk; EC2's last 64 KiB is what Console returns). Terminating the instance
// removes the namespace, every process in it and its files. On shutdown the host removes
// everything it made unless told to keep it; a later start adopts what it finds and removes
// what belongs to no running instance.
//
// The namespaces are behind the Namespaces interface (netlab.Host for real, nsfake.Fake in
// tests) and the kernel's nftables behind dataplane.Kernel, so that everything here is tested
// without root.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// Source is where the host learns the desired state.
type Source interface {
	// Networks returns every tenant's network and a store revision they include.
	Networks() (rev int64, nets []netmap.Network)
	// Watch reports committed revisions until ctx ends.
	Watch(ctx context.Context) <-chan int64
}

// Namespaces are the host's named network namespaces, as the reconciler changes them.
type Namespaces interface {
	// EnsureRouter makes a router namespace with forwarding off, or adopts an existing one
	// as it is; created says which.
	EnsureRouter(ctx context.Context, ns string) (created bool, err error)
	// EnableForwarding turns IPv4 and IPv6 forwarding on in a router namespace.
	EnableForwarding(ctx context.Context, ns string) error
	// Forwarding reports whether forwarding is on in a router namespace.
	Forwarding(ctx context.Context, ns string) (bool, error)
	// Attach wires one interface of an instance (creating its namespace) to a router.
	Attach(ctx context.Context, router string, i netlab.Interface) error
	// Detach removes an instance namespace, its processes and its links on the router.
	Detach(ctx context.Context, router, ns string, links ...string) error
	// Exists reports whether a namespace exists.
	Exists(ctx context.Context, ns string) (bool, error)
	// List returns the namespaces whose names start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Remove deletes a namespace and the processes in it; a missing one is not an error.
	Remove(ctx context.Context, ns string) error
	// Command prepares a command that runs inside a namespace.
	Command(ctx context.Context, ns string, argv ...string) *exec.Cmd
}

// Config configures a Host.
type Config struct {
	Kernel     dataplane.Kernel
	Namespaces Namespaces
	Names      netlab.Names
	// Dir holds each instance's console output (<Dir>/<instance>.log) and user data.
	Dir string
	// ConsoleLimit is the most a console log keeps on disk (its most recent output); 0 means
	// DefaultConsoleLimit.
	ConsoleLimit int64
	// Resync is how often each router's ruleset generation and forwarding are checked for
	// changes made by someone else; 0 means 10 s.
	Resync time.Duration
	Log    *slog.Logger
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
}

// Host keeps the host's routers and lab instances in step with the store.
type Host struct {
	cfg Config
	src Source
	m   metrics
	dir *os.Root

	mu        sync.Mutex // serialises reconciles, repairs and Close
	routers   map[string]*router
	instances map[string]Instance
	changed   bool  // instances changed since the last publish
	cache     Cache // Plan's, between revisions
	swept     bool  // leftovers of an earlier run are gone
	scripts   sync.WaitGroup

	// list is what Instances returns, published after every change, so that `stockade lab
	// list` never waits behind a reconcile.
	list     atomic.Pointer[[]netmap.LabInstance]
	enforced Watermark // every router enforces this revision
	done     Watermark // and every instance of this revision has (or has lost) its namespace
	kick     chan struct{}
}

// router is one VPC's namespace and what the host last put into it.
type router struct {
	vpc, ns    string
	last       *dataplane.Ruleset // nil until the first successful transaction
	gen        uint32             // the ruleset generation right after the last transaction
	known      bool               // gen is known
	failing    int                // consecutive failed transactions
	forwarding bool               // forwarding was turned on after the ruleset went in
}

// New returns a host reconciler; Run starts it.
func New(src Source, cfg Config) (*Host, error) {
	if err := cfg.Names.Validate(); err != nil {
		return nil, err
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.ConsoleLimit == 0 {
		cfg.ConsoleLimit = DefaultConsoleLimit
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	dir, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	h := &Host{cfg: cfg, src: src, m: newMetrics(cfg.Registerer), dir: dir, routers: map[string]*router{},
		instances: map[string]Instance{}, kick: make(chan struct{}, 1)}
	h.publish()
	return h, nil
}

// Run follows the source until ctx ends: every committed revision is planned and applied.
// A failed apply is retried with backoff (100 ms doubling to 10 s); every resync period the
// routers are checked for changes made by someone else.
func (h *Host) Run(ctx context.Context) error {
	revs := h.src.Watch(ctx)
	resync := time.NewTicker(h.cfg.Resync)
	defer resync.Stop()
	var retry <-chan time.Time
	backoff := 100 * time.Millisecond
	for {
		if err := h.Reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.cfg.Log.Error("the host is behind the store: part of a change failed; what is in force stays in force", "error", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 10*time.Second)
		} else {
			retry, backoff = nil, 100*time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-revs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("host: the store stopped reporting changes")
			}
		case <-h.kick:
		case <-retry:
		case <-resync.C:
			h.repair(ctx)
		}
	}
}

// Reconcile takes one snapshot of every network, plans what the host should hold and applies
// it.
func (h *Host) Reconcile(ctx context.Context) error {
	start := time.Now()
	rev, nets := h.src.Networks()
	h.mu.Lock()
	defer h.mu.Unlock()
	snapshot := time.Now()
	d := Plan(rev, nets, h.cfg.Names, &h.cache)
	planned := time.Now()
	err := h.apply(ctx, d)
	// The stages of the path from a commit to the kernel (BENCHMARKS.md, "Enforcement").
	h.cfg.Log.Debug("reconciled", "revision", rev, "snapshot", snapshot.Sub(start), "plan", planned.Sub(snapshot),
		"apply", time.Since(planned))
	return err
}

// Apply makes the host hold d: instances no longer wanted go first, then every router gets its
// namespace, its ruleset and only then forwarding, then new instances get their namespaces
// and, once their router enforces d, their user data starts. A failure is returned (all of
// them, joined) after everything else has been done: one instance that cannot be wired does
// not keep the others from theirs.
func (h *Host) Apply(ctx context.Context, d Desired) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.apply(ctx, d)
}

func (h *Host) apply(ctx context.Context, d Desired) error {
	defer func() {
		if h.changed {
			h.publish()
		}
	}()
	var errs []error
	if !h.swept {
		err := h.sweep(ctx, d)
		h.swept = err == nil
		errs = append(errs, err)
	}
	// Only instances that come or go are sorted (for a stable order of work): with 1,000
	// instances, sorting them all for every change cost a millisecond.
	for _, id := range sortedKeysWhere(h.instances, func(id string) bool { _, ok := d.Instances[id]; return !ok }) {
		errs = append(errs, h.remove(ctx, h.instances[id]))
	}
	ready := map[string]bool{}
	for _, vpc := range sortedKeys(d.Routers) {
		if err := h.router(ctx, d.Routers[vpc]); err != nil {
			errs = append(errs, fmt.Errorf("vpc %s: %w", vpc, err))
			continue
		}
		ready[vpc] = true
	}
	if len(ready) == len(d.Routers) {
		h.setEnforced(d.Rev)
	}
	var fresh []Instance
	for _, id := range sortedKeysWhere(d.Instances, func(id string) bool { _, ok := h.instances[id]; return !ok }) {
		in := d.Instances[id]
		if !ready[in.VpcID] {
			continue // its router does not enforce d yet (the error says why)
		}
		isNew, err := h.add(ctx, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
			continue
		}
		if isNew {
			fresh = append(fresh, in)
		}
	}
	errs = append(errs, h.pruneRouters(ctx, d))
	// User data starts now: the router of each instance enforces d, so the script's first
	// packets meet the instance's groups rather than the fail-closed default.
	for _, in := range fresh {
		h.userData(in)
	}
	err := errors.Join(errs...)
	if err == nil {
		h.done.Set(d.Rev)
	}
	return err
}

// router makes a VPC's router enforce its ruleset: the namespace is made (forwarding off), the
// ruleset goes in, and only then is forwarding turned on: never a moment unfiltered.
func (h *Host) router(ctx context.Context, want Router) error {
	r := h.routers[want.VPC]
	if r == nil {
		if _, err := h.cfg.Namespaces.EnsureRouter(ctx, want.Namespace); err != nil {
			return err
		}
		r = &router{vpc: want.VPC, ns: want.Namespace}
		h.routers[want.VPC] = r
	}
	if err := h.program(ctx, r, want.Ruleset); err != nil {
		return err
	}
	if !r.forwarding {
		if err := h.cfg.Namespaces.EnableForwarding(ctx, r.ns); err != nil {
			return err
		}
		r.forwarding = true
	}
	return nil
}

// program applies a ruleset to one router: an in-place update when the host knows what the
// kernel holds, a replacement of the namespace's whole ruleset otherwise.
func (h *Host) program(ctx context.Context, r *router, rs *dataplane.Ruleset) error {
	kind, tx := "replace", ""
	if r.last != nil {
		upd, ok := rs.Update(r.last)
		if ok && upd == "" {
			return nil
		}
		if ok {
			kind, tx = "update", upd
		}
	}
	if tx == "" {
		tx = rs.Replace()
	}
	start := time.Now()
	err := h.cfg.Kernel.Apply(ctx, r.ns, tx)
	h.m.applySeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil && kind == "update" {
		// The kernel may not hold what we think: fall back to a full replacement.
		h.cfg.Log.Warn("in-place update refused; replacing the whole table", "vpc", r.vpc, "error", err)
		h.m.applies.WithLabelValues(kind, "error").Inc()
		kind, tx = "replace", rs.Replace()
		err = h.cfg.Kernel.Apply(ctx, r.ns, tx)
	}
	if err != nil {
		r.failing++
		h.m.applies.WithLabelValues(kind, "error").Inc()
		r.last, r.known = nil, false // next time, replace the whole table
		return err
	}
	h.m.applies.WithLabelValues(kind, "ok").Inc()
	if r.failing > 0 {
		h.cfg.Log.Info("enforcement caught up", "vpc", r.vpc, "after_failures", r.failing)
	}
	r.failing = 0
	r.last = rs
	// The generation right after our own transaction is the reference the resync compares
	// against (a change slipped in between the two is taken for ours: a window of microseconds).
	r.gen, err = h.cfg.Kernel.Generation(r.ns)
	r.known = err == nil
	h.cfg.Log.Debug("programmed router", "vpc", r.vpc, "kind", kind, "took", time.Since(start), "bytes", len(tx))
	return nil
}

// repair compares every router's ruleset generation with the one the host's last transaction
// left: a difference means someone changed the ruleset outside Stockade (a rule, or a table
// of their own), so the host logs it and replaces the namespace's whole ruleset. It also turns
// forwarding back on where someone turned it off.
func (h *Host) repair(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, vpc := range sortedKeys(h.routers) {
		r := h.routers[vpc]
		if r.last != nil {
			gen, err := h.cfg.Kernel.Generation(r.ns)
			if err != nil || !r.known || gen != r.gen {
				h.cfg.Log.Warn("the ruleset of a VPC router was changed outside Stockade; restoring it", "vpc", r.vpc, "namespace", r.ns)
				h.m.drift.Inc()
				rs := r.last
				r.last = nil
				if err := h.program(ctx, r, rs); err != nil {
					h.cfg.Log.Error("restoring the ruleset failed; will retry", "vpc", r.vpc, "error", err)
					h.wake()
				}
			}
		}
		if !r.forwarding {
			continue
		}
		on, err := h.cfg.Namespaces.Forwarding(ctx, r.ns)
		if err != nil {
			h.cfg.Log.Error("cannot read a router's forwarding setting", "vpc", r.vpc, "error", err)
			continue
		}
		if on {
			continue
		}
		h.cfg.Log.Warn("forwarding was turned off in a VPC router outside Stockade; turning it back on", "vpc", r.vpc, "namespace", r.ns)
		h.m.forwarding.Inc()
		if err := h.cfg.Namespaces.EnableForwarding(ctx, r.ns); err != nil {
			h.cfg.Log.Error("turning forwarding back on failed; will retry", "vpc", r.vpc, "error", err)
		}
	}
}

// wake makes Run reconcile again at once.
func (h *Host) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

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

// remove takes an instance down: its namespace, processes, links and files.
func (h *Host) remove(ctx context.Context, in Instance) error {
	delete(h.instances, in.ID)
	h.changed = true
	err := h.cfg.Namespaces.Detach(ctx, in.Router, in.Namespace, in.Links...)
	err = errors.Join(err, removeFiles(h.dir, in.ID))
	if err != nil {
		return fmt.Errorf("remove instance %s: %w", in.ID, err)
	}
	h.cfg.Log.Info("lab instance removed", "instance", in.ID, "namespace", in.Namespace)
	return nil
}

// pruneRouters removes the router of every VPC that d has no router for and that has no lab
// instance left.
func (h *Host) pruneRouters(ctx context.Context, d Desired) error {
	used := map[string]bool{}
	for _, in := range h.instances {
		used[in.VpcID] = true
	}
	var errs []error
	for _, vpc := range sortedKeys(h.routers) {
		if _, ok := d.Routers[vpc]; ok || used[vpc] {
			continue
		}
		errs = append(errs, h.cfg.Namespaces.Remove(ctx, h.routers[vpc].ns))
		delete(h.routers, vpc)
		h.cache.forget(vpc)
	}
	return errors.Join(errs...)
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

// userData runs an instance's user data inside its namespace, in the background, with its
// output going to the console log. A script without "#!" is run by /bin/sh.
func (h *Host) userData(in Instance) {
	if len(in.UserData) == 0 {
		return
	}
	log := h.cfg.Log.With("instance", in.ID)
	if err := writeNew(h.dir, userDataName(in.ID), in.UserData, 0o700); err != nil {
		log.Error("user data", "error", err)
		return
	}
	console, err := openTail(h.dir, logName(in.ID), h.cfg.ConsoleLimit)
	if err != nil {
		log.Error("console log", "error", err)
		return
	}
	script := h.cfg.Dir + "/" + userDataName(in.ID)
	argv := []string{"/bin/sh", script}
	if strings.HasPrefix(string(in.UserData), "#!") {
		argv = []string{script}
	}
	// The script outlives this reconcile (and, with --keep-lab, the server): it ends with its
	// namespace, not with a context.
	cmd := h.cfg.Namespaces.Command(context.Background(), in.Namespace, argv...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "INSTANCE_ID="+in.ID)
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
		fmt.Fprintf(console, "[stockade] user data finished with status %s\n", status)
	}()
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
		out = append(out, in.LabInstance)
	}
	slices.SortFunc(out, func(a, b netmap.LabInstance) int { return strings.Compare(a.ID, b.ID) })
	h.list.Store(&out)
}

// Instances lists the lab instances, sorted by ID, as of the last reconcile. It never waits:
// it reads a copy published after each change.
func (h *Host) Instances() []netmap.LabInstance { return slices.Clone(*h.list.Load()) }

func (h *Host) setEnforced(rev int64) {
	if h.enforced.Set(rev) {
		h.m.enforced.Set(float64(rev))
	}
}

// Enforced is the store revision the kernel enforces: every write up to it is in force on
// this host.
func (h *Host) Enforced() int64 { return h.enforced.Get() }

// Wait blocks until the host enforces revision rev or a later one, and every instance
// running at it has its namespace (and every instance gone by then has lost it), or until ctx
// ends.
func (h *Host) Wait(ctx context.Context, rev int64) error {
	if err := h.enforced.Wait(ctx, rev); err != nil {
		return err
	}
	return h.done.Wait(ctx, rev)
}

// Close ends the host: call it once Run has returned. Unless keep is set it removes every
// namespace it made, with the instances' files; with keep, namespaces and rulesets stay in
// force for a later start to adopt.
func (h *Host) Close(ctx context.Context, keep bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.dir.Close()
	if keep {
		return nil
	}
	var errs []error
	for _, id := range sortedKeys(h.instances) {
		errs = append(errs, h.remove(ctx, h.instances[id]))
	}
	errs = append(errs, h.pruneRouters(ctx, Desired{}))
	h.publish()
	h.scripts.Wait()
	return errors.Join(errs...)
}

// sortedKeysWhere returns the keys of m that keep says to keep, sorted.
func sortedKeysWhere[V any](m map[string]V, keep func(string) bool) []string {
	var ks []string
	for k := range m {
		if keep(k) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
