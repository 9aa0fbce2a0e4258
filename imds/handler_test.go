package imds

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/model"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// instances is a Source whose instances tests change between requests.
type instances struct {
	mu sync.Mutex
	m  map[string]Instance
}

func (s *instances) get(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.m[id]
	return in, ok
}

func (s *instances) update(id string, f func(*Instance)) {
	s.mu.Lock()
	in := s.m[id]
	f(&in)
	s.m[id] = in
	s.mu.Unlock()
}

func testInstance(id string) Instance {
	return Instance{
		ID: id, AccountID: "123456789012", Region: "us-east-1", AZ: "us-east-1a", ImageID: "ami-12345678",
		InstanceType: "t3.micro", ReservationID: "r-0123456789abcdef0", LaunchIndex: 0,
		PendingTime: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Hostname: "ip-10-0-1-5.ec2.internal",
		PrivateIPv4: netip.MustParseAddr("10.0.1.5"), MAC: "0e:00:00:00:00:01",
		KeyName: "lab", PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdKzYyhg0BT3Ls7XQ5V5jSEKsy4xEUx3yXcVSAu9qUx lab",
		UserData: []byte("#!/bin/sh\necho hi\n"),
		Interfaces: []Interface{{
			MAC: "0e:00:00:00:00:01", ID: "eni-0123456789abcdef0", DeviceNumber: 0, SubnetID: "subnet-0123456789abcdef0",
			SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24"), VpcID: "vpc-0123456789abcdef0",
			VpcCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, OwnerID: "123456789012",
			IPv4s: []netip.Addr{netip.MustParseAddr("10.0.1.5")}, GroupNames: []string{"web", "ssh"},
			GroupIDs: []string{"sg-0123456789abcdef0", "sg-0123456789abcdef1"},
		}, {
			MAC: "0e:00:00:00:00:02", ID: "eni-0123456789abcdef1", DeviceNumber: 1, SubnetID: "subnet-0123456789abcdef1",
			SubnetCIDR: netip.MustParsePrefix("10.0.2.0/24"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f18::/64"),
			VpcID: "vpc-0123456789abcdef0", VpcCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
			VpcIPv6CIDRs: []netip.Prefix{netip.MustParsePrefix("2600:1f18::/56")}, OwnerID: "123456789012",
			IPv4s: []netip.Addr{netip.MustParseAddr("10.0.2.9"), netip.MustParseAddr("10.0.2.10")},
			IPv6s: []netip.Addr{netip.MustParseAddr("2600:1f18::9")}, GroupNames: []string{"db"},
			GroupIDs: []string{"sg-0123456789abcdef2"},
		}},
		Tags:    map[string]string{"Name": "web-1", "team": "blue", "a/b": "skipped"},
		Options: model.MetadataOptions{}.WithDefaults(),
	}
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	src   *instances
	srv   *Server
}

func newHarness(t *testing.T, ids ...string) *harness {
	h := &harness{t: t, clock: &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}, src: &instances{m: map[string]Instance{}}}
	for _, id := range ids {
		h.src.m[id] = testInstance(id)
	}
	h.srv = New(h.src.get, Config{Now: h.clock.Now})
	return h
}

// do sends one request to id's handler; headers are name, value pairs.
func (h *harness) do(id, method, path string, headers ...string) (int, http.Header, string) {
	h.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.srv.Handler(id).ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Result().Header, string(b)
}

func (h *harness) token(id string, ttl string) string {
	h.t.Helper()
	code, _, body := h.do(id, "PUT", "/latest/api/token", HeaderTokenTTL, ttl)
	if code != 200 {
		h.t.Fatalf("PUT token: %d %s", code, body)
	}
	return body
}

const i1, i2 = "i-0123456789abcdef0", "i-0123456789abcdef1"

func TestTokenPut(t *testing.T) {
	h := newHarness(t, i1)
	for _, c := range []struct {
		name    string
		path    string
		headers []string
		want    int
	}{
		{"ttl 0", "/latest/api/token", []string{HeaderTokenTTL, "0"}, 400},
		{"ttl 1", "/latest/api/token", []string{HeaderTokenTTL, "1"}, 200},
		{"ttl 21600", "/latest/api/token", []string{HeaderTokenTTL, "21600"}, 200},
		{"ttl 21601", "/latest/api/token", []string{HeaderTokenTTL, "21601"}, 400},
		{"ttl negative", "/latest/api/token", []string{HeaderTokenTTL, "-5"}, 400},
		{"ttl not a number", "/latest/api/token", []string{HeaderTokenTTL, "ten"}, 400},
		{"ttl twice", "/latest/api/token", []string{HeaderTokenTTL, "10", HeaderTokenTTL, "20"}, 400},
		{"no ttl", "/latest/api/token", nil, 400},
		{"X-Forwarded-For", "/latest/api/token", []string{HeaderTokenTTL, "60", "X-Forwarded-For", "10.0.0.9"}, 403},
		{"dated path", "/2021-03-23/api/token", []string{HeaderTokenTTL, "60"}, 403},
		{"other path", "/latest/meta-data/", []string{HeaderTokenTTL, "60"}, 405},
		{"unknown version", "/1999-01-01/api/token", []string{HeaderTokenTTL, "60"}, 405},
	} {
		code, hdr, body := h.do(i1, "PUT", c.path, c.headers...)
		if code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, code, c.want, body)
			continue
		}
		if code == 200 {
			if got := hdr.Get(HeaderTokenTTL); got != c.headers[1] {
				t.Errorf("%s: TTL header %q, want %q", c.name, got, c.headers[1])
			}
			if body == "" {
				t.Errorf("%s: empty token", c.name)
			}
		}
	}
	if code, _, _ := h.do(i1, "GET", "/latest/api/token"); code != 404 {
		t.Errorf("GET of the token path: %d, want 404", code)
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t, i1, i2)
	tok := h.token(i1, "60")
	get := func(id string, headers ...string) int {
		code, _, _ := h.do(id, "GET", "/latest/meta-data/instance-id", headers...)
		return code
	}
	for _, c := range []struct {
		name    string
		id      string
		headers []string
		want    int
	}{
		{"v1", i1, nil, 200},
		{"v2", i1, []string{HeaderToken, tok}, 200},
		{"other instance's token", i2, []string{HeaderToken, tok}, 401},
		{"garbage token", i1, []string{HeaderToken, "nope"}, 401},
		{"tampered token", i1, []string{HeaderToken, tok[:len(tok)-2] + "AA"}, 401},
		{"two tokens", i1, []string{HeaderToken, tok, HeaderToken, tok}, 401},
	} {
		if got := get(c.id, c.headers...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	// Expiry, on the fake clock: valid until the TTL has passed.
	h.clock.Add(59 * time.Second)
	if got := get(i1, HeaderToken, tok); got != 200 {
		t.Errorf("token at 59 s of 60: %d", got)
	}
	h.clock.Add(time.Second)
	if got := get(i1, HeaderToken, tok); got != 401 {
		t.Errorf("expired token: %d, want 401", got)
	}

	// Required: no token is 401, not 403 (the SDKs fetch a token again only after a 401).
	h.src.update(i1, func(in *Instance) { in.Options.HttpTokens = model.TokensRequired })
	if got := get(i1); got != 401 {
		t.Errorf("required, no token: %d, want 401", got)
	}
	if got := get(i1, HeaderToken, h.token(i1, "60")); got != 200 {
		t.Errorf("required, token: %d, want 200", got)
	}
	if code, _, _ := h.do(i1, "GET", "/"); code != 401 {
		t.Errorf("required, version list without token: %d, want 401", code)
	}

	// A new server (a restart) rejects the old server's tokens.
	h2 := New(h.src.get, Config{Now: h.clock.Now})
	r := httptest.NewRequest("GET", "/latest/meta-data/instance-id", nil)
	r.Header.Set(HeaderToken, h.token(i1, "60"))
	w := httptest.NewRecorder()
	h2.Handler(i1).ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("token of another server: %d, want 401", w.Code)
	}
}

func TestMethodsEndpointAndUnknownInstance(t *testing.T) {
	h := newHarness(t, i1)
	for _, m := range []string{"POST", "DELETE", "PATCH", "OPTIONS"} {
		if code, hdr, _ := h.do(i1, m, "/latest/meta-data/"); code != 405 || hdr.Get("Allow") == "" {
			t.Errorf("%s: %d (Allow %q), want 405 with Allow", m, code, hdr.Get("Allow"))
		}
	}
	if code, hdr, body := h.do(i1, "HEAD", "/latest/meta-data/instance-id"); code != 200 || body != "" || hdr.Get("Content-Length") != "19" {
		t.Errorf("HEAD: %d %q length %s", code, body, hdr.Get("Content-Length"))
	}
	h.src.update(i1, func(in *Instance) { in.Options.HttpEndpoint = model.Disabled })
	for _, m := range []string{"GET", "PUT"} {
		if code, _, _ := h.do(i1, m, "/latest/api/token", HeaderTokenTTL, "60"); code != 403 {
			t.Errorf("disabled endpoint, %s: %d, want 403", m, code)
		}
	}
	if code, _, _ := h.do("i-0000000000000000f", "GET", "/latest/meta-data/"); code != 404 {
		t.Errorf("unknown instance: %d, want 404", code)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, i1, i2)
	h.srv = New(h.src.get, Config{Now: h.clock.Now, RequestsPerSecond: 10})
	for i := range 10 {
		if code, _, _ := h.do(i1, "GET", "/latest/meta-data/mac"); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code, _, _ := h.do(i1, "GET", "/latest/meta-data/mac"); code != 429 {
		t.Errorf("11th request in a second: %d, want 429", code)
	}
	if code, _, _ := h.do(i2, "GET", "/latest/meta-data/mac"); code != 200 {
		t.Errorf("another instance is not limited by the first: %d", code)
	}
	h.clock.Add(100 * time.Millisecond)
	if code, _, _ := h.do(i1, "GET", "/latest/meta-data/mac"); code != 200 {
		t.Errorf("after 100 ms (one request's worth): %d, want 200", code)
	}
	if code, _, _ := h.do(i1, "GET", "/latest/meta-data/mac"); code != 429 {
		t.Errorf("and then: %d, want 429", code)
	}
}

func TestPaths(t *testing.T) {
	h := newHarness(t, i1)
	mac2 := "/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:02/"
	for _, c := range []struct{ path, want string }{
		{"/", strings.Join(versions, "\n")},
		{"/latest/", "dynamic/\nmeta-data/\nuser-data"},
		{"/latest", "dynamic/\nmeta-data/\nuser-data"},
		{"/latest/meta-data/", "ami-id\nami-launch-index\nhostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\n" +
			"network/\nplacement/\npublic-keys/\nreservation-id\nsecurity-groups\nservices/"},
		{"/2021-03-23/meta-data/instance-id", i1},
		{"/latest/meta-data/ami-id", "ami-12345678"},
		{"/latest/meta-data/ami-launch-index", "0"},
		{"/latest/meta-data/instance-type", "t3.micro"},
		{"/latest/meta-data/reservation-id", "r-0123456789abcdef0"},
		{"/latest/meta-data/hostname", "ip-10-0-1-5.ec2.internal"},
		{"/latest/meta-data/local-hostname", "ip-10-0-1-5.ec2.internal"},
		{"/latest/meta-data/local-ipv4", "10.0.1.5"},
		{"/latest/meta-data/mac", "0e:00:00:00:00:01"},
		{"/latest/meta-data/placement/", "availability-zone\nregion"},
		{"/latest/meta-data/placement/availability-zone", "us-east-1a"},
		{"/latest/meta-data/placement/region", "us-east-1"},
		{"/latest/meta-data/services/domain", "amazonaws.com"},
		{"/latest/meta-data/services/partition", "aws"},
		{"/latest/meta-data/public-keys/", "0=lab"},
		{"/latest/meta-data/public-keys/0/", "openssh-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", testInstance(i1).PublicKey},
		{"/latest/meta-data/security-groups", "web\nssh"},
		{"/latest/meta-data/network/", "interfaces/"},
		{"/latest/meta-data/network/interfaces/", "macs/"},
		{"/latest/meta-data/network/interfaces/macs/", "0e:00:00:00:00:01/\n0e:00:00:00:00:02/"},
		{"/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/", "device-number\ninterface-id\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\n" +
			"security-group-ids\nsecurity-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
		{"/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/security-group-ids", "sg-0123456789abcdef0\nsg-0123456789abcdef1"},
		{"/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/security-groups", "web\nssh"},
		{mac2 + "device-number", "1"},
		{mac2 + "interface-id", "eni-0123456789abcdef1"},
		{mac2 + "local-ipv4s", "10.0.2.9\n10.0.2.10"},
		{mac2 + "local-hostname", "ip-10-0-2-9.ec2.internal"},
		{mac2 + "ipv6s", "2600:1f18::9"},
		{mac2 + "owner-id", "123456789012"},
		{mac2 + "subnet-id", "subnet-0123456789abcdef1"},
		{mac2 + "subnet-ipv4-cidr-block", "10.0.2.0/24"},
		{mac2 + "subnet-ipv6-cidr-blocks", "2600:1f18::/64"},
		{mac2 + "vpc-id", "vpc-0123456789abcdef0"},
		{mac2 + "vpc-ipv4-cidr-block", "10.0.0.0/16"},
		{mac2 + "vpc-ipv4-cidr-blocks", "10.0.0.0/16"},
		{mac2 + "vpc-ipv6-cidr-blocks", "2600:1f18::/56"},
		{mac2 + "security-groups", "db"},
		{"/latest/user-data", "#!/bin/sh\necho hi\n"},
		{"/latest/dynamic/", "instance-identity/"},
		{"/latest/dynamic/instance-identity/", "document"},
	} {
		code, _, body := h.do(i1, "GET", c.path)
		if code != 200 {
			t.Errorf("%s: %d", c.path, code)
			continue
		}
		if d := cmp.Diff(c.want, body); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.path, d)
		}
	}
	for _, p := range []string{
		"/latest/meta-data/nope", "/latest/meta-data/instance-id/", "/latest/meta-data/iam/", "/latest/meta-data//mac",
		"/latest/meta-data/../user-data", "/1999-01-01/meta-data/", "/latest/meta-data/tags/instance/",
		"/latest/meta-data/public-keys/1/", "/latest/nope",
	} {
		if code, _, _ := h.do(i1, "GET", p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}

	// Without a key and user data, the key directory and user-data are not there.
	h.src.update(i1, func(in *Instance) { in.KeyName, in.PublicKey, in.UserData = "", "", nil })
	for _, p := range []string{"/latest/user-data", "/latest/meta-data/public-keys/", "/latest/meta-data/public-keys/0/openssh-key"} {
		if code, _, _ := h.do(i1, "GET", p); code != 404 {
			t.Errorf("without key and user data, %s: %d, want 404", p, code)
		}
	}
	if _, _, body := h.do(i1, "GET", "/latest/"); body != "dynamic/\nmeta-data/" {
		t.Errorf("listing without user data: %q", body)
	}

	// Tags only when InstanceMetadataTags=enabled; a key that is not a path segment is left out.
	h.src.update(i1, func(in *Instance) { in.Options.InstanceMetadataTags = model.Enabled })
	for _, c := range []struct{ path, want string }{
		{"/latest/meta-data/tags/", "instance/"},
		{"/latest/meta-data/tags/instance/", "Name\nteam"},
		{"/latest/meta-data/tags/instance/Name", "web-1"},
	} {
		if code, _, body := h.do(i1, "GET", c.path); code != 200 || body != c.want {
			t.Errorf("%s: %d %q, want %q", c.path, code, body, c.want)
		}
	}
}

// Security groups are read from the Source on every request.
func TestSecurityGroupsAreLive(t *testing.T) {
	h := newHarness(t, i1)
	if _, _, body := h.do(i1, "GET", "/latest/meta-data/security-groups"); body != "web\nssh" {
		t.Fatalf("before: %q", body)
	}
	h.src.update(i1, func(in *Instance) {
		in.Interfaces = append([]Interface(nil), in.Interfaces...)
		in.Interfaces[0].GroupNames, in.Interfaces[0].GroupIDs = []string{"locked"}, []string{"sg-0000000000000000a"}
	})
	if _, _, body := h.do(i1, "GET", "/latest/meta-data/security-groups"); body != "locked" {
		t.Errorf("after: %q", body)
	}
	if _, _, body := h.do(i1, "GET", "/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/security-group-ids"); body != "sg-0000000000000000a" {
		t.Errorf("after, ids: %q", body)
	}
}

func TestIdentityDocument(t *testing.T) {
	h := newHarness(t, i1)
	code, _, body := h.do(i1, "GET", "/latest/dynamic/instance-identity/document")
	want := `{
  "accountId": "123456789012",
  "architecture": "x86_64",
  "availabilityZone": "us-east-1a",
  "billingProducts": null,
  "devpayProductCodes": null,
  "marketplaceProductCodes": null,
  "imageId": "ami-12345678",
  "instanceId": "i-0123456789abcdef0",
  "instanceType": "t3.micro",
  "kernelId": null,
  "pendingTime": "2026-12-01T10:00:00Z",
  "privateIp": "10.0.1.5",
  "ramdiskId": null,
  "region": "us-east-1",
  "version": "2017-09-30"
}`
	if code != 200 {
		t.Fatal(code)
	}
	if d := cmp.Diff(want, body); d != "" {
		t.Error(d)
	}
}

// An instance in an IPv6-only subnet: no local-ipv4, local-ipv4s or subnet-ipv4-cidr-block
// (left out, not empty), its resource-based hostname, and its IPv6 address as meta-data/ipv6.
func TestPathsIPv6Only(t *testing.T) {
	h := newHarness(t, i1)
	six := netip.MustParseAddr("2600:1f18::4")
	h.src.update(i1, func(in *Instance) {
		in.Hostname, in.PrivateIPv4 = i1+".ec2.internal", netip.Addr{}
		p := &in.Interfaces[0]
		p.IPv4s, p.IPv6s, p.SubnetCIDR, p.SubnetIPv6CIDR = nil, []netip.Addr{six}, netip.Prefix{}, netip.MustParsePrefix("2600:1f18::/64")
		in.Interfaces = in.Interfaces[:1]
	})
	mac := "/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/"
	for _, c := range []struct{ path, want string }{
		{"/latest/meta-data/", "ami-id\nami-launch-index\nhostname\ninstance-id\ninstance-type\nipv6\nlocal-hostname\nmac\n" +
			"network/\nplacement/\npublic-keys/\nreservation-id\nsecurity-groups\nservices/"},
		{"/latest/meta-data/ipv6", six.String()},
		{"/latest/meta-data/hostname", i1 + ".ec2.internal"},
		{mac, "device-number\ninterface-id\nipv6s\nmac\nowner-id\nsecurity-group-ids\nsecurity-groups\nsubnet-id\n" +
			"subnet-ipv6-cidr-blocks\nvpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
		{mac + "ipv6s", six.String()},
	} {
		code, _, body := h.do(i1, "GET", c.path)
		if d := cmp.Diff(c.want, body); code != 200 || d != "" {
			t.Errorf("%s: %d (-want +got):\n%s", c.path, code, d)
		}
	}
	for _, p := range []string{"/latest/meta-data/local-ipv4", mac + "local-ipv4s", mac + "subnet-ipv4-cidr-block"} {
		if code, _, _ := h.do(i1, "GET", p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}
