// Package etcdtest starts a one-member etcd server inside a test process
// (go.etcd.io/etcd/server/v3/embed), on loopback ports it picks and with its data in the
// test's temporary directory. It is for tests only: archtest keeps the etcd server out of the
// stockade binary, so only _test.go files may import this package.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is an embedded etcd member.
type Server struct {
	// Endpoints are its client URLs, for etcd.Options.Endpoints.
	Endpoints []string
	e         *embed.Etcd
	stop      sync.Once
}

// Start starts a member and stops it when the test ends. Nothing needs root.
func Start(t testing.TB) *Server {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a picked port can be taken before etcd binds it
		var s *Server
		if s, err = start(t.TempDir()); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("embedded etcd: %v", err)
	return nil
}

func start(dir string) (*Server, error) {
	client, err := freeURL()
	if err != nil {
		return nil, err
	}
	peer, err := freeURL()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "stockade-test"
	cfg.Dir = dir
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
	return &Server{Endpoints: []string{client.String()}, e: e}, nil
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
