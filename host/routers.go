package host

// The router half of the host: each VPC's router namespace and its operator attachment, the
// ruleset in it (an atomic replacement the first time and after any doubt, in-place updates
// otherwise), the repair of hand edits and of forwarding, and the removal of routers no VPC
// needs.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/netlab"
)

// operator gives a router its operator attachment, once per router and run of the host: it
// is fixed for the router's life, and adopted as it is after a restart.
func (h *Host) operator(ctx context.Context, want Router) error {
	if want.Operator.Namespace == "" {
		return nil // a VPC that holds the operator's address has none
	}
	_, err := h.cfg.Namespaces.EnsureOperator(ctx, want.Namespace, want.Operator)
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
		// Before the ruleset: a new router forwards nothing yet, and the ruleset of an
		// adopted one already knows the link (or drops what it sends).
		if err := h.operator(ctx, want); err != nil {
			return err
		}
		r = &router{vpc: want.VPC, ns: want.Namespace}
		h.routers[want.VPC] = r
		if want.Routing.Uplink == nil {
			// An adopted router may keep the link of a gateway detached while the server
			// was down: nothing may reach the internet through it.
			up := h.cfg.Names.UplinkOf(want.VPC)
			if err := h.cfg.Namespaces.RemoveInternet(ctx, r.ns, up); err != nil {
				return err
			}
		}
	}
	if err := h.uplink(ctx, r, want.Routing.Uplink); err != nil {
		return err
	}
	if err := h.program(ctx, r, want.Ruleset); err != nil {
		return err
	}
	// The overlay after the ruleset that knows its link (what it brings before is dropped:
	// its sources are nobody's), before forwarding.
	if err := h.overlay(ctx, r, want); err != nil {
		return err
	}
	// Routes and public addresses after the ruleset: the ruleset knows the link and the
	// translations before any packet is routed over it.
	if err := h.routes(ctx, r, want.Routing.Tables, false); err != nil {
		return err
	}
	if err := h.setPublic(ctx, r, want.Routing.Public); err != nil {
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

// pruneRouters removes the router of every VPC that d has no router for and that has no lab
// instance left, with its operator attachment. Until the host has applied a revision whole,
// it also removes operator namespaces an earlier run left behind for routers no longer there
// (a host's sweep removes leftover routers by name, and operator namespaces are named apart
// so that it never takes a live router's).
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
		errs = append(errs, h.cfg.Namespaces.Remove(ctx, h.cfg.Names.Operator(vpc)))
		delete(h.routers, vpc)
		h.cache.forget(vpc)
	}
	if h.done.Get() == 0 {
		errs = append(errs, h.sweepOperators(ctx))
	}
	return errors.Join(errs...)
}

// sweepOperators removes the operator namespaces of VPCs the host has no router for.
func (h *Host) sweepOperators(ctx context.Context) error {
	prefix := h.cfg.Names.Operator("")
	nss, err := h.cfg.Namespaces.List(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if _, ok := h.routers[strings.TrimPrefix(ns, prefix)]; !ok {
			errs = append(errs, h.cfg.Namespaces.Remove(ctx, ns))
		}
	}
	return errors.Join(errs...)
}

// uplink links a router to the internet namespace when its VPC's internet gateway is attached
// (want set) and removes the link when it is detached. A new link carries nothing until the
// routes over it and the public addresses to it are set, after the ruleset that knows it; a
// removed link takes its routes with it, at once (fail closed: what the ruleset still allows
// has no way out).
func (h *Host) uplink(ctx context.Context, r *router, want *netlab.Uplink) error {
	switch {
	case want != nil && r.uplink == nil:
		if _, err := h.cfg.Namespaces.EnsureInternet(ctx, r.ns, *want); err != nil {
			return err
		}
		up := *want
		r.uplink, r.published, r.routed = &up, false, false
	case want == nil && r.uplink != nil:
		if err := h.cfg.Namespaces.RemoveInternet(ctx, r.ns, *r.uplink); err != nil {
			return err
		}
		r.uplink, r.published, r.public, r.routed = nil, false, nil, false
	}
	return nil
}

// routes sets a router's route tables when they changed (or force: the links they name did).
func (h *Host) routes(ctx context.Context, r *router, tables []netlab.RouteTable, force bool) error {
	if r.routed && !force && slices.EqualFunc(r.tables, tables, equalTable) {
		return nil
	}
	link := ""
	if r.uplink != nil {
		link = r.uplink.Link
	}
	r.routed = false
	start := time.Now()
	if err := h.cfg.Namespaces.SetRoutes(ctx, r.ns, link, tables, &r.routing); err != nil {
		return err
	}
	r.tables, r.routed = tables, true
	h.cfg.Log.Debug("set routes", "vpc", r.vpc, "took", time.Since(start))
	return nil
}

// setPublic makes the internet route exactly a router's public addresses to it, when they
// changed.
func (h *Host) setPublic(ctx context.Context, r *router, public []netip.Prefix) error {
	if r.uplink == nil || (r.published && slices.Equal(r.public, public)) {
		return nil
	}
	r.published = false
	if err := h.cfg.Namespaces.SetPublic(ctx, *r.uplink, public); err != nil {
		return err
	}
	r.public, r.published = public, true
	return nil
}

func equalTable(a, b netlab.RouteTable) bool {
	return a.Table == b.Table && slices.Equal(a.Subnets, b.Subnets) && slices.Equal(a.Routes, b.Routes)
}

// reroute sets again the route tables of the routers of vpcs, whose instances came or went:
// a route to an interface is a blackhole until the interface's link is there, and goes with
// the link.
func (h *Host) reroute(ctx context.Context, vpcs map[string]bool) error {
	var errs []error
	for _, vpc := range sortedKeys(vpcs) {
		r := h.routers[vpc]
		if r == nil || !r.routed || !slices.ContainsFunc(r.tables, hasInterfaceRoute) {
			continue
		}
		if err := h.routes(ctx, r, r.tables, true); err != nil {
			errs = append(errs, fmt.Errorf("vpc %s: %w", vpc, err))
		}
	}
	return errors.Join(errs...)
}

func hasInterfaceRoute(t netlab.RouteTable) bool {
	return slices.ContainsFunc(t.Routes, func(r netlab.Route) bool { return r.Target == netlab.TargetInterface })
}

// overlay gives a router its VXLAN device and makes its entries those of want's peers, when
// they changed. A VPC that no longer spans hosts keeps its device with no entries: nothing
// leaves by it, and its ruleset no longer admits anything from it.
func (h *Host) overlay(ctx context.Context, r *router, want Router) error {
	if want.Overlay == nil {
		if r.overlay == nil || len(r.peers) == 0 {
			return nil
		}
		if err := h.cfg.Namespaces.SetPeers(ctx, r.ns, r.overlay.Link, nil); err != nil {
			return err
		}
		r.peers = nil
		return nil
	}
	if r.overlay == nil || *r.overlay != *want.Overlay {
		r.overlay, r.peers = nil, nil
		if _, err := h.cfg.Namespaces.EnsureOverlay(ctx, r.ns, *want.Overlay); err != nil {
			return err
		}
		o := *want.Overlay
		r.overlay = &o
	}
	if r.peers != nil && slices.EqualFunc(r.peers, want.Peers, equalPeer) {
		return nil
	}
	r.peers = nil
	if err := h.cfg.Namespaces.SetPeers(ctx, r.ns, want.Overlay.Link, want.Peers); err != nil {
		return err
	}
	r.peers = slices.Clone(want.Peers)
	return nil
}

func equalPeer(a, b netlab.Peer) bool {
	return a.Underlay == b.Underlay && a.MAC == b.MAC && slices.Equal(a.Addrs, b.Addrs)
}

// underlay applies the host's underlay filter (dataplane.Underlay) when it changed: only on a
// host that is one of several, where it refuses every VXLAN packet that its sender's host
// does not hold the inner source of.
func (h *Host) underlay(ctx context.Context, d Desired) error {
	if d.UnderlayNamespace == "" {
		return nil
	}
	tx := dataplane.Underlay(d.Underlay)
	if tx == h.underlayTx {
		return nil
	}
	if err := h.cfg.Kernel.Apply(ctx, d.UnderlayNamespace, tx); err != nil {
		return fmt.Errorf("underlay filter: %w", err)
	}
	h.underlayTx = tx
	return nil
}
