package imds

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config configures a Server. Zero fields take the defaults.
type Config struct {
	// Now is the clock (token expiry, rate limit); tests replace it. Default time.Now.
	Now func() time.Time
	// RequestsPerSecond is each instance's request rate; a burst of one second's worth is
	// allowed, and requests over it are answered 429 Too Many Requests, as EC2 throttles
	// IMDS per instance (its numbers are not published). Default 1,024.
	RequestsPerSecond int
	// MaxConns caps each instance's open connections; a connection over the cap is closed as
	// soon as it is accepted. Default 32.
	MaxConns int
}

// Defaults of Config.
const (
	DefaultRequestsPerSecond = 1024
	DefaultMaxConns          = 32
	maxHeaderBytes           = 8 << 10
)

// Server is the metadata service of the instances of one host. It is safe for concurrent use.
type Server struct {
	src    Source
	cfg    Config
	tokens *tokens

	mu      sync.Mutex
	buckets map[string]*bucket // per instance
}

// New returns a server that reads instances from src, with a fresh token secret.
func New(src Source, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestsPerSecond <= 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	return &Server{src: src, cfg: cfg, tokens: newTokens(), buckets: map[string]*bucket{}}
}

// Handler is the metadata service of one instance, for tests and for callers that bring their
// own http.Server. Served this way, the token response's hop limit is not applied (there is
// no socket to apply it to): Serve applies it.
func (s *Server) Handler(instanceID string) http.Handler {
	return &handler{s: s, id: instanceID}
}

// Serve answers instanceID's metadata requests on l until l is closed (http.ErrServerClosed
// is then returned as nil). The listener is the instance's identity: the host creates it
// inside the instance's network namespace on 169.254.169.254:80, where no other instance can
// reach it.
func (s *Server) Serve(l net.Listener, instanceID string) error {
	srv := &http.Server{
		Handler:           s.Handler(instanceID),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		// The token response's hop limit is a socket option of the connection the request came
		// on: the handler finds the connection in the request's context.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connState{conn: c})
		},
	}
	defer s.forget(instanceID)
	err := srv.Serve(&capListener{Listener: l, slots: make(chan struct{}, s.cfg.MaxConns)})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// forget drops an instance's rate-limit state once its listener is gone.
func (s *Server) forget(id string) {
	s.mu.Lock()
	delete(s.buckets, id)
	s.mu.Unlock()
}

// allow takes one request from the instance's bucket.
func (s *Server) allow(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(s.cfg.RequestsPerSecond), at: s.cfg.Now()}
		s.buckets[id] = b
	}
	return b.take(s.cfg.Now(), float64(s.cfg.RequestsPerSecond))
}

// bucket is a token bucket that holds at most one second of requests.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) take(now time.Time, rate float64) bool {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(rate, b.tokens+d.Seconds()*rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// capListener closes connections accepted over the cap at once: a client that opens too many
// sees its connection reset, and the server's goroutines and buffers stay bounded.
type capListener struct {
	net.Listener
	slots chan struct{}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &capConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
		}
	}
}

type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn reaches the socket under the cap, for the hop limit.
func (c *capConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

type connKey struct{}

// connState is one connection's: requests on a connection are served one at a time, so it
// needs no lock.
type connState struct {
	conn    net.Conn
	limited bool // the TTL was lowered for a token response
}

// setHopLimit sets the unicast TTL (IPv4) or hop limit (IPv6) of the connection's socket;
// -1 restores the system default. Only the token response is limited (spec §B2.1): once it is
// written, the next response on the connection restores the default.
func (cs *connState) setHopLimit(hops int) error {
	sc, ok := cs.conn.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	level, opt := unix.IPPROTO_IP, unix.IP_TTL
	if cs.ipv6() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, hops) }); err != nil {
		return err
	}
	if serr == nil {
		cs.limited = hops != -1
	}
	return serr
}

// ipv6 reports whether the connection came to the IPv6 endpoint (fd00:ec2::254); a handler
// served without a connection (Handler) is the IPv4 one.
func (cs *connState) ipv6() bool {
	if cs == nil {
		return false
	}
	a, ok := cs.conn.LocalAddr().(*net.TCPAddr)
	return ok && a.IP.To4() == nil
}
