package model

import (
	"net/netip"
	"strings"
	"testing"
	"unsafe"
)

func TestNormalizeProtocol(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tcp", "tcp"}, {"TCP", "tcp"}, {"6", "tcp"}, {"17", "udp"}, {"1", "icmp"},
		{"58", "icmpv6"}, {"-1", "-1"}, {"50", "50"}, {"icmpv6", "icmpv6"}, {"0", "0"},
	}
	for _, tt := range tests {
		got, err := NormalizeProtocol(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeProtocol(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"all", "foo", "256", "-2", ""} {
		if _, err := NormalizeProtocol(bad); err == nil {
			t.Errorf("NormalizeProtocol(%q) succeeded", bad)
		}
	}
}

// TestNormalizeProtocolKeepsNoPartOfTheRequest: a named protocol comes back as the package's
// constant, not as the part of the request it was read from, which a stored rule would keep
// alive with the whole request body.
func TestNormalizeProtocolKeepsNoPartOfTheRequest(t *testing.T) {
	body := strings.Repeat("x", 4096) + "tcp" // as a request body parsed into values
	got, err := NormalizeProtocol(body[4096:])
	if err != nil || got != ProtoTCP {
		t.Fatalf("NormalizeProtocol = %q, %v", got, err)
	}
	if unsafe.StringData(got) != unsafe.StringData(ProtoTCP) {
		t.Errorf("NormalizeProtocol returned its argument's bytes, not the constant ProtoTCP")
	}
}

func TestNormalizePorts(t *testing.T) {
	tests := []struct {
		proto            string
		from, to         int64
		hasFrom, hasTo   bool
		wantFrom, wantTo int32
		wantErr          bool
	}{
		{"tcp", 22, 22, true, true, 22, 22, false},
		{"tcp", -1, -1, true, true, 0, 65535, false},
		{"tcp", 0, 65535, true, true, 0, 65535, false},
		{"udp", 10, 5, true, true, 0, 0, true},
		{"tcp", 0, 65536, true, true, 0, 0, true},
		{"tcp", 22, 0, true, false, 0, 0, true},
		{"icmp", 8, -1, true, true, 8, -1, false},
		{"icmp", -1, 4, true, true, 0, 0, true},
		{"icmp", 0, 0, false, false, -1, -1, false},
		{"icmpv6", 256, 0, true, true, 0, 0, true},
		{"-1", 22, 80, true, true, -1, -1, false},
		{"50", 0, 0, true, true, -1, -1, false},
	}
	for _, tt := range tests {
		f, to, err := NormalizePorts(tt.proto, tt.from, tt.to, tt.hasFrom, tt.hasTo)
		if (err != nil) != tt.wantErr || (err == nil && (f != tt.wantFrom || to != tt.wantTo)) {
			t.Errorf("NormalizePorts(%s,%d,%d) = %d,%d,%v", tt.proto, tt.from, tt.to, f, to, err)
		}
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in      string
		v6      bool
		want    string
		wantErr bool
	}{
		{"100.68.0.18/18", false, "100.68.0.0/18", false},
		{"10.0.0.5/24", false, "10.0.0.0/24", false},
		{"0.0.0.0/0", false, "0.0.0.0/0", false},
		{"2001:DB8::1/64", true, "2001:db8::/64", false},
		{"::/0", true, "::/0", false},
		{"10.0.0.0/33", false, "", true},
		{"10.0.0.0", false, "", true},
		{"::/0", false, "", true},
		{"10.0.0.0/8", true, "", true},
	}
	for _, tt := range tests {
		got, err := ParseCIDR(tt.in, tt.v6, "CidrIp")
		if (err != nil) != tt.wantErr || (err == nil && got.String() != tt.want) {
			t.Errorf("ParseCIDR(%q) = %v, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGroupName(t *testing.T) {
	if n, err := NormalizeGroupName("Test SG "); err != nil || n != "Test SG" {
		t.Errorf("trailing space: %q %v", n, err)
	}
	for _, bad := range []string{"", "   ", "sg-web", "SG-web", "caf\u00e9", string(make([]byte, 256))} {
		if _, err := NormalizeGroupName(bad); err == nil {
			t.Errorf("NormalizeGroupName(%q) accepted", bad)
		}
	}
	if ValidateRuleDescription("HTTPS from anywhere & more") != nil {
		t.Error("& must be accepted in rule descriptions")
	}
	if ValidateRuleDescription("bad\"quote") == nil {
		t.Error("quote must be rejected")
	}
}

func TestSubnetUsable(t *testing.T) {
	s := Subnet{CIDR: netip.MustParsePrefix("10.0.1.0/24")}
	for off, want := range map[int]bool{0: false, 1: false, 2: false, 3: false, 4: true, 254: true, 255: false} {
		if got := s.Usable(s.AddrAt(off)); got != want {
			t.Errorf("offset %d usable = %v, want %v", off, got, want)
		}
	}
	if s.Usable(netip.MustParseAddr("10.0.2.4")) {
		t.Error("address outside subnet usable")
	}
}

func TestRuleString(t *testing.T) {
	r := Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}
	if got, want := r.String(), "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
