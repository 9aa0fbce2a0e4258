package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/syncbuf"
)

// TestEnforceNeedsNft: a root server on a host without the nft binary refuses to start and
// names what is missing, rather than running without enforcement.
func TestEnforceNeedsNft(t *testing.T) {
	needKernel(t)
	nsenter, err := exec.LookPath("nsenter") // present: needKernel checked
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(nsenter, filepath.Join(bin, "nsenter")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "server", "--listen", freePort(t), "--data-dir", t.TempDir(), "--lab-prefix", labPrefix(t))
	cmd.Env = append(os.Environ(), "PATH="+bin)
	done := make(chan error, 1)
	var out syncbuf.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("server started without nft:\n%s", out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server kept running without nft:\n%s", out.String())
	}
	if msg := out.String(); !strings.Contains(msg, "nft") || !strings.Contains(msg, "nftables") {
		t.Errorf("start-up error does not name what is missing:\n%s", msg)
	}
}

// TestEnforcedEndpoint: /enforced waits for a revision or "latest", refuses bad input, and
// says 503 on a server that enforces nothing.
func TestEnforcedEndpoint(t *testing.T) {
	get := func(s *server, q string) int {
		t.Helper()
		resp, err := http.Get(s.endpoint + "/enforced?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	off := startServer(t, "")
	if code := get(off, "revision=1"); code != http.StatusServiceUnavailable {
		t.Errorf("enforcement off: %d, want 503", code)
	}
	needKernel(t)
	e := newLabEnv(t)
	e.vpc("10.40.0.0/16")
	for q, want := range map[string]int{
		"revision=latest":               200,
		"revision=1":                    200,
		"revision=abc":                  400,
		"revision=1&timeout=2h":         400,
		"revision=999999&timeout=100ms": 504,
		"revision=latest&timeout=1s":    200,
		"timeout=1s":                    400,
	} {
		if code := get(e.s, q); code != want {
			t.Errorf("/enforced?%s: %d, want %d", q, code, want)
		}
	}
}
