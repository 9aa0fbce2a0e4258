package netlab

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestLinkNames: link names are what the kernel already holds after an upgrade, so the fast
// Link must name every interface as the original definition does (the prefix and the low 40
// bits of the FNV-1a hash of the interface ID in ten hex digits), within Linux's 15 characters.
func TestLinkNames(t *testing.T) {
	for _, prefix := range []string{"s", "stk", "e1a2b"} {
		for _, eni := range []string{"", "eni-1", "eni-0123456789abcdef0", "eni-ffffffffffffffff", "x"} {
			h := fnv.New64a()
			h.Write([]byte(eni))
			want := fmt.Sprintf("%s%010x", prefix, h.Sum64()&0xff_ffff_ffff)
			got := Names{Prefix: prefix}.Link(eni)
			if got != want || len(got) > 15 {
				t.Errorf("Link(%q) with prefix %q = %q, want %q", eni, prefix, got, want)
			}
		}
	}
}

// TestOperatorNames: the operator's router-side link fits Linux's 15 characters with the
// longest prefix and can never be an interface's link (those are the prefix and hex digits);
// the operator namespace is neither a router's nor an instance's name, which a host sweeps.
func TestOperatorNames(t *testing.T) {
	for _, prefix := range []string{"s", "e1a2b"} {
		n := Names{Prefix: prefix}
		if l := n.OperatorLink(); len(l) > 15 || l == n.Link("eni-1") || l[len(prefix)] != '-' {
			t.Errorf("OperatorLink() with prefix %q = %q", prefix, l)
		}
		op := n.OperatorOf("vpc-0123456789abcdef0")
		if op.Namespace == n.Router("vpc-0123456789abcdef0") || op.Namespace != prefix+"-op-vpc-0123456789abcdef0" || op.Link != n.OperatorLink() {
			t.Errorf("OperatorOf with prefix %q = %+v", prefix, op)
		}
	}
	if !OperatorNet.Contains(OperatorAddr) || !OperatorNet.Contains(OperatorGateway) || OperatorAddr == OperatorGateway {
		t.Errorf("operator addresses %s and %s not both in %s", OperatorAddr, OperatorGateway, OperatorNet)
	}
}
