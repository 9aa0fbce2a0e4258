package ec2api

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
)

// Tests of the behaviours issue 13 found to differ from AWS, each message as AWS words it.
// Helpers are prefixed sg… so they cannot clash with other test files written in parallel.

// sgFails calls and checks the error code and the whole message.
func sgFails(t *testing.T, c *client, code, msg, action string, params ...string) {
	t.Helper()
	r := c.call(action, params...)
	if r.Code != code || field(r.Body, "Message") != msg {
		t.Errorf("%s %v: got %s %q, want %s %q", action, params, r.Code, field(r.Body, "Message"), code, msg)
	}
}

// TestModifySecurityGroupRulesErrors: the five refusals with AWS's codes and messages; each
// changes nothing.
func TestModifySecurityGroupRulesErrors(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	_, web := vpcWithGroup(t, c, "web")
	rule := field(c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"), "securityGroupRuleId")
	before := c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", web)
	def := func(kvs ...string) []string {
		out := []string{"GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", rule}
		for i := 0; i < len(kvs); i += 2 {
			out = append(out, "SecurityGroupRule.1.SecurityGroupRule."+kvs[i], kvs[i+1])
		}
		return out
	}
	tests := []struct {
		name, code, msg string
		params          []string
	}{
		{"unknown group", "InvalidGroup.NotFound", "The security group 'sg-00000000' does not exist",
			kv("GroupId", "sg-00000000", "SecurityGroupRule.1.SecurityGroupRuleId", rule,
				"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", 22,
				"SecurityGroupRule.1.SecurityGroupRule.ToPort", 22, "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8")},
		{"unknown rule", "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID 'sgr-0123456789abcdef0' does not exist",
			kv("GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", "sgr-0123456789abcdef0",
				"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", 22,
				"SecurityGroupRule.1.SecurityGroupRule.ToPort", 22, "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8")},
		{"missing protocol", "InvalidParameterValue", "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.",
			def("FromPort", "22", "ToPort", "22", "CidrIpv4", "10.0.0.0/8")},
		{"tcp without a from port", "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
			def("IpProtocol", "tcp", "ToPort", "22", "CidrIpv4", "10.0.0.0/8")},
		{"udp without ports", "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
			def("IpProtocol", "17", "CidrIpv4", "10.0.0.0/8")},
		{"no peer", "MissingParameter", "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId",
			def("IpProtocol", "tcp", "FromPort", "22", "ToPort", "22")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sgFails(t, c, tt.code, tt.msg, "ModifySecurityGroupRules", tt.params...)
			if got := c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", web); sgStrip(got) != sgStrip(before) {
				t.Errorf("a refused modify changed the rules:\n%s\nwas\n%s", got, before)
			}
		})
	}
	// The same definition with everything given is accepted.
	c.ok("ModifySecurityGroupRules", def("IpProtocol", "tcp", "FromPort", "23", "ToPort", "23", "CidrIpv4", "10.0.0.0/8")...)
}

// sgStrip drops the request ID from a reply.
func sgStrip(body string) string {
	i, j := strings.Index(body, "<requestId>"), strings.Index(body, "</requestId>")
	if i < 0 || j < 0 {
		return body
	}
	return body[:i] + body[j:]
}

// TestDescribeSecurityGroupRulesLookups: a group-id filter that is not a group ID is refused,
// a well-formed unknown one matches nothing, an unknown rule ID is NotFound.
func TestDescribeSecurityGroupRulesLookups(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpcWithGroup(t, c, "web")
	sgFails(t, c, "InvalidGroupId.Malformed", "The security group ID 'foobar' is malformed",
		"DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", "foobar")
	for _, id := range []string{"sg-0123456789abcdef0", "sg-123abc"} {
		body := c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", id)
		if n := len(xmlFields(body, "securityGroupRuleId")); n != 0 || !strings.Contains(body, "<securityGroupRuleSet/>") && !strings.Contains(body, "<securityGroupRuleSet></securityGroupRuleSet>") {
			t.Errorf("filter group-id=%s: %d rules, want an empty set: %s", id, n, body)
		}
	}
	sgFails(t, c, "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID 'sgr-0123456789abcdef0' does not exist",
		"DescribeSecurityGroupRules", "SecurityGroupRuleId.1", "sgr-0123456789abcdef0")
}

// TestReferencedGroupInfoSameVPC: a rule that references a group of the same VPC and account
// shows referencedGroupInfo with groupId and userId only, and DescribeSecurityGroups' pair
// likewise; an untagged rule has an empty tagSet in DescribeSecurityGroupRules.
func TestReferencedGroupInfoSameVPC(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	app := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "app", "GroupDescription", "a"), "groupId")
	auth := c.ok("AuthorizeSecurityGroupIngress", "GroupId", app, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "8080", "IpPermissions.1.ToPort", "8080", "IpPermissions.1.Groups.1.GroupId", web)
	rule := field(auth, "securityGroupRuleId")
	// Authorize's rule set leaves an untagged rule's tagSet out; DescribeSecurityGroupRules
	// writes it empty, as AWS does ("Tags": [] in the AWS CLI's examples).
	if strings.Contains(auth, "tagSet") {
		t.Errorf("authorize reply has a tagSet for an untagged rule: %s", auth)
	}
	if got := c.ok("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", rule); !strings.Contains(got, "<tagSet/>") {
		t.Errorf("describe reply has no empty tagSet: %s", got)
	}
	// DescribeSecurityGroups writes the pair as userId and groupId only.
	var pairs struct {
		Items []struct {
			Inner string `xml:",innerxml"`
		} `xml:"securityGroupInfo>item>ipPermissions>item>groups>item"`
	}
	if err := xml.Unmarshal([]byte(c.ok("DescribeSecurityGroups", "GroupId.1", app)), &pairs); err != nil {
		t.Fatal(err)
	}
	if want := "<userId>" + c.acct.ID + "</userId><groupId>" + web + "</groupId>"; len(pairs.Items) != 1 || pairs.Items[0].Inner != want {
		t.Errorf("UserIdGroupPairs %+v, want one %s", pairs.Items, want)
	}
	for _, params := range [][]string{
		{"SecurityGroupRuleId.1", rule},
		{"Filter.1.Name", "group-id", "Filter.1.Value.1", app},
	} {
		var got struct {
			Info []struct {
				Inner string `xml:",innerxml"`
			} `xml:"securityGroupRuleSet>item>referencedGroupInfo"`
		}
		if err := xml.Unmarshal([]byte(c.ok("DescribeSecurityGroupRules", params...)), &got); err != nil {
			t.Fatal(err)
		}
		want := "<groupId>" + web + "</groupId><userId>" + c.acct.ID + "</userId>"
		if len(got.Info) != 1 || got.Info[0].Inner != want {
			t.Errorf("%v: referencedGroupInfo %+v, want %s", params, got.Info, want)
		}
	}
}

// TestWellFormedUnknownIDsAreNotFound: an ID of the right prefix and hex digits that does not
// exist — short ones included, such as sg-123abc — is the kind's NotFound on every action that
// takes one, and an ID that is not hex is Malformed.
func TestWellFormedUnknownIDsAreNotFound(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	perm := kv("IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	with := func(p []string, more ...string) []string { return append(slices.Clone(p), more...) }
	tests := []struct {
		action, code, msg string
		params            []string
	}{
		{"AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"AuthorizeSecurityGroupEgress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"RevokeSecurityGroupIngress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"RevokeSecurityGroupEgress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"DeleteSecurityGroup", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", kv("GroupId", "sg-123abc")},
		{"DescribeSecurityGroups", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", kv("GroupId.1", "sg-123abc")},
		{"DescribeSecurityGroupReferences", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", kv("GroupId.1", "sg-123abc")},
		{"UpdateSecurityGroupRuleDescriptionsIngress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"UpdateSecurityGroupRuleDescriptionsEgress", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", with(perm, "GroupId", "sg-123abc")},
		{"ModifySecurityGroupRules", "InvalidGroup.NotFound", "The security group 'sg-123abc' does not exist", kv("GroupId", "sg-123abc",
			"SecurityGroupRule.1.SecurityGroupRuleId", "sgr-1234", "SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "-1", "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8")},
		{"AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", "", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Groups.1.GroupId", "sg-123abc")},
		{"CreateNetworkInterface", "InvalidGroup.NotFound", "", kv("SubnetId", sn, "SecurityGroupId.1", "sg-123abc")},
		{"RunInstances", "InvalidGroup.NotFound", "", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", sn, "SecurityGroupId.1", "sg-123abc")},
		// The same rule for the other kinds.
		{"DescribeVpcs", "InvalidVpcID.NotFound", "The vpc ID 'vpc-123abc' does not exist", kv("VpcId.1", "vpc-123abc")},
		{"CreateSecurityGroup", "InvalidVpcID.NotFound", "", kv("VpcId", "vpc-123abc", "GroupName", "x", "GroupDescription", "x")},
		{"DescribeSubnets", "InvalidSubnetID.NotFound", "The subnet ID 'subnet-123abc' does not exist", kv("SubnetId.1", "subnet-123abc")},
		{"DescribeNetworkInterfaces", "InvalidNetworkInterfaceID.NotFound", "", kv("NetworkInterfaceId.1", "eni-123abc")},
		{"DescribeInstances", "InvalidInstanceID.NotFound", "", kv("InstanceId.1", "i-123abc")},
		{"DescribeNetworkAcls", "InvalidNetworkAclID.NotFound", "", kv("NetworkAclId.1", "acl-123abc")},
		{"DescribeManagedPrefixLists", "InvalidPrefixListID.NotFound", "", kv("PrefixListId.1", "pl-123abc")},
		{"DescribeRouteTables", "InvalidRouteTableID.NotFound", "", kv("RouteTableId.1", "rtb-123abc")},
		{"DescribeInternetGateways", "InvalidInternetGatewayID.NotFound", "", kv("InternetGatewayId.1", "igw-123abc")},
		{"DescribeAddresses", "InvalidAllocationID.NotFound", "", kv("AllocationId.1", "eipalloc-123abc")},
		{"DescribeImages", "InvalidAMIID.NotFound", "The image id '[ami-123abc]' does not exist", kv("ImageId.1", "ami-123abc")},
		{"RunInstances", "InvalidAMIID.NotFound", "", kv("ImageId", "ami-123abc", "MinCount", 1, "MaxCount", 1, "SubnetId", sn)},
		// Not hex at all: Malformed, as before.
		{"AuthorizeSecurityGroupIngress", "InvalidGroupId.Malformed", `Invalid id: "sg-foobar" (expecting "sg-...")`, with(perm, "GroupId", "sg-foobar")},
		{"DescribeVpcs", "InvalidVpcID.Malformed", "", kv("VpcId.1", "vpc-xyz")},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+strings.Join(tt.params, " "), func(t *testing.T) {
			r := c.call(tt.action, tt.params...)
			if r.Code != tt.code || tt.msg != "" && field(r.Body, "Message") != tt.msg {
				t.Errorf("got %s %q, want %s %q", r.Code, field(r.Body, "Message"), tt.code, tt.msg)
			}
		})
	}
}

// TestReadOnlyActionsHonourDryRun: every Describe* and Get* action of the route table answers a
// valid request with DryRun set with DryRunOperation (412), and an invalid one with its usual
// error. Each action is also called without DryRun to show that the request was valid.
func TestReadOnlyActionsHonourDryRun(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	inst := field(c.ok("RunInstances", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", sn)...), "instanceId")
	pl := field(c.ok("CreateManagedPrefixList", "PrefixListName", "p", "AddressFamily", "IPv4", "MaxEntries", "2"), "prefixListId")
	// The parameters an action needs to succeed; the others need none.
	need := map[string][]string{
		"DescribeSecurityGroupReferences":  {"GroupId.1", web},
		"DescribeStaleSecurityGroups":      {"VpcId", vpc},
		"DescribeInstanceAttribute":        {"InstanceId", inst, "Attribute", "instanceType"},
		"GetConsoleOutput":                 {"InstanceId", inst},
		"GetManagedPrefixListEntries":      {"PrefixListId", pl},
		"GetManagedPrefixListAssociations": {"PrefixListId", pl},
		"DescribeVpcAttribute":             {"VpcId", vpc, "Attribute", "enableDnsSupport"},
		"GetSubnetCidrReservations":        {"SubnetId", sn},
	}
	var actions []string
	for a := range routes {
		if readOnly(a) {
			actions = append(actions, a)
		}
	}
	slices.Sort(actions)
	if len(actions) < 20 {
		t.Fatalf("only %d read-only actions in the route table: %v", len(actions), actions)
	}
	// DescribeHosts has no DryRun parameter in EC2's model (botocore): it is refused there as
	// unknown, as EC2 does.
	noDryRun := map[string]bool{"DescribeHosts": true}
	for _, a := range actions {
		t.Run(a, func(t *testing.T) {
			c.ok(a, need[a]...)
			if noDryRun[a] {
				return
			}
			r := c.call(a, append(slices.Clone(need[a]), "DryRun", "true")...)
			if r.Status != http.StatusPreconditionFailed || r.Code != "DryRunOperation" || field(r.Body, "Message") != "Request would have succeeded, but DryRun flag is set." {
				t.Errorf("DryRun: %d %s %q, want 412 DryRunOperation", r.Status, r.Code, field(r.Body, "Message"))
			}
		})
	}
	// Validation comes first: a request that would fail fails as usual with DryRun.
	c.fails("InvalidGroupId.Malformed", "DescribeSecurityGroups", "GroupId.1", "foobar", "DryRun", "true")
	c.fails("InvalidGroup.NotFound", "DescribeSecurityGroups", "GroupId.1", "sg-123abc", "DryRun", "true")
	c.fails("InvalidParameterValue", "DescribeVpcs", "Filter.1.Name", "no-such-filter", "Filter.1.Value.1", "x", "DryRun", "true")
	// DryRun=false is an ordinary call.
	c.ok("DescribeVpcs", "DryRun", "false")
}

// TestCreateResponsesShowTags: every Create* action that takes TagSpecifications shows the
// tags in its reply, as AWS does. AllocateAddress and CreateFlowLogs are the exceptions: their
// replies have no tags in botocore's EC2 model (AllocateAddressResult, CreateFlowLogsResult),
// so there the tags are looked up with DescribeTags instead.
func TestCreateResponsesShowTags(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	eni := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")
	eni2 := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")
	path := field(c.ok("CreateNetworkInsightsPath", "ClientToken", "p1", "Source", eni, "Destination", eni2, "Protocol", "tcp"), "networkInsightsPathId")
	tag := func(typ string) []string {
		return []string{"TagSpecification.1.ResourceType", typ, "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "blue",
			"TagSpecification.1.Tag.2.Key", "Name", "TagSpecification.1.Tag.2.Value", typ}
	}
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl imported"
	tests := []struct {
		action, typ string
		params      []string
		noTagSet    bool // the reply has no tags on AWS either
	}{
		{"CreateVpc", "vpc", kv("CidrBlock", "10.9.0.0/16"), false},
		{"CreateSubnet", "subnet", kv("VpcId", vpc, "CidrBlock", "10.0.2.0/24"), false},
		{"CreateSecurityGroup", "security-group", kv("VpcId", vpc, "GroupName", "tagged", "GroupDescription", "t"), false},
		{"AuthorizeSecurityGroupIngress", "security-group-rule", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"), false},
		{"CreateRouteTable", "route-table", kv("VpcId", vpc), false},
		{"CreateNetworkAcl", "network-acl", kv("VpcId", vpc), false},
		{"CreateManagedPrefixList", "prefix-list", kv("PrefixListName", "p", "AddressFamily", "IPv4", "MaxEntries", 2), false},
		{"CreateKeyPair", "key-pair", kv("KeyName", "made"), false},
		{"ImportKeyPair", "key-pair", kv("KeyName", "imported", "PublicKeyMaterial", b64(pub)), false},
		{"CreateInternetGateway", "internet-gateway", nil, false},
		{"CreateEgressOnlyInternetGateway", "egress-only-internet-gateway", kv("VpcId", vpc), false},
		{"CreateNatGateway", "natgateway", kv("SubnetId", sn, "ConnectivityType", "private"), false},
		{"AllocateAddress", "elastic-ip", kv("Domain", "vpc"), true},
		{"CreateNetworkInterface", "network-interface", kv("SubnetId", sn), false},
		{"CreateFlowLogs", "vpc-flow-log", kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL",
			"LogGroupName", "g", "DeliverLogsPermissionArn", "arn:aws:iam::"+c.acct.ID+":role/fl"), true},
		{"RunInstances", "instance", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", sn), false},
		{"CreateNetworkInsightsPath", "network-insights-path", kv("ClientToken", "p2", "Source", eni, "Destination", eni2, "Protocol", "udp"), false},
		{"StartNetworkInsightsAnalysis", "network-insights-analysis", kv("ClientToken", "a1", "NetworkInsightsPathId", path), false},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			body := c.ok(tt.action, append(slices.Clone(tt.params), tag(tt.typ)...)...)
			// The reply's tagSet items, wherever the action nests its resource.
			var got []string
			for _, set := range sgTagSets(body) {
				keys, values := xmlFields("<x>"+set+"</x>", "key"), xmlFields("<x>"+set+"</x>", "value")
				for i := range min(len(keys), len(values)) {
					got = append(got, keys[i]+"="+values[i])
				}
			}
			want := []string{"Name=" + tt.typ, "team=blue"}
			if tt.noTagSet {
				if got != nil {
					t.Errorf("the %s reply has tags, which AWS's does not have: %s", tt.action, body)
				}
				described := c.ok("DescribeTags", "Filter.1.Name", "resource-type", "Filter.1.Value.1", tt.typ)
				keys, values := xmlFields(described, "key"), xmlFields(described, "value")
				got = nil
				for i := range min(len(keys), len(values)) {
					got = append(got, keys[i]+"="+values[i])
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tags in the %s reply (-want +got):\n%s\n%s", tt.action, diff, body)
			}
		})
	}
}

// sgTagSets returns the inner XML of every tagSet element of a reply.
func sgTagSets(body string) []string {
	var out []string
	for {
		i := strings.Index(body, "<tagSet>")
		if i < 0 {
			return out
		}
		body = body[i+len("<tagSet>"):]
		j := strings.Index(body, "</tagSet>")
		if j < 0 {
			return out
		}
		out = append(out, body[:j])
		body = body[j:]
	}
}
