package imds

import (
	"bufio"

	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/model"
)

// recordingListener keeps the connections it accepted, so that a test can read their socket
// options from the server's side.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *recordingListener) last(t *testing.T) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		t.Fatal("no connection accepted")
	}
	return l.conns[len(l.conns)-1]
}

// serve runs srv for id on a loopback listener of network ("tcp4" or "tcp6") until the test ends.
func serve(t *testing.T, srv *Server, id, network, addr string) *recordingListener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback on this host (IPv6 off?): %v", network, err)
	}
	rl := &recordingListener{Listener: l}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(rl, id) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return rl
}

func sockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// The token response leaves with the instance's hop limit as its IP TTL (IPv6: hop limit);
// the next response on the same connection has the system default again.
func TestHopLimitOnTheSocket(t *testing.T) {
	for _, c := range []struct {
		network, addr string
		level, opt    int
		defaultFile   string
	}{
		{"tcp4", "127.0.0.1:0", unix.IPPROTO_IP, unix.IP_TTL, "/proc/sys/net/ipv4/ip_default_ttl"},
		{"tcp6", "[::1]:0", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, "/proc/sys/net/ipv6/conf/lo/hop_limit"},
	} {
		t.Run(c.network, func(t *testing.T) {
			h := newHarness(t, i1)
			h.src.update(i1, func(in *Instance) {
				in.Options.HttpPutResponseHopLimit, in.Options.HttpProtocolIpv6 = 3, model.Enabled
			})
			l := serve(t, h.srv, i1, c.network, c.addr)
			def := readInt(t, c.defaultFile)

			conn, err := net.Dial(c.network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			roundTrip := func(method, path string, headers ...string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(method, "http://"+l.Addr().String()+path, nil)
				for i := 0; i < len(headers); i += 2 {
					req.Header.Set(headers[i], headers[i+1])
				}
				if err := req.Write(conn); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}

			if resp := roundTrip("GET", "/latest/meta-data/instance-id"); resp.StatusCode != 200 {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			server := l.last(t)
			if got := sockopt(t, server, c.level, c.opt); got != def {
				t.Errorf("before the PUT: TTL %d, want the default %d", got, def)
			}
			if resp := roundTrip("PUT", "/latest/api/token", HeaderTokenTTL, "60"); resp.StatusCode != 200 {
				t.Fatalf("PUT: %d", resp.StatusCode)
			}
			if got := sockopt(t, server, c.level, c.opt); got != 3 {
				t.Errorf("after the PUT: TTL %d, want the hop limit 3", got)
			}
			if resp := roundTrip("GET", "/latest/meta-data/instance-id"); resp.StatusCode != 200 {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			if got := sockopt(t, server, c.level, c.opt); got != def {
				t.Errorf("after the next GET: TTL %d, want the default %d", got, def)
			}
		})
	}
}

func readInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		// The IPv6 file is missing where the kernel has IPv6 off: no default to compare with.
		t.Skipf("the system's default hop limit is not readable (IPv6 off on this host?): %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A connection over the cap is closed as soon as it is accepted; one under it is served.
func TestConnectionCap(t *testing.T) {
	h := newHarness(t, i1)
	h.srv = New(h.src.get, Config{Now: h.clock.Now, MaxConns: 1})
	l := serve(t, h.srv, i1, "tcp4", "127.0.0.1:0")
	first, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// The first connection is served (and so holds the only slot).
	io.WriteString(first, "GET /latest/meta-data/mac HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(first), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first connection: %v %v", resp, err)
	}
	second, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	io.WriteString(second, "GET /latest/meta-data/mac HTTP/1.1\r\nHost: x\r\n\r\n")
	second.SetReadDeadline(time.Now().Add(time.Minute)) // a guard against hanging, not a measurement
	if n, err := second.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("second connection over a cap of 1: read %d bytes, %v; want it closed", n, err)
	}
}

// The AWS SDK for Go v2's IMDS client, against Serve on loopback, with tokens optional and
// required: the SDK always fetches a token first, so both work, and required proves the
// token dance (the SDK needs the TTL header on the PUT response).
func TestAWSSDKClient(t *testing.T) {
	for _, tokens := range []string{model.TokensOptional, model.TokensRequired} {
		t.Run(tokens, func(t *testing.T) {
			h := newHarness(t, i1)
			h.srv = New(h.src.get, Config{}) // the SDK's token cache uses the real clock
			h.src.update(i1, func(in *Instance) { in.Options.HttpTokens = tokens })
			l := serve(t, h.srv, i1, "tcp4", "127.0.0.1:0")
			client := sdkimds.New(sdkimds.Options{Endpoint: "http://" + l.Addr().String(), EnableFallback: aws.FalseTernary})
			ctx := context.Background()

			md, err := client.GetMetadata(ctx, &sdkimds.GetMetadataInput{Path: "instance-id"})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(md.Content); string(got) != i1 {
				t.Errorf("instance-id: %q", got)
			}
			md, err = client.GetMetadata(ctx, &sdkimds.GetMetadataInput{Path: "security-groups"})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(md.Content); string(got) != "web\nssh" {
				t.Errorf("security-groups: %q", got)
			}
			ud, err := client.GetUserData(ctx, &sdkimds.GetUserDataInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(ud.Content); string(got) != "#!/bin/sh\necho hi\n" {
				t.Errorf("user data: %q", got)
			}
			doc, err := client.GetInstanceIdentityDocument(ctx, &sdkimds.GetInstanceIdentityDocumentInput{})
			if err != nil {
				t.Fatal(err)
			}
			want := sdkimds.InstanceIdentityDocument{
				AvailabilityZone: "us-east-1a", PrivateIP: "10.0.1.5", Version: "2017-09-30", Region: "us-east-1",
				InstanceID: i1, InstanceType: "t3.micro", AccountID: "123456789012",
				PendingTime: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), ImageID: "ami-12345678", Architecture: "x86_64",
			}
			if d := cmp.Diff(want, doc.InstanceIdentityDocument); d != "" {
				t.Errorf("identity document (-want +got):\n%s", d)
			}
			region, err := client.GetRegion(ctx, &sdkimds.GetRegionInput{})
			if err != nil || region.Region != "us-east-1" {
				t.Errorf("region: %v %v", region, err)
			}
		})
	}
}

// The IPv6 endpoint answers only when HttpProtocolIpv6 is enabled (EC2's default is
// disabled); the IPv4 one answers either way.
func TestIPv6EndpointFollowsHttpProtocolIpv6(t *testing.T) {
	for _, c := range []struct {
		network, addr, ipv6 string
		want                int
	}{
		{"tcp6", "[::1]:0", "", http.StatusForbidden},
		{"tcp6", "[::1]:0", model.Disabled, http.StatusForbidden},
		{"tcp6", "[::1]:0", model.Enabled, http.StatusOK},
		{"tcp4", "127.0.0.1:0", model.Disabled, http.StatusOK},
		{"tcp4", "127.0.0.1:0", model.Enabled, http.StatusOK},
	} {
		t.Run(c.network+"/"+c.ipv6, func(t *testing.T) {
			h := newHarness(t, i1)
			h.src.update(i1, func(in *Instance) { in.Options.HttpProtocolIpv6 = c.ipv6 })
			l := serve(t, h.srv, i1, c.network, c.addr)
			resp, err := http.Get("http://" + l.Addr().String() + "/latest/meta-data/instance-id")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("GET: %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}
