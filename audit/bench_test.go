package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/model"
)

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

// BenchmarkIncrementalRuleChange: the continuous audit of the same network after one rule
// change — SSH from 0.0.0.0/0 authorized on a group with members, then revoked, in turn
// (issue 15's benchmark; target under 5 ms).
func BenchmarkIncrementalRuleChange(b *testing.B) {
	s := genNet(1, 100, 10000, 20, 10000)
	in := Input{Account: account, Region: "us-east-1", Snapshot: s}
	x, _, err := NewIncremental(in, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	i := slices.IndexFunc(s.Groups, func(g *model.Group) bool { return g.ID == s.ENIs[0].Groups[0] })
	plain := s.Groups[i]
	open := *plain
	open.Ingress = append(slices.Clone(plain.Ingress), model.Rule{ID: "sgr-ssh", Protocol: model.ProtoTCP, FromPort: 22, ToPort: 22,
		Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}})
	variants := []*model.Group{&open, plain}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		groups := slices.Clone(s.Groups)
		groups[i] = variants[n%2]
		n++
		in.Snapshot.Groups = groups
		if _, err := x.Update(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIncrementalMembershipChange: the continuous audit of the same network after an
// interface joins a group and then leaves it, in turn (ModifyNetworkInterfaceAttribute; a
// full audit before regroup.go): at issue 15's size, and at the latency lab's (1,000
// interfaces in one VPC, 52 groups of 10 rules; e2e's BenchmarkMembershipLatency).
func BenchmarkIncrementalMembershipChange(b *testing.B) {
	for _, size := range []struct{ vpcs, groups, rules, enis int }{{100, 10000, 20, 10000}, {1, 52, 10, 1000}} {
		b.Run(fmt.Sprintf("interfaces=%d", size.enis), func(b *testing.B) {
			s := genNet(1, size.vpcs, size.groups, size.rules, size.enis)
			in := Input{Account: account, Region: "us-east-1", Snapshot: s}
			x, _, err := NewIncremental(in, DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			plain := s.ENIs[0]
			joined := *plain
			i := slices.IndexFunc(s.Groups, func(g *model.Group) bool { return g.VpcID == plain.VpcID && !slices.Contains(plain.Groups, g.ID) })
			joined.Groups = append(slices.Clone(plain.Groups), s.Groups[i].ID)
			variants := []*model.NetworkInterface{&joined, plain}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				enis := slices.Clone(s.ENIs)
				enis[0] = variants[n%2]
				n++
				in.Snapshot.ENIs = enis
				if _, err := x.Update(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIncrementalAuthorizeBurst: the continuous audit under apibench's authorize phase
// (tools/apibench): 1,000 groups of one VPC, created alike, and each Update finds the next 50
// of them with one more rule (tcp from 10.0.0.0/8, no description) — a pass of the audit
// after 50 authorizes.
func BenchmarkIncrementalAuthorizeBurst(b *testing.B) {
	const groups, perPass = 1000, 50
	s := genNet(1, 1, groups, 0, 0)
	in := Input{Account: account, Region: "us-east-1", Snapshot: s}
	x, _, err := NewIncremental(in, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	next := 0
	for b.Loop() {
		gs := slices.Clone(in.Snapshot.Groups)
		for range perPass {
			i := next % groups
			g := *gs[i]
			g.Ingress = append(slices.Clone(g.Ingress), model.Rule{ID: fmt.Sprintf("sgr-b%07x", next), Protocol: model.ProtoTCP,
				FromPort: int32(1000 + next%50000), ToPort: int32(1000 + next%50000), Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.0/8")}})
			gs[i] = &g
			next++
		}
		in.Snapshot.Groups = gs
		if _, err := x.Update(in); err != nil {
			b.Fatal(err)
		}
	}
}
