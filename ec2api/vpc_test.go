package ec2api

import (
	"slices"
	"testing"
)

func TestVPCAndSubnetErrors(t *testing.T) {
	c := newTestAPI(t, "vpcs=3").newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "InstanceTenancy", "dedicated"), "vpcId")
	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"vpc too large", "InvalidVpc.Range", "CreateVpc", kv("CidrBlock", "10.0.0.0/15")},
		{"vpc too small", "InvalidVpc.Range", "CreateVpc", kv("CidrBlock", "10.0.0.0/29")},
		{"vpc not a cidr", "InvalidParameterValue", "CreateVpc", kv("CidrBlock", "10.0.0.0")},
		{"vpc host tenancy", "InvalidParameterValue", "CreateVpc", kv("CidrBlock", "10.0.0.0/16", "InstanceTenancy", "host")},
		{"vpc missing cidr", "MissingParameter", "CreateVpc", nil},
		{"subnet outside vpc", "InvalidSubnet.Range", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.1.0.0/24")},
		{"subnet too small", "InvalidSubnet.Range", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.0.0/29")},
		{"subnet unknown vpc", "InvalidVpcID.NotFound", "CreateSubnet", kv("VpcId", "vpc-0123456789abcdef0", "CidrBlock", "10.0.0.0/24")},
		{"subnet bad zone", "InvalidParameterValue", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.9.0/24", "AvailabilityZone", "mars-1a")},
		{"delete unknown vpc", "InvalidVpcID.NotFound", "DeleteVpc", kv("VpcId", "vpc-0123456789abcdef0")},
		{"delete unknown subnet", "InvalidSubnetID.NotFound", "DeleteSubnet", kv("SubnetId", "subnet-0123456789abcdef0")},
		{"describe unknown vpc", "InvalidVpcID.NotFound", "DescribeVpcs", kv("VpcId.1", vpc, "VpcId.2", "vpc-0123456789abcdef0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	sn := c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1b")
	if field(sn, "availableIpAddressCount") != "251" || field(sn, "availabilityZoneId") != "use1-az2" {
		t.Errorf("subnet: %s", sn)
	}
	c.fails("InvalidSubnet.Conflict", "CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.128/25")
	// The default VPC counts: default + 2 more reach the quota of 3.
	c.ok("CreateVpc", "CidrBlock", "10.9.0.0/16")
	c.fails("VpcLimitExceeded", "CreateVpc", "CidrBlock", "10.8.0.0/16")
	if got := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", "instance-tenancy", "Filter.1.Value.1", "dedicated"), "vpcId"); !slices.Equal(got, []string{vpc}) {
		t.Errorf("tenancy filter: %v", got)
	}
}
