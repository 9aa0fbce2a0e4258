package etcdtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP from a loopback port of its own to an etcd member, so that a test can cut
// one client off: Cut closes every connection and refuses new ones (accepted and closed at
// once, as a host whose route to etcd is gone sees resets), Heal accepts again. etcd's client
// sees what a partition shows it: broken streams and failing reconnects. Refused counts the
// connections refused while cut: the client's reconnection attempts.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	isCut   bool
	conns   map[net.Conn]bool
	closed  bool
	refused int
}

// NewProxy forwards to target (host:port) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() { p.accept(&wg) })
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		ln.Close()
		p.Cut()
		wg.Wait()
	})
	return p
}

// Endpoint is the proxy's client URL, for etcd.Options.Endpoints or --etcd-endpoints.
func (p *Proxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

func (p *Proxy) accept(wg *sync.WaitGroup) {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.isCut || p.closed
		p.mu.Unlock()
		if refuse {
			p.mu.Lock()
			p.refused++
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, out) {
			continue
		}
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			p.drop(in, out)
		}
		wg.Go(func() { pipe(out, in) })
		wg.Go(func() { pipe(in, out) })
	}
}

// track records a connection pair; false (and both closed) when the proxy was cut meanwhile.
func (p *Proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isCut || p.closed {
		in.Close()
		out.Close()
		return false
	}
	p.conns[in], p.conns[out] = true, true
	return true
}

func (p *Proxy) drop(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Cut closes every connection and refuses new ones until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Heal accepts connections again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = false
}

// Refused is how many connections were refused while cut.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}
