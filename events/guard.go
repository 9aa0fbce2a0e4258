package events

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
)

// Guard decides which addresses webhooks may reach. Tenants are untrusted, and a webhook is
// a request the server makes on their behalf: pointed at the host's metadata service or at
// Stockade's own API it is a server-side request forgery. So, unless the operator allows the
// range (--events-allow-target):
//
//   - link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services, the lab's
//     metadata address), unspecified, multicast and broadcast addresses are refused;
//   - the server's own listen address is refused (an event loop through its own API, and
//     its admin and metrics paths).
//
// Loopback and private addresses are allowed: a receiver on the operator's host or network
// is the normal use of a self-hosted bus. CreateApiDestination applies the check to a literal
// address; delivery applies it to every address a name resolves to, at connect time
// (Dialer.Control), so that DNS cannot move a destination somewhere it may not go, and
// redirects are not followed.
type Guard struct {
	// Allow are ranges the operator admits even where the rules above refuse.
	Allow []netip.Prefix
	// Self are the server's own listen addresses (an unspecified address stands for every
	// local address with that port).
	Self []netip.AddrPort
}

// Check refuses an address and port the guard does not admit.
func (g *Guard) Check(ap netip.AddrPort) error {
	if g == nil {
		return nil
	}
	a := ap.Addr().Unmap()
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	switch {
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return fmt.Errorf("%s is link-local", a)
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is not a unicast address", a)
	}
	for _, s := range g.Self {
		if s.Port() != ap.Port() {
			continue
		}
		if s.Addr().Unmap() == a || (s.Addr().IsUnspecified() && (a.IsLoopback() || isLocal(a))) {
			return fmt.Errorf("%s is this server's own address", ap)
		}
	}
	return nil
}

// isLocal reports whether a is an address of one of the host's interfaces.
func isLocal(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// CheckURL checks a URL whose host is a literal address; a name is checked when it is
// resolved, at delivery.
func (g *Guard) CheckURL(u *url.URL) error {
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q", port)
	}
	return g.Check(netip.AddrPortFrom(a, uint16(p)))
}

// errGuarded marks a connection the guard refused.
var errGuarded = errors.New("refused by the webhook guard")

// control is a net.Dialer's Control: it runs on the resolved address before connecting.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errGuarded, address)
	}
	if err := g.Check(ap); err != nil {
		return fmt.Errorf("%w: %v", errGuarded, err)
	}
	return nil
}
