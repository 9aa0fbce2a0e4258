package ec2api

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestSubnetActions drives the subnet actions of issue 13 over the wire: IPv6-native
// CreateSubnet with AvailabilityZoneId, Associate/DisassociateSubnetCidrBlock in the AWS CLI
// examples' shape, every ModifySubnetAttribute attribute as DescribeSubnets shows it (with
// PrivateDnsNameOptionsOnLaunch) and its filters.
func TestSubnetActions(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpcReply := c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true")
	vpc, block := field(vpcReply, "vpcId"), netip.MustParsePrefix(field(vpcReply, "ipv6CidrBlock"))
	first := netip.PrefixFrom(block.Addr(), 64)
	native := c.ok("CreateSubnet", "VpcId", vpc, "Ipv6Native", "true", "Ipv6CidrBlock", first.String(), "AvailabilityZoneId", "use1-az3")
	for _, want := range []string{"<availabilityZone>us-east-1c</availabilityZone><availabilityZoneId>use1-az3</availabilityZoneId>",
		"<ipv6Native>true</ipv6Native>", "<hostnameType>resource-name</hostnameType>", "<availableIpAddressCount>0</availableIpAddressCount>"} {
		if !strings.Contains(native, want) {
			t.Errorf("IPv6-native CreateSubnet lacks %s: %s", want, native)
		}
	}
	if strings.Contains(native, "<cidrBlock>") {
		t.Errorf("an IPv6-native subnet shows an IPv4 block: %s", native)
	}
	c.fails("MissingParameter", "CreateSubnet", "VpcId", vpc, "Ipv6Native", "true")
	c.fails("InvalidParameterValue", "CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.5.0/24", "Ipv4IpamPoolId", "ipam-pool-0123456789abcdef0")

	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	c.fails("InvalidSubnet.Conflict", "AssociateSubnetCidrBlock", "SubnetId", sn, "Ipv6CidrBlock", first.String())
	b := block.Addr().As16()
	b[7] = 1 // the /56's second /64
	second := netip.PrefixFrom(netip.AddrFrom16(b), 64)
	got := c.ok("AssociateSubnetCidrBlock", "SubnetId", sn, "Ipv6CidrBlock", second.String())
	assoc := field(got, "associationId")
	if !strings.Contains(got, "<subnetId>"+sn+"</subnetId><ipv6CidrBlockAssociation><ipv6CidrBlock>"+second.String()+"</ipv6CidrBlock><associationId>"+assoc+
		"</associationId><ipv6CidrBlockState><state>associating</state></ipv6CidrBlockState></ipv6CidrBlockAssociation>") || !strings.HasPrefix(assoc, "subnet-cidr-assoc-") {
		t.Errorf("AssociateSubnetCidrBlock reply %s", got)
	}
	if ids := xmlFields(c.ok("DescribeSubnets", "Filter.1.Name", "ipv6-cidr-block-association.association-id", "Filter.1.Value.1", assoc), "subnetId"); !slices.Equal(ids, []string{sn}) {
		t.Errorf("association-id filter: %v", ids)
	}

	for _, p := range [][2]string{{"AssignIpv6AddressOnCreation.Value", "true"}, {"EnableDns64.Value", "true"}, {"PrivateDnsHostnameTypeOnLaunch", "resource-name"},
		{"EnableResourceNameDnsARecordOnLaunch.Value", "true"}, {"EnableResourceNameDnsAAAARecordOnLaunch.Value", "true"}} {
		c.ok("ModifySubnetAttribute", "SubnetId", sn, p[0], p[1])
	}
	d := c.ok("DescribeSubnets", "SubnetId.1", sn)
	for _, want := range []string{"<assignIpv6AddressOnCreation>true</assignIpv6AddressOnCreation>", "<enableDns64>true</enableDns64>",
		"<privateDnsNameOptionsOnLaunch><hostnameType>resource-name</hostnameType><enableResourceNameDnsARecord>true</enableResourceNameDnsARecord><enableResourceNameDnsAAAARecord>true</enableResourceNameDnsAAAARecord></privateDnsNameOptionsOnLaunch>"} {
		if !strings.Contains(d, want) {
			t.Errorf("DescribeSubnets lacks %s: %s", want, d)
		}
	}
	for _, f := range [][2]string{{"assign-ipv6-address-on-creation", "true"}, {"enable-dns64", "true"}, {"private-dns-name-options-on-launch.hostname-type", "resource-name"}} {
		if ids := xmlFields(c.ok("DescribeSubnets", "Filter.1.Name", f[0], "Filter.1.Value.1", f[1], "Filter.2.Name", "ipv6-native", "Filter.2.Value.1", "false"), "subnetId"); !slices.Equal(ids, []string{sn}) {
			t.Errorf("filter %s=%s: %v", f[0], f[1], ids)
		}
	}
	c.fails("InvalidParameterCombination", "ModifySubnetAttribute", "SubnetId", sn, "EnableDns64.Value", "false", "MapPublicIpOnLaunch.Value", "true")
	c.fails("InvalidParameterValue", "ModifySubnetAttribute", "SubnetId", sn, "PrivateDnsHostnameTypeOnLaunch", "fqdn")
	c.fails("InvalidParameterValue", "ModifySubnetAttribute", "SubnetId", sn, "MapCustomerOwnedIpOnLaunch.Value", "true")

	dis := c.ok("DisassociateSubnetCidrBlock", "AssociationId", assoc)
	if !strings.Contains(dis, "<state>disassociating</state>") || field(dis, "ipv6CidrBlock") != second.String() {
		t.Errorf("DisassociateSubnetCidrBlock reply %s", dis)
	}
	if d := c.ok("DescribeSubnets", "SubnetId.1", sn); strings.Contains(d, "ipv6CidrBlockAssociationSet") || strings.Contains(d, "<assignIpv6AddressOnCreation>true") {
		t.Errorf("after disassociation: %s", d)
	}
	c.fails("InvalidSubnetCidrBlockAssociationID.NotFound", "DisassociateSubnetCidrBlock", "AssociationId", assoc)
}

// TestDefaultSubnetAndReservations: CreateDefaultSubnet in the shape of the AWS CLI's
// example, and subnet CIDR reservations through Create/Get/DeleteSubnetCidrReservation(s).
func TestDefaultSubnetAndReservations(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	c.fails("DefaultSubnetAlreadyExistsInAvailabilityZone", "CreateDefaultSubnet", "AvailabilityZone", "us-east-1a")
	def := field(c.ok("DescribeSubnets", "Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true", "Filter.2.Name", "availability-zone", "Filter.2.Value.1", "us-east-1c"), "subnetId")
	c.ok("DeleteSubnet", "SubnetId", def)
	got := c.ok("CreateDefaultSubnet", "AvailabilityZone", "us-east-1c")
	for _, want := range []string{"<cidrBlock>172.31.32.0/20</cidrBlock>", "<availableIpAddressCount>4091</availableIpAddressCount>", "<defaultForAz>true</defaultForAz>",
		"<mapPublicIpOnLaunch>true</mapPublicIpOnLaunch>", "<state>available</state>", "<assignIpv6AddressOnCreation>false</assignIpv6AddressOnCreation>"} {
		if !strings.Contains(got, want) {
			t.Errorf("CreateDefaultSubnet lacks %s: %s", want, got)
		}
	}
	sn := field(got, "subnetId")

	res := c.ok("CreateSubnetCidrReservation", "SubnetId", sn, "Cidr", "172.31.32.16/28", "ReservationType", "prefix", "Description", "pods",
		"TagSpecification.1.ResourceType", "subnet-cidr-reservation", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "k8s")
	id := field(res, "subnetCidrReservationId")
	if !strings.HasPrefix(id, "scr-") || !strings.Contains(res, "<subnetId>"+sn+"</subnetId><cidr>172.31.32.16/28</cidr><reservationType>prefix</reservationType><ownerId>"+c.acct.ID+"</ownerId><description>pods</description>") {
		t.Errorf("CreateSubnetCidrReservation reply %s", res)
	}
	list := c.ok("GetSubnetCidrReservations", "SubnetId", sn)
	if !strings.Contains(list, "<subnetIpv4CidrReservationSet><item><subnetCidrReservationId>"+id) || !strings.Contains(list, "<subnetIpv6CidrReservationSet></subnetIpv6CidrReservationSet>") {
		t.Errorf("GetSubnetCidrReservations %s", list)
	}
	for _, f := range [][3]string{{"reservationType", "prefix", id}, {"reservationType", "explicit", ""}, {"tag:team", "k8s", id}} {
		ids := xmlFields(c.ok("GetSubnetCidrReservations", "SubnetId", sn, "Filter.1.Name", f[0], "Filter.1.Value.1", f[1]), "subnetCidrReservationId")
		if (f[2] == "" && len(ids) != 0) || (f[2] != "" && !slices.Equal(ids, []string{f[2]})) {
			t.Errorf("filter %s=%s: %v", f[0], f[1], ids)
		}
	}
	if ids := xmlFields(c.ok("DescribeTags", "Filter.1.Name", "resource-type", "Filter.1.Value.1", "subnet-cidr-reservation"), "resourceId"); !slices.Equal(ids, []string{id}) {
		t.Errorf("DescribeTags by type: %v", ids)
	}
	c.fails("InvalidParameterValue", "CreateSubnetCidrReservation", "SubnetId", sn, "Cidr", "172.31.32.20/30", "ReservationType", "explicit")
	c.fails("InvalidSubnetID.NotFound", "GetSubnetCidrReservations", "SubnetId", "subnet-0123456789abcdef0")
	c.fails("DryRunOperation", "CreateSubnetCidrReservation", "SubnetId", sn, "Cidr", "172.31.33.0/28", "ReservationType", "explicit", "DryRun", "true")
	del := c.ok("DeleteSubnetCidrReservation", "SubnetCidrReservationId", id)
	if !strings.Contains(del, "<deletedSubnetCidrReservation><subnetCidrReservationId>"+id) {
		t.Errorf("DeleteSubnetCidrReservation reply %s", del)
	}
	c.fails("InvalidSubnetCidrReservationID.NotFound", "DeleteSubnetCidrReservation", "SubnetCidrReservationId", id)
}
