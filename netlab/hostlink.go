package netlab

// The operator's opt-ins of the internet side (issue 12): `--internet-allow CIDR` and
// `--internet-masquerade`. Without them the internet namespace has no link to the host's
// network namespace at all (internet.go, "Host isolation"). With them it gets exactly one, a
// veth pair:
//
//	host namespace                         internet namespace
//	<prefix>-inet 198.51.100.1/30  <-->  <prefix>-host 198.51.100.2/30
//
// 198.51.100.0/30 is in TEST-NET-2 (RFC 5737, documentation only): never routed on the real
// internet nor assigned to a real network, so it cannot collide with one the host is on, and
// apart from the lab's other addresses (the internet host in TEST-NET-3, the public pool).
// It is not link-local on purpose: on EC2 (and in the VPC routers' rulesets, dataplane)
// link-local destinations never leave the VPC, so an instance could not reach 169.254.x.x
// through its gateway.
//
// The internet namespace routes only the allowed CIDRs over the link; the host gets only the
// routes its replies need (the internet host and the public pool, via the internet's end) and
// forwarding off on its end, so it delivers to its own addresses in the allowed CIDRs and
// routes nothing onward. Only --internet-masquerade (implies 0.0.0.0/0) changes the host
// beyond its own link: forwarding on its end and on the default route's device, and a table
// of Stockade's own, `table ip stockade_internet`, that masquerades what comes from the link
// out of the default route and forwards nothing else that was not forwarded before.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	// HostLinkHost is the host's end of the host link: what `--internet-allow
	// 198.51.100.1/32` lets instances reach (a package mirror the operator binds there).
	HostLinkHost = netip.MustParsePrefix("198.51.100.1/30")
	// HostLinkInternet is the internet namespace's end: the next hop of the host's routes.
	HostLinkInternet = netip.MustParsePrefix("198.51.100.2/30")
	// MasqueradeTable is the nftables table of --internet-masquerade, in the host namespace.
	MasqueradeTable = "stockade_internet"
)

// HostLinkName is the host's end of the host link; HostLinkPeer is its end in the internet
// namespace (at most 14 characters with a 5-character prefix).
func (n Names) HostLinkName() string { return n.Prefix + "-inet" }
func (n Names) HostLinkPeer() string { return n.Prefix + "-host" }

// HostLink is the operator's opt-in. The zero value (no Allow) means no link.
type HostLink struct {
	Link, Peer string // Names.HostLinkName and HostLinkPeer
	Internet   string // the internet namespace
	// Allow are the host-side ranges the internet routes over the link, masked and sorted.
	Allow []netip.Prefix
	// Masquerade forwards and masquerades what comes over the link out of the host's default
	// route (Allow holds 0.0.0.0/0).
	Masquerade bool
	// Reply are the internet side's blocks the host routes back over the link: the internet
	// host and the public pool.
	Reply []netip.Prefix
}

// NewHostLink checks the operator's flags and returns the opt-in for a lab: allow are the
// --internet-allow CIDRs, pool the public pool. Masquerade implies 0.0.0.0/0; 0.0.0.0/0
// without it is refused (the host would be asked to route everything without the means to),
// and so is any range that overlaps the lab's own internet addresses (the public pool, the
// internet host, the link's internet end, the VPC links' hops).
func NewHostLink(n Names, allow []string, masquerade bool, pool netip.Prefix) (HostLink, error) {
	hl := HostLink{Link: n.HostLinkName(), Peer: n.HostLinkPeer(), Internet: n.Internet(), Masquerade: masquerade,
		Reply: []netip.Prefix{netip.PrefixFrom(InternetHost, 32), pool.Masked()}}
	if masquerade {
		allow = append(allow, "0.0.0.0/0")
	}
	own := []netip.Prefix{pool.Masked(), netip.PrefixFrom(InternetHost, 32), netip.PrefixFrom(HostLinkInternet.Addr(), 32),
		netip.PrefixFrom(InternetHop, 30)}
	for _, s := range allow {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return HostLink{}, fmt.Errorf("--internet-allow %q: want an IPv4 CIDR", s)
		}
		p = p.Masked()
		if p.Bits() == 0 {
			if !masquerade {
				return HostLink{}, errors.New("--internet-allow 0.0.0.0/0 needs --internet-masquerade: without it the host routes nothing beyond its own addresses, so name the host-side addresses instead (e.g. " + netip.PrefixFrom(HostLinkHost.Addr(), 32).String() + ")")
			}
		} else {
			for _, o := range own {
				if p.Overlaps(o) {
					return HostLink{}, fmt.Errorf("--internet-allow %s overlaps the lab's own internet addresses (%s): it must name host-side addresses", p, o)
				}
			}
		}
		hl.Allow = append(hl.Allow, p)
	}
	slices.SortFunc(hl.Allow, comparePrefixes)
	hl.Allow = slices.Compact(hl.Allow)
	if len(hl.Allow) == 0 {
		return HostLink{}, nil
	}
	return hl, nil
}

// On reports whether the opt-in makes a link.
func (hl HostLink) On() bool { return len(hl.Allow) > 0 }

// RemoveHostLink removes a lab's host link (both ends go with it, and the host's routes over
// it) and the masquerade table: what a start without the opt-in does with a leftover one.
func RemoveHostLink(n Names) error {
	l, err := netlink.LinkByName(n.HostLinkName())
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return err
	default:
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("remove link %s: %w", n.HostLinkName(), err)
		}
	}
	return RemoveMasquerade()
}

// EnsureHostLink makes the host link of an opt-in, or adopts it, once the internet namespace
// exists: its addresses, the internet's routes for exactly the allowed ranges, the host's
// routes for the replies, forwarding on the host's end as the opt-in says, and the
// masquerade table with it.
func EnsureHostLink(ctx context.Context, hl HostLink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !hl.On() {
		return nil
	}
	ih, err := handle(hl.Internet)
	if err != nil {
		return err
	}
	defer ih.Close()
	hlink, herr := netlink.LinkByName(hl.Link)
	ilink, ierr := ih.LinkByName(hl.Peer)
	if herr != nil || ierr != nil || !isPeer(hlink, ilink) {
		if herr == nil {
			_ = netlink.LinkDel(hlink)
		}
		if ierr == nil {
			_ = ih.LinkDel(ilink)
		}
		inet, err := netns.GetFromPath(Path(hl.Internet))
		if err != nil {
			return err
		}
		defer inet.Close()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hl.Link}, PeerName: hl.Peer, PeerNamespace: netlink.NsFd(int(inet))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create link %s: %w", hl.Link, err)
		}
		if hlink, err = netlink.LinkByName(hl.Link); err != nil {
			return err
		}
		if ilink, err = ih.LinkByName(hl.Peer); err != nil {
			return err
		}
	}
	// Forwarding on the host's end before the link is up: off unless masquerading, so that
	// a host that forwards (ip_forward=1, as with containers) still routes nothing from it.
	fwd := "0"
	if hl.Masquerade {
		fwd = "1"
	}
	if err := os.WriteFile(sysctlPath("ipv4.conf."+hl.Link+".forwarding"), []byte(fwd), 0o644); err != nil {
		return err
	}
	if err := netlink.AddrAdd(hlink, &netlink.Addr{IPNet: ipNet(HostLinkHost)}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("host link %s: %w", HostLinkHost, err)
	}
	// No prefix route on the internet's end: the internet reaches the host's end too only if
	// it is allowed, like every other host-side address.
	if err := ih.AddrAdd(ilink, &netlink.Addr{IPNet: ipNet(HostLinkInternet), Flags: unix.IFA_F_NOPREFIXROUTE}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("host link %s: %w", HostLinkInternet, err)
	}
	if err := netlink.LinkSetUp(hlink); err != nil {
		return err
	}
	if err := ih.LinkSetUp(ilink); err != nil {
		return err
	}
	if err := syncRoutes(ih, ilink, hl.Allow, HostLinkHost.Addr(), InternetHost); err != nil {
		return err
	}
	if err := syncRoutes(nil, hlink, hl.Reply, HostLinkInternet.Addr(), netip.Addr{}); err != nil {
		return err
	}
	if hl.Masquerade {
		return Masquerade(ctx, hl)
	}
	return nil // a leftover masquerade table went at start (RemoveHostLink, RemoveMasquerade)
}

// syncRoutes makes the routes via gw on link exactly want (h nil: the host's namespace). A
// destination some other link already routes is refused rather than taken over: the host's
// own routes are the operator's.
func syncRoutes(h *netlink.Handle, l netlink.Link, want []netip.Prefix, gw, src netip.Addr) error {
	list := netlink.RouteList
	add, del := netlink.RouteAdd, netlink.RouteDel
	if h != nil {
		list, add, del = h.RouteList, h.RouteAdd, h.RouteDel
	}
	have, err := list(l, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	wanted := map[netip.Prefix]bool{}
	for _, p := range want {
		wanted[p] = true
	}
	for _, r := range have {
		if r.Gw == nil {
			continue // the link's own /30
		}
		p := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if r.Dst != nil {
			p = prefixOf(r.Dst)
		}
		if wanted[p] {
			delete(wanted, p)
			continue
		}
		if err := del(&r); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("unroute %s: %w", p, err)
		}
	}
	for _, p := range want {
		if !wanted[p] {
			continue
		}
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p), Gw: gw.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
		if src.IsValid() {
			r.Src = src.AsSlice()
		}
		if err := add(r); err != nil {
			if errors.Is(err, syscall.EEXIST) {
				return fmt.Errorf("route %s over %s: something else already routes it in that namespace; remove that route or leave out the opt-in", p, l.Attrs().Name)
			}
			return fmt.Errorf("route %s over %s: %w", p, l.Attrs().Name, err)
		}
	}
	return nil
}

// MasqueradeRules renders the host's table for --internet-masquerade: what comes in over the
// link leaves any other device masqueraded; the replies come back (established); nothing else
// is forwarded to the link; and devices listed in turnedOn (forwarding was off on them before
// the opt-in turned it on, for the replies) forward nothing but to the link. Deleting the
// table first makes the script replace it atomically.
func MasqueradeRules(link string, turnedOn []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", MasqueradeTable, MasqueradeTable, MasqueradeTable)
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q oifname != %q accept\n", link, link)
	fmt.Fprintf(&b, "\t\toifname %q ct state established,related accept\n", link)
	fmt.Fprintf(&b, "\t\toifname %q drop\n", link)
	for _, d := range turnedOn {
		fmt.Fprintf(&b, "\t\tiifname %q drop\n", d)
	}
	fmt.Fprintf(&b, "\t}\n")
	fmt.Fprintf(&b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q oifname != %q masquerade\n", link, link)
	fmt.Fprintf(&b, "\t}\n}\n")
	return b.String()
}

// Masquerade turns forwarding on for the devices of the host's default routes (replies from
// the real network are forwarded from there to the link) and loads MasqueradeRules. It is
// only ever run by an operator's --internet-masquerade: tests render the rules, never this.
func Masquerade(ctx context.Context, hl HostLink) error {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	var turnedOn []string
	for _, r := range routes {
		if r.Dst != nil && onesOf(r) != 0 {
			continue // not a default route
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil || l.Attrs().Name == hl.Link {
			continue
		}
		key := sysctlPath("ipv4.conf." + l.Attrs().Name + ".forwarding")
		if v, err := os.ReadFile(key); err == nil && strings.TrimSpace(string(v)) == "0" {
			if err := os.WriteFile(key, []byte("1"), 0o644); err != nil {
				return err
			}
			turnedOn = append(turnedOn, l.Attrs().Name)
		}
	}
	// Once turned on, a device stays on across a re-run of this: the table remembers it.
	for _, d := range turnedOnBefore() {
		if !slices.Contains(turnedOn, d) {
			turnedOn = append(turnedOn, d)
		}
	}
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(MasqueradeRules(hl.Link, turnedOn))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, out)
	}
	return nil
}

func onesOf(r netlink.Route) int { ones, _ := r.Dst.Mask.Size(); return ones }

// turnedOnBefore are the devices the masquerade table says it turned forwarding on for (its
// "iifname X drop" rules): the table is the record, so it survives a restart.
func turnedOnBefore() []string {
	out, err := exec.Command("nft", "list", "table", "ip", MasqueradeTable).Output()
	if err != nil {
		return nil
	}
	return parseTurnedOn(string(out))
}

func parseTurnedOn(table string) []string {
	var devs []string
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "iifname" && f[2] == "drop" {
			devs = append(devs, strings.Trim(f[1], `"`))
		}
	}
	return devs
}

// RemoveMasquerade deletes the masquerade table, if there is one, and turns forwarding off
// again on the devices it had turned it on for.
func RemoveMasquerade() error {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil // no nftables: no table either
	}
	if exec.Command("nft", "list", "table", "ip", MasqueradeTable).Run() != nil {
		return nil // none
	}
	devs := turnedOnBefore()
	if out, err := exec.Command("nft", "delete", "table", "ip", MasqueradeTable).CombinedOutput(); err != nil {
		return fmt.Errorf("nft delete table ip %s: %w: %s", MasqueradeTable, err, out)
	}
	var errs []error
	for _, d := range devs {
		if err := os.WriteFile(sysctlPath("ipv4.conf."+d+".forwarding"), []byte("0"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
