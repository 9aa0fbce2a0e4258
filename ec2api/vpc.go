package ec2api

import (
	"net/netip"

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
	c.written(res).elem("vpc", func() { c.writeVPC(vpc, "pending") })
	return nil
}

var deleteVpc = deleteByID("VpcId", (*control.Service).DeleteVPC)

var vpcFilters = filterer[*model.VPC]{
	fields: fields[*model.VPC]{
		"cidr": one2(func(v *model.VPC) string { return v.CIDR.String() }),
		"cidr-block-association.cidr-block": func(v *model.VPC) []string {
			return blockValues(v, func(b model.CIDRBlock) string { return b.CIDR.String() })
		},
		"cidr-block-association.association-id": func(v *model.VPC) []string {
			return blockValues(v, func(b model.CIDRBlock) string { return b.AssocID })
		},
		"cidr-block-association.state": func(*model.VPC) []string { return one("associated") },
		"dhcp-options-id":              one2(func(v *model.VPC) string { return v.DhcpOptionsID }),
		"ipv6-cidr-block-association.ipv6-cidr-block": func(v *model.VPC) []string {
			return ipv6BlockValues(v, func(b model.CIDRBlock) string { return b.CIDR.String() })
		},
		"ipv6-cidr-block-association.association-id": func(v *model.VPC) []string {
			return ipv6BlockValues(v, func(b model.CIDRBlock) string { return b.AssocID })
		},
		"ipv6-cidr-block-association.state": func(v *model.VPC) []string {
			return ipv6BlockValues(v, func(model.CIDRBlock) string { return "associated" })
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

var describeVpcs = describeSpec[*model.VPC]{
	IDs:     []string{"VpcId"},
	From:    func(_ *call, v control.View) source[*model.VPC] { return src(v.VPCs, v.VPC) },
	Filters: vpcFilters,
	Key:     func(v *model.VPC) string { return v.ID },
	Set:     "vpcSet",
	Item:    func(c *call, v *model.VPC) { c.writeVPC(v, "available") },
}

func (c *call) writeVPC(v *model.VPC, state string) {
	x := &c.out
	x.str("vpcId", v.ID)
	x.str("ownerId", v.OwnerID)
	x.str("state", state)
	x.str("cidrBlock", v.CIDR.String())
	x.open("cidrBlockAssociationSet")
	for _, b := range v.Blocks() {
		x.elem("item", func() { writeBlockAssoc(x, b.CIDR, b.AssocID, "associated") })
	}
	x.close("cidrBlockAssociationSet")
	if blocks := v.IPv6Blocks(); len(blocks) > 0 {
		x.open("ipv6CidrBlockAssociationSet")
		for _, b := range blocks {
			x.elem("item", func() {
				writeBlockAssoc(x, b.CIDR, b.AssocID, "associated")
				x.str("networkBorderGroup", c.tenant.Region) // Amazon-provided blocks come from the region's
				x.str("ipv6Pool", "Amazon")
			})
		}
		x.close("ipv6CidrBlockAssociationSet")
	}
	x.str("dhcpOptionsId", v.DhcpOptionsID)
	x.str("instanceTenancy", v.Tenancy)
	x.bool("isDefault", v.IsDefault)
	writeTags(x, v.Tags)
}

// blockValues and ipv6BlockValues are one field of each of a VPC's IPv4 (IPv6) blocks, for
// the cidr-block-association (ipv6-cidr-block-association) filters.
func blockValues(v *model.VPC, f func(model.CIDRBlock) string) []string {
	return mapBlocks(v.Blocks(), f)
}

func ipv6BlockValues(v *model.VPC, f func(model.CIDRBlock) string) []string {
	return mapBlocks(v.IPv6Blocks(), f)
}

func mapBlocks(bs []model.CIDRBlock, f func(model.CIDRBlock) string) []string {
	var out []string
	for _, b := range bs {
		out = append(out, f(b))
	}
	return out
}

// writeBlockAssoc writes a CIDR block association's elements, named by the block's family
// (cidrBlock, cidrBlockState or ipv6CidrBlock, ipv6CidrBlockState): VPCs' and subnets' sets
// and the replies of the Associate/Disassociate*CidrBlock actions share them.
func writeBlockAssoc(x *xmlWriter, block netip.Prefix, assocID, state string) {
	name := "cidrBlock"
	if block.Addr().Is6() {
		name = "ipv6CidrBlock"
	}
	x.str(name, block.String())
	x.str("associationId", assocID)
	x.open(name + "State")
	x.str("state", state)
	x.close(name + "State")
}
