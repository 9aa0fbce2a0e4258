package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/datadir"
)

// failingListener accepts nothing: once the test closes fail, its Accept fails the way a
// broken socket does.
type failingListener struct {
	net.Listener
	fail chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	<-l.fail
	return nil, errors.New("accept: socket broken")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestServeFailsWhenAListenerFails: a listener that fails after start stops the server with
// an error naming it (so runServer returns it and the process exits 1), and the other server
// is shut down too (review: runServer returned nil after srv.Serve failed).
func TestServeFailsWhenAListenerFails(t *testing.T) {
	healthy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broken := &failingListener{Listener: healthy, fail: make(chan struct{})}
	ok, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiSrv, adminSrv := &http.Server{Handler: http.NotFoundHandler()}, &http.Server{Handler: http.NotFoundHandler()}
	done := make(chan error, 1)
	go func() {
		done <- serve(context.Background(), quiet(), listener{"API", apiSrv, ok}, listener{"admin", adminSrv, broken})
	}()
	close(broken.fail)
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "admin listener failed") {
		t.Fatalf("serve = %v, want the admin listener's failure", err)
	}
	if _, err := net.Dial("tcp", ok.Addr().String()); err == nil {
		t.Error("the API listener still accepts after the admin one failed")
	}
}

// TestServeStopsCleanly: when its context ends, serve shuts every server down and reports no
// failure.
func TestServeStopsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, quiet(), listener{"API", &http.Server{Handler: http.NotFoundHandler()}, ln})
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve = %v after its context ended", err)
	}
}

// TestControlFlagsRefusedBeforeTheStore: a bad --public-pool, --aws-ip-ranges or
// --admission-policy stops the server before it opens the store or makes the administrator.
func TestControlFlagsRefusedBeforeTheStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*serverConfig)
		want string
	}{
		{"public pool", func(c *serverConfig) { c.PublicPool = "not-a-cidr" }, "--public-pool"},
		{"AWS ranges", func(c *serverConfig) { c.AWSIPRanges = "/nonexistent/ip-ranges.json" }, "--aws-ip-ranges"},
		{"admission policy", func(c *serverConfig) { c.AdmissionPolicy = "/nonexistent/policy.json" }, "--admission-policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serverConfig{LabPrefix: "stk", LogLevel: "info", Quotas: control.DefaultQuotas(), DataDir: filepath.Join(t.TempDir(), "data")}
			tc.set(&cfg)
			if err := runServer(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("runServer = %v, want %q", err, tc.want)
			}
			for _, f := range []string{datadir.Store, datadir.Credentials} {
				if _, err := os.Stat(filepath.Join(cfg.DataDir, f)); !os.IsNotExist(err) {
					t.Errorf("%s was made before the flag was refused: %v", f, err)
				}
			}
		})
	}
}
