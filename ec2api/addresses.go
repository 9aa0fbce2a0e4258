package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// Elastic IPs and NAT gateways (EC2 API reference: AllocateAddress, AssociateAddress,
// DisassociateAddress, ReleaseAddress, DescribeAddresses, CreateNatGateway, DeleteNatGateway,
// DescribeNatGateways) and ModifySubnetAttribute's MapPublicIpOnLaunch.

func allocateAddress(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "elastic-ip")
	if err != nil {
		return err
	}
	if str(r, "IpamPoolId") != "" || str(r, "CustomerOwnedIpv4Pool") != "" {
		return model.InvalidValue("IPAM and customer-owned address pools are not supported; Stockade allocates from the amazon pool.")
	}
	a, res, err := c.svc().AllocateAddress(c.ctx, c.tenant, control.AllocateAddressInput{Domain: str(r, "Domain"), Address: str(r, "Address"),
		PublicIPv4Pool: str(r, "PublicIpv4Pool"), NetworkBorderGroup: str(r, "NetworkBorderGroup"), Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("publicIp", a.PublicIP.String())
	x.str("domain", a.Domain)
	x.str("allocationId", a.AllocationID)
	x.str("publicIpv4Pool", "amazon")
	x.str("networkBorderGroup", c.tenant.Region)
	return nil
}

func addressRef(c *call) control.AddressRef {
	return control.AddressRef{AllocationID: str(c.req, "AllocationId"), PublicIP: str(c.req, "PublicIp")}
}

func associateAddress(c *call) error {
	r := c.req
	allow, _, err := optBool(r, "AllowReassociation")
	if err != nil {
		return err
	}
	id, res, err := c.svc().AssociateAddress(c.ctx, c.tenant, control.AssociateAddressInput{AddressRef: addressRef(c),
		InstanceID: str(r, "InstanceId"), ENIID: str(r, "NetworkInterfaceId"), PrivateIP: str(r, "PrivateIpAddress"),
		AllowReassociation: allow, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.str("associationId", id)
	return nil
}

func disassociateAddress(c *call) error {
	return c.returned(c.svc().DisassociateAddress(c.ctx, c.tenant, control.DisassociateAddressInput{
		AssociationID: str(c.req, "AssociationId"), PublicIP: str(c.req, "PublicIp"), DryRun: c.dryRun()}))
}

func releaseAddress(c *call) error {
	return c.returned(c.svc().ReleaseAddress(c.ctx, c.tenant, control.ReleaseAddressInput{AddressRef: addressRef(c),
		NetworkBorderGroup: str(c.req, "NetworkBorderGroup"), DryRun: c.dryRun()}))
}

// addressRow is an Elastic IP with the instance its interface is attached to.
type addressRow struct {
	*model.Address
	instanceID string
}

func addressRowOf(v control.View) func(a *model.Address) addressRow {
	return func(a *model.Address) addressRow {
		row := addressRow{Address: a}
		if n, err := v.ENI(a.ENIID); a.ENIID != "" && err == nil && n.Attachment != nil {
			row.instanceID = n.Attachment.InstanceID
		}
		return row
	}
}

var addressFilters = filterer[addressRow]{
	fields: fields[addressRow]{
		"allocation-id":              one2(func(a addressRow) string { return a.AllocationID }),
		"association-id":             one2(func(a addressRow) string { return a.AssociationID }),
		"domain":                     one2(func(a addressRow) string { return a.Domain }),
		"instance-id":                one2(func(a addressRow) string { return a.instanceID }),
		"network-interface-id":       one2(func(a addressRow) string { return a.ENIID }),
		"network-interface-owner-id": one2(func(a addressRow) string { return eniOwner(a.Address) }),
		"private-ip-address": func(a addressRow) []string {
			if a.PrivateIP.IsValid() {
				return one(a.PrivateIP.String())
			}
			return nil
		},
		"public-ip":        one2(func(a addressRow) string { return a.PublicIP.String() }),
		"public-ipv4-pool": func(addressRow) []string { return one("amazon") },
	},
	tagsOf: func(a addressRow) model.Tags { return a.Tags },
}

func eniOwner(a *model.Address) string {
	if a.ENIID == "" {
		return ""
	}
	return a.OwnerID
}

var describeAddresses = describeSpec[addressRow]{
	IDs: []string{"PublicIp", "AllocationId"},
	From: func(_ *call, v control.View) source[addressRow] {
		return rowsOf(v.Addresses, addressRowOf(v), v.AddressByIP, v.Address)
	},
	Filters: addressFilters,
	Key:     func(a addressRow) string { return a.AllocationID },
	Set:     "addressesSet",
	Item: func(c *call, a addressRow) {
		x := &c.out
		x.str("publicIp", a.PublicIP.String())
		x.str("allocationId", a.AllocationID)
		x.str("domain", a.Domain)
		if a.Associated() {
			x.str("associationId", a.AssociationID)
			x.opt("instanceId", a.instanceID)
			x.str("networkInterfaceId", a.ENIID)
			x.str("networkInterfaceOwnerId", a.OwnerID)
			x.str("privateIpAddress", a.PrivateIP.String())
		}
		writeTags(x, a.Tags)
		x.str("publicIpv4Pool", "amazon")
		x.str("networkBorderGroup", c.tenant.Region)
	},
}

func createNatGateway(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "natgateway")
	if err != nil {
		return err
	}
	for _, p := range []string{"AvailabilityMode", "VpcId", "SecondaryPrivateIpAddressCount"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support %s: a NAT gateway has one address in one subnet.", p)
		}
	}
	if len(r.List("SecondaryAllocationId")) > 0 || len(r.List("SecondaryPrivateIpAddress")) > 0 || len(r.List("AvailabilityZoneAddress")) > 0 {
		return model.InvalidValue("Stockade does not support secondary or per-zone NAT gateway addresses.")
	}
	g, res, err := c.svc().CreateNATGateway(c.ctx, c.tenant, control.CreateNATGatewayInput{SubnetID: str(r, "SubnetId"),
		AllocationID: str(r, "AllocationId"), ConnectivityType: str(r, "ConnectivityType"), PrivateIP: str(r, "PrivateIpAddress"),
		Tags: tags, ClientToken: str(r, "ClientToken"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.opt("clientToken", str(r, "ClientToken"))
	x.elem("natGateway", func() { writeNATGateway(x, g) })
	return nil
}

var deleteNatGateway = func(c *call) error {
	id := str(c.req, "NatGatewayId")
	if id == "" {
		return model.Missing("NatGatewayId")
	}
	res, err := c.svc().DeleteNATGateway(c.ctx, c.tenant, control.IDInput{ID: id, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).str("natGatewayId", id)
	return nil
}

var natFilters = filterer[*model.NATGateway]{
	fields: fields[*model.NATGateway]{
		"nat-gateway-id": one2(func(g *model.NATGateway) string { return g.ID }),
		"state":          one2(func(g *model.NATGateway) string { return g.State }),
		"subnet-id":      one2(func(g *model.NATGateway) string { return g.SubnetID }),
		"vpc-id":         one2(func(g *model.NATGateway) string { return g.VpcID }),
	},
	tagsOf: func(g *model.NATGateway) model.Tags { return g.Tags },
}

var describeNatGateways = describeSpec[*model.NATGateway]{
	IDs:     []string{"NatGatewayId"},
	From:    func(_ *call, v control.View) source[*model.NATGateway] { return src(v.NATGateways, v.NATGateway) },
	Filters: natFilters,
	Key:     func(g *model.NATGateway) string { return g.ID },
	Set:     "natGatewaySet",
	Item:    func(c *call, g *model.NATGateway) { writeNATGateway(&c.out, g) },
}

func writeNATGateway(x *xmlWriter, g *model.NATGateway) {
	x.time("createTime", g.CreateTime)
	if !g.DeleteTime.IsZero() {
		x.time("deleteTime", g.DeleteTime)
	}
	x.opt("failureCode", g.FailureCode)
	x.opt("failureMessage", g.FailureMessage)
	if g.ENIID == "" && g.AllocationID == "" {
		x.empty("natGatewayAddressSet")
	} else {
		x.open("natGatewayAddressSet")
		x.open("item")
		x.opt("allocationId", g.AllocationID)
		x.opt("networkInterfaceId", g.ENIID)
		if g.PrivateIP.IsValid() {
			x.str("privateIp", g.PrivateIP.String())
		}
		if g.PublicIP.IsValid() {
			x.str("publicIp", g.PublicIP.String())
		}
		x.opt("associationId", g.AssociationID)
		x.bool("isPrimary", true)
		switch {
		case g.State == model.NATDeleted:
			x.str("status", "disassociated")
		case g.State != model.NATFailed:
			x.str("status", "succeeded")
		}
		x.close("item")
		x.close("natGatewayAddressSet")
	}
	x.str("natGatewayId", g.ID)
	x.str("state", g.State)
	x.str("subnetId", g.SubnetID)
	x.str("vpcId", g.VpcID)
	writeTags(x, g.Tags)
	x.str("connectivityType", g.ConnectivityType)
}
