package ec2api

import (
	"slices"
	"strings"
	"testing"
)

// TestVPCCIDRBlocks drives Associate/DisassociateVpcCidrBlock over the wire: the replies'
// shapes (as in the AWS CLI's examples), the blocks in DescribeVpcs and its filters, and the
// errors.
func TestVPCCIDRBlocks(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	got := c.ok("AssociateVpcCidrBlock", "VpcId", vpc, "CidrBlock", "10.2.0.0/16")
	assoc := field(got, "associationId")
	for _, want := range []string{"<cidrBlockAssociation><cidrBlock>10.2.0.0/16</cidrBlock><associationId>" + assoc + "</associationId><cidrBlockState><state>associating</state></cidrBlockState></cidrBlockAssociation><vpcId>" + vpc + "</vpcId>"} {
		if !strings.Contains(got, want) || !strings.HasPrefix(assoc, "vpc-cidr-assoc-") {
			t.Errorf("AssociateVpcCidrBlock reply %s lacks %s", got, want)
		}
	}
	got6 := c.ok("AssociateVpcCidrBlock", "VpcId", vpc, "AmazonProvidedIpv6CidrBlock", "true")
	assoc6, block6 := field(got6, "associationId"), field(got6, "ipv6CidrBlock")
	if field(got6, "state") != "associating" || !strings.HasSuffix(block6, "/56") || field(got6, "ipv6Pool") != "Amazon" || field(got6, "networkBorderGroup") != "us-east-1" {
		t.Errorf("IPv6 association reply %s", got6)
	}
	d := c.ok("DescribeVpcs", "VpcId.1", vpc)
	if blocks := xmlFields(d, "cidrBlock"); !slices.Equal(blocks, []string{"10.0.0.0/16", "10.0.0.0/16", "10.2.0.0/16"}) {
		t.Errorf("DescribeVpcs blocks %v: %s", blocks, d)
	}
	if field(d, "ipv6CidrBlock") != block6 || field(d, "networkBorderGroup") != "us-east-1" {
		t.Errorf("DescribeVpcs IPv6 block: %s", d)
	}
	for _, f := range [][2]string{{"cidr-block-association.cidr-block", "10.2.0.0/16"}, {"cidr-block-association.association-id", assoc},
		{"ipv6-cidr-block-association.association-id", assoc6}} {
		if ids := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", f[0], "Filter.1.Value.1", f[1]), "vpcId"); !slices.Equal(ids, []string{vpc}) {
			t.Errorf("filter %s=%s: %v", f[0], f[1], ids)
		}
	}
	c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.2.1.0/24")
	for _, tt := range []struct {
		name, code, action string
		params             []string
	}{
		{"restricted", "InvalidVpc.Range", "AssociateVpcCidrBlock", kv("VpcId", vpc, "CidrBlock", "192.168.0.0/16")},
		{"overlap", "InvalidVpc.Range", "AssociateVpcCidrBlock", kv("VpcId", vpc, "CidrBlock", "10.2.0.0/20")},
		{"neither", "MissingParameter", "AssociateVpcCidrBlock", kv("VpcId", vpc)},
		{"both", "MissingParameter", "AssociateVpcCidrBlock", kv("VpcId", vpc, "CidrBlock", "10.3.0.0/16", "AmazonProvidedIpv6CidrBlock", "true")},
		{"ipam", "InvalidParameterValue", "AssociateVpcCidrBlock", kv("VpcId", vpc, "Ipv4IpamPoolId", "ipam-pool-0123456789abcdef0")},
		{"unknown vpc", "InvalidVpcID.NotFound", "AssociateVpcCidrBlock", kv("VpcId", "vpc-0123456789abcdef0", "CidrBlock", "10.3.0.0/16")},
		// AssociateVpcCidrBlock has no DryRun in EC2's model.
		{"dry run", "UnknownParameter", "AssociateVpcCidrBlock", kv("VpcId", vpc, "CidrBlock", "10.3.0.0/16", "DryRun", "true")},
		{"in use", "InvalidCidrBlock.InUse", "DisassociateVpcCidrBlock", kv("AssociationId", assoc)},
		{"unknown assoc", "InvalidVpcCidrBlockAssociationID.NotFound", "DisassociateVpcCidrBlock", kv("AssociationId", "vpc-cidr-assoc-0123456789abcdef0")},
		{"missing assoc", "MissingParameter", "DisassociateVpcCidrBlock", nil},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	if d2 := c.ok("DescribeVpcs", "VpcId.1", vpc); d2 != strings.Replace(d2, "10.3.0.0", "", 1) {
		t.Errorf("a refused association left a block: %s", d2)
	}
	// A second Amazon-provided block joins the first in the set and the filters.
	got6b := c.ok("AssociateVpcCidrBlock", "VpcId", vpc, "AmazonProvidedIpv6CidrBlock", "true")
	block6b := field(got6b, "ipv6CidrBlock")
	if blocks := xmlFields(c.ok("DescribeVpcs", "VpcId.1", vpc), "ipv6CidrBlock"); !slices.Equal(blocks, []string{block6, block6b}) {
		t.Errorf("IPv6 blocks %v, want %s and %s", blocks, block6, block6b)
	}
	if ids := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", "ipv6-cidr-block-association.ipv6-cidr-block", "Filter.1.Value.1", block6b), "vpcId"); !slices.Equal(ids, []string{vpc}) {
		t.Errorf("second IPv6 block filter: %v", ids)
	}
	c.ok("DisassociateVpcCidrBlock", "AssociationId", field(got6b, "associationId"))
	dis := c.ok("DisassociateVpcCidrBlock", "AssociationId", assoc6)
	if !strings.Contains(dis, "<ipv6CidrBlockAssociation><ipv6CidrBlock>"+block6+"</ipv6CidrBlock><associationId>"+assoc6+"</associationId><ipv6CidrBlockState><state>disassociating</state>") {
		t.Errorf("DisassociateVpcCidrBlock reply %s", dis)
	}
	if strings.Contains(c.ok("DescribeVpcs", "VpcId.1", vpc), "ipv6CidrBlock") {
		t.Errorf("the IPv6 block stayed")
	}
}

// TestVPCAttributeActions: DescribeVpcAttribute answers each attribute with AWS's shape
// (VpcId and one <attribute><value>), ModifyVpcAttribute changes one per call.
func TestVPCAttributeActions(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	attr := func(name string) string {
		return c.ok("DescribeVpcAttribute", "VpcId", vpc, "Attribute", name)
	}
	if got := attr("enableDnsSupport"); !strings.Contains(got, "<vpcId>"+vpc+"</vpcId><enableDnsSupport><value>true</value></enableDnsSupport>") {
		t.Errorf("enableDnsSupport: %s", got)
	}
	if got := attr("enableDnsHostnames"); !strings.Contains(got, "<enableDnsHostnames><value>false</value></enableDnsHostnames>") {
		t.Errorf("enableDnsHostnames: %s", got)
	}
	c.ok("ModifyVpcAttribute", "VpcId", vpc, "EnableDnsHostnames.Value", "true")
	c.ok("ModifyVpcAttribute", "VpcId", vpc, "EnableNetworkAddressUsageMetrics.Value", "true")
	if got := attr("enableDnsHostnames"); !strings.Contains(got, "<enableDnsHostnames><value>true</value></enableDnsHostnames>") {
		t.Errorf("enableDnsHostnames after modify: %s", got)
	}
	if got := attr("enableNetworkAddressUsageMetrics"); !strings.Contains(got, "<enableNetworkAddressUsageMetrics><value>true</value></enableNetworkAddressUsageMetrics>") {
		t.Errorf("enableNetworkAddressUsageMetrics: %s", got)
	}
	c.fails("InvalidParameterCombination", "ModifyVpcAttribute", "VpcId", vpc, "EnableDnsHostnames.Value", "true", "EnableDnsSupport.Value", "true")
	c.fails("UnknownParameter", "ModifyVpcAttribute", "VpcId", vpc, "EnableDnsSupport.Value", "false", "DryRun", "true") // none in EC2's model
	c.fails("DryRunOperation", "DescribeVpcAttribute", "VpcId", vpc, "Attribute", "enableDnsSupport", "DryRun", "true")
	c.fails("InvalidVpcID.NotFound", "DescribeVpcAttribute", "VpcId", "vpc-0123456789abcdef0", "Attribute", "enableDnsSupport")
	c.fails("InvalidParameterValue", "DescribeVpcAttribute", "VpcId", vpc, "Attribute", "enableDns")
	if got := attr("enableDnsSupport"); !strings.Contains(got, "<value>true</value>") {
		t.Errorf("a dry run changed the attribute: %s", got)
	}
}
