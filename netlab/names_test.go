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
