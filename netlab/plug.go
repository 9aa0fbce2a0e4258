package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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

// Wiring reads back how an instance's interfaces are wired, as Attach, Readdress and Unplug
// left them: every ethN in the instance's namespace whose other end is a link on router, with
// that link's name, the device's MAC and index, and the addresses of the interface. An address
// counts when the device has it or the router routes it over the link, so that what an
// interrupted Readdress left half-removed is still seen, and removed by the next. An IPv4
// address the kernel flags secondary is one of Secondary; IPv6 link-local addresses (the
// kernel's own) are not the interface's. A reconciler that adopts an instance (a restart with
// the lab kept) compares this with what the store wants: rewiring from it undoes what changed
// while nobody watched — interfaces detached, addresses unassigned.
//
// No namespace or no router: nothing is wired.
func Wiring(ctx context.Context, router, ns string) ([]Interface, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !Exists(router) || !Exists(ns) {
		return nil, nil
	}
	rh, err := handle(router)
	if err != nil {
		return nil, err
	}
	defer rh.Close()
	ih, err := handle(ns)
	if err != nil {
		return nil, err
	}
	defer ih.Close()
	links, err := ih.LinkList()
	if err != nil {
		return nil, fmt.Errorf("links of %s: %w", ns, err)
	}
	var out []Interface
	for _, l := range links {
		index, ok := deviceIndex(l.Attrs().Name)
		if !ok || l.Type() != "veth" {
			continue
		}
		// A veth's IFLA_LINK is its peer's index in the peer's namespace; the peer's own must
		// point back, or the index belongs to an unrelated link of the router.
		peer, err := rh.LinkByIndex(l.Attrs().ParentIndex)
		if err != nil || peer.Type() != "veth" || peer.Attrs().ParentIndex != l.Attrs().Index {
			continue
		}
		i := Interface{Namespace: ns, Link: peer.Attrs().Name, MAC: l.Attrs().HardwareAddr.String(), DeviceIndex: index, MTU: peer.Attrs().MTU}
		addrs, err := ih.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s in %s: %w", i.Device(), ns, err)
		}
		for _, a := range addrs {
			p, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			p = p.Unmap()
			if p.Is4() && a.Flags&unix.IFA_F_SECONDARY == 0 && !i.Addr.IsValid() {
				bits, _ := a.Mask.Size()
				i.Addr, i.Subnet = p, netip.PrefixFrom(p, bits).Masked()
				continue
			}
			i.add(p)
		}
		routes, err := rh.RouteList(peer, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("routes over %s: %w", i.Link, err)
		}
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
				if ones, bits := r.Dst.Mask.Size(); ones == bits && !slices.Contains(i.addrs(), p.Unmap()) {
					i.add(p.Unmap())
				}
			}
		}
		if !i.Addr.IsValid() && len(i.Secondary) > 0 {
			// Only routes are left of the primary's subnet: keep the addresses where Readdress
			// and Unplug look (an interface's IPv4 addresses hang off its primary).
			i.Addr, i.Secondary = i.Secondary[0], i.Secondary[1:]
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.DeviceIndex - b.DeviceIndex })
	return out, nil
}

// add records one more address of an interface read back from the kernel: IPv4 as a
// secondary, IPv6 unless link-local (the kernel gives every device one; the router's gateway is
// one).
func (i *Interface) add(a netip.Addr) {
	switch {
	case a.Is4():
		i.Secondary = append(i.Secondary, a)
	case !a.IsLinkLocalUnicast() && !a.IsMulticast():
		i.IPv6 = append(i.IPv6, a)
	}
}

// deviceIndex is N of a device named ethN (N in decimal, without leading zeros).
func deviceIndex(name string) (int, bool) {
	n, ok := strings.CutPrefix(name, "eth")
	if !ok || n == "" || len(n) > 4 || (len(n) > 1 && n[0] == '0') || strings.Trim(n, "0123456789") != "" {
		return 0, false
	}
	index, err := strconv.Atoi(n)
	return index, err == nil
}
