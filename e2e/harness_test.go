package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/syncbuf"
)

// binary is the stockade binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stockade-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "stockade")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/stockade").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build stockade: %v\n%s", err, out)
		os.Exit(1)
	}
	stopCLI := warmAWSCLI(dir)
	code := m.Run()
	stopCLI()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running stockade process owned by one test.
type server struct {
	cmd      *exec.Cmd
	endpoint string
	dataDir  string
	stderr   *syncbuf.Buffer
	akid     string
	secret   string
	done     chan struct{} // closed when the process has exited
}

// stop sends sig to the server and waits (up to 15 s) until it has exited.
func (s *server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not exit on %v", sig)
	}
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs the binary on a fresh loopback port with dataDir ("" for a new one) and
// waits until /healthz answers. Cleanup stops it (SIGTERM, then SIGKILL) by its own PID.
func startServer(t testing.TB, dataDir string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--enforce") || strings.HasPrefix(a, "--lab-prefix")
	}) {
		// Tests that do not ask for enforcement must not touch the kernel, even as root.
		args = append(args, "--enforce=false")
	}
	addr := freePort(t)
	s := &server{endpoint: "http://" + addr, dataDir: dataDir, stderr: &syncbuf.Buffer{}}
	s.cmd = exec.Command(binary, append([]string{"server", "--listen", addr, "--data-dir", dataDir}, args...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("server exited: %s", s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy within 15s: %s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a process we do not control; bounded by the deadline
	}
	s.akid, s.secret = readCredentials(t, filepath.Join(dataDir, "credentials"), "default")
	return s
}

// readCredentials parses one profile of a shared-credentials file.
func readCredentials(t testing.TB, path, profile string) (akid, secret string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseCredentials(t, bufio.NewScanner(f), profile)
}

func parseCredentials(t testing.TB, sc *bufio.Scanner, profile string) (akid, secret string) {
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "["):
			in = line == "["+profile+"]"
		case in && strings.HasPrefix(line, "aws_access_key_id"):
			akid = strings.TrimSpace(strings.SplitN(line, "=", 2)[1])
		case in && strings.HasPrefix(line, "aws_secret_access_key"):
			secret = strings.TrimSpace(strings.SplitN(line, "=", 2)[1])
		}
	}
	if akid == "" || secret == "" {
		t.Fatalf("profile %s not found in credentials", profile)
	}
	return akid, secret
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
