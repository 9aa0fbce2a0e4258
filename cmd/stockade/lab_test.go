package main

import (
	"testing"

	"github.com/stockade/stockade/netmap"
)

// TestLabPrefix: `stockade lab internet` finds the server's lab prefix from its instances'
// router namespaces, and falls back to the default prefix without instances.
func TestLabPrefix(t *testing.T) {
	for _, tc := range []struct {
		ins  []netmap.LabInstance
		want string
	}{
		{nil, "stk"},
		{[]netmap.LabInstance{{VpcID: "vpc-0a1", Router: "lab7-vpc-0a1"}}, "lab7"},
		{[]netmap.LabInstance{{VpcID: "vpc-0a1", Router: "odd"}, {VpcID: "vpc-2", Router: "x-vpc-2"}}, "x"},
	} {
		if got := labPrefix(tc.ins); got != tc.want {
			t.Errorf("labPrefix(%v) = %q, want %q", tc.ins, got, tc.want)
		}
	}
}
