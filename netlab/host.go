package netlab

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
)

// Host is this machine's named namespaces, as the host reconciler drives them: it implements
// that package's Namespaces interface with the functions of this package.
type Host struct {
	// HostLink is the operator's opt-in to a link between the internet namespace and the
	// host's (hostlink.go); the zero value makes none.
	HostLink HostLink
}

// EnsureRouter makes a router namespace with forwarding off, or adopts an existing one.
func (Host) EnsureRouter(ctx context.Context, ns string) (bool, error) {
	return CreateRouter(ctx, ns)
}

// EnableForwarding turns forwarding on in a router namespace.
func (Host) EnableForwarding(ctx context.Context, ns string) error {
	return EnableForwarding(ctx, ns)
}

// Forwarding reports whether forwarding is on in a router namespace.
func (Host) Forwarding(ctx context.Context, ns string) (bool, error) {
	return Forwarding(ctx, ns)
}

// Attach wires one interface of an instance to its router.
func (Host) Attach(ctx context.Context, router string, i Interface) error {
	return Attach(ctx, router, i)
}

// Unplug removes one interface of a running instance.
func (Host) Unplug(ctx context.Context, router string, i Interface) error {
	return Unplug(ctx, router, i)
}

// Wiring reads back how an instance's interfaces are wired.
func (Host) Wiring(ctx context.Context, router, ns string) ([]Interface, error) {
	return Wiring(ctx, router, ns)
}

// Readdress changes the addresses of one interface of a running instance.
func (Host) Readdress(ctx context.Context, router string, was, i Interface) error {
	return Readdress(ctx, router, was, i)
}

// Detach removes an instance namespace and its links on the router.
func (Host) Detach(ctx context.Context, router, ns string, links ...string) error {
	return Detach(ctx, router, ns, links...)
}

// Exists reports whether a namespace exists.
func (Host) Exists(ctx context.Context, ns string) (bool, error) {
	return Exists(ns), ctx.Err()
}

// List returns the namespaces whose names start with prefix.
func (Host) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return List(prefix)
}

// Remove deletes a namespace and the processes in it.
func (Host) Remove(ctx context.Context, ns string) error { return Remove(ctx, ns) }

// Command prepares a command inside a namespace.
func (Host) Command(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return Command(ctx, ns, argv...)
}

// Start starts cmd inside a namespace: from a thread in it, so that the child (which inherits
// its thread's namespace) may also ask for a user namespace of its own.
func (Host) Start(ns string, cmd *exec.Cmd) error { return Do(ns, cmd.Start) }

// ListenMetadata opens an instance's metadata service listener.
func (Host) ListenMetadata(router, link string) (net.Listener, error) {
	return ListenMetadata(router, link)
}

// EnsureOperator gives a router its operator attachment, or adopts the one it has.
func (Host) EnsureOperator(ctx context.Context, router string, op Operator) (bool, error) {
	return AttachOperator(ctx, router, op)
}

// EnsureInternet links a router to the lab's internet namespace, or adopts the link it has;
// the internet namespace gets the host link of the opt-in with it (it is made with the
// namespace and goes with it).
func (h Host) EnsureInternet(ctx context.Context, router string, up Uplink) (bool, error) {
	created, err := AttachInternet(ctx, router, up)
	if err != nil || !h.HostLink.On() {
		return created, err
	}
	return created, EnsureHostLink(ctx, h.HostLink)
}

// RemoveInternet removes a router's internet link (its internet gateway was detached).
func (Host) RemoveInternet(ctx context.Context, router string, up Uplink) error {
	return DetachInternet(ctx, router, up)
}

// SetPublic routes exactly these public blocks to a VPC's internet link.
func (Host) SetPublic(ctx context.Context, up Uplink, public []netip.Prefix) error {
	return SetPublic(ctx, up, public)
}

// EnsureOverlay gives a router its VXLAN device, or adopts the one it has.
func (Host) EnsureOverlay(ctx context.Context, router string, o Overlay) (bool, error) {
	return EnsureOverlay(ctx, router, o)
}

// SetPeers makes a router's overlay entries exactly peers.
func (Host) SetPeers(ctx context.Context, router, link string, peers []Peer) error {
	return SetPeers(ctx, router, link, peers)
}

// SetRoutes makes a router's route tables exactly these.
func (Host) SetRoutes(ctx context.Context, router, uplink string, tables []RouteTable, state *Routing) error {
	return SetRoutes(ctx, router, uplink, tables, state)
}
