package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createInternetGateway(c *call) error {
	tags, err := tagsFor(c.req, "internet-gateway")
	if err != nil {
		return err
	}
	g, res, err := c.svc().CreateInternetGateway(c.ctx, c.tenant, control.CreateInternetGatewayInput{Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).elem("internetGateway", func() { writeIGW(&c.out, g) })
	return nil
}

func igwInput(c *call) control.IGWInput {
	return control.IGWInput{GatewayID: str(c.req, "InternetGatewayId"), VpcID: str(c.req, "VpcId"), DryRun: c.dryRun()}
}

func attachInternetGateway(c *call) error {
	return c.returned(c.svc().AttachInternetGateway(c.ctx, c.tenant, igwInput(c)))
}

func detachInternetGateway(c *call) error {
	return c.returned(c.svc().DetachInternetGateway(c.ctx, c.tenant, igwInput(c)))
}

var deleteInternetGateway = deleteByID("InternetGatewayId", (*control.Service).DeleteInternetGateway)

// igwState is an attachment's state as DescribeInternetGateways shows it: "available" once
// attached (EC2 shows attaching and detaching only in passing).
const igwState = "available"

var igwFilters = filterer[*model.InternetGateway]{
	fields: fields[*model.InternetGateway]{
		"internet-gateway-id": one2(func(g *model.InternetGateway) string { return g.ID }),
		"owner-id":            one2(func(g *model.InternetGateway) string { return g.OwnerID }),
		"attachment.vpc-id": func(g *model.InternetGateway) []string {
			if g.VpcID == "" {
				return nil
			}
			return one(g.VpcID)
		},
		"attachment.state": func(g *model.InternetGateway) []string {
			if g.VpcID == "" {
				return nil
			}
			return one(igwState)
		},
	},
	tagsOf: func(g *model.InternetGateway) model.Tags { return g.Tags },
}

var describeInternetGateways = describeSpec[*model.InternetGateway]{
	IDs: []string{"InternetGatewayId"},
	From: func(_ *call, v control.View) source[*model.InternetGateway] {
		return src(v.InternetGateways, v.InternetGateway)
	},
	Filters: igwFilters,
	Key:     func(g *model.InternetGateway) string { return g.ID },
	Set:     "internetGatewaySet",
	Item:    func(c *call, g *model.InternetGateway) { writeIGW(&c.out, g) },
}

func writeIGW(x *xmlWriter, g *model.InternetGateway) {
	x.str("internetGatewayId", g.ID)
	x.str("ownerId", g.OwnerID)
	if g.VpcID == "" {
		x.empty("attachmentSet")
	} else {
		x.open("attachmentSet")
		x.open("item")
		x.str("vpcId", g.VpcID)
		x.str("state", igwState)
		x.close("item")
		x.close("attachmentSet")
	}
	writeTags(x, g.Tags)
}

func createEgressOnlyInternetGateway(c *call) error {
	tags, err := tagsFor(c.req, "egress-only-internet-gateway")
	if err != nil {
		return err
	}
	g, res, err := c.svc().CreateEgressOnlyIGW(c.ctx, c.tenant, control.CreateEgressOnlyIGWInput{
		VpcID: str(c.req, "VpcId"), Tags: tags, ClientToken: str(c.req, "ClientToken"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.opt("clientToken", str(c.req, "ClientToken"))
	x.elem("egressOnlyInternetGateway", func() { writeEIGW(x, g) })
	return nil
}

func deleteEgressOnlyInternetGateway(c *call) error {
	id := str(c.req, "EgressOnlyInternetGatewayId")
	if id == "" {
		return model.Missing("EgressOnlyInternetGatewayId")
	}
	res, err := c.svc().DeleteEgressOnlyIGW(c.ctx, c.tenant, control.IDInput{ID: id, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).bool("returnCode", true)
	return nil
}

var eigwFilters = filterer[*model.EgressOnlyIGW]{
	fields: fields[*model.EgressOnlyIGW]{}, // EC2 documents only tag filters here
	tagsOf: func(g *model.EgressOnlyIGW) model.Tags { return g.Tags },
}

var describeEgressOnlyInternetGateways = describeSpec[*model.EgressOnlyIGW]{
	IDs: []string{"EgressOnlyInternetGatewayId"},
	From: func(_ *call, v control.View) source[*model.EgressOnlyIGW] {
		return src(v.EgressOnlyIGWs, v.EgressOnlyIGW)
	},
	Filters: eigwFilters,
	Key:     func(g *model.EgressOnlyIGW) string { return g.ID },
	Set:     "egressOnlyInternetGatewaySet",
	Item:    func(c *call, g *model.EgressOnlyIGW) { writeEIGW(&c.out, g) },
}

func writeEIGW(x *xmlWriter, g *model.EgressOnlyIGW) {
	x.str("egressOnlyInternetGatewayId", g.ID)
	x.open("attachmentSet")
	x.open("item")
	x.str("state", "attached")
	x.str("vpcId", g.VpcID)
	x.close("item")
	x.close("attachmentSet")
	writeTags(x, g.Tags)
}
