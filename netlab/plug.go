package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Hot changes to one interface of a running instance: EC2's AttachNetworkInterface and
// DetachNetworkInterface (a new ethN appears, or goes), and the addresses an interface gains
// or loses (Assign/Unassign*). Attach adds an interface to an existing instance namespace as
// well as to a new one; these undo and amend its work without touching the instance's other
// interfaces, so that their connections carry on.

// addrs returns every address of the interface, primary first (an IPv6-only interface has
// no IPv4 ones).
func (i Interface) addrs() []netip.Addr {
	return append(i.addrs4(), i.IPv6...)
}

// addrs4 returns the interface's IPv4 addresses, primary first: none in an IPv6-only subnet.
func (i Interface) addrs4() []netip.Addr {
	if !i.Addr.IsValid() {
		return nil
	}
	return append([]netip.Addr{i.Addr}, i.Secondary...)
}

// Unplug removes one interface of an instance: its veth pair (deleting the router's end takes
// the instance's ethN with it, and with it every route through it) and, for an interface other
// than the primary, the rules that sent its addresses' traffic to its routing table. A link
// that is already gone is not an error: Unplug finishes what an interrupted one began.
func Unplug(ctx context.Context, router string, i Interface) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if Exists(i.Namespace) && i.table() != 0 {
		ih, err := handle(i.Namespace)
		if err != nil {
			return err
		}
		err = i.dropRules(ih, i.addrs())
		ih.Close()
		if err != nil {
			return err
		}
	}
	if !Exists(router) {
		return nil
	}
	rh, err := handle(router)
	if err != nil {
		return err
	}
	defer rh.Close()
	l, err := rh.LinkByName(i.Link)
	if err != nil {
		return nil // gone already
	}
	if err := rh.LinkDel(l); err != nil {
		return fmt.Errorf("remove link %s: %w", i.Link, err)
	}
	return nil
}

// Readdress brings an attached interface from the addresses of was to those of i (same link,
// same device): the addresses that went leave the instance's device, with the router's host
// route to each and their source rules, and the new ones are configured as Attach does.
// Connections of the addresses that stay are not disturbed.
func Readdress(ctx context.Context, router string, was, i Interface) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var gone []netip.Addr
	for _, a := range was.addrs() {
		if !slices.Contains(i.addrs(), a) {
			gone = append(gone, a)
		}
	}
	rh, err := handle(router)
	if err != nil {
		return err
	}
	defer rh.Close()
	ih, err := handle(i.Namespace)
	if err != nil {
		return err
	}
	defer ih.Close()
	eth, err := ih.LinkByName(i.Device())
	if err != nil {
		return err
	}
	link, err := rh.LinkByName(i.Link)
	if err != nil {
		return err
	}
	for _, a := range gone {
		bits := a.BitLen()
		if a.Is4() {
			bits = i.Subnet.Bits()
		}
		if err := ih.AddrDel(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, bits))}); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("remove address %s: %w", a, err)
		}
		// The scope must be the one route gave it: the kernel deletes only a route of the
		// scope asked for, and said ESRCH for the universe scope that a zero Route asks.
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.PrefixFrom(a, a.BitLen())), Scope: netlink.SCOPE_LINK}
		if a.Is6() {
			r.Scope = netlink.SCOPE_UNIVERSE
		}
		if err := rh.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("remove route to %s: %w", a, err)
		}
	}
	if i.table() != 0 {
		if err := i.dropRules(ih, gone); err != nil {
			return err
		}
	}
	if err := i.configure(ih); err != nil {
		return err
	}
	return i.route(router, rh)
}

// dropRules deletes the source rules of addresses of a secondary interface (ih acts in the
// instance's namespace); a rule already gone is not an error.
func (i Interface) dropRules(ih *netlink.Handle, addrs []netip.Addr) error {
	for _, a := range addrs {
		if err := ih.RuleDel(i.sourceRule(a)); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove source route of %s: %w", a, err)
		}
	}
	return nil
}

// sourceRule is the rule that sends what address a of a secondary interface sends to the
// interface's own routing table.
func (i Interface) sourceRule(a netip.Addr) *netlink.Rule {
	rule := netlink.NewRule()
	rule.Src, rule.Table = ipNet(netip.PrefixFrom(a, a.BitLen())), i.table()
	rule.Family = unix.AF_INET
	if a.Is6() {
		rule.Family = unix.AF_INET6
	}
	return rule
}

// Wired reports whether an interface's link is on its router: what a reconciler that adopted
// an instance (a restart with the lab kept) checks, since interfaces attached while it was
// not running have none yet.
func Wired(ctx context.Context, router string, i Interface) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !Exists(router) {
		return false, nil
	}
	rh, err := handle(router)
	if err != nil {
		return false, err
	}
	defer rh.Close()
	_, err = rh.LinkByName(i.Link)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
