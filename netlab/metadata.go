package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
)

// MetadataAddr is the instance metadata service's address, 169.254.169.254, as on EC2.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// ListenMetadata opens the metadata service's listener of an instance: TCP port 80 on
// 169.254.169.254, an address of the loopback of the instance's own namespace. Traffic to it
// never leaves the namespace, so it crosses no router (security groups and network ACLs do not
// apply to the metadata service, as on EC2), no other namespace can reach it, and the
// listener is the instance's identity. The listener belongs to the namespace for its life.
func ListenMetadata(ns string) (net.Listener, error) {
	h, err := handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("%s: loopback: %w", ns, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: MetadataAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: int(netlink.SCOPE_HOST)}
	if err := h.AddrAdd(lo, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("%s: metadata address: %w", ns, err)
	}
	var l net.Listener
	err = Do(ns, func() error {
		var err error
		l, err = net.Listen("tcp4", netip.AddrPortFrom(MetadataAddr, 80).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: metadata listener: %w", ns, err)
	}
	return l, nil
}
