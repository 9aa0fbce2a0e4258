package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Probes send real packets from inside a namespace, for tests and benchmarks: a listener or
// socket made inside Do keeps its namespace after the goroutine leaves it.

// Server is a TCP and UDP echo service inside a namespace.
type Server struct {
	tcp net.Listener
	udp net.PacketConn
}

// Serve starts TCP and UDP echo servers on port in namespace ns (all of its addresses).
func Serve(ns string, port int) (*Server, error) {
	s := &Server{}
	err := Do(ns, func() error {
		var err error
		if s.tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	go func() {
		for {
			c, err := s.tcp.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := s.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = s.udp.WriteTo(buf[:n], from)
		}
	}()
	return s, nil
}

// Close stops the servers.
func (s *Server) Close() {
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

// Conn is a TCP connection made from a namespace, kept open to test what happens to an
// established flow when rules change.
type Conn struct{ c net.Conn }

// DialTCP connects from namespace ns; it fails if no handshake completes within timeout.
func DialTCP(ns string, to netip.AddrPort, timeout time.Duration) (*Conn, error) {
	return DialTCPFrom(ns, 0, to, timeout)
}

// DialTCPFrom is DialTCP from a given local port (0: the kernel picks one).
func DialTCPFrom(ns string, port int, to netip.AddrPort, timeout time.Duration) (*Conn, error) {
	var c net.Conn
	err := Do(ns, func() error {
		d := net.Dialer{Timeout: timeout}
		if port > 0 {
			d.LocalAddr = &net.TCPAddr{Port: port}
		}
		var err error
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Conn{c}, nil
}

// Echo sends a line and waits for it to come back.
func (c *Conn) Echo(timeout time.Duration) error {
	_ = c.c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("stockade\n")
	if _, err := c.c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c.c, buf)
	return err
}

// Close closes the connection.
func (c *Conn) Close() { c.c.Close() }

// TCP reports whether a TCP connection from ns to addr completes and echoes.
func TCP(ns string, to netip.AddrPort, timeout time.Duration) error {
	c, err := DialTCP(ns, to, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Echo(timeout)
}

// TCPFromAddr is TCP from a given local address of ns, as an instance with several addresses
// chooses which to send from.
func TCPFromAddr(ns string, src netip.Addr, to netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := Do(ns, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		var err error
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		return err
	}
	conn := &Conn{c}
	defer conn.Close()
	return conn.Echo(timeout)
}

// UDPConn is a UDP socket in a namespace, connected to one peer, for flows of several packets.
type UDPConn struct{ c net.Conn }

// DialUDP opens a UDP socket in ns towards addr (from a fixed local port if port > 0).
func DialUDP(ns string, to netip.AddrPort, port int) (*UDPConn, error) {
	var c net.Conn
	err := Do(ns, func() error {
		d := net.Dialer{}
		if port > 0 {
			d.LocalAddr = &net.UDPAddr{Port: port}
		}
		var err error
		c, err = d.Dial("udp", to.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &UDPConn{c}, nil
}

// Echo sends one datagram and waits for the echo.
func (u *UDPConn) Echo(timeout time.Duration) error {
	_ = u.c.SetDeadline(time.Now().Add(timeout))
	if _, err := u.c.Write([]byte("stockade")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	_, err := u.c.Read(buf)
	return err
}

// Close closes the socket.
func (u *UDPConn) Close() { u.c.Close() }

// UDP reports whether one datagram from ns to addr is echoed.
func UDP(ns string, to netip.AddrPort, timeout time.Duration) error {
	u, err := DialUDP(ns, to, 0)
	if err != nil {
		return err
	}
	defer u.Close()
	return u.Echo(timeout)
}

// Ping sends one ICMP (or, to an IPv6 address, ICMPv6) echo request from ns and waits for
// the reply (the kernel of the destination namespace answers).
func Ping(ns string, to netip.Addr, timeout time.Duration) error {
	return PingID(ns, to, uint16(os.Getpid())^uint16(time.Now().UnixNano()), timeout)
}

// PingID is Ping with a given echo identifier (the "port" conntrack tracks ICMP echo by).
func PingID(ns string, to netip.Addr, id uint16, timeout time.Duration) error {
	network, unspecified, request, reply := "ip4:icmp", "0.0.0.0", byte(8), byte(0)
	if to.Is6() {
		network, unspecified, request, reply = "ip6:ipv6-icmp", "::", 128, 129
	}
	var c net.PacketConn
	err := Do(ns, func() error {
		var err error
		c, err = net.ListenPacket(network, unspecified)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	req := []byte{request, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 's', 't', 'k'}
	if to.Is4() {
		// The kernel computes ICMPv6 checksums itself (they cover the IPv6 pseudo-header).
		binary.BigEndian.PutUint16(req[2:], checksum(req))
	}
	if _, err := c.WriteTo(req, &net.IPAddr{IP: to.AsSlice()}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		if n >= 8 && buf[0] == reply && binary.BigEndian.Uint16(buf[4:]) == id && from.(*net.IPAddr).IP.Equal(to.AsSlice()) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no echo reply")
		}
	}
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Probe timeouts. A probe that should get through waits long enough for a loaded host (a
// busy machine can hold a handshake up for hundreds of milliseconds); one that should be
// dropped waits briefly, since a dropped packet never answers and a packet that does get
// through answers at once.
const (
	PassTimeout = 2 * time.Second
	DropTimeout = 400 * time.Millisecond
)

// Timeout is the probe timeout for an expected outcome.
func Timeout(pass bool) time.Duration {
	if pass {
		return PassTimeout
	}
	return DropTimeout
}

// UDPDontFragment sends one datagram of size bytes from ns to addr with the don't-fragment
// bit (IPv4; IPv6 never fragments on the way) and waits for the whole echo: a path whose MTU
// is smaller than the datagram drops it, or the sender refuses it (EMSGSIZE), rather than
// fragmenting it.
func UDPDontFragment(ns string, to netip.AddrPort, size int, timeout time.Duration) error {
	u, err := DialUDP(ns, to, 0)
	if err != nil {
		return err
	}
	defer u.Close()
	raw, err := u.c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if to.Addr().Is4() {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return err
	}
	_ = u.c.SetDeadline(time.Now().Add(timeout))
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	if _, err := u.c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, size+1)
	n, err := u.c.Read(buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("echo of %d bytes, sent %d", n, size)
	}
	return nil
}

// WhoServer answers every TCP connection with the address it came from: how a test sees the
// source address a translation gave a connection.
type WhoServer struct{ ln net.Listener }

// ServeWho starts a WhoServer in namespace ns at addr.
func ServeWho(ns string, addr netip.AddrPort) (*WhoServer, error) {
	var ln net.Listener
	if err := Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().String())
			c.Close()
		}
	}()
	return &WhoServer{ln}, nil
}

// Close stops the server.
func (w *WhoServer) Close() { w.ln.Close() }

// SeenAs connects from ns to a WhoServer at to and returns the address it saw, or an error
// if no connection is made (or no answer comes) within timeout.
func SeenAs(ns string, to netip.AddrPort, timeout time.Duration) (netip.Addr, error) {
	c, err := DialFrom(ns, "tcp", to.String(), timeout)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.ParseAddr(string(b))
}
