// Package etcdtest starts etcd inside a test process (go.etcd.io/etcd/server/v3/embed): one
// member, or a cluster of several whose members a fault test stops and starts again, on
// loopback ports it picks and with their data in the test's temporary directory; and a
// loopback forwarder (Proxy) through which a test cuts one client off etcd and heals the
// partition. It is for tests only: archtest keeps the etcd server out of the
// stockade binary, so only _test.go files may import this package.
package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is an embedded etcd member.
type Server struct {
	// Endpoints are its client URLs, for etcd.Options.Endpoints.
	Endpoints []string
	// With StartTLS: the CA that signed the server's and the client's certificates, and the
	// client's certificate and key (files).
	CACert, ClientCert, ClientKey string
	e                             *embed.Etcd
	stop                          sync.Once
}

// Start starts a member and stops it when the test ends. Nothing needs root.
func Start(t testing.TB) *Server { return startT(t, false) }

// StartTLS starts a member that serves clients over TLS only and requires a client
// certificate signed by its CA.
func StartTLS(t testing.TB) *Server { return startT(t, true) }

func startT(t testing.TB, withTLS bool) *Server {
	t.Helper()
	s := retryStart(t, "embedded etcd", func(dir string) (*Server, error) { return start(dir, withTLS) })
	t.Cleanup(s.Stop)
	return s
}

// retryStart runs start up to three times, each in a new temporary directory: a port picked
// free can be taken by another process before etcd binds it.
func retryStart[T any](t testing.TB, what string, start func(dir string) (T, error)) T {
	t.Helper()
	var err error
	for range 3 {
		var v T
		if v, err = start(t.TempDir()); err == nil {
			return v
		}
	}
	t.Fatalf("%s: %v", what, err)
	var zero T
	return zero
}

func start(dir string, withTLS bool) (*Server, error) {
	client, err := freeURL()
	if err != nil {
		return nil, err
	}
	srv := &Server{}
	cfg := embed.NewConfig()
	if withTLS {
		client.Scheme = "https"
		if srv.CACert, srv.ClientCert, srv.ClientKey, cfg.ClientTLSInfo, err = certificates(filepath.Join(dir, "pki")); err != nil {
			return nil, err
		}
	}
	peer, err := freeURL()
	if err != nil {
		return nil, err
	}
	cfg.Name = "stockade-test"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Its shutdown logs errors about closed listeners: tests see what matters in their own.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Durability is etcd's business, not the tests': fsync only slows the shared cores.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(time.Minute): // a bound on a broken start, not a timing assertion
		e.Close()
		return nil, fmt.Errorf("etcd not ready after a minute")
	}
	srv.Endpoints, srv.e = []string{client.String()}, e
	return srv, nil
}

// freeURL is an http URL on a loopback port free a moment ago.
func freeURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	return &url.URL{Scheme: "http", Host: addr}, nil
}

// Stop stops the member (again: a no-op); its clients then get errors.
func (s *Server) Stop() { s.stop.Do(s.e.Close) }

// certificates writes a CA, a server certificate for 127.0.0.1 and a client certificate into
// dir, and returns the files and the server's TLS configuration.
func certificates(dir string) (ca, cert, key string, server transport.TLSInfo, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", server, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", server, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stockade test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", "", server, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", "", server, err
	}
	ca = filepath.Join(dir, "ca.pem")
	if err := writePEM(ca, "CERTIFICATE", caDER); err != nil {
		return "", "", "", server, err
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", "", err
		}
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", kder)
	}
	serverCert, serverKey, err := leaf("server", 2, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return "", "", "", server, err
	}
	if cert, key, err = leaf("client", 3, x509.ExtKeyUsageClientAuth); err != nil {
		return "", "", "", server, err
	}
	return ca, cert, key, transport.TLSInfo{CertFile: serverCert, KeyFile: serverKey, TrustedCAFile: ca, ClientCertAuth: true}, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// Cluster is several embedded members of one etcd cluster, for fault tests.
type Cluster struct {
	// Endpoints are every member's client URL.
	Endpoints []string
	members   []*member
}

type member struct {
	mu     sync.Mutex
	cfg    *embed.Config
	e      *embed.Etcd // nil while stopped
	client string
}

// StartCluster starts an n-member cluster and stops it when the test ends. Elections are
// relaxed (heartbeat 100 ms, election 1 s) for a shared machine.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := retryStart(t, "embedded etcd cluster", func(dir string) (*Cluster, error) { return startCluster(dir, n) })
	t.Cleanup(c.stopAll)
	return c
}

func startCluster(dir string, n int) (*Cluster, error) {
	c := &Cluster{}
	initial := ""
	for i := range n {
		client, err := freeURL()
		if err != nil {
			return nil, err
		}
		peer, err := freeURL()
		if err != nil {
			return nil, err
		}
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.UnsafeNoFsync = true
		cfg.TickMs, cfg.ElectionMs = 100, 1000
		if initial != "" {
			initial += ","
		}
		initial += cfg.Name + "=" + peer.String()
		c.members = append(c.members, &member{cfg: cfg, client: client.String()})
		c.Endpoints = append(c.Endpoints, client.String())
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = initial
		m.cfg.InitialClusterToken = "stockade-test-cluster"
	}
	// Every member must be up before any is ready: readiness needs a quorum.
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() {
			e, err := embed.StartEtcd(m.cfg)
			if err == nil {
				m.mu.Lock()
				m.e = e
				m.mu.Unlock()
			}
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		c.stopAll()
		return nil, first
	}
	for _, m := range c.members {
		if err := m.ready(); err != nil {
			c.stopAll()
			return nil, err
		}
	}
	return c, nil
}

func (m *member) ready() error {
	m.mu.Lock()
	e := m.e
	m.mu.Unlock()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return err
	case <-time.After(time.Minute): // a bound on a broken start, not a timing assertion
		return fmt.Errorf("etcd member %s not ready after a minute", m.cfg.Name)
	}
}

// Stop stops member i (as a crash would, from its peers' view); a stopped member is a no-op.
func (c *Cluster) Stop(i int) {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// Restart starts a stopped member i again with its data; it rejoins the cluster. It waits
// until the member serves, which needs a quorum with it.
func (c *Cluster) Restart(i int) error {
	m := c.members[i]
	m.mu.Lock()
	if m.e != nil {
		m.mu.Unlock()
		return nil
	}
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.e = e
	m.mu.Unlock()
	return m.ready()
}

func (c *Cluster) stopAll() {
	for i := range c.members {
		c.Stop(i)
	}
}
