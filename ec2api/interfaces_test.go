package ec2api

import (
	"slices"
	"testing"
)

func TestNetworkInterfaces(t *testing.T) {
	c := newTestAPI(t, "groups-per-interface=2", "rules-per-group=60").newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	app := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "app", "GroupDescription", "a"), "groupId")
	db := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "db", "GroupDescription", "d"), "groupId")
	other := field(c.ok("CreateVpc", "CidrBlock", "10.9.0.0/16"), "vpcId")
	foreign := field(c.ok("CreateSecurityGroup", "VpcId", other, "GroupName", "x", "GroupDescription", "x"), "groupId")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/28"), "subnetId")

	// Defaults: the VPC's default group, the first usable address (.4), AWS's timeouts.
	body := c.ok("CreateNetworkInterface", "SubnetId", sn)
	eni := field(body, "networkInterfaceId")
	if field(body, "privateIpAddress") != "10.0.1.4" || field(body, "groupName") != "default" || field(body, "tcpEstablishedTimeout") != "432000" {
		t.Errorf("defaults: %s", body)
	}
	tests := []struct {
		name, code string
		params     []string
	}{
		{"too many groups", "SecurityGroupsPerInterfaceLimitExceeded", kv("SubnetId", sn, "SecurityGroupId.1", web, "SecurityGroupId.2", app, "SecurityGroupId.3", db)},
		{"group of another VPC", "InvalidParameter", kv("SubnetId", sn, "SecurityGroupId.1", foreign)},
		{"unknown group", "InvalidGroup.NotFound", kv("SubnetId", sn, "SecurityGroupId.1", "sg-0123456789abcdef0")},
		{"address taken", "InvalidIPAddress.InUse", kv("SubnetId", sn, "PrivateIpAddress", "10.0.1.4")},
		{"reserved address", "InvalidParameterValue", kv("SubnetId", sn, "PrivateIpAddress", "10.0.1.3")},
		{"broadcast address", "InvalidParameterValue", kv("SubnetId", sn, "PrivateIpAddress", "10.0.1.15")},
		{"timeout out of range", "InvalidParameterValue", kv("SubnetId", sn, "ConnectionTrackingSpecification.UdpTimeout", "61")},
		{"unknown subnet", "InvalidSubnetID.NotFound", kv("SubnetId", "subnet-0123456789abcdef0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "CreateNetworkInterface", tt.params...) })
	}
	// A /28 has 16 - 5 = 11 usable addresses; one is used.
	if n := field(c.ok("DescribeSubnets", "SubnetId.1", sn), "availableIpAddressCount"); n != "10" {
		t.Errorf("available addresses %s, want 10", n)
	}
	// Groups are replaced, not added (spec §11.21); one attribute per call.
	c.ok("ModifyNetworkInterfaceAttribute", "NetworkInterfaceId", eni, "SecurityGroupId.1", web, "SecurityGroupId.2", app)
	if got := xmlFields(c.ok("DescribeNetworkInterfaces", "NetworkInterfaceId.1", eni), "groupId"); !slices.Equal(got, []string{web, app}) {
		t.Errorf("groups after modify: %v", got)
	}
	c.fails("InvalidParameterCombination", "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId", eni, "SecurityGroupId.1", web, "SourceDestCheck.Value", "false")
	c.fails("DependencyViolation", "DeleteSecurityGroup", "GroupId", app)
	if got := xmlFields(c.ok("DescribeNetworkInterfaces", "Filter.1.Name", "group-id", "Filter.1.Value.1", app), "networkInterfaceId"); !slices.Equal(got, []string{eni}) {
		t.Errorf("group-id filter: %v", got)
	}
	c.fails("InvalidParameterCombination", "DescribeNetworkInterfaces", "NetworkInterfaceId.1", eni, "MaxResults", "5")
	c.ok("DeleteNetworkInterface", "NetworkInterfaceId", eni)
	c.ok("DeleteSecurityGroup", "GroupId", app)
	c.fails("InvalidNetworkInterfaceID.NotFound", "DeleteNetworkInterface", "NetworkInterfaceId", eni)

	// Idempotency.
	a := field(c.ok("CreateNetworkInterface", "SubnetId", sn, "ClientToken", "tok-1"), "networkInterfaceId")
	if b := field(c.ok("CreateNetworkInterface", "SubnetId", sn, "ClientToken", "tok-1"), "networkInterfaceId"); a != b {
		t.Errorf("retry with the same token created %s, then %s", a, b)
	}
	c.fails("IdempotentParameterMismatch", "CreateNetworkInterface", "SubnetId", sn, "ClientToken", "tok-1", "Description", "changed")
}
