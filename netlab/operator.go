package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The operator attachment of a VPC router (console-ssh.md §B4): a small namespace per VPC,
// joined to the router by a veth pair, that stands for "the operator outside the VPC". What
// `stockade lab connect` and `lab ssh` open from it enters the router like traffic from the
// internet, so the target's network ACL and security groups decide, exactly as on EC2; a
// shortcut that connects from inside the target's own namespace would be local traffic that
// no rule sees.
//
// Every VPC's attachment has the same addresses: each router is a namespace of its own, so the
// addresses never meet. They are in RFC 6598's shared address space, which no customer network
// on the internet uses either.
var (
	// OperatorAddr is the operator's address as every VPC sees it: the "My IP" of the lab.
	// A security group rule must admit OperatorAddr/32 (or 0.0.0.0/0) for a connection from
	// the operator to get in; the router's source check lets nothing else in through the link.
	OperatorAddr = netip.MustParseAddr("100.64.0.2")
	// OperatorGateway is the router's end of the operator link, the operator's default route.
	OperatorGateway = netip.MustParseAddr("100.64.0.1")
	// OperatorNet is the link's prefix.
	OperatorNet = netip.MustParsePrefix("100.64.0.0/30")
	// OperatorAddr6, OperatorGateway6 and OperatorNet6 are the same in IPv6, the operator's
	// way to instances of IPv6-only subnets: a unique local prefix (RFC 4193) of the lab's
	// own, which no VPC's Amazon-provided block overlaps. A rule must admit OperatorAddr6/128
	// (or ::/0) for a connection from the operator to such an instance.
	OperatorAddr6    = netip.MustParseAddr("fd64:ec2::2")
	OperatorGateway6 = netip.MustParseAddr("fd64:ec2::1")
	OperatorNet6     = netip.MustParsePrefix("fd64:ec2::/64")
)

// OperatorDevice is the operator's end of the link, inside its namespace.
const OperatorDevice = "eth0"

// Operator is a router's operator attachment: the operator namespace and the router-side link.
type Operator struct {
	Namespace string
	Link      string
}

// Operator is the operator namespace of a VPC. Its name keeps clear of the patterns of router
// ("vpc-…") and instance ("i-…") namespaces, which a host sweeps by name.
func (n Names) Operator(vpc string) string { return n.Prefix + "-op-" + vpc }

// OperatorLink is the router-side link of the operator attachment, the same in every router
// namespace (one per router). Interface links are the prefix and ten hex digits, so the dash
// keeps the two apart; it fits Linux's 15 characters with a 5-character prefix.
func (n Names) OperatorLink() string { return n.Prefix + "-op" }

// OperatorOf is the operator attachment of a VPC.
func (n Names) OperatorOf(vpc string) Operator {
	return Operator{Namespace: n.Operator(vpc), Link: n.OperatorLink()}
}

// AttachOperator gives a router its operator attachment: the operator namespace (created if
// needed) with OperatorDevice at OperatorAddr and OperatorAddr6 and default routes to
// OperatorGateway and OperatorGateway6, and the router's end, op.Link, at both gateways. An attachment whose two ends are both there is
// adopted as it is (created is false), so that a restart keeps connections through it; a
// half-made one is made again. The router must exist.
func AttachOperator(ctx context.Context, router string, op Operator) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !Exists(router) {
		return false, fmt.Errorf("operator attachment: no router namespace %s", router)
	}
	if err := create(op.Namespace); err != nil {
		return false, err
	}
	rh, err := handle(router)
	if err != nil {
		return false, err
	}
	defer rh.Close()
	oh, err := handle(op.Namespace)
	if err != nil {
		return false, err
	}
	defer oh.Close()
	rl, rerr := rh.LinkByName(op.Link)
	ol, oerr := oh.LinkByName(OperatorDevice)
	if rerr == nil && oerr == nil && isPeer(rl, ol) {
		return false, configureOperator(rh, oh, rl, ol)
	}
	// Half made (one end, or ends of two different pairs): start again.
	if rerr == nil {
		_ = rh.LinkDel(rl)
	}
	if oerr == nil {
		_ = oh.LinkDel(ol)
	}
	h, err := netns.GetFromPath(Path(op.Namespace))
	if err != nil {
		return false, err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: op.Link}, PeerName: OperatorDevice, PeerNamespace: netlink.NsFd(int(h))}
	if err := rh.LinkAdd(veth); err != nil {
		return false, fmt.Errorf("create link %s: %w", op.Link, err)
	}
	if rl, err = rh.LinkByName(op.Link); err != nil {
		return true, err
	}
	if ol, err = oh.LinkByName(OperatorDevice); err != nil {
		return true, err
	}
	return true, configureOperator(rh, oh, rl, ol)
}

// isPeer reports whether two veth ends are one pair: each end's peer index is the other's
// index (the kernel reports the peer's index as a veth's parent index).
func isPeer(a, b netlink.Link) bool {
	return a.Attrs().ParentIndex == b.Attrs().Index && b.Attrs().ParentIndex == a.Attrs().Index
}

// configureOperator sets the addresses, links and the operator's default route; what is
// already there stays.
func configureOperator(rh, oh *netlink.Handle, rl, ol netlink.Link) error {
	for _, a := range []struct {
		h    *netlink.Handle
		l    netlink.Link
		addr netip.Prefix
	}{
		{rh, rl, netip.PrefixFrom(OperatorGateway, OperatorNet.Bits())},
		{oh, ol, netip.PrefixFrom(OperatorAddr, OperatorNet.Bits())},
		{rh, rl, netip.PrefixFrom(OperatorGateway6, OperatorNet6.Bits())},
		{oh, ol, netip.PrefixFrom(OperatorAddr6, OperatorNet6.Bits())},
	} {
		addr := &netlink.Addr{IPNet: ipNet(a.addr)}
		if a.addr.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD // usable at once, as the instances' are
		}
		if err := a.h.AddrAdd(a.l, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("operator link address %s: %w", a.addr, err)
		}
	}
	if err := rh.LinkSetUp(rl); err != nil {
		return err
	}
	lo, err := oh.LinkByName("lo")
	if err != nil {
		return err
	}
	for _, l := range []netlink.Link{lo, ol} {
		if err := oh.LinkSetUp(l); err != nil {
			return err
		}
	}
	for _, gw := range []netip.Addr{OperatorGateway, OperatorGateway6} {
		r := &netlink.Route{LinkIndex: ol.Attrs().Index, Gw: gw.AsSlice()}
		if gw.Is6() {
			r.Dst = ipNet(netip.MustParsePrefix("::/0"))
		}
		if err := oh.RouteReplace(r); err != nil {
			return fmt.Errorf("operator default route via %s: %w", gw, err)
		}
	}
	return nil
}

// DialFrom opens a connection from inside a namespace (network "tcp", "tcp4", "udp"…, as for
// net.Dial), for `stockade lab connect`: the socket belongs to the namespace for its whole
// life, so from a VPC's operator namespace its packets cross the router like any other. It
// fails if the connection is not made within timeout (0: no limit of its own).
func DialFrom(ns, network, addr string, timeout time.Duration) (net.Conn, error) {
	if !Exists(ns) {
		return nil, fmt.Errorf("dial from %s: no such namespace", ns)
	}
	var c net.Conn
	err := Do(ns, func() error {
		var err error
		c, err = (&net.Dialer{Timeout: timeout}).Dial(network, addr)
		return err
	})
	return c, err
}
