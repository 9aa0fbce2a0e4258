package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createVpc(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "vpc")
	if err != nil {
		return err
	}
	ipv6, _, err := optBool(r, "AmazonProvidedIpv6CidrBlock")
	if err != nil {
		return err
	}
	vpc, res, err := c.svc().CreateVPC(c.ctx, c.tenant, control.CreateVPCInput{
		CIDR: str(r, "CidrBlock"), IPv6: ipv6, Tenancy: str(r, "InstanceTenancy"), Tags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	c.written(res).elem("vpc", func() { writeVPC(&c.out, vpc, "pending") })
	return nil
}

func deleteVpc(c *call) error {
	id := str(c.req, "VpcId")
	if id == "" {
		return model.Missing("VpcId")
	}
	return c.returned(c.svc().DeleteVPC(c.ctx, c.tenant, id, c.dryRun()))
}

var vpcFilters = filterer[*model.VPC]{
	fields: fields[*model.VPC]{
		"cidr":                                  one2(func(v *model.VPC) string { return v.CIDR.String() }),
		"cidr-block-association.cidr-block":     one2(func(v *model.VPC) string { return v.CIDR.String() }),
		"cidr-block-association.association-id": one2(func(v *model.VPC) string { return v.CIDRAssocID }),
		"cidr-block-association.state":          func(*model.VPC) []string { return one("associated") },
		"dhcp-options-id":                       one2(func(v *model.VPC) string { return v.DhcpOptionsID }),
		"ipv6-cidr-block-association.ipv6-cidr-block": func(v *model.VPC) []string {
			if v.IPv6CIDR.IsValid() {
				return one(v.IPv6CIDR.String())
			}
			return nil
		},
		"ipv6-cidr-block-association.association-id": one2(func(v *model.VPC) string { return v.IPv6CIDRAssocID }),
		"ipv6-cidr-block-association.state": func(v *model.VPC) []string {
			if v.IPv6CIDR.IsValid() {
				return one("associated")
			}
			return nil
		},
		"is-default":       one2(func(v *model.VPC) string { return boolStr(v.IsDefault) }),
		"owner-id":         one2(func(v *model.VPC) string { return v.OwnerID }),
		"state":            func(*model.VPC) []string { return one("available") },
		"vpc-id":           one2(func(v *model.VPC) string { return v.ID }),
		"instance-tenancy": one2(func(v *model.VPC) string { return v.Tenancy }),
	},
	tagsOf: func(v *model.VPC) model.Tags { return v.Tags },
}

// one2 adapts a single-valued field getter.
func one2[T any](f func(T) string) func(T) []string {
	return func(x T) []string {
		if v := f(x); v != "" {
			return one(v)
		}
		return nil
	}
}

func describeVpcs(c *call) error {
	want, err := ids(c.req, "VpcId")
	if err != nil {
		return err
	}
	var items []*model.VPC
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		if len(want) == 0 {
			items = v.VPCs()
			return nil
		}
		items, err = byIDs(want, v.VPC)
		return err
	})
	if err != nil {
		return err
	}
	if items, err = vpcFilters.filter(c.req, items); err != nil {
		return err
	}
	page, next, err := paginate(c.req, items, func(v *model.VPC) string { return v.ID }, describeLimits)
	if err != nil {
		return err
	}
	c.out.open("vpcSet")
	for _, v := range page {
		c.out.open("item")
		writeVPC(&c.out, v, "available")
		c.out.close("item")
	}
	c.out.close("vpcSet")
	c.out.opt("nextToken", next)
	return nil
}

// byIDs looks up each requested ID (duplicates once), failing on the first unknown one as EC2
// does (spec §11.34), and returns them sorted by ID for pagination.
func byIDs[T any](want []string, get func(string) (T, error)) ([]T, error) {
	seen := map[string]bool{}
	var out []T
	var keys []string
	for _, id := range want {
		if seen[id] {
			continue
		}
		seen[id] = true
		x, err := get(id)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
		keys = append(keys, id)
	}
	sortByKeys(out, keys)
	return out, nil
}

func writeVPC(x *xmlWriter, v *model.VPC, state string) {
	x.str("vpcId", v.ID)
	x.str("ownerId", v.OwnerID)
	x.str("state", state)
	x.str("cidrBlock", v.CIDR.String())
	x.open("cidrBlockAssociationSet")
	x.open("item")
	x.str("cidrBlock", v.CIDR.String())
	x.str("associationId", v.CIDRAssocID)
	x.open("cidrBlockState")
	x.str("state", "associated")
	x.close("cidrBlockState")
	x.close("item")
	x.close("cidrBlockAssociationSet")
	if v.IPv6CIDR.IsValid() {
		x.open("ipv6CidrBlockAssociationSet")
		x.open("item")
		x.str("ipv6CidrBlock", v.IPv6CIDR.String())
		x.str("associationId", v.IPv6CIDRAssocID)
		x.open("ipv6CidrBlockState")
		x.str("state", "associated")
		x.close("ipv6CidrBlockState")
		x.str("ipv6Pool", "Amazon")
		x.close("item")
		x.close("ipv6CidrBlockAssociationSet")
	}
	x.str("dhcpOptionsId", v.DhcpOptionsID)
	x.str("instanceTenancy", v.Tenancy)
	x.bool("isDefault", v.IsDefault)
	writeTags(x, v.Tags)
}
