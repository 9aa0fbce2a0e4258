package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MetadataAddr is the instance metadata service's address, 169.254.169.254, as on EC2, and
// MetadataAddr6 its IPv6 endpoint, fd00:ec2::254, the one an instance in an IPv6-only subnet
// reaches it by ("Instance metadata service IPv6 endpoint", EC2 User Guide). The metadata
// service answers there only when the instance's HttpProtocolIpv6 is enabled (package imds).
var (
	MetadataAddr  = netip.MustParseAddr("169.254.169.254")
	MetadataAddr6 = netip.MustParseAddr("fd00:ec2::254")
)

// ListenMetadata opens the metadata service's listener of one instance: TCP port 80 on
// 169.254.169.254 and on [fd00:ec2::254], addresses of the loopback of its VPC's router
// namespace, for connections that arrive through link — the router end of the instance's
// primary interface — only (SO_BINDTODEVICE; every instance of the VPC has a listener of its
// own on the same addresses and port). The link is the instance's identity: a source address
// can be forged, the interface a packet arrives on cannot. The instance's default routes
// already lead to the router; the connection is delivered to the router itself, not
// forwarded, so security groups and network ACLs do not apply to it, as on EC2. Nothing
// listens inside the instance, whose ports (80 included) are all its own. The one listener
// returned accepts on both endpoints.
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
	var ls []net.Listener
	for _, a := range []netip.Addr{MetadataAddr, MetadataAddr6} {
		addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, a.BitLen())), Scope: int(netlink.SCOPE_HOST)}
		if a.Is6() {
			addr.Scope, addr.Flags = int(netlink.SCOPE_UNIVERSE), unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(lo, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			closeAll(ls)
			return nil, fmt.Errorf("%s: metadata address %s: %w", router, a, err)
		}
		l, err := listenOn(router, link, a)
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("%s: metadata listener on %s: %w", router, link, err)
		}
		ls = append(ls, l)
	}
	return joinListeners(ls...), nil
}

// listenOn listens on port 80 of address a in namespace ns, for connections through link only.
func listenOn(ns, link string, a netip.Addr) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), link) })
		return errors.Join(err, serr)
	}}
	network := "tcp4"
	if a.Is6() {
		network = "tcp6"
	}
	var l net.Listener
	err := Do(ns, func() error {
		var err error
		l, err = lc.Listen(context.Background(), network, netip.AddrPortFrom(a, 80).String())
		return err
	})
	return l, err
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// joined is several listeners as one: Accept returns a connection from any of them, Close
// closes them all, Addr is the first's. Each listener has one goroutine that accepts into a
// channel; it ends when its listener is closed.
type joined struct {
	ls     []net.Listener
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func joinListeners(ls ...net.Listener) net.Listener {
	j := &joined{ls: ls, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, l := range ls {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return // closed: Close closes them all
				}
				select {
				case j.conns <- c:
				case <-j.done:
					c.Close()
					return
				}
			}
		}()
	}
	return j
}

func (j *joined) Accept() (net.Conn, error) {
	select {
	case <-j.done: // closed wins over a connection that is waiting
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-j.conns:
		return c, nil
	case <-j.done:
		return nil, net.ErrClosed
	}
}

func (j *joined) Close() error {
	j.closed.Do(func() { close(j.done); closeAll(j.ls) })
	return nil
}

func (j *joined) Addr() net.Addr { return j.ls[0].Addr() }
