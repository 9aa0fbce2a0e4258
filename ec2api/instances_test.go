package ec2api

import (
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/image"
)

func TestInstances(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	other := field(c.ok("CreateVpc", "CidrBlock", "10.9.0.0/16", "InstanceTenancy", "dedicated"), "vpcId")
	dsn := field(c.ok("CreateSubnet", "VpcId", other, "CidrBlock", "10.9.1.0/24"), "subnetId")
	c.ok("CreateKeyPair", "KeyName", "deploy", "KeyType", "ed25519")
	run := func(params ...any) []string {
		return append(kv("ImageId", image.DefaultID, "MinCount", 1), kv(params...)...)
	}
	body := c.ok("RunInstances", run("MaxCount", 2, "SubnetId", sn, "SecurityGroupId.1", web, "KeyName", "deploy",
		"UserData", b64("#!/bin/sh\necho hi\n"), "TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "Name",
		"TagSpecification.1.Tag.1.Value", "web")...)
	ids := uniq(xmlFields(body, "instanceId")) // the attachment names the instance too
	if len(ids) != 2 || field(body, "name") != "pending" || field(body, "tenancy") != "default" {
		t.Fatalf("RunInstances: %s", body)
	}
	if ips := xmlFields(body, "privateIpAddress"); !slices.Contains(ips, "10.0.1.4") || !slices.Contains(ips, "10.0.1.5") {
		t.Errorf("addresses: %v", ips)
	}
	tests := []struct {
		name, code string
		params     []string
	}{
		{"min > max", "InvalidParameterValue", run("MaxCount", 0)},
		{"unknown key", "InvalidKeyPair.NotFound", run("MaxCount", 1, "SubnetId", sn, "KeyName", "nope")},
		{"names with subnet", "InvalidParameterCombination", run("MaxCount", 1, "SubnetId", sn, "SecurityGroup.1", "web")},
		{"group from another VPC", "InvalidParameter", run("MaxCount", 1, "SubnetId", dsn, "SecurityGroupId.1", web)},
		{"bad user data", "InvalidParameterValue", run("MaxCount", 1, "SubnetId", sn, "UserData", "!!!")},
		{"host tenancy without a Dedicated Host", "IncompatibleHostRequirements", run("MaxCount", 1, "SubnetId", sn, "Placement.Tenancy", "host")},
		{"malformed image", "InvalidAMIID.Malformed", kv("ImageId", "linux", "MinCount", 1, "MaxCount", 1)},
		{"missing count", "MissingParameter", kv("ImageId", image.DefaultID, "MinCount", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "RunInstances", tt.params...) })
	}
	// A dedicated VPC makes instances dedicated; no subnet means the default VPC.
	if ten := field(c.ok("RunInstances", run("MaxCount", 1, "SubnetId", dsn)...), "tenancy"); ten != "dedicated" {
		t.Errorf("tenancy in a dedicated VPC: %s", ten)
	}
	dflt := c.ok("RunInstances", run("MaxCount", 1)...)
	if !strings.HasPrefix(field(dflt, "privateIpAddress"), "172.31.") || !slices.Contains(xmlFields(dflt, "groupName"), "default") {
		t.Errorf("launch in the default VPC: %s", dflt)
	}
	desc := c.ok("DescribeInstances", "Filter.1.Name", "instance.group-id", "Filter.1.Value.1", web, "Filter.2.Name", "tag:Name", "Filter.2.Value.1", "web")
	if got := sorted(uniq(xmlFields(desc, "instanceId"))); !slices.Equal(got, sorted(ids)) || field(desc, "name") != "running" {
		t.Errorf("DescribeInstances: %v, want %v: %s", got, ids, desc)
	}
	ud := c.ok("DescribeInstanceAttribute", "InstanceId", ids[0], "Attribute", "userData")
	if field(ud, "value") != b64("#!/bin/sh\necho hi\n") {
		t.Errorf("userData: %s", ud)
	}
	// The group is in use until its instances are terminated.
	c.fails("DependencyViolation", "DeleteSecurityGroup", "GroupId", web)
	c.ok("ModifyInstanceAttribute", "InstanceId", ids[0], "DisableApiTermination.Value", "true")
	c.fails("OperationNotPermitted", "TerminateInstances", "InstanceId.1", ids[0], "InstanceId.2", ids[1])
	c.fails("InvalidInstanceID.NotFound", "TerminateInstances", "InstanceId.1", ids[1], "InstanceId.2", "i-0123456789abcdef0")
	c.ok("ModifyInstanceAttribute", "InstanceId", ids[0], "DisableApiTermination.Value", "false")
	term := c.ok("TerminateInstances", "InstanceId.1", ids[0], "InstanceId.2", ids[1])
	if got := xmlFields(term, "name"); !slices.Equal(got, []string{"shutting-down", "running", "shutting-down", "running"}) {
		t.Errorf("terminate states: %v", got)
	}
	if got := xmlFields(c.ok("TerminateInstances", "InstanceId.1", ids[0]), "name"); !slices.Equal(got, []string{"terminated", "terminated"}) {
		t.Errorf("terminating again: %v", got)
	}
	if st := field(c.ok("DescribeInstances", "InstanceId.1", ids[0]), "name"); st != "terminated" {
		t.Errorf("terminated instance shows %s", st)
	}
	c.ok("DeleteSecurityGroup", "GroupId", web) // its interfaces went with the instances
	if n := field(c.ok("DescribeSubnets", "SubnetId.1", sn), "availableIpAddressCount"); n != "251" {
		t.Errorf("addresses not released: %s available", n)
	}
	// ClientToken: a retry returns the same instances.
	first := uniq(xmlFields(c.ok("RunInstances", run("MaxCount", 1, "SubnetId", sn, "ClientToken", "launch-1")...), "instanceId"))
	again := uniq(xmlFields(c.ok("RunInstances", run("MaxCount", 1, "SubnetId", sn, "ClientToken", "launch-1")...), "instanceId"))
	if !slices.Equal(first, again) {
		t.Errorf("ClientToken retry launched %v after %v", again, first)
	}
}

func uniq(s []string) []string { s = sorted(s); return slices.Compact(s) }

// TestIPv6Addresses: interfaces and instances get IPv6 addresses by count or by address on
// the wire, show them, and can be filtered by them.
func TestIPv6Addresses(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpcBody := c.ok("CreateVpc", "CidrBlock", "10.6.0.0/16", "AmazonProvidedIpv6CidrBlock", "true")
	vpc, block := field(vpcBody, "vpcId"), field(vpcBody, "ipv6CidrBlock")
	six := strings.TrimSuffix(block, "/56") + "/64" // the block's first /64
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.6.1.0/24", "Ipv6CidrBlock", six), "subnetId")
	v4only := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.6.2.0/24"), "subnetId")
	base := strings.TrimSuffix(six, "/64")

	eni := c.ok("CreateNetworkInterface", "SubnetId", sn, "Ipv6AddressCount", "2")
	if got := xmlFields(eni, "ipv6Address"); !slices.Equal(got, []string{base + "4", base + "5"}) {
		t.Fatalf("CreateNetworkInterface Ipv6AddressCount=2: %v\n%s", got, eni)
	}
	given := c.ok("CreateNetworkInterface", "SubnetId", sn, "Ipv6Addresses.1.Ipv6Address", base+"99")
	if got := xmlFields(given, "ipv6Address"); !slices.Equal(got, []string{base + "99"}) {
		t.Fatalf("CreateNetworkInterface Ipv6Addresses: %v", got)
	}
	found := xmlFields(c.ok("DescribeNetworkInterfaces", "Filter.1.Name", "ipv6-addresses.ipv6-address", "Filter.1.Value.1", base+"99"), "networkInterfaceId")
	if !slices.Equal(found, []string{field(given, "networkInterfaceId")}) {
		t.Fatalf("ipv6-addresses.ipv6-address filter: %v", found)
	}
	// m1.small, EC2's default type, has no IPv6.
	c.fails("UnsupportedOperation", "RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn, "Ipv6AddressCount", "1")
	run := c.ok("RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn, "Ipv6AddressCount", "1", "InstanceType", "t3.micro")
	if got := field(run, "ipv6Address"); got != base+"6" {
		t.Fatalf("RunInstances Ipv6AddressCount=1: ipv6Address %q\n%s", got, run)
	}
	byAddr := xmlFields(c.ok("DescribeInstances", "Filter.1.Name", "network-interface.ipv6-addresses.ipv6-address", "Filter.1.Value.1", base+"6"), "instanceId")
	if byAddr = slices.Compact(byAddr); len(byAddr) != 1 || byAddr[0] != field(run, "instanceId") { // the attachment names it too
		t.Fatalf("network-interface.ipv6-addresses.ipv6-address filter: %v", byAddr)
	}
	c.ok("RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "InstanceType", "t3.micro",
		"NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SubnetId", sn, "NetworkInterface.1.Ipv6Addresses.1.Ipv6Address", base+"a")
	c.fails("InvalidParameterValue", "CreateNetworkInterface", "SubnetId", v4only, "Ipv6AddressCount", "1")
	c.fails("InvalidParameterCombination", "CreateNetworkInterface", "SubnetId", sn, "Ipv6AddressCount", "1", "Ipv6Addresses.1.Ipv6Address", base+"b")
	c.fails("InvalidIPAddress.InUse", "CreateNetworkInterface", "SubnetId", sn, "Ipv6Addresses.1.Ipv6Address", base+"a")
	c.fails("InvalidParameterValue", "CreateNetworkInterface", "SubnetId", sn, "Ipv6AddressCount", "-1")
	c.fails("InvalidParameterCombination", "RunInstances", "ImageId", image.DefaultID, "MinCount", "2", "MaxCount", "2", "SubnetId", sn,
		"Ipv6Address.1.Ipv6Address", base+"c")
}
