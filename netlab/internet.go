package netlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The internet side of a lab (issue 12, design.md "Routing and the internet"): one namespace
// per host and prefix, the shared "outside" every VPC with an attached internet gateway is
// linked to. It stands for the whole internet: clients and servers "on the internet" run in it
// at InternetHost, and it routes each public address (an Elastic IP, a public IP given on
// launch, a NAT gateway's address) to the link of the VPC that holds it, so two VPCs with the
// same CIDR still meet the internet with distinct addresses. In IPv6 nothing is translated (an
// instance's IPv6 addresses are public, as on AWS): the internet routes each VPC's IPv6 block
// to the VPC's link, and InternetHost6 is the internet host's IPv6 address.
//
// Links are unnumbered, as point-to-point links between routers often are: every VPC link has
// the same two link-scoped addresses, InternetHop on the internet's end and InternetRouterHop
// on the router's. A route names its device as well as its next hop (onlink), so the same
// next hop on many links is never ambiguous, and neither side needs a prefix per VPC. The
// router does not own the public addresses: the internet routes each one to the router's hop,
// and the router's ruleset translates it (dataplane.Internet). So a public address nobody
// translates (a NAT gateway's, for a connection the internet opens) reaches no socket: the
// router has no route for it and answers "unreachable".
//
// Host isolation: by default the internet namespace has no link to the host's own network
// namespace, so nothing in a VPC can reach the host's services or the real network through
// it. The operator opts in explicitly (hostlink.go): `stockade server --internet-allow CIDR`
// links the internet namespace to the host (a veth pair made with this namespace and gone
// with it) and routes only those host-side ranges over it; `--internet-masquerade` adds a
// default route over it and a masquerade on the host. Tests never make the masquerade.
var (
	// InternetHost is "a host on the internet" (TEST-NET-3, RFC 5737): the address clients and
	// servers started by `stockade lab internet -- CMD` have, and what an instance's security
	// group rule for "the internet" must admit (or 0.0.0.0/0).
	InternetHost = netip.MustParseAddr("203.0.113.10")
	// InternetHop is the internet's end of every VPC link: the next hop of a route table's
	// routes to an internet or NAT gateway.
	InternetHop = netip.MustParseAddr("169.254.255.1")
	// InternetRouterHop is the router's end of its internet link: the next hop of every public
	// address of the VPC in the internet namespace. (169.254.0.0/16 is link-local, which no
	// VPC may use, so it never meets a VPC address.)
	InternetRouterHop = netip.MustParseAddr("169.254.255.2")

	// InternetHost6 is the internet host's IPv6 address. IPv6 has no reserved block for a
	// stand-in of "the internet" as RFC 5737 is for IPv4; the documentation prefix
	// 2001:db8::/32 (RFC 3849) is the nearest: never routed on the real internet, and never a
	// VPC's block (Stockade's "Amazon-provided" blocks are unique-local, fd00::/8), so it
	// cannot meet an instance's address or leave the lab by mistake.
	InternetHost6 = netip.MustParseAddr("2001:db8:ffff::10")
	// InternetHop6 and InternetRouterHop6 are the two ends of every VPC link in IPv6:
	// link-local, as IPv6 routers' next hops are, and apart from Gateway6 (fe80::1, the
	// router's address on its instances' links) so that no link of the router holds both.
	InternetHop6       = netip.MustParseAddr("fe80::ffff:1")
	InternetRouterHop6 = netip.MustParseAddr("fe80::ffff:2")
)

// Internet is the internet namespace of the lab.
func (n Names) Internet() string { return n.Prefix + "-internet" }

// InternetLink is the router-side link to the internet, the same in every router namespace,
// like OperatorLink.
func (n Names) InternetLink() string { return n.Prefix + "-ig" }

// InternetPeer is a VPC's link in the internet namespace: the prefix, "-g" and eight hex digits
// of a hash of the VPC ID (15 characters with a 5-character prefix).
func (n Names) InternetPeer(vpc string) string {
	h := uint32(2166136261)
	for i := 0; i < len(vpc); i++ {
		h = (h ^ uint32(vpc[i])) * 16777619
	}
	return fmt.Sprintf("%s-g%08x", n.Prefix, h)
}

// Uplink is a VPC router's link to the internet namespace.
type Uplink struct {
	Internet string // the internet namespace
	Link     string // the router-side link (Names.InternetLink)
	Peer     string // its end in the internet namespace (Names.InternetPeer)
}

// UplinkOf is the uplink of a VPC.
func (n Names) UplinkOf(vpc string) Uplink {
	return Uplink{Internet: n.Internet(), Link: n.InternetLink(), Peer: n.InternetPeer(vpc)}
}

// CreateInternet makes the internet namespace, or adopts it: loopback up with InternetHost and
// InternetHost6 on it, and forwarding on in both families (the internet carries packets
// between VPCs' public addresses). It reports whether the namespace is new.
func CreateInternet(ctx context.Context, ns string) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	created = !Exists(ns)
	if err := create(ns); err != nil {
		return false, err
	}
	h, err := handle(ns)
	if err != nil {
		return created, err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return created, err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return created, err
	}
	if err := h.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(InternetHost, 32))}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return created, fmt.Errorf("internet host %s: %w", InternetHost, err)
	}
	if err := h.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(InternetHost6, 128)), Flags: unix.IFA_F_NODAD}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return created, fmt.Errorf("internet host %s: %w", InternetHost6, err)
	}
	if err := Sysctl(ns, "ipv6.conf.all.forwarding", "1"); err != nil {
		return created, err
	}
	return created, Sysctl(ns, "ipv4.ip_forward", "1")
}

// AttachInternet links a router to the internet namespace (made if needed): the veth pair
// up.Link – up.Peer with their hop addresses. A link whose two ends are both there is adopted
// as it is (created is false), keeping the routes of its public addresses; a half-made one is
// made again. The router's routes over the link are its route tables' (SetRoutes).
func AttachInternet(ctx context.Context, router string, up Uplink) (created bool, err error) {
	if !Exists(router) {
		return false, fmt.Errorf("internet link: no router namespace %s", router)
	}
	if _, err := CreateInternet(ctx, up.Internet); err != nil {
		return false, err
	}
	rh, err := handle(router)
	if err != nil {
		return false, err
	}
	defer rh.Close()
	ih, err := handle(up.Internet)
	if err != nil {
		return false, err
	}
	defer ih.Close()
	rl, rerr := rh.LinkByName(up.Link)
	il, ierr := ih.LinkByName(up.Peer)
	if rerr == nil && ierr == nil && isPeer(rl, il) {
		return false, configureUplink(router, up, rh, ih, rl, il)
	}
	if rerr == nil {
		_ = rh.LinkDel(rl)
	}
	if ierr == nil {
		_ = ih.LinkDel(il)
	}
	inet, err := netns.GetFromPath(Path(up.Internet))
	if err != nil {
		return false, err
	}
	defer inet.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: up.Link}, PeerName: up.Peer, PeerNamespace: netlink.NsFd(int(inet))}
	if err := rh.LinkAdd(veth); err != nil {
		return false, fmt.Errorf("create link %s: %w", up.Link, err)
	}
	if rl, err = rh.LinkByName(up.Link); err != nil {
		return true, err
	}
	if il, err = ih.LinkByName(up.Peer); err != nil {
		return true, err
	}
	return true, configureUplink(router, up, rh, ih, rl, il)
}

func configureUplink(router string, up Uplink, rh, ih *netlink.Handle, rl, il netlink.Link) error {
	for _, end := range []struct {
		h    *netlink.Handle
		l    netlink.Link
		addr netip.Addr
	}{{rh, rl, InternetRouterHop}, {ih, il, InternetHop}} {
		// Link scope: neither side ever picks its hop address as the source of a packet.
		a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(end.addr, 32)), Scope: int(netlink.SCOPE_LINK)}
		if err := end.h.AddrAdd(end.l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("internet hop %s: %w", end.addr, err)
		}
		if err := end.h.LinkSetUp(end.l); err != nil {
			return err
		}
	}
	for _, end := range []struct {
		h    *netlink.Handle
		l    netlink.Link
		addr netip.Addr
	}{{rh, rl, InternetRouterHop6}, {ih, il, InternetHop6}} {
		// Link-local, usable at once (no duplicate detection: the two ends are fixed).
		a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(end.addr, 64)), Flags: unix.IFA_F_NODAD}
		if err := end.h.AddrAdd(end.l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("internet hop %s: %w", end.addr, err)
		}
	}
	return nil
}

// DetachInternet removes a router's internet link (both ends go with it) and the routes of
// its public addresses; the internet namespace stays for the other VPCs.
func DetachInternet(ctx context.Context, router string, up Uplink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, end := range []struct{ ns, link string }{{router, up.Link}, {up.Internet, up.Peer}} {
		if !Exists(end.ns) {
			continue
		}
		h, err := handle(end.ns)
		if err != nil {
			return err
		}
		l, err := h.LinkByName(end.link)
		if err == nil {
			err = h.LinkDel(l)
		}
		h.Close()
		var nf netlink.LinkNotFoundError
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("remove link %s: %w", end.link, err)
		}
	}
	return nil
}

// SetPublic makes the internet route exactly the given public blocks to a VPC's link: IPv4
// public addresses as /32s to InternetRouterHop, from InternetHost, and the VPC's IPv6 block
// to InternetRouterHop6, from InternetHost6. Routes for blocks no longer given go, new ones
// come, the rest are left alone, so an association touches one route.
func SetPublic(ctx context.Context, up Uplink, public []netip.Prefix) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := handle(up.Internet)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(up.Peer)
	if err != nil {
		return fmt.Errorf("internet link %s: %w", up.Peer, err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range public {
		if p.IsValid() {
			want[p.Masked()] = true
		}
	}
	have, err := publicRoutes(h, l)
	if err != nil {
		return err
	}
	for _, r := range have {
		if p := prefixOf(r.Dst); want[p] {
			delete(want, p) // already routed
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("unroute %s: %w", r.Dst, err)
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(want), comparePrefixes) {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p), Gw: InternetRouterHop.AsSlice(),
			Src: InternetHost.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
		if p.Addr().Is6() {
			r.Gw, r.Src, r.Flags = InternetRouterHop6.AsSlice(), InternetHost6.AsSlice(), 0
		}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s to %s: %w", p, up.Peer, err)
		}
	}
	return nil
}

// publicRoutes are the routes of a VPC's link in the internet namespace that have a next hop:
// its public blocks (the link's own routes have none).
func publicRoutes(h *netlink.Handle, l netlink.Link) ([]netlink.Route, error) {
	var out []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := h.RouteList(l, fam)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Dst != nil && r.Gw != nil {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Public lists the public blocks the internet routes to a VPC's link, sorted.
func Public(up Uplink) ([]netip.Prefix, error) {
	h, err := handle(up.Internet)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(up.Peer)
	if err != nil {
		return nil, err
	}
	rs, err := publicRoutes(h, l)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range rs {
		out = append(out, prefixOf(r.Dst))
	}
	slices.SortFunc(out, comparePrefixes)
	return out, nil
}

// InternetCommand prepares a command on the internet side (`stockade lab internet -- CMD`): a
// client or server at InternetHost.
func (n Names) InternetCommand(ctx context.Context, argv ...string) *exec.Cmd {
	return Command(ctx, n.Internet(), argv...)
}

// DialInternet opens a connection from the internet host (see DialFrom).
func (n Names) DialInternet(network, addr string, timeout time.Duration) (net.Conn, error) {
	return DialFrom(n.Internet(), network, addr, timeout)
}
