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
// with its interfaces' addresses and routes, and a sandbox in it (sandbox.go: bubblewrap in a
// user namespace of unprivileged host IDs, a seccomp filter, the image's root filesystem,
// rootfs.go) whose first process boots it (boot.go): sshd with the instance's host key and its
// launch key pair, and the user data once, at first boot, as cloud-init would run it. What it
// prints is the instance's console output (bounded on disk; EC2's last 64 KiB is what Console
// returns). All its processes are held in cgroups of the instance's own, limited by its type
// (memory, CPU, processes: limits.go, cgroup.go). Its metadata service listens on the router,
// bound to its interface (metadata.go). Terminating the instance kills every process in its
// cgroups, removes the namespace, its root filesystem and its files. On shutdown the host
// removes everything it made unless told to keep it; a later start adopts what it finds (a
// sandbox still running is left as it is; otherwise the instance boots again, without its user
// data) and removes what belongs to no running instance.
//
// The namespaces are behind the Namespaces interface (netlab.Host for real, nsfake.Fake in
// tests) and the kernel's nftables behind dataplane.Kernel, so that everything here is tested
// without root.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/imds"
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
	// Unplug removes one interface of a running instance (its link on the router and its
	// ethN), leaving the instance's other interfaces as they are.
	Unplug(ctx context.Context, router string, i netlab.Interface) error
	// Wiring reads back the interfaces of instance namespace ns wired to the router, as the
	// kernel holds them: an instance adopted after a restart is brought from them to the
	// store's (interfaces attached, detached or readdressed meanwhile).
	Wiring(ctx context.Context, router, ns string) ([]netlab.Interface, error)
	// Readdress changes the addresses of one interface of a running instance from was's to i's.
	Readdress(ctx context.Context, router string, was, i netlab.Interface) error
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
	// Start starts cmd inside a namespace, as it is: its SysProcAttr may ask for a new user
	// namespace, which Command's nsenter could not join the network namespace from.
	Start(ns string, cmd *exec.Cmd) error
	// EnsureOperator gives a router its operator attachment (console-ssh.md §B4), or adopts
	// the one it has as it is; created says which.
	EnsureOperator(ctx context.Context, router string, op netlab.Operator) (created bool, err error)
	// ListenMetadata opens an instance's metadata service listener: 169.254.169.254:80 in its
	// VPC's router namespace, for connections arriving through link (its primary interface).
	ListenMetadata(router, link string) (net.Listener, error)
	// EnsureInternet links a router to the lab's internet namespace (made if needed), or
	// adopts the link it has; created says which.
	EnsureInternet(ctx context.Context, router string, up netlab.Uplink) (created bool, err error)
	// RemoveInternet removes a router's internet link; the internet namespace stays.
	RemoveInternet(ctx context.Context, router string, up netlab.Uplink) error
	// SetPublic makes the internet route exactly these public blocks to a VPC's link.
	SetPublic(ctx context.Context, up netlab.Uplink, public []netip.Prefix) error
	// SetRoutes makes a router's route tables exactly these; uplink is its internet link, ""
	// for none.
	SetRoutes(ctx context.Context, router, uplink string, tables []netlab.RouteTable, state *netlab.Routing) error
	// EnsureOverlay gives a router its VXLAN device (made in the host's underlay namespace,
	// then moved), or adopts the one it has when it is the same; created says which.
	EnsureOverlay(ctx context.Context, router string, o netlab.Overlay) (created bool, err error)
	// SetPeers makes a router's overlay entries (forwarding, neighbours, routes) exactly peers.
	SetPeers(ctx context.Context, router, link string, peers []netlab.Peer) error
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
	// Sandbox, when set, is how user data runs: in a bubblewrap sandbox inside the instance's
	// network namespace (sandbox.go). Nil runs it directly in the namespace, as the server's
	// user: for tests with a fake namespace only.
	Sandbox *Sandbox
	// Images, when set, gives instances launched from imported images their root filesystems;
	// nil runs every instance on the default image.
	Images Images
	// Metadata, when set, serves each instance's metadata service inside its namespace.
	Metadata *imds.Server
	// Resync is how often each router's ruleset generation and forwarding are checked for
	// changes made by someone else; 0 means 10 s.
	Resync time.Duration
	Log    *slog.Logger
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
	// Placement, when set, makes this host one of several (docs/cross-host.md): it says, for
	// each snapshot, which host this is, the hosts' underlay addresses and where each
	// interface is. Nil: a single host, every interface local.
	Placement func(nets []netmap.Network) Placement
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
	applied   bool  // the last apply succeeded whole: instances holds what it asked for
	scripts   sync.WaitGroup
	metadata  map[string]net.Listener // each instance's metadata service
	sandboxes sync.Map                // instance ID → *exec.Cmd of its sandbox, while it runs

	// list is what Instances returns, published after every change, so that `stockade lab
	// list` never waits behind a reconcile.
	list     atomic.Pointer[[]netmap.LabInstance]
	owners   atomic.Pointer[map[string]netmap.Tenant] // each instance's account and region
	enforced Watermark                                // every router enforces this revision
	done     Watermark                                // and every instance of this revision has (or has lost) its namespace
	kick     chan struct{}
	// underlayTx is the underlay filter last applied ("" for none yet).
	underlayTx string
}

// router is one VPC's namespace and what the host last put into it.
type router struct {
	vpc, ns    string
	last       *dataplane.Ruleset // nil until the first successful transaction
	gen        uint32             // the ruleset generation right after the last transaction
	known      bool               // gen is known
	failing    int                // consecutive failed transactions
	forwarding bool               // forwarding was turned on after the ruleset went in
	// uplink is the router's internet link while it has one; tables and public are the route
	// tables and public addresses last set (routed and published say whether they were).
	uplink            *netlab.Uplink
	tables            []netlab.RouteTable
	public            []netip.Prefix
	routed, published bool
	// routing is what the kernel holds of the route tables, as the last SetRoutes made it:
	// the next change is computed against it rather than read from a router of a thousand
	// routes and links.
	routing netlab.Routing
	// overlay and peers are the VXLAN device and its entries as last set (nil, none: no
	// device, or not set yet).
	overlay *netlab.Overlay
	peers   []netlab.Peer
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
		instances: map[string]Instance{}, metadata: map[string]net.Listener{}, kick: make(chan struct{}, 1)}
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
	var place Placement
	if h.cfg.Placement != nil {
		place = h.cfg.Placement(nets)
	}
	d := PlanPlaced(rev, nets, h.cfg.Names, &h.cache, place)
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
	moved := map[string]bool{} // VPCs whose instances came or went: their links did too
	// An instance goes when it is no longer running; it is gone for good (its files too)
	// unless it is stopped. A new boot count (a start or a reboot) takes the sandbox down here
	// and brings it up again below, on the same interfaces, without running user data again.
	// When neither d's instances nor the host's changed since an apply that succeeded whole,
	// there is nothing to remove, add or rewire: at 1,000 instances the three walks over them
	// were a third of a rule change's cost.
	steady := d.SameInstances && h.applied
	var gone, come []string
	if !steady {
		gone = sortedKeysWhere(h.instances, func(id string) bool { in, ok := d.Instances[id]; return !ok || in.Boots != h.instances[id].Boots })
	}
	for _, id := range gone {
		_, rebooted := d.Instances[id]
		moved[h.instances[id].VpcID] = true
		errs = append(errs, h.remove(ctx, h.instances[id], !rebooted && !d.Stopped[id]))
	}
	// The underlay filter before any router accepts from the overlay.
	if err := h.underlay(ctx, d); err != nil {
		errs = append(errs, err)
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
	if !steady {
		come = sortedKeysWhere(d.Instances, func(id string) bool { _, ok := h.instances[id]; return !ok })
	}
	var fresh []booting
	for _, id := range come {
		in := d.Instances[id]
		if !ready[in.VpcID] {
			continue // its router does not enforce d yet (the error says why)
		}
		isNew, err := h.add(ctx, *in)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
			continue
		}
		fresh = append(fresh, booting{*in, !isNew})
		moved[in.VpcID] = true
	}
	// Instances that stay but whose interfaces changed (attached, detached, readdressed) are
	// rewired now that their router enforces d: a new interface meets its groups at once.
	if !steady {
		errs = append(errs, h.rewireAll(ctx, d, ready, moved)...)
	}
	errs = append(errs, h.reroute(ctx, moved))
	errs = append(errs, h.pruneRouters(ctx, d))
	// Instances boot now (adopted ones whose sandbox still runs are left as they are): the
	// router of each instance enforces d, so their first packets meet the instance's groups
	// rather than the fail-closed default.
	for _, b := range fresh {
		h.serveMetadata(b.Instance)
		h.boot(b.Instance, b.adopted)
	}
	err := errors.Join(errs...)
	if err == nil {
		h.done.Set(d.Rev)
	}
	h.applied = err == nil
	return err
}

// booting is an instance that boots (or is adopted) in this reconcile.
type booting struct {
	Instance
	adopted bool // its namespace was there before: it booted before
}

// wake makes Run reconcile again at once.
func (h *Host) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

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
// namespace it made (the internet namespace included), with the instances' files; with keep, namespaces and rulesets stay in
// force for a later start to adopt.
func (h *Host) Close(ctx context.Context, keep bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.dir.Close()
	// The metadata services end with the server, kept instances or not: a later start opens
	// them again.
	for _, id := range sortedKeys(h.metadata) {
		h.stopMetadata(id)
	}
	if keep {
		return nil
	}
	var errs []error
	for _, id := range sortedKeys(h.instances) {
		errs = append(errs, h.remove(ctx, h.instances[id], false))
	}
	errs = append(errs, h.pruneRouters(ctx, Desired{}))
	errs = append(errs, h.cfg.Namespaces.Remove(ctx, h.cfg.Names.Internet()))
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
