package ec2api

import (
	"strings"
	"testing"
)

// TestNetworkInsights covers the API's own behaviour: validation, idempotent creation, tags,
// filters, an analysis whose interface has gone, and deletion order.
func TestNetworkInsights(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	a := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")
	b := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")

	for _, tt := range []struct {
		name, code string
		params     []string
	}{
		{"no protocol", "MissingParameter", kv("ClientToken", "t0", "Source", a, "Destination", b)},
		{"icmp", "InvalidParameterValue", kv("ClientToken", "t0", "Source", a, "Destination", b, "Protocol", "icmp")},
		{"port out of range", "InvalidParameterValue", kv("ClientToken", "t0", "Source", a, "Destination", b, "Protocol", "tcp", "DestinationPort", 70000)},
		{"unknown source", "InvalidNetworkInterfaceID.NotFound", kv("ClientToken", "t0", "Source", "eni-0123456789abcdef0", "Destination", b, "Protocol", "tcp")},
		{"unsupported source", "InvalidParameterValue", kv("ClientToken", "t0", "Source", "vpc-0123456789abcdef0", "Destination", b, "Protocol", "tcp")},
		{"no destination", "MissingParameter", kv("ClientToken", "t0", "Source", a, "Protocol", "tcp")},
		{"IPv6 destination address", "InvalidParameterValue", kv("ClientToken", "t0", "Source", a, "DestinationIp", "2001:db8::1", "Protocol", "tcp")},
		{"address not of the source", "InvalidParameterValue", kv("ClientToken", "t0", "Source", a, "SourceIp", "10.0.1.200", "Destination", b, "Protocol", "tcp")},
		{"filters", "InvalidParameterValue", kv("ClientToken", "t0", "Source", a, "Destination", b, "Protocol", "tcp", "FilterAtSource.SourceAddress", "10.0.1.4")},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "CreateNetworkInsightsPath", tt.params...) })
	}
	if n := len(xmlFields(c.ok("DescribeNetworkInsightsPaths"), "networkInsightsPathId")); n != 0 {
		t.Fatalf("a failed create left %d paths", n)
	}

	create := kv("ClientToken", "t1", "Source", a, "Destination", b, "Protocol", "tcp", "DestinationPort", 22,
		"TagSpecification.1.ResourceType", "network-insights-path", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "sec")
	path := field(c.ok("CreateNetworkInsightsPath", create...), "networkInsightsPathId")
	if again := field(c.ok("CreateNetworkInsightsPath", create...), "networkInsightsPathId"); again != path || !strings.HasPrefix(path, "nip-") {
		t.Errorf("ClientToken replay gave %s, first %s", again, path)
	}
	out := field(c.ok("CreateNetworkInsightsPath", "ClientToken", "t2", "Source", a, "DestinationIp", "198.51.100.7", "Protocol", "udp"), "networkInsightsPathId")
	if got := xmlFields(c.ok("DescribeNetworkInsightsPaths", "Filter.1.Name", "tag:team", "Filter.1.Value.1", "sec"), "networkInsightsPathId"); len(got) != 1 || got[0] != path {
		t.Errorf("tag filter: %v", got)
	}
	if got := xmlFields(c.ok("DescribeNetworkInsightsPaths", "Filter.1.Name", "destination-ip", "Filter.1.Value.1", "198.51.100.7"), "networkInsightsPathId"); len(got) != 1 || got[0] != out {
		t.Errorf("destination-ip filter: %v", got)
	}

	// The default group admits its members: a → b on 22 is reachable in one subnet.
	body := c.ok("StartNetworkInsightsAnalysis", "ClientToken", "s1", "NetworkInsightsPathId", path)
	if field(body, "status") != "succeeded" || field(body, "networkPathFound") != "true" {
		t.Errorf("analysis: %s", body)
	}
	first := field(body, "networkInsightsAnalysisId")
	// To the internet: the default group's egress and the default ACL let it out, but a new
	// VPC has no internet gateway and its main route table only local routes.
	body = c.ok("StartNetworkInsightsAnalysis", "ClientToken", "s2", "NetworkInsightsPathId", out)
	if field(body, "networkPathFound") != "false" || field(body, "explanationCode") != "NO_ROUTE_TO_DESTINATION" {
		t.Errorf("analysis to the internet without a gateway: %s", body)
	}
	// With a gateway and a route, the interface still needs a public address.
	igw := field(c.ok("CreateInternetGateway"), "internetGatewayId")
	c.ok("AttachInternetGateway", "InternetGatewayId", igw, "VpcId", vpc)
	rtb := field(c.ok("DescribeRouteTables", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc), "routeTableId")
	c.ok("CreateRoute", "RouteTableId", rtb, "DestinationCidrBlock", "0.0.0.0/0", "GatewayId", igw)
	body = c.ok("StartNetworkInsightsAnalysis", "ClientToken", "s2b", "NetworkInsightsPathId", out)
	if field(body, "networkPathFound") != "false" || field(body, "explanationCode") != "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS" {
		t.Errorf("analysis to the internet without a public address: %s", body)
	}
	alloc := field(c.ok("AllocateAddress", "Domain", "vpc"), "allocationId")
	c.ok("AssociateAddress", "AllocationId", alloc, "NetworkInterfaceId", a)
	body = c.ok("StartNetworkInsightsAnalysis", "ClientToken", "s2c", "NetworkInsightsPathId", out)
	if field(body, "networkPathFound") != "true" {
		t.Errorf("analysis to the internet with a gateway, a route and an Elastic IP: %s", body)
	}
	// Once b is gone, the analysis fails and says why.
	c.ok("DeleteNetworkInterface", "NetworkInterfaceId", b)
	body = c.ok("StartNetworkInsightsAnalysis", "ClientToken", "s3", "NetworkInsightsPathId", path)
	if field(body, "status") != "failed" || !strings.Contains(field(body, "statusMessage"), b) {
		t.Errorf("analysis after deleting the destination: %s", body)
	}
	if got := xmlFields(c.ok("DescribeNetworkInsightsAnalyses", "NetworkInsightsPathId", path, "Filter.1.Name", "status", "Filter.1.Value.1", "succeeded"), "networkInsightsAnalysisId"); len(got) != 1 || got[0] != first {
		t.Errorf("status filter: %v", got)
	}
	c.fails("InvalidNetworkInsightsPathId.NotFound", "DescribeNetworkInsightsAnalyses", "NetworkInsightsPathId", "nip-0123456789abcdef0")
	c.fails("DependencyViolation", "DeleteNetworkInsightsPath", "NetworkInsightsPathId", path)
	for _, id := range xmlFields(c.ok("DescribeNetworkInsightsAnalyses", "NetworkInsightsPathId", path), "networkInsightsAnalysisId") {
		c.ok("DeleteNetworkInsightsAnalysis", "NetworkInsightsAnalysisId", id)
	}
	c.ok("DeleteNetworkInsightsPath", "NetworkInsightsPathId", path)
	c.fails("InvalidNetworkInsightsAnalysisId.NotFound", "DeleteNetworkInsightsAnalysis", "NetworkInsightsAnalysisId", first)
}
