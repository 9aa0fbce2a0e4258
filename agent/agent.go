// Package agent is the host agent: it follows the store, computes the ruleset of every VPC
// router on its host, applies it to the kernel, and reports the store revision the kernel now
// enforces (design.md: "Revisions everywhere", "Fail closed").
//
// Each VPC router is programmed with one atomic nftables transaction per change: the first
// time (and after any doubt, such as a hand edit of the ruleset) a whole-table replacement,
// otherwise an in-place update that touches only the sets, maps and chains that changed. A
// failed transaction leaves the previous ruleset in force and is retried with backoff. Every
// resync period the agent checks each namespace's ruleset generation and replaces the table
// if someone else changed it.
//
// In the single-host default the agent runs inside `stockade server`; its inputs are a Source
// (the control service there) so that a separate per-host process can feed it from the store.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Source is where the agent learns the desired state.
type Source interface {
	// Networks returns every tenant's network and a store revision they include.
	Networks() (rev int64, nets []netmap.Network)
	// Watch reports committed revisions until ctx ends.
	Watch(ctx context.Context) <-chan int64
}

// Config configures an Agent.
type Config struct {
	Kernel dataplane.Kernel
	// Link names the router-side link of an interface.
	Link func(eni string) string
	// Namespace names the router namespace of a VPC.
	Namespace func(vpc string) string
	// Resync is how often each router's ruleset generation is checked for changes made by
	// someone else; 0 means 10 s.
	Resync time.Duration
	Log    *slog.Logger
	// Registerer receives the agent's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Agent programs the routers of the VPCs it has been asked to serve.
type Agent struct {
	cfg Config
	src Source
	m   metrics

	mu      sync.Mutex // serialises syncs
	routers map[string]*router

	enforced Watermark
	kick     chan struct{}
}

// router is one VPC's namespace and what the agent last put into it.
type router struct {
	vpc, ns string
	render  dataplane.Renderer // remembers group renderings between changes
	last    *dataplane.Ruleset // nil until the first successful transaction
	gen     uint32             // the ruleset generation right after the last transaction
	known   bool               // gen is known
	failing int                // consecutive failed transactions
}

// New returns an agent; Run starts it.
func New(src Source, cfg Config) *Agent {
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Agent{cfg: cfg, src: src, m: newMetrics(cfg.Registerer), routers: map[string]*router{},
		kick: make(chan struct{}, 1)}
}

// Run follows the source until ctx ends: every committed revision is rendered and applied.
// Failed transactions are retried with backoff (100 ms doubling to 10 s).
func (a *Agent) Run(ctx context.Context) error {
	revs := a.src.Watch(ctx)
	resync := time.NewTicker(a.cfg.Resync)
	defer resync.Stop()
	var retry <-chan time.Time
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-revs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("agent: the store stopped reporting changes")
			}
		case <-a.kick:
		case <-retry:
		case <-resync.C:
			a.check(ctx)
		}
		if err := a.Sync(ctx); err != nil {
			a.cfg.Log.Error("enforcement is behind: a transaction failed; the previous ruleset stays in force", "error", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		retry, backoff = nil, 100*time.Millisecond
	}
}

// Serve adds a VPC's router namespace to those the agent programs and programs it now, before
// returning: the lab calls it before it turns forwarding on, so that no packet is forwarded
// through a router without its ruleset. An existing table (from an earlier run) is replaced
// atomically.
func (a *Agent) Serve(ctx context.Context, vpc string) error {
	a.mu.Lock()
	if a.routers[vpc] == nil {
		a.routers[vpc] = &router{vpc: vpc, ns: a.cfg.Namespace(vpc)}
	}
	a.mu.Unlock()
	return a.Sync(ctx)
}

// Forget stops programming a VPC (its namespace is going away).
func (a *Agent) Forget(vpc string) {
	a.mu.Lock()
	delete(a.routers, vpc)
	a.mu.Unlock()
}

// Sync renders every served VPC at the current revision and applies what changed. It returns
// the first error; routers that succeeded keep their new state.
func (a *Agent) Sync(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	rev, nets := a.src.Networks()
	vpcs := map[string]dataplane.Network{}
	for _, n := range nets {
		for _, v := range n.VPCs {
			vpcs[v.ID] = dataplane.Network{VPC: v, Snapshot: n.Snapshot, Link: a.cfg.Link}
		}
	}
	var first error
	for _, r := range a.routers {
		n, ok := vpcs[r.vpc]
		if !ok {
			// The VPC is gone: nothing may pass its router until the lab removes it.
			n = dataplane.Network{VPC: &model.VPC{ID: r.vpc}, Link: a.cfg.Link}
		}
		if err := a.program(ctx, r, r.render.Render(n)); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	a.setEnforced(rev)
	return nil
}

// program applies a ruleset to one router: an in-place update when the agent knows what the
// kernel holds, a whole-table replacement otherwise.
func (a *Agent) program(ctx context.Context, r *router, rs *dataplane.Ruleset) error {
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
	err := a.cfg.Kernel.Apply(ctx, r.ns, tx)
	a.m.applySeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil && kind == "update" {
		// The kernel may not hold what we think: fall back to a full replacement.
		a.cfg.Log.Warn("in-place update refused; replacing the whole table", "vpc", r.vpc, "error", err)
		a.m.applies.WithLabelValues(kind, "error").Inc()
		kind, tx = "replace", rs.Replace()
		err = a.cfg.Kernel.Apply(ctx, r.ns, tx)
	}
	if err != nil {
		r.failing++
		a.m.applies.WithLabelValues(kind, "error").Inc()
		r.last, r.known = nil, false // next time, replace the whole table
		return fmt.Errorf("vpc %s: %w", r.vpc, err)
	}
	a.m.applies.WithLabelValues(kind, "ok").Inc()
	if r.failing > 0 {
		a.cfg.Log.Info("enforcement caught up", "vpc", r.vpc, "after_failures", r.failing)
	}
	r.failing = 0
	r.last = rs
	// The generation right after our own transaction is the reference the resync compares
	// against (a change slipped in between the two is taken for ours: a window of microseconds).
	r.gen, err = a.cfg.Kernel.Generation(r.ns)
	r.known = err == nil
	a.cfg.Log.Debug("programmed router", "vpc", r.vpc, "kind", kind, "took", time.Since(start), "bytes", len(tx))
	return nil
}

// check compares every router's ruleset generation with the one the agent's last transaction
// left: a difference means someone changed the ruleset outside Stockade, so the agent logs it
// and replaces the whole table.
func (a *Agent) check(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.routers {
		if r.last == nil {
			continue
		}
		gen, err := a.cfg.Kernel.Generation(r.ns)
		if err == nil && r.known && gen == r.gen {
			continue
		}
		a.cfg.Log.Warn("the ruleset of a VPC router was changed outside Stockade; restoring it", "vpc", r.vpc, "namespace", r.ns)
		a.m.drift.Inc()
		rs := r.last
		r.last = nil
		if err := a.program(ctx, r, rs); err != nil {
			a.cfg.Log.Error("restoring the ruleset failed; will retry", "vpc", r.vpc, "error", err)
			select {
			case a.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (a *Agent) setEnforced(rev int64) {
	if a.enforced.Set(rev) {
		a.m.enforced.Set(float64(rev))
	}
}

// Enforced is the store revision the kernel enforces: every write up to it is in force on
// this host.
func (a *Agent) Enforced() int64 { return a.enforced.Get() }

// Wait blocks until the kernel enforces revision rev or a later one, or ctx ends.
func (a *Agent) Wait(ctx context.Context, rev int64) error { return a.enforced.Wait(ctx, rev) }
