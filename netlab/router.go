package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CreateRouter makes a VPC's router namespace with forwarding still off: the caller programs
// the data plane first and then calls EnableForwarding, so that no packet is ever forwarded
// unfiltered. It reports whether the namespace is new (an existing one is adopted as it is).
func CreateRouter(ctx context.Context, ns string) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if Exists(ns) {
		return false, nil
	}
	if err := create(ns); err != nil {
		return false, err
	}
	h, err := handle(ns)
	if err != nil {
		return true, err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return true, err
	}
	return true, h.LinkSetUp(lo)
}

// EnableForwarding turns IPv4 and IPv6 forwarding on in a router namespace, with AWS's
// default connection-tracking idle timeouts as the namespace's defaults (spec §2.6: 5 days for
// established TCP, 30 s for UDP, 180 s for UDP streams), so that only interfaces with their own
// settings need a timeout of their own, and with accounting and timestamps on for flow logs. It is called once the ruleset is in, which is also
// when the kernel has connection tracking (and these settings) for the namespace.
func EnableForwarding(ctx context.Context, ns string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for key, v := range map[string]string{
		"netfilter.nf_conntrack_tcp_timeout_established": "432000",
		"netfilter.nf_conntrack_udp_timeout":             "30",
		"netfilter.nf_conntrack_udp_timeout_stream":      "180",
		// Flow-log records (flowlogs-multihost.md A4.1): per-direction packet and byte
		// counters and start timestamps on every entry, read and zeroed once a window. They
		// must be on before the first connection: an entry made earlier never gets them.
		"netfilter.nf_conntrack_acct":      "1",
		"netfilter.nf_conntrack_timestamp": "1",
	} {
		if err := Sysctl(ns, key, v); err != nil {
			return fmt.Errorf("connection-tracking defaults: %w", err)
		}
	}
	if err := Sysctl(ns, "ipv4.ip_forward", "1"); err != nil {
		return err
	}
	return Sysctl(ns, "ipv6.conf.all.forwarding", "1")
}

// forwardingKeys are the sysctls EnableForwarding turns on and Forwarding checks.
var forwardingKeys = []string{"ipv4.ip_forward", "ipv6.conf.all.forwarding"}

// Forwarding reports whether IPv4 and IPv6 forwarding are both on in a router namespace: a
// router someone turned forwarding off in drops what its ruleset admits.
func Forwarding(ctx context.Context, ns string) (bool, error) {
	for _, key := range forwardingKeys {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		v, err := ReadSysctl(ns, key)
		if err != nil {
			return false, err
		}
		if v != "1" {
			return false, nil
		}
	}
	return true, nil
}

// Interface is one instance interface to wire: its namespace, the router-side link name, and
// its addresses with the subnet they belong to.
type Interface struct {
	Namespace string
	Link      string
	MAC       string
	Addr      netip.Addr   // primary private IPv4 address; none (zero) in an IPv6-only subnet
	Subnet    netip.Prefix // the subnet's IPv4 block; none (zero) in an IPv6-only subnet
	Secondary []netip.Addr
	IPv6      []netip.Addr // IPv6 addresses, if the subnet has an IPv6 block
	// DeviceIndex is the interface's place on the instance, as EC2 numbers it: N is ethN.
	// The primary (0) has the namespace's default routes. Any other routes what its own
	// addresses send through itself (by source, in routing table 100+N), as a multi-homed
	// instance must for the router's source check to let its replies through.
	DeviceIndex int
	// MTU is the MTU of both ends of the link; 0 leaves the kernel's default (1500). An
	// interface of a VPC that spans hosts has InstanceMTU, which the overlay carries.
	MTU int
}

// Device is the interface's name inside the instance: eth0, eth1...
func (i Interface) Device() string { return fmt.Sprintf("eth%d", i.DeviceIndex) }

// table is the routing table of a secondary interface's source routes (0: the main table).
func (i Interface) table() int {
	if i.DeviceIndex == 0 {
		return 0
	}
	return 100 + i.DeviceIndex
}

// Gateway is a subnet's router address, base + 1.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// Gateway6 is the router's IPv6 address on every link: link-local, as IPv6 routers are (an
// EC2 instance learns its default route from the router's link-local address).
var Gateway6 = netip.MustParseAddr("fe80::1")

// Attach creates an instance namespace (if needed) and joins it to the router: a veth pair
// whose router end is named i.Link and whose instance end becomes i.Device() (eth0 for the
// primary interface) with the interface's MAC and addresses, a default route to the subnet
// gateway, and on the router a /32 route to each address and proxy ARP on the link.
//
// IPv6 addresses are /128s with a default route to Gateway6, so that every IPv6 packet, also
// within the subnet, goes through the router (as IPv4 does through proxy ARP); the router has
// a /128 route to each. Addresses skip duplicate address detection: they are unique by
// construction and usable at once.
func Attach(ctx context.Context, router string, i Interface) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := create(i.Namespace); err != nil {
		return err
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
	inst, err := netns.GetFromPath(Path(i.Namespace))
	if err != nil {
		return err
	}
	defer inst.Close()

	if old, err := rh.LinkByName(i.Link); err == nil {
		_ = rh.LinkDel(old) // a half-made link from an earlier attempt
	}
	// The peer is made inside the instance's own namespace, so it can be eth0 (ethN) at once.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: i.Link, MTU: i.MTU}, PeerName: i.Device(), PeerNamespace: netlink.NsFd(int(inst))}
	if mac, err := net.ParseMAC(i.MAC); err == nil {
		veth.PeerHardwareAddr = mac
	}
	if err := rh.LinkAdd(veth); err != nil {
		return fmt.Errorf("create link %s: %w", i.Link, err)
	}

	if err := i.configure(ih); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return i.route(router, rh)
}

// configure sets up the instance's end of the link (ih acts in its namespace): its addresses,
// the link up, a default route to the subnet's gateway (and to Gateway6), and for a secondary
// interface the rules that make what an address sends leave through its own interface.
func (i Interface) configure(ih *netlink.Handle) error {
	// What runs in an instance is root only inside its own user namespace (host.Sandbox), with
	// no capability over the network namespace: let it bind ports below 1024 and ping, as root
	// on an EC2 instance can.
	if err := Sysctl(i.Namespace, "ipv4.ip_unprivileged_port_start", "0"); err != nil {
		return err
	}
	if err := Sysctl(i.Namespace, "ipv4.ping_group_range", "0 2147483647"); err != nil {
		return err
	}
	eth, err := ih.LinkByName(i.Device())
	if err != nil {
		return err
	}
	bits := i.Subnet.Bits()
	for _, a := range i.addrs4() {
		if err := ih.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, bits))}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	for _, a := range i.IPv6 {
		if err := ih.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, 128)), Flags: unix.IFA_F_NODAD}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	for _, name := range []string{"lo", i.Device()} {
		l, err := ih.LinkByName(name)
		if err != nil {
			return err
		}
		if err := ih.LinkSetUp(l); err != nil {
			return err
		}
	}
	if i.Addr.IsValid() { // an IPv6-only interface has its IPv6 default route only
		gw := Gateway(i.Subnet)
		if err := ih.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice(), Table: i.table()}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	if len(i.IPv6) > 0 {
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("::/0")), Gw: Gateway6.AsSlice(), Table: i.table()}
		if err := ih.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", Gateway6, err)
		}
	}
	if i.table() != 0 {
		for _, a := range i.addrs() {
			if err := ih.RuleAdd(i.sourceRule(a)); err != nil && !errors.Is(err, syscall.EEXIST) {
				return fmt.Errorf("source route of %s: %w", a, err)
			}
		}
	}

	return nil
}

// route sets up the router's end of the link (rh acts in the router namespace): proxy ARP,
// the gateway addresses, and a host route to each of the interface's addresses.
func (i Interface) route(router string, rh *netlink.Handle) error {
	gw := Gateway(i.Subnet)
	link, err := rh.LinkByName(i.Link)
	if err != nil {
		return err
	}
	if err := Sysctl(router, "ipv4.conf."+i.Link+".proxy_arp", "1"); err != nil {
		return err
	}
	// Proxy ARP answers after a random delay of up to 0.8 s by default; a router answers at once.
	if err := Sysctl(router, "ipv4.neigh."+i.Link+".proxy_delay", "0"); err != nil {
		return err
	}
	if err := rh.LinkSetUp(link); err != nil {
		return err
	}
	lo, err := rh.LinkByName("lo")
	if err != nil {
		return err
	}
	if i.Subnet.IsValid() { // an IPv6-only subnet has no IPv4 gateway
		if err := rh.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(gw, 32))}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("gateway %s: %w", gw, err)
		}
	}
	if len(i.IPv6) > 0 {
		ll := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(Gateway6, 64)), Flags: unix.IFA_F_NODAD}
		if err := rh.AddrAdd(link, ll); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("gateway %s: %w", Gateway6, err)
		}
	}
	for _, a := range i.addrs() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.PrefixFrom(a, a.BitLen())), Scope: netlink.SCOPE_LINK}
		if a.Is6() {
			r.Scope = netlink.SCOPE_UNIVERSE // IPv6 routes have no scope; the kernel refuses link scope
		}
		if err := rh.RouteReplace(r); err != nil {
			return fmt.Errorf("route to %s: %w", a, err)
		}
	}
	return nil
}

// Detach removes an instance: its processes, its links (both ends) and its namespace.
func Detach(ctx context.Context, router, instance string, links ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if Exists(router) {
		if rh, err := handle(router); err == nil {
			for _, link := range links {
				if l, err := rh.LinkByName(link); err == nil {
					_ = rh.LinkDel(l)
				}
			}
			rh.Close()
		}
	}
	return Remove(ctx, instance)
}
