package netmap

import (
	"flag"
	"testing"

	"github.com/stockade/stockade/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestEncodingIsPinned pins the admin API's snapshot format (stockade reach reads it): the
// names of netmap's own fields, and through them the model's JSON tags. A deliberate change:
// go test ./netmap -update.
func TestEncodingIsPinned(t *testing.T) {
	golden.Check(t, "network", Network{}, *update)
	golden.Check(t, "lab-instance", LabInstance{}, *update)
}
