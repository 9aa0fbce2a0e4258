package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// rtRow is a route table with the state of each of its routes, which the view derives from
// the routes' targets (blackhole once a target is gone).
type rtRow struct {
	rt     *model.RouteTable
	states []string
}

func routeTableRow(v control.View) func(*model.RouteTable) rtRow {
	return func(rt *model.RouteTable) rtRow {
		r := rtRow{rt: rt}
		for _, x := range rt.Routes {
			r.states = append(r.states, v.RouteState(rt, x))
		}
		return r
	}
}

func createRouteTable(c *call) error {
	tags, err := tagsFor(c.req, "route-table")
	if err != nil {
		return err
	}
	rt, res, err := c.svc().CreateRouteTable(c.ctx, c.tenant, control.CreateRouteTableInput{
		VpcID: str(c.req, "VpcId"), Tags: tags, ClientToken: str(c.req, "ClientToken"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	row := rtRow{rt: rt}
	for range rt.Routes {
		row.states = append(row.states, model.RouteActive) // a new table has only local routes
	}
	c.written(res).elem("routeTable", func() { writeRouteTable(&c.out, row) })
	c.out.opt("clientToken", str(c.req, "ClientToken"))
	return nil
}

var deleteRouteTable = deleteByID("RouteTableId", (*control.Service).DeleteRouteTable)

// routeTargets are the target parameters of Create/ReplaceRoute that name kinds of resource
// Stockade does not have: given, they count towards "exactly one target" and then fail.
var routeTargets = []string{"TransitGatewayId", "VpcPeeringConnectionId", "LocalGatewayId", "CarrierGatewayId",
	"VpcEndpointId", "CoreNetworkArn", "OdbNetworkArn"}

func (c *call) routeInput() (control.RouteInput, error) {
	r := c.req
	in := control.RouteInput{RouteTableID: str(r, "RouteTableId"), DestCIDR: str(r, "DestinationCidrBlock"),
		DestIPv6CIDR: str(r, "DestinationIpv6CidrBlock"), DestPrefixList: str(r, "DestinationPrefixListId"),
		GatewayID: str(r, "GatewayId"), EgressOnlyIGWID: str(r, "EgressOnlyInternetGatewayId"), NatGatewayID: str(r, "NatGatewayId"),
		NetworkInterfaceID: str(r, "NetworkInterfaceId"), InstanceID: str(r, "InstanceId"), DryRun: c.dryRun()}
	for _, k := range routeTargets {
		if str(r, k) != "" {
			in.Unsupported = append(in.Unsupported, k)
		}
	}
	var err error
	in.LocalTarget, _, err = optBool(r, "LocalTarget") // ReplaceRoute only; the decoder refuses it elsewhere
	return in, err
}

func createRoute(c *call) error {
	in, err := c.routeInput()
	if err != nil {
		return err
	}
	return c.returned(c.svc().CreateRoute(c.ctx, c.tenant, in))
}

func replaceRoute(c *call) error {
	in, err := c.routeInput()
	if err != nil {
		return err
	}
	return c.returned(c.svc().ReplaceRoute(c.ctx, c.tenant, in))
}

func deleteRoute(c *call) error {
	r := c.req
	return c.returned(c.svc().DeleteRoute(c.ctx, c.tenant, control.RouteInput{RouteTableID: str(r, "RouteTableId"),
		DestCIDR: str(r, "DestinationCidrBlock"), DestIPv6CIDR: str(r, "DestinationIpv6CidrBlock"),
		DestPrefixList: str(r, "DestinationPrefixListId"), DryRun: c.dryRun()}))
}

func associateRouteTable(c *call) error {
	r := c.req
	if str(r, "PublicIpv4Pool") != "" {
		// Edge associations with a public IPv4 pool (bring-your-own addresses) do not exist here.
		return model.InvalidValue("Value for parameter PublicIpv4Pool is invalid: Stockade has no public IPv4 pools.")
	}
	id, res, err := c.svc().AssociateRouteTable(c.ctx, c.tenant, control.AssociateRouteTableInput{
		RouteTableID: str(r, "RouteTableId"), SubnetID: str(r, "SubnetId"), GatewayID: str(r, "GatewayId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("associationId", id)
	writeAssocState(x)
	return nil
}

var disassociateRouteTable = deleteByID("AssociationId", (*control.Service).DisassociateRouteTable)

func replaceRouteTableAssociation(c *call) error {
	id, res, err := c.svc().ReplaceRouteTableAssociation(c.ctx, c.tenant, control.ReplaceRouteTableAssociationInput{
		AssociationID: str(c.req, "AssociationId"), RouteTableID: str(c.req, "RouteTableId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("newAssociationId", id)
	writeAssocState(x)
	return nil
}

func writeAssocState(x *xmlWriter) {
	x.open("associationState")
	x.str("state", "associated")
	x.close("associationState")
}

// routeValues collects one value per route that has it.
func routeValues(r rtRow, f func(rt model.Route, state string) string) []string {
	var out []string
	for i, x := range r.rt.Routes {
		if v := f(x, r.states[i]); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func assocValues(r rtRow, f func(a model.RouteTableAssoc) string) []string {
	var out []string
	for _, a := range r.rt.Assocs {
		if v := f(a); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// gatewayID is what EC2 shows as a route's gatewayId: "local", or the internet gateway.
func gatewayID(t model.RouteTarget) string {
	if t.Local {
		return "local"
	}
	return t.GatewayID
}

func destCIDR(x model.Route) string {
	if x.DestPrefixList == "" && x.Dest.Addr().Is4() {
		return x.Dest.String()
	}
	return ""
}

func destIPv6(x model.Route) string {
	if x.DestPrefixList == "" && x.Dest.Addr().Is6() {
		return x.Dest.String()
	}
	return ""
}

var routeTableFilters = filterer[rtRow]{
	fields: fields[rtRow]{
		"route-table-id": func(r rtRow) []string { return one(r.rt.ID) },
		"vpc-id":         func(r rtRow) []string { return one(r.rt.VpcID) },
		"owner-id":       func(r rtRow) []string { return one(r.rt.OwnerID) },
		"association.route-table-association-id": func(r rtRow) []string {
			return assocValues(r, func(a model.RouteTableAssoc) string { return a.ID })
		},
		"association.route-table-id": func(r rtRow) []string {
			return assocValues(r, func(model.RouteTableAssoc) string { return r.rt.ID })
		},
		"association.subnet-id": func(r rtRow) []string {
			return assocValues(r, func(a model.RouteTableAssoc) string { return a.SubnetID })
		},
		"association.gateway-id": func(r rtRow) []string {
			return assocValues(r, func(a model.RouteTableAssoc) string { return a.GatewayID })
		},
		// Tables without associations match neither true nor false, as on EC2.
		"association.main": func(r rtRow) []string {
			return assocValues(r, func(a model.RouteTableAssoc) string { return boolStr(a.Main) })
		},
		"route.destination-cidr-block": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return destCIDR(x) })
		},
		"route.destination-ipv6-cidr-block": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return destIPv6(x) })
		},
		"route.destination-prefix-list-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.DestPrefixList })
		},
		"route.gateway-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return gatewayID(x.Target) })
		},
		"route.egress-only-internet-gateway-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.Target.EgressOnlyIGWID })
		},
		"route.nat-gateway-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.Target.NatGatewayID })
		},
		"route.network-interface-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.Target.NetworkInterfaceID })
		},
		"route.instance-id": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.Target.InstanceID })
		},
		"route.origin": func(r rtRow) []string {
			return routeValues(r, func(x model.Route, _ string) string { return x.Origin })
		},
		"route.state": func(r rtRow) []string {
			return routeValues(r, func(_ model.Route, state string) string { return state })
		},
	},
	tagsOf: func(r rtRow) model.Tags { return r.rt.Tags },
}

var describeRouteTables = describeSpec[rtRow]{
	IDs: []string{"RouteTableId"},
	From: func(_ *call, v control.View) source[rtRow] {
		return rowsOf(v.RouteTables, routeTableRow(v), v.RouteTable)
	},
	Filters: routeTableFilters,
	Key:     func(r rtRow) string { return r.rt.ID },
	Set:     "routeTableSet",
	Item:    func(c *call, r rtRow) { writeRouteTable(&c.out, r) },
}

func writeRouteTable(x *xmlWriter, r rtRow) {
	rt := r.rt
	x.str("routeTableId", rt.ID)
	x.str("vpcId", rt.VpcID)
	x.str("ownerId", rt.OwnerID)
	x.open("routeSet")
	for i, route := range rt.Routes {
		t := route.Target
		x.open("item")
		x.opt("destinationCidrBlock", destCIDR(route))
		x.opt("destinationIpv6CidrBlock", destIPv6(route))
		x.opt("destinationPrefixListId", route.DestPrefixList)
		x.opt("gatewayId", gatewayID(t))
		x.opt("egressOnlyInternetGatewayId", t.EgressOnlyIGWID)
		x.opt("natGatewayId", t.NatGatewayID)
		x.opt("instanceId", t.InstanceID)
		if t.InstanceID != "" {
			x.str("instanceOwnerId", rt.OwnerID)
		}
		x.opt("networkInterfaceId", t.NetworkInterfaceID)
		x.str("state", r.states[i])
		x.str("origin", route.Origin)
		x.close("item")
	}
	x.close("routeSet")
	if len(rt.Assocs) == 0 {
		x.empty("associationSet")
	} else {
		x.open("associationSet")
		for _, a := range rt.Assocs {
			x.open("item")
			x.str("routeTableAssociationId", a.ID)
			x.str("routeTableId", rt.ID)
			x.opt("subnetId", a.SubnetID)
			x.opt("gatewayId", a.GatewayID)
			x.bool("main", a.Main)
			writeAssocState(x)
			x.close("item")
		}
		x.close("associationSet")
	}
	// Route propagation from virtual private gateways: none here, but the set is always shown.
	x.empty("propagatingVgwSet")
	writeTags(x, rt.Tags)
}
