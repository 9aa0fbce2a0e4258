package netlab

// A VPC spanning hosts (flowlogs-multihost.md §B8, docs/cross-host.md): on every host that
// holds interfaces of the VPC, the VPC's router has one VXLAN device, the VPC's segment. The
// device is created in the host's namespace, the one holding the host's underlay address, and
// then moved into the router: its UDP socket stays where it was created (on the underlay)
// while the device itself works in the router, as Docker's overlay driver does. Nothing is
// learnt and nothing is multicast: every entry is static and permanent —
//
//   - per remote host, one FDB entry: that host's router MAC on the segment → its underlay
//     address;
//   - per remote instance address, a /32 (or /128) route straight out of the device and a
//     permanent neighbour entry giving it the remote router's MAC (no tunnel endpoint
//     addresses are needed, so none is taken from the VPC's blocks).
//
// The router's existing machinery does the rest: proxy ARP answers a local instance for a
// remote address (the router has a route to it, by another link), and a subnet's "local"
// route throws to the main table, where these routes are.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// VXLANPort is the IANA port of VXLAN. It is always set explicitly: with a zero port Linux
// uses its legacy default 8472, which no other implementation expects.
const VXLANPort = 4789

// Encapsulation sizes (over an IPv4 underlay): outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8.
const (
	OverlayOverhead = 50
	// InstanceMTU is the MTU of instances whose VPC spans hosts: AWS's 9001 inside a VPC.
	InstanceMTU = 9001
	// UnderlayMTU is the MTU the underlay must carry for InstanceMTU: the choice made here is
	// to raise the underlay (veths and bridges accept jumbo frames) rather than to lower the
	// instances' MTU below what EC2 gives them.
	UnderlayMTU = InstanceMTU + OverlayOverhead
)

// VNI is a VXLAN network identifier derived from a VPC's ID: 24 bits of an FNV-1a hash,
// never 0. The store allocates each new VPC's VNI uniquely (control/vni.go, model.VPC.VNI);
// this derived number is what hosts use for a VPC stored before that (host.VNI), and what
// the testbed's tests name segments with. Two derived numbers collide with a probability of
// about n²/2²⁵ (with 100 VPCs, 3 in 10,000).
func VNI(vpc string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(vpc); i++ {
		h = (h ^ uint32(vpc[i])) * 16777619
	}
	if v := h & 0xffffff; v != 0 {
		return v
	}
	return 1
}

// Overlay names a VPC's VXLAN device in its router: the prefix and a hash, as an interface's
// link (Link), so that it fits in 15 characters and differs from every interface's.
func (n Names) Overlay(vpc string) string { return n.Link("overlay/" + vpc) }

// OverlayMAC is the MAC address of the VXLAN device of a VPC's router on a host: locally
// administered and derived from both, so that every host computes every other host's without
// asking it.
func OverlayMAC(host, vpc string) string {
	h := uint64(14695981039346656037)
	for _, s := range []string{host, "\x00", vpc} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
	}
	mac := net.HardwareAddr{0x02, byte(h >> 32), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
	return mac.String()
}

// Overlay is a router's VXLAN device.
type Overlay struct {
	// Host is the namespace holding the underlay address, where the device is created.
	Host  string
	Link  string     // the device's name in the router
	VNI   uint32     // the VPC's segment
	Local netip.Addr // the host's underlay address, the tunnel's source
	MAC   string     // the device's MAC (OverlayMAC)
	MTU   int        // the device's MTU: InstanceMTU (0: InstanceMTU)
}

// Peer is what a router must know of one other host holding interfaces of its VPC.
type Peer struct {
	Underlay netip.Addr   // the host's underlay address
	MAC      string       // that host's router MAC on the segment (OverlayMAC)
	Addrs    []netip.Addr // the addresses of the VPC's interfaces placed there
}

func (o Overlay) mtu() int {
	if o.MTU == 0 {
		return InstanceMTU
	}
	return o.MTU
}

// EnsureOverlay gives a router its VXLAN device, up, or adopts the one it has when it is the
// same (VNI, port, source, MAC, MTU); one that differs is replaced. It reports whether the
// device is new.
func EnsureOverlay(ctx context.Context, router string, o Overlay) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	mac, err := net.ParseMAC(o.MAC)
	if err != nil {
		return false, fmt.Errorf("overlay %s: %w", o.Link, err)
	}
	rh, err := handle(router)
	if err != nil {
		return false, err
	}
	defer rh.Close()
	if l, err := rh.LinkByName(o.Link); err == nil {
		if vx, ok := l.(*netlink.Vxlan); ok && uint32(vx.VxlanId) == o.VNI && vx.Port == VXLANPort && !vx.Learning &&
			addrOf(vx.SrcAddr) == o.Local && vx.Attrs().HardwareAddr.String() == mac.String() && vx.Attrs().MTU == o.mtu() {
			return false, rh.LinkSetUp(l)
		}
		if err := rh.LinkDel(l); err != nil {
			return false, fmt.Errorf("replace overlay %s: %w", o.Link, err)
		}
	}
	hh, err := handle(o.Host)
	if err != nil {
		return false, err
	}
	defer hh.Close()
	if l, err := hh.LinkByName(o.Link); err == nil {
		_ = hh.LinkDel(l) // a half-made device from an earlier attempt, never moved
	}
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: o.Link, MTU: o.mtu(), HardwareAddr: mac},
		VxlanId: int(o.VNI), SrcAddr: o.Local.AsSlice(), Port: VXLANPort, Learning: false}
	if err := hh.LinkAdd(vx); err != nil {
		return false, fmt.Errorf("create overlay %s in %s: %w", o.Link, o.Host, err)
	}
	l, err := hh.LinkByName(o.Link)
	if err != nil {
		return false, err
	}
	r, err := netns.GetFromPath(Path(router))
	if err != nil {
		_ = hh.LinkDel(l)
		return false, err
	}
	defer r.Close()
	if err := hh.LinkSetNsFd(l, int(r)); err != nil {
		_ = hh.LinkDel(l)
		return false, fmt.Errorf("move overlay %s into %s: %w", o.Link, router, err)
	}
	l, err = rh.LinkByName(o.Link)
	if err != nil {
		return true, err
	}
	return true, rh.LinkSetUp(l)
}

// ReadOverlay returns a router's VXLAN device as the kernel reports it.
func ReadOverlay(router, link string) (*netlink.Vxlan, error) {
	rh, err := handle(router)
	if err != nil {
		return nil, err
	}
	defer rh.Close()
	l, err := rh.LinkByName(link)
	if err != nil {
		return nil, err
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return nil, fmt.Errorf("%s in %s is a %s, not a vxlan device", link, router, l.Type())
	}
	return vx, nil
}

// SetPeers makes a router's overlay entries exactly peers: one permanent FDB entry per peer
// host, and per remote address a route out of the device and a permanent neighbour entry.
// Entries no peer wants are removed, routes first (a remote address that is gone has no way
// out before its neighbour goes). A new address gets its neighbour before its route, so that
// no packet is routed to an address with no neighbour (which would make the kernel resolve it
// on a device where nothing answers).
func SetPeers(ctx context.Context, router, link string, peers []Peer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rh, err := handle(router)
	if err != nil {
		return err
	}
	defer rh.Close()
	l, err := rh.LinkByName(link)
	if err != nil {
		return fmt.Errorf("overlay %s: %w", link, err)
	}
	idx := l.Attrs().Index
	fdb := map[string]netip.Addr{}   // MAC → underlay
	neigh := map[netip.Addr]string{} // remote address → MAC
	for _, p := range peers {
		mac, err := net.ParseMAC(p.MAC)
		if err != nil {
			return fmt.Errorf("peer %s: %w", p.Underlay, err)
		}
		fdb[mac.String()] = p.Underlay
		for _, a := range p.Addrs {
			neigh[a] = mac.String()
		}
	}

	// Remove first what is stale, routes before neighbours.
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := rh.RouteList(l, fam)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if ones, bits := r.Dst.Mask.Size(); ones != bits {
				continue // the kernel's own (an IPv6 link-local block): no remote address
			}
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			if _, ok := neigh[a.Unmap()]; !ok {
				if err := rh.RouteDel(&r); err != nil && !errors.Is(err, syscall.ESRCH) {
					return fmt.Errorf("remove route to %s: %w", r.Dst, err)
				}
			}
		}
		ns, err := rh.NeighList(idx, fam)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.State&netlink.NUD_PERMANENT == 0 {
				continue // the kernel's own; ours are all permanent
			}
			a, _ := netip.AddrFromSlice(n.IP)
			if mac, ok := neigh[a.Unmap()]; !ok || mac != n.HardwareAddr.String() {
				if err := rh.NeighDel(&n); err != nil && !errors.Is(err, syscall.ENOENT) {
					return fmt.Errorf("remove neighbour %s: %w", n.IP, err)
				}
			}
		}
	}
	entries, err := rh.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return err
	}
	for _, n := range entries {
		dst, _ := netip.AddrFromSlice(n.IP)
		if want, ok := fdb[n.HardwareAddr.String()]; !ok || want != dst.Unmap() {
			if err := rh.NeighDel(&n); err != nil && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("remove forwarding entry %s: %w", n.HardwareAddr, err)
			}
		}
	}

	for _, m := range sortedKeys(fdb) {
		mac, _ := net.ParseMAC(m)
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
			HardwareAddr: mac, IP: fdb[m].AsSlice()}
		if err := rh.NeighSet(e); err != nil {
			return fmt.Errorf("forwarding entry %s → %s: %w", m, fdb[m], err)
		}
	}
	addrs := make([]netip.Addr, 0, len(neigh))
	for a := range neigh {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		mac, _ := net.ParseMAC(neigh[a])
		fam := unix.AF_INET
		if a.Is6() {
			fam = unix.AF_INET6
		}
		n := &netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: mac}
		if err := rh.NeighSet(n); err != nil {
			return fmt.Errorf("neighbour %s: %w", a, err)
		}
		r := &netlink.Route{LinkIndex: idx, Dst: ipNet(netip.PrefixFrom(a, a.BitLen())), Scope: netlink.SCOPE_LINK}
		if a.Is6() {
			r.Scope = netlink.SCOPE_UNIVERSE // IPv6 routes have no scope; the kernel refuses link scope
		}
		if err := rh.RouteReplace(r); err != nil {
			return fmt.Errorf("route to %s: %w", a, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
