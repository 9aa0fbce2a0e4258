package snapshot

import (
	"net/netip"
	"testing"
)

// TestLoadBlocksAndIPv6OnlySubnets: a VPC's secondary IPv4 and IPv6 blocks and a subnet's IPv6 block
// come from their association sets (blocks no longer "associated" are left out), and an
// IPv6-only subnet (Ipv6Native) loads without a CidrBlock.
func TestLoadBlocksAndIPv6OnlySubnets(t *testing.T) {
	dir := copyValid(t)
	edit(t, dir, "describe-vpcs.json", func(v any) {
		setPath(t, v, "Vpcs[0].CidrBlockAssociationSet", []any{
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000a", "CidrBlock": "10.0.0.0/16", "CidrBlockState": map[string]any{"State": "associated"}},
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000b", "CidrBlock": "100.64.0.0/16", "CidrBlockState": map[string]any{"State": "associated"}},
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000c", "CidrBlock": "10.9.0.0/16", "CidrBlockState": map[string]any{"State": "disassociated"}},
		})
	})
	edit(t, dir, "describe-vpcs.json", func(v any) {
		setPath(t, v, "Vpcs[0].Ipv6CidrBlockAssociationSet", []any{
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000d", "Ipv6CidrBlock": "2600:1f18:1234:5600::/56"},
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000e", "Ipv6CidrBlock": "2600:1f18:1234:7700::/56",
				"Ipv6CidrBlockState": map[string]any{"State": "associated"}},
			map[string]any{"AssociationId": "vpc-cidr-assoc-0000000000000000f", "Ipv6CidrBlock": "2600:1f18:1234:8800::/56",
				"Ipv6CidrBlockState": map[string]any{"State": "disassociating"}},
		})
	})
	edit(t, dir, "describe-subnets.json", func(v any) {
		deletePath(t, v, "Subnets[1].CidrBlock")
		setPath(t, v, "Subnets[1].Ipv6Native", true)
		setPath(t, v, "Subnets[1].Ipv6CidrBlockAssociationSet", []any{
			map[string]any{"AssociationId": "subnet-cidr-assoc-0000000000000000a", "Ipv6CidrBlock": "2600:1f18:1234:5601::/64",
				"Ipv6CidrBlockState": map[string]any{"State": "associated"}}})
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := s.VPCs[0]
	if len(v.Secondary) != 1 || v.Secondary[0].CIDR != netip.MustParsePrefix("100.64.0.0/16") || v.Secondary[0].AssocID != "vpc-cidr-assoc-0000000000000000b" {
		t.Errorf("secondary blocks %+v", v.Secondary)
	}
	if v.IPv6CIDR != netip.MustParsePrefix("2600:1f18:1234:5600::/56") || len(v.IPv6Secondary) != 1 ||
		v.IPv6Secondary[0].CIDR != netip.MustParsePrefix("2600:1f18:1234:7700::/56") {
		t.Errorf("IPv6 blocks %s %+v", v.IPv6CIDR, v.IPv6Secondary)
	}
	sn := s.Subnets[1]
	if sn.CIDR.IsValid() || !sn.IPv6Native || sn.IPv6CIDR != netip.MustParsePrefix("2600:1f18:1234:5601::/64") {
		t.Errorf("IPv6-only subnet %+v", sn)
	}
	// Without Ipv6Native, a subnet still needs its CidrBlock.
	dir = copyValid(t)
	edit(t, dir, "describe-subnets.json", func(v any) { deletePath(t, v, "Subnets[1].CidrBlock") })
	if _, err := Load(dir); err == nil {
		t.Error("a dual-stack subnet without CidrBlock loaded")
	}
}

// TestLoadIPv6OnlyInterface: an interface of an IPv6-only subnet has an empty
// PrivateIpAddresses and IPv6 addresses; it loads without an IPv4 address. An interface with
// neither is still refused.
func TestLoadIPv6OnlyInterface(t *testing.T) {
	dir := copyValid(t)
	six := "2600:1f18:1234:5601::4"
	edit(t, dir, "describe-network-interfaces.json", func(v any) {
		setPath(t, v, "NetworkInterfaces[1].PrivateIpAddresses", []any{})
		setPath(t, v, "NetworkInterfaces[1].Ipv6Addresses", []any{map[string]any{"Ipv6Address": six}})
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := s.ENIs[1]
	if !n.IPv6Only() || n.PrimaryAddr() != netip.MustParseAddr(six) {
		t.Errorf("IPv6-only interface %+v", n)
	}
	edit(t, dir, "describe-network-interfaces.json", func(v any) { setPath(t, v, "NetworkInterfaces[1].Ipv6Addresses", []any{}) })
	if _, err := Load(dir); err == nil {
		t.Error("an interface without any address loaded")
	}
}
