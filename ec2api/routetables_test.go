package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestRouteTables(t *testing.T) {
	c := newTestAPI(t, "routes-per-table=2").newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	eni := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")

	// The main table: local routes for both CIDRs, the main association, no propagation.
	main := c.ok("DescribeRouteTables", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc, "Filter.2.Name", "association.main", "Filter.2.Value.1", "true")
	mainID := field(main, "routeTableId")
	if got := xmlFields(main, "gatewayId"); !slices.Equal(got, []string{"local", "local"}) {
		t.Errorf("main table targets %v", got)
	}
	if !strings.Contains(main, "<propagatingVgwSet/>") || !strings.Contains(main, "<main>true</main><associationState><state>associated</state></associationState>") ||
		!strings.Contains(main, "<destinationIpv6CidrBlock>") || field(main, "origin") != "CreateRouteTable" {
		t.Errorf("main table: %s", main)
	}
	mainAssoc := field(main, "routeTableAssociationId")

	igw := field(c.ok("CreateInternetGateway", "TagSpecification.1.ResourceType", "internet-gateway",
		"TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "gw"), "internetGatewayId")
	if !strings.HasPrefix(igw, "igw-") {
		t.Fatalf("gateway ID %q", igw)
	}
	c.fails("InvalidParameterValue", "CreateRoute", "RouteTableId", mainID, "DestinationCidrBlock", "0.0.0.0/0", "GatewayId", igw)
	c.ok("AttachInternetGateway", "InternetGatewayId", igw, "VpcId", vpc)
	eigw := field(c.ok("CreateEgressOnlyInternetGateway", "VpcId", vpc, "ClientToken", "e1"), "egressOnlyInternetGatewayId")
	if again := field(c.ok("CreateEgressOnlyInternetGateway", "VpcId", vpc, "ClientToken", "e1"), "egressOnlyInternetGatewayId"); again != eigw {
		t.Errorf("a retried CreateEgressOnlyInternetGateway made %s, then %s", eigw, again)
	}

	rt := field(c.ok("CreateRouteTable", "VpcId", vpc, "TagSpecification.1.ResourceType", "route-table",
		"TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "public"), "routeTableId")
	route := func(params ...any) []string { return append(kv("RouteTableId", rt), kv(params...)...) }
	c.ok("CreateRoute", route("DestinationCidrBlock", "0.0.0.0/0", "GatewayId", igw)...)
	c.ok("CreateRoute", route("DestinationIpv6CidrBlock", "::/0", "EgressOnlyInternetGatewayId", eigw)...)
	c.ok("CreateRoute", route("DestinationCidrBlock", "192.168.0.0/16", "NetworkInterfaceId", eni)...)
	assoc := field(c.ok("AssociateRouteTable", "RouteTableId", rt, "SubnetId", sn), "associationId")
	if !strings.HasPrefix(assoc, "rtbassoc-") {
		t.Fatalf("association ID %q", assoc)
	}

	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"route exists", "RouteAlreadyExists", "CreateRoute", route("DestinationCidrBlock", "0.0.0.0/0", "GatewayId", igw)},
		{"quota", "RouteLimitExceeded", "CreateRoute", route("DestinationCidrBlock", "172.16.0.0/12", "NetworkInterfaceId", eni)},
		{"two targets", "InvalidParameterCombination", "CreateRoute", route("DestinationCidrBlock", "1.0.0.0/8", "GatewayId", igw, "NetworkInterfaceId", eni)},
		{"no target", "MissingParameter", "CreateRoute", route("DestinationCidrBlock", "1.0.0.0/8")},
		{"transit gateway", "InvalidParameterValue", "CreateRoute", route("DestinationCidrBlock", "1.0.0.0/8", "TransitGatewayId", "tgw-0123456789abcdef0")},
		{"unknown nat gateway", "InvalidNatGatewayID.NotFound", "CreateRoute", route("DestinationCidrBlock", "1.0.0.0/8", "NatGatewayId", "nat-0123456789abcdef0")},
		{"local target on create", "UnknownParameter", "CreateRoute", route("DestinationCidrBlock", "1.0.0.0/8", "LocalTarget", "true")},
		{"replace missing", "InvalidRoute.NotFound", "ReplaceRoute", route("DestinationCidrBlock", "1.0.0.0/8", "GatewayId", igw)},
		{"replace local", "InvalidParameterValue", "ReplaceRoute", route("DestinationCidrBlock", "10.0.0.0/16", "NetworkInterfaceId", eni)},
		{"delete local", "InvalidParameterValue", "DeleteRoute", route("DestinationCidrBlock", "10.0.0.0/16")},
		{"delete missing", "InvalidRoute.NotFound", "DeleteRoute", route("DestinationCidrBlock", "1.0.0.0/8")},
		{"unknown table", "InvalidRouteTableID.NotFound", "DescribeRouteTables", kv("RouteTableId.1", "rtb-0123456789abcdef0")},
		{"malformed table", "InvalidRouteTableId.Malformed", "DeleteRouteTable", kv("RouteTableId", "rtb-x")},
		{"delete associated", "DependencyViolation", "DeleteRouteTable", kv("RouteTableId", rt)},
		{"delete main", "DependencyViolation", "DeleteRouteTable", kv("RouteTableId", mainID)},
		{"subnet associated", "Resource.AlreadyAssociated", "AssociateRouteTable", kv("RouteTableId", mainID, "SubnetId", sn)},
		{"public ipv4 pool", "InvalidParameterValue", "AssociateRouteTable", kv("RouteTableId", rt, "GatewayId", igw, "PublicIpv4Pool", "ipv4pool-ec2-0123456789abcdef0")},
		{"disassociate main", "InvalidParameterValue", "DisassociateRouteTable", kv("AssociationId", mainAssoc)},
		{"unknown association", "InvalidAssociationID.NotFound", "ReplaceRouteTableAssociation", kv("AssociationId", "rtbassoc-0123456789abcdef0", "RouteTableId", rt)},
		{"bad filter", "InvalidParameterValue", "DescribeRouteTables", kv("Filter.1.Name", "route.colour", "Filter.1.Value.1", "x")},
		{"gateway attached", "Resource.AlreadyAssociated", "AttachInternetGateway", kv("InternetGatewayId", igw, "VpcId", vpc)},
		{"gateway in use", "DependencyViolation", "DeleteInternetGateway", kv("InternetGatewayId", igw)},
		{"vpc in use", "DependencyViolation", "DeleteVpc", kv("VpcId", vpc)},
		{"unknown gateway", "InvalidInternetGatewayID.NotFound", "DescribeInternetGateways", kv("InternetGatewayId.1", "igw-0123456789abcdef0")},
		{"unknown egress-only", "InvalidEgressOnlyInternetGatewayId.NotFound", "DeleteEgressOnlyInternetGateway", kv("EgressOnlyInternetGatewayId", "eigw-0123456789abcdef0")},
		{"dry run", "DryRunOperation", "DeleteRoute", route("DestinationCidrBlock", "0.0.0.0/0", "DryRun", "true")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}

	c.ok("ReplaceRoute", route("DestinationCidrBlock", "10.0.0.0/16", "LocalTarget", "true")...) // a local route stays local
	c.fails("InvalidParameterValue", "ReplaceRoute", route("DestinationCidrBlock", "0.0.0.0/0", "LocalTarget", "true")...)

	// The new kinds are taggable by ID and listed by DescribeTags with EC2's resource types.
	c.ok("CreateTags", "ResourceId.1", rt, "ResourceId.2", eigw, "Tag.1.Key", "env", "Tag.1.Value", "prod")
	tagged := c.ok("DescribeTags", "Filter.1.Name", "key", "Filter.1.Value.1", "env")
	if got := xmlFields(tagged, "resourceType"); !slices.Equal(got, []string{"egress-only-internet-gateway", "route-table"}) {
		t.Errorf("tagged types %v", got)
	}

	// Filters over routes, associations and tags.
	for _, f := range []struct {
		name, value string
		want        []string
	}{
		{"association.subnet-id", sn, []string{rt}},
		{"association.main", "false", []string{rt}},
		{"route.gateway-id", igw, []string{rt}},
		{"route.destination-cidr-block", "192.168.0.0/16", []string{rt}},
		{"route.egress-only-internet-gateway-id", eigw, []string{rt}},
		{"route.state", "blackhole", nil},
		{"tag:Name", "public", []string{rt}},
	} {
		got := xmlFields(c.ok("DescribeRouteTables", "Filter.1.Name", f.name, "Filter.1.Value.1", f.value), "routeTableId")
		// routeTableId also appears in each association item: keep the distinct ones.
		got = slices.Compact(got)
		if !slices.Equal(got, f.want) {
			t.Errorf("filter %s=%s: %v, want %v", f.name, f.value, got, f.want)
		}
	}

	// A deleted interface leaves a blackhole, shown as such.
	c.ok("DeleteNetworkInterface", "NetworkInterfaceId", eni)
	bh := c.ok("DescribeRouteTables", "Filter.1.Name", "route.state", "Filter.1.Value.1", "blackhole")
	if field(bh, "routeTableId") != rt || !strings.Contains(bh, "<destinationCidrBlock>192.168.0.0/16</destinationCidrBlock><networkInterfaceId>"+eni+"</networkInterfaceId><state>blackhole</state>") {
		t.Errorf("blackhole route: %s", bh)
	}
	c.ok("ReplaceRoute", route("DestinationCidrBlock", "192.168.0.0/16", "GatewayId", igw)...)
	c.ok("DeleteRoute", route("DestinationCidrBlock", "192.168.0.0/16")...)

	// The main association moves; the former main table may then be deleted.
	newMain := field(c.ok("ReplaceRouteTableAssociation", "AssociationId", mainAssoc, "RouteTableId", rt), "newAssociationId")
	if newMain == "" || newMain == mainAssoc {
		t.Fatalf("new main association %q", newMain)
	}
	if got := field(c.ok("DescribeRouteTables", "Filter.1.Name", "association.main", "Filter.1.Value.1", "true", "Filter.2.Name", "vpc-id", "Filter.2.Value.1", vpc), "routeTableId"); got != rt {
		t.Errorf("main table after the move %s, want %s", got, rt)
	}
	c.ok("DeleteRouteTable", "RouteTableId", mainID)

	// Internet gateways: filters, detach, delete; routes to a detached gateway are blackholes.
	if got := field(c.ok("DescribeInternetGateways", "Filter.1.Name", "attachment.vpc-id", "Filter.1.Value.1", vpc), "internetGatewayId"); got != igw {
		t.Errorf("gateway by attachment %q", got)
	}
	c.fails("Gateway.NotAttached", "DetachInternetGateway", "InternetGatewayId", igw, "VpcId", field(c.ok("CreateVpc", "CidrBlock", "10.1.0.0/16"), "vpcId"))
	c.ok("DetachInternetGateway", "InternetGatewayId", igw, "VpcId", vpc)
	if got := xmlFields(c.ok("DescribeRouteTables", "RouteTableId.1", rt), "state"); !slices.Contains(got, "blackhole") {
		t.Errorf("route states after detaching %v", got)
	}
	if strings.Contains(c.ok("DescribeInternetGateways", "Filter.1.Name", "attachment.state", "Filter.1.Value.1", "available", "InternetGatewayId.1", igw), "<item>") {
		t.Error("a detached gateway is shown as attached")
	}
	c.ok("DeleteInternetGateway", "InternetGatewayId", igw)
	if got := c.ok("DeleteEgressOnlyInternetGateway", "EgressOnlyInternetGatewayId", eigw); field(got, "returnCode") != "true" {
		t.Errorf("DeleteEgressOnlyInternetGateway: %s", got)
	}
	c.ok("DisassociateRouteTable", "AssociationId", assoc)
	c.ok("DeleteSubnet", "SubnetId", sn)
	c.ok("DeleteVpc", "VpcId", vpc)

	// The default VPC: an attached gateway and a default route to it in the main table.
	dflt := field(c.ok("DescribeVpcs", "Filter.1.Name", "is-default", "Filter.1.Value.1", "true"), "vpcId")
	dgw := field(c.ok("DescribeInternetGateways", "Filter.1.Name", "attachment.vpc-id", "Filter.1.Value.1", dflt), "internetGatewayId")
	got := c.ok("DescribeRouteTables", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", dflt)
	if !strings.Contains(got, "<destinationCidrBlock>0.0.0.0/0</destinationCidrBlock><gatewayId>"+dgw+"</gatewayId><state>active</state><origin>CreateRouteTable</origin>") {
		t.Errorf("default VPC's main table: %s", got)
	}
}
