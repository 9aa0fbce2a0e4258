package e2e

import (
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestVPCSubnetDHCPWithSDK drives the VPC, subnet and DHCP actions of issue 13 with the AWS
// SDK for Go: every reply decodes into the SDK's types with the fields a client reads, and
// the errors come back with EC2's codes.
func TestVPCSubnetDHCPWithSDK(t *testing.T) {
	s := startServer(t, "")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)

	vpc := must[*ec2.CreateVpcOutput](t)(c.CreateVpc(cx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})).Vpc
	sec := must[*ec2.AssociateVpcCidrBlockOutput](t)(c.AssociateVpcCidrBlock(cx, &ec2.AssociateVpcCidrBlockInput{VpcId: vpc.VpcId, CidrBlock: aws.String("10.1.0.0/16")}))
	if aws.ToString(sec.CidrBlockAssociation.CidrBlock) != "10.1.0.0/16" || sec.CidrBlockAssociation.CidrBlockState.State != types.VpcCidrBlockStateCodeAssociating {
		t.Errorf("secondary block %+v", sec.CidrBlockAssociation)
	}
	v6 := must[*ec2.AssociateVpcCidrBlockOutput](t)(c.AssociateVpcCidrBlock(cx, &ec2.AssociateVpcCidrBlockInput{VpcId: vpc.VpcId, AmazonProvidedIpv6CidrBlock: aws.Bool(true)}))
	block := netip.MustParsePrefix(aws.ToString(v6.Ipv6CidrBlockAssociation.Ipv6CidrBlock))
	_, err := c.AssociateVpcCidrBlock(cx, &ec2.AssociateVpcCidrBlockInput{VpcId: vpc.VpcId, CidrBlock: aws.String("192.168.0.0/16")})
	if code, _ := apiError(t, err); code != "InvalidVpc.Range" {
		t.Errorf("restricted block: %s", code)
	}
	vpcs := must[*ec2.DescribeVpcsOutput](t)(c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{VpcIds: []string{*vpc.VpcId}})).Vpcs
	if len(vpcs[0].CidrBlockAssociationSet) != 2 || len(vpcs[0].Ipv6CidrBlockAssociationSet) != 1 {
		t.Errorf("DescribeVpcs blocks %+v %+v", vpcs[0].CidrBlockAssociationSet, vpcs[0].Ipv6CidrBlockAssociationSet)
	}

	must[*ec2.ModifyVpcAttributeOutput](t)(c.ModifyVpcAttribute(cx, &ec2.ModifyVpcAttributeInput{VpcId: vpc.VpcId,
		EnableNetworkAddressUsageMetrics: &types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	attr := must[*ec2.DescribeVpcAttributeOutput](t)(c.DescribeVpcAttribute(cx, &ec2.DescribeVpcAttributeInput{VpcId: vpc.VpcId,
		Attribute: types.VpcAttributeNameEnableNetworkAddressUsageMetrics}))
	if !aws.ToBool(attr.EnableNetworkAddressUsageMetrics.Value) {
		t.Errorf("enableNetworkAddressUsageMetrics %+v", attr)
	}

	dopt := must[*ec2.CreateDhcpOptionsOutput](t)(c.CreateDhcpOptions(cx, &ec2.CreateDhcpOptionsInput{DhcpConfigurations: []types.NewDhcpConfiguration{
		{Key: aws.String("domain-name"), Values: []string{"corp.example"}}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeDhcpOptions, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("lab")}}}}})).DhcpOptions
	if len(dopt.DhcpConfigurations) != 1 || aws.ToString(dopt.DhcpConfigurations[0].Values[0].Value) != "corp.example" || len(dopt.Tags) != 1 {
		t.Errorf("CreateDhcpOptions %+v", dopt)
	}
	must[*ec2.AssociateDhcpOptionsOutput](t)(c.AssociateDhcpOptions(cx, &ec2.AssociateDhcpOptionsInput{DhcpOptionsId: dopt.DhcpOptionsId, VpcId: vpc.VpcId}))
	_, err = c.DeleteDhcpOptions(cx, &ec2.DeleteDhcpOptionsInput{DhcpOptionsId: dopt.DhcpOptionsId})
	if code, _ := apiError(t, err); code != "DependencyViolation" {
		t.Errorf("delete in use: %s", code)
	}
	sets := must[*ec2.DescribeDhcpOptionsOutput](t)(c.DescribeDhcpOptions(cx, &ec2.DescribeDhcpOptionsInput{Filters: []types.Filter{{Name: aws.String("tag:env"), Values: []string{"lab"}}}})).DhcpOptions
	if len(sets) != 1 || aws.ToString(sets[0].DhcpOptionsId) != aws.ToString(dopt.DhcpOptionsId) {
		t.Errorf("DescribeDhcpOptions %+v", sets)
	}

	native := must[*ec2.CreateSubnetOutput](t)(c.CreateSubnet(cx, &ec2.CreateSubnetInput{VpcId: vpc.VpcId, Ipv6Native: aws.Bool(true),
		Ipv6CidrBlock: aws.String(netip.PrefixFrom(block.Addr(), 64).String()), AvailabilityZoneId: aws.String("use1-az2")})).Subnet
	if !aws.ToBool(native.Ipv6Native) || native.CidrBlock != nil || aws.ToString(native.AvailabilityZone) != "us-east-1b" ||
		native.PrivateDnsNameOptionsOnLaunch.HostnameType != types.HostnameTypeResourceName {
		t.Errorf("IPv6-native subnet %+v", native)
	}
	sn := must[*ec2.CreateSubnetOutput](t)(c.CreateSubnet(cx, &ec2.CreateSubnetInput{VpcId: vpc.VpcId, CidrBlock: aws.String("10.1.2.0/24")})).Subnet
	must[*ec2.ModifySubnetAttributeOutput](t)(c.ModifySubnetAttribute(cx, &ec2.ModifySubnetAttributeInput{SubnetId: sn.SubnetId,
		EnableResourceNameDnsARecordOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	res := must[*ec2.CreateSubnetCidrReservationOutput](t)(c.CreateSubnetCidrReservation(cx, &ec2.CreateSubnetCidrReservationInput{SubnetId: sn.SubnetId,
		Cidr: aws.String("10.1.2.0/28"), ReservationType: types.SubnetCidrReservationTypeExplicit})).SubnetCidrReservation
	got := must[*ec2.GetSubnetCidrReservationsOutput](t)(c.GetSubnetCidrReservations(cx, &ec2.GetSubnetCidrReservationsInput{SubnetId: sn.SubnetId}))
	if len(got.SubnetIpv4CidrReservations) != 1 || aws.ToString(got.SubnetIpv4CidrReservations[0].SubnetCidrReservationId) != aws.ToString(res.SubnetCidrReservationId) {
		t.Errorf("GetSubnetCidrReservations %+v", got)
	}
	eni := must[*ec2.CreateNetworkInterfaceOutput](t)(c.CreateNetworkInterface(cx, &ec2.CreateNetworkInterfaceInput{SubnetId: sn.SubnetId})).NetworkInterface
	if a := aws.ToString(eni.PrivateIpAddress); a != "10.1.2.16" {
		t.Errorf("first automatic address %s, want 10.1.2.16 after reservation 10.1.2.0/28", a)
	}
	subnets := must[*ec2.DescribeSubnetsOutput](t)(c.DescribeSubnets(cx, &ec2.DescribeSubnetsInput{SubnetIds: []string{*sn.SubnetId}})).Subnets
	if !aws.ToBool(subnets[0].PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsARecord) {
		t.Errorf("DescribeSubnets %+v", subnets[0].PrivateDnsNameOptionsOnLaunch)
	}
	_, err = c.CreateDefaultVpc(cx, &ec2.CreateDefaultVpcInput{})
	if code, _ := apiError(t, err); code != "DefaultVpcAlreadyExists" {
		t.Errorf("CreateDefaultVpc: %s", code)
	}
	_, err = c.CreateDefaultSubnet(cx, &ec2.CreateDefaultSubnetInput{AvailabilityZone: aws.String("us-east-1a")})
	if code, _ := apiError(t, err); code != "DefaultSubnetAlreadyExistsInAvailabilityZone" {
		t.Errorf("CreateDefaultSubnet: %s", code)
	}
}
