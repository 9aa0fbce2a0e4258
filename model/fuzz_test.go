package model

import (
	"errors"
	"testing"
)

// FuzzCIDR checks that CIDR parsing never panics, that what it accepts is canonical (host
// bits zero, family as asked) and that parsing the canonical form again is a fixed point.
func FuzzCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.5/24", "0.0.0.0/0", "::/0", "2001:DB8::1/64", "1.2.3.4", "fe80::1%eth0/64", "::ffff:1.2.3.4/128", " 10.0.0.0/8 "} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, v6 bool) {
		p, err := ParseCIDR(s, v6, "CidrIp")
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Code != "InvalidParameterValue" {
				t.Fatalf("ParseCIDR(%q) error %v is not InvalidParameterValue", s, err)
			}
			return
		}
		if p != p.Masked() || p.Addr().Is6() != v6 {
			t.Fatalf("ParseCIDR(%q) = %v: not canonical or wrong family", s, p)
		}
		again, err := ParseCIDR(p.String(), v6, "CidrIp")
		if err != nil || again != p {
			t.Fatalf("canonical form %v does not parse to itself: %v %v", p, again, err)
		}
	})
}

// FuzzProtocolPorts checks that protocol and port normalisation never panic and only produce
// values in EC2's ranges.
func FuzzProtocolPorts(f *testing.F) {
	f.Add("tcp", int64(22), int64(22), true, true)
	f.Add("icmp", int64(-1), int64(-1), true, true)
	f.Add("6", int64(-1), int64(-1), true, true)
	f.Add("50", int64(0), int64(0), false, false)
	f.Fuzz(func(t *testing.T, proto string, from, to int64, hasFrom, hasTo bool) {
		p, err := NormalizeProtocol(proto)
		if err != nil {
			return
		}
		again, err := NormalizeProtocol(p)
		if err != nil || again != p {
			t.Fatalf("normalised protocol %q is not a fixed point: %q %v", p, again, err)
		}
		lo, hi, err := NormalizePorts(p, from, to, hasFrom, hasTo)
		if err != nil {
			return
		}
		switch p {
		case ProtoTCP, ProtoUDP:
			if lo < 0 || hi > 65535 || lo > hi {
				t.Fatalf("%s ports %d-%d out of range", p, lo, hi)
			}
		case ProtoICMP, ProtoICMPv6:
			if lo < -1 || lo > 255 || hi < -1 || hi > 255 || (lo == -1 && hi != -1) {
				t.Fatalf("%s type/code %d/%d out of range", p, lo, hi)
			}
		default:
			if lo != -1 || hi != -1 {
				t.Fatalf("%s must not carry ports, got %d-%d", p, lo, hi)
			}
		}
	})
}
