package model

import "testing"

func TestNewIDValid(t *testing.T) {
	for _, p := range []string{PrefixGroup, PrefixVPC, PrefixInstance, PrefixAttachment} {
		id := NewID(p)
		if !ValidID(p, id) || len(id) != len(p)+18 {
			t.Errorf("NewID(%q) = %q, not valid", p, id)
		}
		if IDPrefix(id) != p {
			t.Errorf("IDPrefix(%q) = %q, want %q", id, IDPrefix(id), p)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"sg-51530134", true},
		{"sg-0123456789abcdef0", true},
		{"sg-0123456789ABCDEF0", false},
		{"sg-123", true},    // short hex is well-formed: AWS says NotFound (issue 13)
		{"sg-123abc", true}, // the example
		{"sg-0123456789abcdef", true},
		{"sg-foobar", false},
		{"foobar", false},
		{"sg-0123456789abcdef0/x", false},
		{"vpc-0123456789abcdef0", false},
		{"sg-", false},
		{"sg-0123456g", false},
	}
	for _, tt := range tests {
		if got := ValidID(PrefixGroup, tt.in); got != tt.want {
			t.Errorf("ValidID(sg, %q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
