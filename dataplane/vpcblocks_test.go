package dataplane_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
)

// TestAssociatedBlocksAreInside: a VPC's secondary IPv4 block (AssociateVpcCidrBlock) and a
// subnet's associated IPv6 /64 (AssociateSubnetCidrBlock) are inside the VPC for the
// internet's ACL pairs, exactly as the primary block and a subnet's block from creation are.
func TestAssociatedBlocksAreInside(t *testing.T) {
	n := withInternet(rich())
	n.Link = link
	inside := func(n dataplane.Network, set string) []string { return dataplane.Render(n).Object(set).Lines }
	before4, before6 := inside(n, "internet_inside4"), inside(n, "internet_inside6")

	vpc := *n.Snapshot.VPCs[0]
	vpc.Secondary = []model.CIDRBlock{{CIDR: netip.MustParsePrefix("100.64.8.0/22"), AssocID: "vpc-cidr-assoc-2"}}
	sn := *n.Snapshot.Subnets[0]
	sn.IPv6CIDR = netip.MustParsePrefix("2600:1f18:aaaa:bb02::/64") // inside the VPC's /56 already
	m := n
	m.VPC = &vpc
	m.Snapshot.VPCs = append([]*model.VPC{&vpc}, n.Snapshot.VPCs[1:]...)
	m.Snapshot.Subnets = append([]*model.Subnet{&sn}, n.Snapshot.Subnets[1:]...)
	after4 := inside(m, "internet_inside4")
	if slices.Contains(before4, "100.64.8.0/22") || !slices.Contains(after4, "100.64.8.0/22") {
		t.Errorf("secondary block: inside4 before %v, after %v", before4, after4)
	}
	// A subnet block outside the VPC's /56 could not be associated; one inside changes nothing
	// the /56 does not cover already, so the set stays as it was.
	if after6 := inside(m, "internet_inside6"); !slices.Equal(before6, after6) {
		t.Errorf("inside6 changed: %v → %v", before6, after6)
	}
	// A second IPv6 block of the VPC (AssociateVpcCidrBlock again) is inside too.
	vpc.IPv6Secondary = []model.CIDRBlock{{CIDR: netip.MustParsePrefix("2600:1f18:aaaa:cc00::/56"), AssocID: "vpc-cidr-assoc-3"}}
	if got := inside(m, "internet_inside6"); !slices.Contains(got, "2600:1f18:aaaa:cc00::/56") {
		t.Errorf("second IPv6 block not inside: %v", got)
	}
	vpc.IPv6Secondary = nil
	// Without the VPC's IPv6 /56 (a VPC whose blocks come from associations only), the
	// subnet's /64 alone puts it inside.
	vpc.IPv6CIDR = netip.Prefix{}
	if got := inside(m, "internet_inside6"); !slices.Contains(got, "2600:1f18:aaaa:bb02::/64") {
		t.Errorf("subnet /64 not inside: %v", got)
	}
}
