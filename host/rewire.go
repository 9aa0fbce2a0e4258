package host

import (
	"context"
	"fmt"
	"slices"

	"github.com/stockade/stockade/netlab"
)

// The interfaces of a running instance change while it runs: AttachNetworkInterface gives it
// the next ethN, DetachNetworkInterface takes one away, and Assign/Unassign* change the
// addresses of one. Each is applied to that interface alone, so that the instance's other
// interfaces, and its connections, are not disturbed.

// rewireAll brings every instance the host runs, and d still wants, to d's interfaces. Only
// instances whose router enforces d (ready) are touched: a new interface must meet its groups,
// never the fail-closed default. VPCs whose links came or went are marked in moved, so that
// their routes are set again.
func (h *Host) rewireAll(ctx context.Context, d Desired, ready, moved map[string]bool) []error {
	var errs []error
	for id, was := range h.instances {
		in, ok := d.Instances[id]
		if !ok || !ready[in.VpcID] || sameInterfaces(was.Interfaces, in.Interfaces) {
			continue
		}
		linked, err := h.rewire(ctx, was, *in)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
		}
		if linked {
			moved[in.VpcID] = true
		}
	}
	return errs
}

// rewire changes one instance's interfaces from was's to in's: interfaces gone (or moved to
// another device index) are unplugged, new ones attached, the others readdressed where their
// addresses changed. The instance is recorded as in only when all of it succeeded; otherwise
// the next reconcile compares against what it was and tries again. linked reports whether a
// link came or went.
func (h *Host) rewire(ctx context.Context, was, in Instance) (linked bool, err error) {
	old := map[string]netlab.Interface{}
	for _, i := range was.Interfaces {
		old[i.Link] = i
	}
	now := map[string]netlab.Interface{}
	for _, i := range in.Interfaces {
		now[i.Link] = i
	}
	for _, i := range was.Interfaces {
		if n, ok := now[i.Link]; !ok || n.DeviceIndex != i.DeviceIndex {
			if err := h.cfg.Namespaces.Unplug(ctx, in.Router, i); err != nil {
				return linked, fmt.Errorf("unplug %s: %w", i.Device(), err)
			}
			linked = true
			delete(old, i.Link)
			h.cfg.Log.Info("interface detached", "instance", in.ID, "device", i.Device(), "link", i.Link)
		}
	}
	for _, i := range in.Interfaces {
		o, ok := old[i.Link]
		switch {
		case !ok:
			if err := h.cfg.Namespaces.Attach(ctx, in.Router, i); err != nil {
				// A half-made link would be taken for a wired one by the next try.
				_ = h.cfg.Namespaces.Unplug(ctx, in.Router, i)
				return linked, fmt.Errorf("attach %s: %w", i.Device(), err)
			}
			linked = true
			h.cfg.Log.Info("interface attached", "instance", in.ID, "device", i.Device(), "link", i.Link, "address", i.Addr)
		case !sameInterface(o, i):
			if err := h.cfg.Namespaces.Readdress(ctx, in.Router, o, i); err != nil {
				return linked, fmt.Errorf("readdress %s: %w", i.Device(), err)
			}
		}
	}
	h.instances[in.ID] = in
	h.changed = true
	return linked, nil
}

func sameInterfaces(a, b []netlab.Interface) bool {
	return slices.EqualFunc(a, b, sameInterface)
}

func sameInterface(a, b netlab.Interface) bool {
	return a.Namespace == b.Namespace && a.Link == b.Link && a.MAC == b.MAC && a.Addr == b.Addr && a.Subnet == b.Subnet &&
		a.DeviceIndex == b.DeviceIndex && slices.Equal(a.Secondary, b.Secondary) && slices.Equal(a.IPv6, b.IPv6)
}
