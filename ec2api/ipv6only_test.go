package ec2api

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// TestIPv6OnlyGolden pins DescribeInstances and DescribeNetworkInterfaces of an instance in an
// IPv6-only subnet: no privateIpAddress (left out, not empty), an empty privateIpAddressesSet,
// one IPv6 address (primary: EnablePrimaryIpv6), and the instance's resource-based
// privateDnsName. The IPv4 parameters AWS refuses there are refused.
func TestIPv6OnlyGolden(t *testing.T) {
	cfg := control.DefaultConfig()
	cfg.Now = func() time.Time { return goldenClock }
	cfg.Images = fixedImages()
	c := newTestAPIWith(t, cfg).newAccount("alice")
	vpcReply := c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true")
	vpc, block := field(vpcReply, "vpcId"), netip.MustParsePrefix(field(vpcReply, "ipv6CidrBlock"))
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "Ipv6Native", "true", "Ipv6CidrBlock", netip.PrefixFrom(block.Addr(), 64).String(),
		"AvailabilityZone", "us-east-1a"), "subnetId")

	c.fails("InvalidParameterCombination", "RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn)
	c.fails("InvalidParameterCombination", "RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn,
		"InstanceType", "t3.micro", "PrivateIpAddress", "10.0.0.10")
	c.fails("InvalidParameterCombination", "CreateNetworkInterface", "SubnetId", sn, "SecondaryPrivateIpAddressCount", "1")

	inst := field(c.ok("RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn,
		"InstanceType", "t3.micro", "MetadataOptions.HttpProtocolIpv6", "enabled", "EnablePrimaryIpv6", "true"), "instanceId")
	eni := field(c.ok("DescribeInstances", "InstanceId.1", inst), "networkInterfaceId")
	c.fails("InvalidParameterCombination", "AssignPrivateIpAddresses", "NetworkInterfaceId", eni, "SecondaryPrivateIpAddressCount", "1")
	// The VPC's /56 is random: the golden files show it as 2600:1f18:ff00:: (its first /64).
	v6 := strings.TrimSuffix(block.Addr().String(), "::")
	for _, g := range []struct{ action, file string }{
		{"DescribeInstances", "DescribeInstances-ipv6only"},
		{"DescribeNetworkInterfaces", "DescribeNetworkInterfaces-ipv6only"},
	} {
		t.Run(g.file, func(t *testing.T) {
			params := []string{"InstanceId.1", inst}
			if g.action == "DescribeNetworkInterfaces" {
				params = []string{"NetworkInterfaceId.1", eni}
			}
			got := strings.ReplaceAll(c.ok(g.action, params...), v6+"::", "2600:1f18:ff00::")
			checkGolden(t, filepath.Join("testdata", g.file+".xml"), indent(normalise(got, c.acct.ID)), "IPv6OnlyGolden")
		})
	}
}
