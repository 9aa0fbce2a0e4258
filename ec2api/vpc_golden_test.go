package ec2api

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/control"
)

// TestGoldenXMLVPC pins, as TestGoldenXML does for the families before it, the replies of the
// VPC, subnet and DHCP reads of issue 13: a VPC with a secondary block and its own option
// set, the option set, an attribute, and a subnet's CIDR reservations. IPv6 blocks are left
// out: Amazon-provided ones are random. go test ./ec2api -run GoldenXMLVPC -update rewrites.
func TestGoldenXMLVPC(t *testing.T) {
	cfg := control.DefaultConfig()
	c := newTestAPIWith(t, cfg).newAccount("alice")
	tag := func(typ string) []string {
		return kv("TagSpecification.1.ResourceType", typ, "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "blue & <green>")
	}
	vpc := field(c.ok("CreateVpc", append(kv("CidrBlock", "10.0.0.0/16"), tag("vpc")...)...), "vpcId")
	c.ok("AssociateVpcCidrBlock", "VpcId", vpc, "CidrBlock", "100.64.0.0/20")
	dopt := field(c.ok("CreateDhcpOptions", append(kv("DhcpConfiguration.1.Key", "domain-name-servers", "DhcpConfiguration.1.Value.1", "10.2.5.1",
		"DhcpConfiguration.1.Value.2", "10.2.5.2", "DhcpConfiguration.2.Key", "ntp-servers", "DhcpConfiguration.2.Value.1", "169.254.169.123"),
		tag("dhcp-options")...)...), "dhcpOptionsId")
	c.ok("AssociateDhcpOptions", "DhcpOptionsId", dopt, "VpcId", vpc)
	c.ok("ModifyVpcAttribute", "VpcId", vpc, "EnableDnsHostnames.Value", "true")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "100.64.1.0/24", "AvailabilityZoneId", "use1-az2"), "subnetId")
	c.ok("ModifySubnetAttribute", "SubnetId", sn, "PrivateDnsHostnameTypeOnLaunch", "resource-name")
	c.ok("CreateSubnetCidrReservation", append(kv("SubnetId", sn, "Cidr", "100.64.1.16/28", "ReservationType", "explicit", "Description", "static"),
		tag("subnet-cidr-reservation")...)...)

	for _, g := range []struct {
		name, action string
		params       []string
	}{
		{"DescribeVpcs-secondary-block", "DescribeVpcs", kv("VpcId.1", vpc)},
		{"DescribeSubnets-attributes", "DescribeSubnets", kv("SubnetId.1", sn)},
		{"DescribeDhcpOptions", "DescribeDhcpOptions", kv("DhcpOptionsId.1", dopt)},
		{"DescribeVpcAttribute", "DescribeVpcAttribute", kv("VpcId", vpc, "Attribute", "enableDnsHostnames")},
		{"GetSubnetCidrReservations", "GetSubnetCidrReservations", kv("SubnetId", sn)},
	} {
		t.Run(g.name, func(t *testing.T) {
			got := indent(normalise(c.ok(g.action, g.params...), c.acct.ID))
			file := filepath.Join("testdata", g.name+".xml")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test ./ec2api -run GoldenXMLVPC -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s reply changed (-golden +now); if intended, run go test ./ec2api -run GoldenXMLVPC -update and review:\n%s", g.action, diff)
			}
		})
	}
}
