package ec2api

import (
	"strconv"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createSubnet(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "subnet")
	if err != nil {
		return err
	}
	for _, p := range []string{"Ipv4IpamPoolId", "Ipv4NetmaskLength", "Ipv6IpamPoolId", "Ipv6NetmaskLength", "OutpostArn"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support %s: IPAM pools and Outposts do not exist here.", p)
		}
	}
	native, _, err := optBool(r, "Ipv6Native")
	if err != nil {
		return err
	}
	sn, res, err := c.svc().CreateSubnet(c.ctx, c.tenant, control.CreateSubnetInput{
		VpcID: str(r, "VpcId"), CIDR: str(r, "CidrBlock"), IPv6CIDR: str(r, "Ipv6CidrBlock"), IPv6Native: native,
		Zone: str(r, "AvailabilityZone"), ZoneID: str(r, "AvailabilityZoneId"), Tags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	c.written(res).elem("subnet", func() { c.writeSubnet(sn, max(sn.Size()-model.ReservedAddresses, 0), "pending") })
	return nil
}

var deleteSubnet = deleteByID("SubnetId", (*control.Service).DeleteSubnet)

type subnetRow struct {
	*model.Subnet
	available int
}

var subnetFilters = filterer[subnetRow]{
	fields: fields[subnetRow]{
		"vpc-id":                     one2(func(s subnetRow) string { return s.VpcID }),
		"subnet-id":                  one2(func(s subnetRow) string { return s.ID }),
		"cidr-block":                 one2(func(s subnetRow) string { return s.CIDR.String() }),
		"cidr":                       one2(func(s subnetRow) string { return s.CIDR.String() }),
		"cidrBlock":                  one2(func(s subnetRow) string { return s.CIDR.String() }),
		"availability-zone":          one2(func(s subnetRow) string { return s.AZ }),
		"availabilityZone":           one2(func(s subnetRow) string { return s.AZ }),
		"availability-zone-id":       one2(func(s subnetRow) string { return s.AZID }),
		"default-for-az":             one2(func(s subnetRow) string { return boolStr(s.DefaultForAz) }),
		"defaultForAz":               one2(func(s subnetRow) string { return boolStr(s.DefaultForAz) }),
		"map-public-ip-on-launch":    one2(func(s subnetRow) string { return boolStr(s.MapPublicIP) }),
		"state":                      func(subnetRow) []string { return one("available") },
		"owner-id":                   one2(func(s subnetRow) string { return s.OwnerID }),
		"available-ip-address-count": one2(func(s subnetRow) string { return strconv.Itoa(s.available) }),
		"ipv6-cidr-block-association.ipv6-cidr-block": func(s subnetRow) []string {
			if s.IPv6CIDR.IsValid() {
				return one(s.IPv6CIDR.String())
			}
			return nil
		},
		"ipv6-cidr-block-association.association-id": one2(func(s subnetRow) string { return s.IPv6AssocID }),
		"ipv6-cidr-block-association.state": func(s subnetRow) []string {
			if s.IPv6CIDR.IsValid() {
				return one("associated")
			}
			return nil
		},
		"ipv6-native":                     one2(func(s subnetRow) string { return boolStr(s.IPv6Native) }),
		"assign-ipv6-address-on-creation": one2(func(s subnetRow) string { return boolStr(s.AssignIPv6) }),
		"enable-dns64":                    one2(func(s subnetRow) string { return boolStr(s.DNS64) }),
		"private-dns-name-options-on-launch.hostname-type": one2(func(s subnetRow) string { return s.Hostname() }),
		"private-dns-name-options-on-launch.enable-resource-name-dns-a-record": one2(func(s subnetRow) string {
			return boolStr(s.DNSARecord)
		}),
		"private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record": one2(func(s subnetRow) string {
			return boolStr(s.DNSAAAARecord)
		}),
	},
	tagsOf: func(s subnetRow) model.Tags { return s.Tags },
}

var describeSubnets = describeSpec[subnetRow]{
	IDs: []string{"SubnetId"},
	From: func(_ *call, v control.View) source[subnetRow] {
		return rowsOf(v.Subnets, func(sn *model.Subnet) subnetRow { return subnetRow{sn, v.Available(sn)} }, v.Subnet)
	},
	Filters: subnetFilters,
	Key:     func(s subnetRow) string { return s.ID },
	Set:     "subnetSet",
	Item:    func(c *call, s subnetRow) { c.writeSubnet(s.Subnet, s.available, "available") },
}

func (c *call) writeSubnet(sn *model.Subnet, available int, state string) {
	x := &c.out
	x.str("subnetId", sn.ID)
	x.str("subnetArn", c.arn("subnet/"+sn.ID))
	x.str("state", state)
	x.str("vpcId", sn.VpcID)
	x.str("ownerId", sn.OwnerID)
	if sn.CIDR.IsValid() {
		x.str("cidrBlock", sn.CIDR.String())
	}
	x.int("availableIpAddressCount", int64(available))
	x.str("availabilityZone", sn.AZ)
	x.str("availabilityZoneId", sn.AZID)
	x.bool("defaultForAz", sn.DefaultForAz)
	x.bool("mapPublicIpOnLaunch", sn.MapPublicIP)
	x.bool("assignIpv6AddressOnCreation", sn.AssignIPv6)
	if sn.IPv6CIDR.IsValid() {
		x.open("ipv6CidrBlockAssociationSet")
		x.elem("item", func() { writeBlockAssoc(x, sn.IPv6CIDR, sn.IPv6AssocID, "associated") })
		x.close("ipv6CidrBlockAssociationSet")
	}
	writeTags(x, sn.Tags)
	x.bool("mapCustomerOwnedIpOnLaunch", false)
	x.bool("enableDns64", sn.DNS64)
	x.bool("ipv6Native", sn.IPv6Native)
	x.open("privateDnsNameOptionsOnLaunch")
	x.str("hostnameType", sn.Hostname())
	x.bool("enableResourceNameDnsARecord", sn.DNSARecord)
	x.bool("enableResourceNameDnsAAAARecord", sn.DNSAAAARecord)
	x.close("privateDnsNameOptionsOnLaunch")
}

func modifySubnetAttribute(c *call) error {
	r := c.req
	for _, p := range []string{"CustomerOwnedIpv4Pool", "DisableLniAtDeviceIndex.Value", "EnableLniAtDeviceIndex", "MapCustomerOwnedIpOnLaunch.Value"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support %s: it is an Outposts attribute.", p)
		}
	}
	in := control.ModifySubnetInput{SubnetID: str(r, "SubnetId"), HostnameType: str(r, "PrivateDnsHostnameTypeOnLaunch"), DryRun: c.dryRun()}
	var err error
	for p, dst := range map[string]**bool{"MapPublicIpOnLaunch.Value": &in.MapPublicIPOnLaunch, "AssignIpv6AddressOnCreation.Value": &in.AssignIPv6,
		"EnableDns64.Value": &in.DNS64, "EnableResourceNameDnsARecordOnLaunch.Value": &in.DNSARecord,
		"EnableResourceNameDnsAAAARecordOnLaunch.Value": &in.DNSAAAARecord} {
		if *dst, err = boolPtr(r, p); err != nil {
			return err
		}
	}
	return c.returned(c.svc().ModifySubnet(c.ctx, c.tenant, in))
}
