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
	sn, res, err := c.svc().CreateSubnet(c.ctx, c.tenant, control.CreateSubnetInput{
		VpcID: str(r, "VpcId"), CIDR: str(r, "CidrBlock"), IPv6CIDR: str(r, "Ipv6CidrBlock"),
		Zone: str(r, "AvailabilityZone"), ZoneID: str(r, "AvailabilityZoneId"), Tags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	c.written(res).elem("subnet", func() { c.writeSubnet(sn, sn.Size()-model.ReservedAddresses, "pending") })
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
	x.str("cidrBlock", sn.CIDR.String())
	x.int("availableIpAddressCount", int64(available))
	x.str("availabilityZone", sn.AZ)
	x.str("availabilityZoneId", sn.AZID)
	x.bool("defaultForAz", sn.DefaultForAz)
	x.bool("mapPublicIpOnLaunch", sn.MapPublicIP)
	x.bool("assignIpv6AddressOnCreation", false)
	if sn.IPv6CIDR.IsValid() {
		x.open("ipv6CidrBlockAssociationSet")
		x.open("item")
		x.str("ipv6CidrBlock", sn.IPv6CIDR.String())
		x.str("associationId", sn.IPv6AssocID)
		x.open("ipv6CidrBlockState")
		x.str("state", "associated")
		x.close("ipv6CidrBlockState")
		x.close("item")
		x.close("ipv6CidrBlockAssociationSet")
	}
	writeTags(x, sn.Tags)
}
