package main

import (
	"runtime"
	"testing"
)

// TestWidenProcs: the server doubles the runtime's Ps, unless GOMAXPROCS says how many.
func TestWidenProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "")
	widenProcs()
	if got := runtime.GOMAXPROCS(0); got != 2*before {
		t.Errorf("GOMAXPROCS %d after widening %d, want %d", got, before, 2*before)
	}
	runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "3")
	widenProcs()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS set in the environment: %d after widening, want %d as it was", got, before)
	}
}
