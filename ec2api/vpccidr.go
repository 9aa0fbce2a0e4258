package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// A VPC's blocks and attributes after creation: Associate/DisassociateVpcCidrBlock and
// Describe/ModifyVpcAttribute.

func associateVpcCidrBlock(c *call) error {
	r := c.req
	for _, p := range []string{"Ipv6CidrBlock", "Ipv6Pool", "Ipv4IpamPoolId", "Ipv4NetmaskLength", "Ipv6IpamPoolId",
		"Ipv6NetmaskLength", "Ipv6CidrBlockNetworkBorderGroup"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support %s: a VPC's IPv6 block is Amazon-provided and IPAM pools do not exist.", p)
		}
	}
	ipv6, _, err := optBool(r, "AmazonProvidedIpv6CidrBlock")
	if err != nil {
		return err
	}
	a, res, err := c.svc().AssociateVPCCIDR(c.ctx, c.tenant, control.AssociateVPCCIDRInput{
		VpcID: str(r, "VpcId"), CIDR: str(r, "CidrBlock"), IPv6: ipv6, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res)
	c.writeCIDRAssociation(a, "associating")
	return nil
}

func disassociateVpcCidrBlock(c *call) error {
	a, res, err := c.svc().DisassociateVPCCIDR(c.ctx, c.tenant, str(c.req, "AssociationId"), c.dryRun())
	if err != nil {
		return err
	}
	c.written(res)
	c.writeCIDRAssociation(a, "disassociating")
	return nil
}

// writeCIDRAssociation renders the association that Associate/DisassociateVpcCidrBlock
// answer with, in the state the action leaves it.
func (c *call) writeCIDRAssociation(a control.VPCCIDRAssociation, state string) {
	x := &c.out
	if a.IPv6 {
		x.elem("ipv6CidrBlockAssociation", func() {
			writeBlockAssoc(x, a.CIDR, a.AssocID, state)
			x.str("networkBorderGroup", c.tenant.Region)
			x.str("ipv6Pool", "Amazon")
		})
	} else {
		x.elem("cidrBlockAssociation", func() { writeBlockAssoc(x, a.CIDR, a.AssocID, state) })
	}
	x.str("vpcId", a.VpcID)
}

// vpcAttributes are DescribeVpcAttribute's attribute names with their values.
var vpcAttributes = map[string]func(*model.VPC) bool{
	"enableDnsSupport":                 func(v *model.VPC) bool { return !v.DNSSupportOff },
	"enableDnsHostnames":               func(v *model.VPC) bool { return v.DNSHostnames },
	"enableNetworkAddressUsageMetrics": func(v *model.VPC) bool { return v.NAUsageMetrics },
}

func describeVpcAttribute(c *call) error {
	id, attr := str(c.req, "VpcId"), str(c.req, "Attribute")
	if id == "" {
		return model.Missing("VpcId")
	}
	if attr == "" {
		return model.Missing("Attribute")
	}
	get := vpcAttributes[attr]
	if get == nil {
		// [UNCONFIRMED] wording.
		return model.InvalidValue("Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	var vpc *model.VPC
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		var err error
		vpc, err = v.VPC(id)
		return err
	})
	if err != nil {
		return err
	}
	if c.dryRun() {
		return model.DryRunOperation.New()
	}
	x := &c.out
	x.str("vpcId", vpc.ID)
	x.open(attr)
	x.bool("value", get(vpc))
	x.close(attr)
	return nil
}

func modifyVpcAttribute(c *call) error {
	r := c.req
	in := control.ModifyVPCAttributeInput{VpcID: str(r, "VpcId"), DryRun: c.dryRun()}
	var err error
	for p, dst := range map[string]**bool{"EnableDnsSupport.Value": &in.DNSSupport, "EnableDnsHostnames.Value": &in.DNSHostnames,
		"EnableNetworkAddressUsageMetrics.Value": &in.NAUsageMetrics} {
		if *dst, err = boolPtr(r, p); err != nil {
			return err
		}
	}
	return c.returned(c.svc().ModifyVPCAttribute(c.ctx, c.tenant, in))
}
