package netlab

import (
	"errors"
	"net"
	"slices"
	"testing"
)

// The metadata listener joins the IPv4 and the IPv6 endpoint: Accept returns the connections
// of both, and after Close it fails with net.ErrClosed and both listeners are closed.
func TestJoinedListeners(t *testing.T) {
	var ls []net.Listener
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("no %s loopback: %v", network, err)
		}
		ls = append(ls, l)
	}
	j := joinListeners(ls...)
	var want, got []string
	for _, l := range ls {
		c, err := net.Dial(l.Addr().Network(), l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want = append(want, c.LocalAddr().String())
		a, err := j.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.RemoteAddr().String())
		a.Close()
	}
	if !slices.Equal(got, want) {
		t.Errorf("accepted from %v, want %v", got, want)
	}
	j.Close()
	if _, err := j.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	for _, l := range ls {
		if _, err := net.Dial(l.Addr().Network(), l.Addr().String()); err == nil {
			t.Errorf("%s still listens after Close", l.Addr())
		}
	}
}
