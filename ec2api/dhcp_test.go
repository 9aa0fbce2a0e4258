package ec2api

import (
	"slices"
	"strings"
	"testing"
)

// TestDhcpOptionsActions drives the DHCP option-set actions over the wire: the reply of
// CreateDhcpOptions in the shape of the AWS CLI's example (options sorted by key, values in
// order), tags, DescribeDhcpOptions with its filters, association (and "default") as
// DescribeVpcs shows it, and DeleteDhcpOptions' refusal while in use.
func TestDhcpOptionsActions(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	dflt := field(c.ok("DescribeVpcs", "VpcId.1", vpc), "dhcpOptionsId")
	if got := c.ok("DescribeDhcpOptions", "DhcpOptionsId.1", dflt); !strings.Contains(got,
		"<dhcpConfigurationSet><item><key>domain-name</key><valueSet><item><value>ec2.internal</value></item></valueSet></item><item><key>domain-name-servers</key><valueSet><item><value>AmazonProvidedDNS</value></item></valueSet></item></dhcpConfigurationSet>") {
		t.Errorf("default set: %s", got)
	}
	created := c.ok("CreateDhcpOptions", "DhcpConfiguration.1.Key", "domain-name-servers", "DhcpConfiguration.1.Value.1", "10.2.5.1",
		"DhcpConfiguration.1.Value.2", "10.2.5.2", "DhcpConfiguration.2.Key", "domain-name", "DhcpConfiguration.2.Value.1", "example.com",
		"DhcpConfiguration.3.Key", "netbios-node-type", "DhcpConfiguration.3.Value.1", "2",
		"TagSpecification.1.ResourceType", "dhcp-options", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "corp")
	dopt := field(created, "dhcpOptionsId")
	if keys := xmlFields(created, "key"); !slices.Equal(keys, []string{"domain-name", "domain-name-servers", "netbios-node-type", "Name"}) {
		t.Errorf("keys %v in %s", keys, created)
	}
	if vals := xmlFields(created, "value"); !slices.Equal(vals, []string{"example.com", "10.2.5.1", "10.2.5.2", "2", "corp"}) {
		t.Errorf("values %v in %s", vals, created)
	}
	for _, f := range [][2]string{{"key", "netbios-node-type"}, {"value", "10.2.5.2"}, {"dhcp-options-id", dopt}, {"tag:Name", "corp"}} {
		if ids := xmlFields(c.ok("DescribeDhcpOptions", "Filter.1.Name", f[0], "Filter.1.Value.1", f[1]), "dhcpOptionsId"); !slices.Equal(ids, []string{dopt}) {
			t.Errorf("filter %s=%s: %v", f[0], f[1], ids)
		}
	}
	c.ok("AssociateDhcpOptions", "DhcpOptionsId", dopt, "VpcId", vpc)
	if got := field(c.ok("DescribeVpcs", "Filter.1.Name", "dhcp-options-id", "Filter.1.Value.1", dopt), "vpcId"); got != vpc {
		t.Errorf("dhcp-options-id filter: %s", got)
	}
	c.fails("DependencyViolation", "DeleteDhcpOptions", "DhcpOptionsId", dopt)
	c.fails("InvalidDhcpOptionID.NotFound", "AssociateDhcpOptions", "DhcpOptionsId", "dopt-0123456789abcdef0", "VpcId", vpc)
	c.fails("InvalidDhcpOptionID.NotFound", "DescribeDhcpOptions", "DhcpOptionsId.1", "dopt-0123456789abcdef0")
	c.fails("InvalidParameterValue", "CreateDhcpOptions", "DhcpConfiguration.1.Key", "routers", "DhcpConfiguration.1.Value.1", "10.0.0.1")
	c.fails("DryRunOperation", "CreateDhcpOptions", "DhcpConfiguration.1.Key", "domain-name", "DhcpConfiguration.1.Value.1", "x", "DryRun", "true")
	c.ok("AssociateDhcpOptions", "DhcpOptionsId", "default", "VpcId", vpc)
	if got := field(c.ok("DescribeVpcs", "VpcId.1", vpc), "dhcpOptionsId"); got != "default" {
		t.Errorf("after associating default: %s", got)
	}
	c.ok("DeleteDhcpOptions", "DhcpOptionsId", dopt)
	if ids := xmlFields(c.ok("DescribeDhcpOptions"), "dhcpOptionsId"); !slices.Equal(ids, []string{dflt}) {
		t.Errorf("after delete: %v", ids)
	}
}

// TestCreateDefaultVpcAction: DefaultVpcAlreadyExists while there is one; after the default
// VPC is gone, CreateDefaultVpc answers with AWS's shape (as in the AWS CLI's example) and
// the VPC is 172.31.0.0/16 with its default subnets.
func TestCreateDefaultVpcAction(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	c.fails("DefaultVpcAlreadyExists", "CreateDefaultVpc")
	def := field(c.ok("DescribeVpcs", "Filter.1.Name", "is-default", "Filter.1.Value.1", "true"), "vpcId")
	for _, sn := range xmlFields(c.ok("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", def), "subnetId") {
		c.ok("DeleteSubnet", "SubnetId", sn)
	}
	igw := field(c.ok("DescribeInternetGateways", "Filter.1.Name", "attachment.vpc-id", "Filter.1.Value.1", def), "internetGatewayId")
	c.ok("DetachInternetGateway", "InternetGatewayId", igw, "VpcId", def)
	c.ok("DeleteInternetGateway", "InternetGatewayId", igw)
	c.ok("DeleteVpc", "VpcId", def)
	c.fails("DryRunOperation", "CreateDefaultVpc", "DryRun", "true")
	got := c.ok("CreateDefaultVpc")
	for _, want := range []string{"<cidrBlock>172.31.0.0/16</cidrBlock>", "<state>pending</state>", "<instanceTenancy>default</instanceTenancy>",
		"<isDefault>true</isDefault>", "<dhcpOptionsId>dopt-"} {
		if !strings.Contains(got, want) {
			t.Errorf("CreateDefaultVpc reply lacks %s: %s", want, got)
		}
	}
	vpc := field(got, "vpcId")
	if cidrs := xmlFields(c.ok("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc, "Filter.2.Name", "default-for-az", "Filter.2.Value.1", "true"), "cidrBlock"); len(cidrs) != 3 {
		t.Errorf("default subnets %v", cidrs)
	}
	c.fails("DefaultVpcAlreadyExists", "CreateDefaultVpc")
}
