package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MetadataAddr is the instance metadata service's address, 169.254.169.254, as on EC2.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// ListenMetadata opens the metadata service's listener of one instance: TCP port 80 on
// 169.254.169.254, an address of the loopback of its VPC's router namespace, for connections
// that arrive through link — the router end of the instance's primary interface — only
// (SO_BINDTODEVICE; every instance of the VPC has a listener of its own on the same address
// and port). The link is the instance's identity: a source address can be forged, the
// interface a packet arrives on cannot. The instance's default route already leads to the
// router; the connection is delivered to the router itself, not forwarded, so security groups
// and network ACLs do not apply to it, as on EC2. Nothing listens inside the instance, whose
// ports (80 included) are all its own.
func ListenMetadata(router, link string) (net.Listener, error) {
	h, err := handle(router)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("%s: loopback: %w", router, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: MetadataAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: int(netlink.SCOPE_HOST)}
	if err := h.AddrAdd(lo, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("%s: metadata address: %w", router, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), link) })
		return errors.Join(err, serr)
	}}
	var l net.Listener
	err = Do(router, func() error {
		var err error
		l, err = lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(MetadataAddr, 80).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: metadata listener on %s: %w", router, link, err)
	}
	return l, nil
}
