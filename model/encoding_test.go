package model

import (
	"flag"
	"testing"

	"github.com/stockade/stockade/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestRecordsArePinned pins the JSON of every record the control service stores: the model's
// JSON tags are the store's schema, so a renamed tag would lose data on upgrade. Decoding each
// golden file is reading what an earlier version wrote. A deliberate change: keep the old
// records readable, then go test ./model -update.
func TestRecordsArePinned(t *testing.T) {
	for name, v := range map[string]any{
		"vpc": VPC{}, "subnet": Subnet{}, "group": Group{}, "network-interface": NetworkInterface{},
		"instance": Instance{}, "key-pair": KeyPair{}, "dedicated-host": DedicatedHost{}, "prefix-list": PrefixList{}, "nacl": NACL{},
		"flow-log": FlowLog{}, "insights-path": InsightsPath{}, "insights-analysis": InsightsAnalysis{},
		"address": Address{}, "nat-gateway": NATGateway{},
		"launch-template": LaunchTemplate{}, "launch-template-version": LaunchTemplateVersion{},
	} {
		golden.Check(t, name, v, *update)
	}
}
