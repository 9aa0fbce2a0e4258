package audit

import "testing"

// BenchmarkFullAudit: every check over 10,000 groups of 20 rules and 10,000 interfaces in 100
// VPCs (issue 15's benchmark; target under 1 s).
func BenchmarkFullAudit(b *testing.B) {
	in := Input{Account: account, Region: "us-east-1", Snapshot: genNet(1, 100, 10000, 20, 10000)}
	cfg := DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(in, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
