package ec2api

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// denyProd allows every EC2 action except on resources tagged env=prod.
const denyProd = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"ec2:*","Resource":"*"},
 {"Effect":"Deny","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}}}]}`

// TestResourceTagDenyCoversEveryKind: a Deny on aws:ResourceTag/env = prod refuses a change to
// a resource of every taggable kind that carries the tag, changing nothing, and allows the same
// change to an untagged resource of the kind. Each kind's tags reach the decision through the
// service's kind table (View.ResourceTags), so a kind missing there fails here.
func TestResourceTagDenyCoversEveryKind(t *testing.T) {
	a := newAuthzAPI(t)
	root, acct := a.root, a.root.acct.ID
	bob := a.user("bob", "/", denyProd)
	vpc := field(root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sn := field(root.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	sg := field(root.ok("CreateSecurityGroup", "GroupName", "rules", "GroupDescription", "d", "VpcId", vpc), "groupId")
	eni := field(root.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")
	n := 10
	next := func() string { n++; return strconv.Itoa(n) }
	one := func(action, idField string, params ...string) func() string {
		return func() string { return field(root.ok(action, params...), idField) }
	}
	// exists is the default probe: whether the kind table still finds the resource.
	exists := func(typ string) func(id string) string {
		return func(id string) string {
			var err error
			a.svc.View(context.Background(), control.Tenant{Account: acct, Region: root.region}, func(v control.View) error {
				_, err = v.ResourceTags(typ, id)
				return nil
			})
			return strconv.FormatBool(err == nil)
		}
	}
	// described probes a resource that a change modifies, or keeps visible once deleted.
	requestID := regexp.MustCompile(`<requestId>[^<]*</requestId>`)
	described := func(action, param string, extra ...string) func(id string) string {
		return func(id string) string {
			return requestID.ReplaceAllString(root.ok(action, append([]string{param, id}, extra...)...), "")
		}
	}
	keyNames := map[string]string{}
	tests := []struct {
		typ    string
		create func() string
		change func(id string) []string // action, then parameters
		probe  func(id string) string   // nil: exists(typ)
	}{
		{typ: "vpc", create: func() string { return one("CreateVpc", "vpcId", "CidrBlock", "10."+next()+".0.0/16")() },
			change: func(id string) []string { return []string{"DeleteVpc", "VpcId", id} }},
		{typ: "subnet", create: func() string {
			return one("CreateSubnet", "subnetId", "VpcId", vpc, "CidrBlock", "10.0."+next()+".0/24")()
		},
			change: func(id string) []string { return []string{"DeleteSubnet", "SubnetId", id} }},
		{typ: "security-group", create: func() string {
			return one("CreateSecurityGroup", "groupId", "GroupName", "g"+next(), "GroupDescription", "d", "VpcId", vpc)()
		}, change: func(id string) []string { return []string{"DeleteSecurityGroup", "GroupId", id} }},
		{typ: "security-group-rule", create: func() string {
			p := next()
			return one("AuthorizeSecurityGroupIngress", "securityGroupRuleId", "GroupId", sg, "IpPermissions.1.IpProtocol", "tcp",
				"IpPermissions.1.FromPort", p, "IpPermissions.1.ToPort", p, "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")()
		}, change: func(id string) []string {
			p := next()
			return []string{"ModifySecurityGroupRules", "GroupId", sg, "SecurityGroupRule.1.SecurityGroupRuleId", id,
				"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", p,
				"SecurityGroupRule.1.SecurityGroupRule.ToPort", p, "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8"}
		}, probe: described("DescribeSecurityGroupRules", "SecurityGroupRuleId.1")},
		{typ: "network-interface", create: one("CreateNetworkInterface", "networkInterfaceId", "SubnetId", sn),
			change: func(id string) []string { return []string{"DeleteNetworkInterface", "NetworkInterfaceId", id} }},
		{typ: "instance", create: one("RunInstances", "instanceId", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", sn),
			change: func(id string) []string {
				return []string{"ModifyInstanceAttribute", "InstanceId", id, "Attribute", "disableApiTermination", "Value", "true"}
			},
			probe: described("DescribeInstanceAttribute", "InstanceId", "Attribute", "disableApiTermination")},
		{typ: "key-pair", create: func() string {
			name := "k" + next()
			id := one("CreateKeyPair", "keyPairId", "KeyName", name)()
			keyNames[id] = name
			return id
		}, change: func(id string) []string { return []string{"DeleteKeyPair", "KeyName", keyNames[id]} }},
		{typ: "launch-template", create: func() string {
			return one("CreateLaunchTemplate", "launchTemplateId", "LaunchTemplateName", "lt"+next(), "LaunchTemplateData.InstanceType", "t3.micro")()
		}, change: func(id string) []string { return []string{"DeleteLaunchTemplate", "LaunchTemplateId", id} }},
		{typ: "vpc-flow-log", create: func() string {
			return xmlFields(root.ok("CreateFlowLogs", "ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL",
				"LogGroupName", "flows"+next(), "DeliverLogsPermissionArn", "arn:aws:iam::"+acct+":role/flow-logs"), "item")[0]
		}, change: func(id string) []string { return []string{"DeleteFlowLogs", "FlowLogId.1", id} }},
		{typ: "network-acl", create: one("CreateNetworkAcl", "networkAclId", "VpcId", vpc),
			change: func(id string) []string { return []string{"DeleteNetworkAcl", "NetworkAclId", id} }},
		{typ: "prefix-list", create: func() string {
			return one("CreateManagedPrefixList", "prefixListId", "PrefixListName", "pl"+next(), "AddressFamily", "IPv4", "MaxEntries", "5")()
		}, change: func(id string) []string { return []string{"DeleteManagedPrefixList", "PrefixListId", id} }},
		{typ: "network-insights-path", create: func() string {
			return one("CreateNetworkInsightsPath", "networkInsightsPathId", "Source", eni, "Destination", eni, "Protocol", "tcp", "ClientToken", "p"+next())()
		}, change: func(id string) []string { return []string{"DeleteNetworkInsightsPath", "NetworkInsightsPathId", id} }},
		{typ: "network-insights-analysis", create: func() string {
			path := one("CreateNetworkInsightsPath", "networkInsightsPathId", "Source", eni, "Destination", eni, "Protocol", "tcp", "ClientToken", "p"+next())()
			return one("StartNetworkInsightsAnalysis", "networkInsightsAnalysisId", "NetworkInsightsPathId", path, "ClientToken", "a"+next())()
		}, change: func(id string) []string {
			return []string{"DeleteNetworkInsightsAnalysis", "NetworkInsightsAnalysisId", id}
		}},
		{typ: "elastic-ip", create: one("AllocateAddress", "allocationId", "Domain", "vpc"),
			change: func(id string) []string { return []string{"ReleaseAddress", "AllocationId", id} }},
		{typ: "natgateway", create: one("CreateNatGateway", "natGatewayId", "SubnetId", sn, "ConnectivityType", "private"),
			change: func(id string) []string { return []string{"DeleteNatGateway", "NatGatewayId", id} },
			probe:  described("DescribeNatGateways", "NatGatewayId.1")},
		{typ: "route-table", create: one("CreateRouteTable", "routeTableId", "VpcId", vpc),
			change: func(id string) []string { return []string{"DeleteRouteTable", "RouteTableId", id} }},
		{typ: "internet-gateway", create: one("CreateInternetGateway", "internetGatewayId"),
			change: func(id string) []string { return []string{"DeleteInternetGateway", "InternetGatewayId", id} }},
		{typ: "egress-only-internet-gateway", create: one("CreateEgressOnlyInternetGateway", "egressOnlyInternetGatewayId", "VpcId", vpc),
			change: func(id string) []string {
				return []string{"DeleteEgressOnlyInternetGateway", "EgressOnlyInternetGatewayId", id}
			}},
		{typ: "dhcp-options", create: func() string {
			return one("CreateDhcpOptions", "dhcpOptionsId", "DhcpConfiguration.1.Key", "domain-name", "DhcpConfiguration.1.Value.1", "d"+next()+".example")()
		}, change: func(id string) []string { return []string{"DeleteDhcpOptions", "DhcpOptionsId", id} }},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			probe := tt.probe
			if probe == nil {
				probe = exists(tt.typ)
			}
			prod, untagged := tt.create(), tt.create()
			root.ok("CreateTags", "ResourceId.1", prod, "Tag.1.Key", "env", "Tag.1.Value", "prod")
			before := probe(prod)
			args := tt.change(prod)
			r := bob.call(args[0], args[1:]...)
			arnID := prod
			if name, ok := keyNames[prod]; ok {
				arnID = name // a key pair's ARN carries its name
			}
			want := "on resource: arn:aws:ec2:" + root.region + ":" + acct + ":" + tt.typ + "/" + arnID + " with an explicit deny"
			if r.Code != "UnauthorizedOperation" || !strings.Contains(field(r.Body, "Message"), want) {
				t.Errorf("%s on the prod one: %d %q, want UnauthorizedOperation %q: %s", args[0], r.Status, r.Code, want, r.Body)
			}
			if after := probe(prod); after != before {
				t.Errorf("a denied %s changed it:\n%s\n→\n%s", args[0], before, after)
			}
			before = probe(untagged)
			args = tt.change(untagged)
			if r := bob.call(args[0], args[1:]...); r.Code != "" {
				t.Errorf("%s on the untagged one: %d %q: %s", args[0], r.Status, r.Code, r.Body)
			}
			if after := probe(untagged); after == before {
				t.Errorf("an allowed %s changed nothing: %s", args[0], after)
			}
		})
	}
}

// TestCreateOnlyInOneVPC: a create call is authorized against the VPC (or subnet) the new
// resource goes into, and the new resource carries ec2:Vpc, so a policy that allows creating
// only in vpc-A — by the VPC's ARN, or by ec2:Vpc on the new resource — refuses vpc-B, and
// refuses CreateSecurityGroup without VpcId (the default VPC). The new group is authorized by
// the ID it then gets (trail-iam.md §6.5 [STOCKADE]).
func TestCreateOnlyInOneVPC(t *testing.T) {
	a := newAuthzAPI(t)
	root, acct := a.root, a.root.acct.ID
	arn := func(typ, id string) string { return "arn:aws:ec2:" + root.region + ":" + acct + ":" + typ + "/" + id }
	vpcA := field(root.ok("CreateVpc", "CidrBlock", "10.1.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	vpcB := field(root.ok("CreateVpc", "CidrBlock", "10.2.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	snA := field(root.ok("CreateSubnet", "VpcId", vpcA, "CidrBlock", "10.1.1.0/24"), "subnetId")
	snB := field(root.ok("CreateSubnet", "VpcId", vpcB, "CidrBlock", "10.2.1.0/24"), "subnetId")
	var defaultVPC string
	for _, v := range xmlFields(root.ok("DescribeVpcs", "Filter.1.Name", "is-default", "Filter.1.Value.1", "true"), "vpcId") {
		defaultVPC = v
	}
	// The new resource must be in vpc-A (ec2:Vpc), and so must the VPC or subnet the call names.
	onlyA := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"ec2:%ACTION%","Resource":"arn:aws:ec2:*:*:%TYPE%/*","Condition":{"StringEquals":{"ec2:Vpc":"` + arn("vpc", vpcA) + `"}}},
 {"Effect":"Allow","Action":"ec2:%ACTION%","Resource":"` + arn("vpc", vpcA) + `"},
 {"Effect":"Allow","Action":"ec2:%ACTION%","Resource":"arn:aws:ec2:*:*:subnet/*","Condition":{"StringEquals":{"ec2:Vpc":"` + arn("vpc", vpcA) + `"}}},
 {"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	n, vpc2net := 0, map[string]string{} // vpc2net: a VPC's subnet CIDR pattern
	tests := []struct {
		action, typ string
		params      func(vpc, subnet string) []string // vpc "": leave the VPC to its default
		count       func() int                        // resources of the kind that exist
	}{
		{"CreateSecurityGroup", "security-group", func(vpc, _ string) []string {
			n++
			p := []string{"GroupName", "g" + strconv.Itoa(n), "GroupDescription", "d"}
			if vpc != "" {
				p = append(p, "VpcId", vpc)
			}
			return p
		}, func() int { return len(xmlFields(root.ok("DescribeSecurityGroups"), "groupId")) }},
		{"CreateRouteTable", "route-table", func(vpc, _ string) []string { return []string{"VpcId", vpc} },
			func() int { return len(xmlFields(root.ok("DescribeRouteTables"), "routeTableId")) }},
		{"CreateNetworkAcl", "network-acl", func(vpc, _ string) []string { return []string{"VpcId", vpc} },
			func() int { return len(xmlFields(root.ok("DescribeNetworkAcls"), "networkAclId")) }},
		{"CreateSubnet", "subnet", func(vpc, _ string) []string {
			n++
			return []string{"VpcId", vpc, "CidrBlock", strings.Replace(vpc2net[vpc], "X", strconv.Itoa(100+n), 1)}
		}, func() int { return len(xmlFields(root.ok("DescribeSubnets"), "subnetId")) }},
		{"CreateEgressOnlyInternetGateway", "egress-only-internet-gateway", func(vpc, _ string) []string { return []string{"VpcId", vpc} },
			func() int {
				return len(xmlFields(root.ok("DescribeEgressOnlyInternetGateways"), "egressOnlyInternetGatewayId"))
			}},
		{"CreateNetworkInterface", "network-interface", func(_, subnet string) []string { return []string{"SubnetId", subnet} },
			func() int { return len(xmlFields(root.ok("DescribeNetworkInterfaces"), "networkInterfaceId")) }},
	}
	vpc2net[vpcA], vpc2net[vpcB] = "10.1.X.0/24", "10.2.X.0/24"
	// Two policies: one that says "vpc-A" only through ec2:Vpc on the new resource (a call
	// elsewhere is refused on the new resource), one only through the VPC's or subnet's ARN
	// (refused on the parent the call names, or on the default VPC it falls back to).
	byParent := strings.Replace(onlyA, `"Condition":{"StringEquals":{"ec2:Vpc":"`+arn("vpc", vpcA)+`"}}},
 {"Effect":"Allow","Action":"ec2:%ACTION%","Resource":"`+arn("vpc", vpcA), `"Condition":{}},
 {"Effect":"Allow","Action":"ec2:%ACTION%","Resource":"`+arn("vpc", vpcA), 1)
	if byParent == onlyA {
		t.Fatal("policy variant not made")
	}
	users := 0
	for _, tt := range tests {
		for _, pol := range []struct{ name, doc string }{{"by ec2:Vpc", onlyA}, {"by parent ARN", byParent}} {
			t.Run(tt.action+"/"+pol.name, func(t *testing.T) {
				users++
				u := a.user("u"+strconv.Itoa(users), "/", strings.NewReplacer("%ACTION%", tt.action, "%TYPE%", tt.typ).Replace(pol.doc))
				parentB, parentDefault := arn("vpc", vpcB), arn("vpc", defaultVPC)
				if tt.action == "CreateNetworkInterface" {
					parentB = arn("subnet", snB)
				}
				newOne := regexp.QuoteMeta(arn(tt.typ, "")) + `(\*|sg-[0-9a-f]{17})`
				if pol.doc == byParent {
					newOne, parentDefault = regexp.QuoteMeta(parentB), regexp.QuoteMeta(parentDefault)
				} else {
					parentDefault = newOne
				}
				cases := []struct{ where, vpc, subnet, denied string }{
					{"in vpc-A", vpcA, snA, ""},
					{"in vpc-B", vpcB, snB, newOne},
				}
				if tt.action == "CreateSecurityGroup" {
					cases = append(cases, struct{ where, vpc, subnet, denied string }{"in the default VPC", "", "", parentDefault})
				}
				for _, c := range cases {
					before := tt.count()
					r := u.call(tt.action, tt.params(c.vpc, c.subnet)...)
					made, msg := tt.count()-before, field(r.Body, "Message")
					switch {
					case c.denied == "" && (r.Code != "" || made != 1):
						t.Errorf("%s: %q, %d made: %s", c.where, r.Code, made, msg)
					case c.denied != "" && (r.Code != "UnauthorizedOperation" || made != 0 ||
						!regexp.MustCompile("on resource: "+c.denied+" because no identity-based policy allows").MatchString(msg)):
						t.Errorf("%s: %q, %d made, want a denial on %s: %.400s", c.where, r.Code, made, c.denied, msg)
					}
				}
			})
		}
	}
	// The new group's own ARN: a policy that allows the VPC but no group names the group's
	// allocated ID, and a group created afterwards gets another one.
	u := a.user("sgonly", "/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"`+arn("vpc", vpcA)+`"}]}`)
	r := u.call("CreateSecurityGroup", "GroupName", "x", "GroupDescription", "d", "VpcId", vpcA)
	m := regexp.MustCompile(`on resource: ` + regexp.QuoteMeta(arn("security-group", "")) + `(sg-[0-9a-f]{17}) because`).FindStringSubmatch(field(r.Body, "Message"))
	if r.Code != "UnauthorizedOperation" || m == nil {
		t.Fatalf("group not allowed: %q %s", r.Code, r.Body)
	}
	if got := field(root.ok("CreateSecurityGroup", "GroupName", "x", "GroupDescription", "d", "VpcId", vpcA), "groupId"); got == m[1] {
		t.Errorf("the denied call's ID %s was used again", got)
	}
}

// TestAssociationIDsAuthorizeTheirParent: a Disassociate* call names an association, and is
// authorized against the resource that holds it — its ARN and its tags — so the Deny on
// env=prod covers it too.
func TestAssociationIDsAuthorizeTheirParent(t *testing.T) {
	a := newAuthzAPI(t)
	root, acct := a.root, a.root.acct.ID
	bob := a.user("bob", "/", denyProd)
	vpc := field(root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	igw := field(root.ok("CreateInternetGateway"), "internetGatewayId")
	root.ok("AttachInternetGateway", "InternetGatewayId", igw, "VpcId", vpc)
	block6 := netip.MustParsePrefix(field(root.ok("DescribeVpcs", "VpcId.1", vpc), "ipv6CidrBlock"))
	n := 0
	subnet := func() string {
		n++
		return field(root.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0."+strconv.Itoa(n)+".0/24"), "subnetId")
	}
	tests := []struct {
		typ, action string
		associate   func() (parent, assoc string)
	}{
		{"route-table", "DisassociateRouteTable", func() (string, string) {
			rt := field(root.ok("CreateRouteTable", "VpcId", vpc), "routeTableId")
			return rt, field(root.ok("AssociateRouteTable", "RouteTableId", rt, "SubnetId", subnet()), "associationId")
		}},
		{"elastic-ip", "DisassociateAddress", func() (string, string) {
			alloc := field(root.ok("AllocateAddress", "Domain", "vpc"), "allocationId")
			eni := field(root.ok("CreateNetworkInterface", "SubnetId", subnet()), "networkInterfaceId")
			return alloc, field(root.ok("AssociateAddress", "AllocationId", alloc, "NetworkInterfaceId", eni), "associationId")
		}},
		{"vpc", "DisassociateVpcCidrBlock", func() (string, string) {
			n++
			other := field(root.ok("CreateVpc", "CidrBlock", "10."+strconv.Itoa(100+n)+".0.0/16"), "vpcId")
			return other, field(root.ok("AssociateVpcCidrBlock", "VpcId", other, "CidrBlock", "10."+strconv.Itoa(200+n)+".0.0/16"), "associationId")
		}},
		{"subnet", "DisassociateSubnetCidrBlock", func() (string, string) {
			sn := subnet()
			b := block6.Addr().As16()
			b[7] = byte(n)
			p := netip.PrefixFrom(netip.AddrFrom16(b), 64).String()
			return sn, field(root.ok("AssociateSubnetCidrBlock", "SubnetId", sn, "Ipv6CidrBlock", p), "associationId")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			prod, prodAssoc := tt.associate()
			root.ok("CreateTags", "ResourceId.1", prod, "Tag.1.Key", "env", "Tag.1.Value", "prod")
			r := bob.call(tt.action, "AssociationId", prodAssoc)
			want := "on resource: arn:aws:ec2:" + root.region + ":" + acct + ":" + tt.typ + "/" + prod + " with an explicit deny"
			if r.Code != "UnauthorizedOperation" || !strings.Contains(field(r.Body, "Message"), want) {
				t.Errorf("%s of the prod one's association: %q, want UnauthorizedOperation %q: %.300s", tt.action, r.Code, want, field(r.Body, "Message"))
			}
			if r := root.call(tt.action, "AssociationId", prodAssoc); r.Code != "" {
				t.Errorf("the denied %s did not leave it associated: %q", tt.action, r.Code)
			}
			_, assoc := tt.associate()
			if r := bob.call(tt.action, "AssociationId", assoc); r.Code != "" {
				t.Errorf("%s of the untagged one's association: %q: %s", tt.action, r.Code, r.Body)
			}
		})
	}
}

// TestSubnetNamedIndirectly: a call that names its subnet only indirectly — a subnet CIDR
// reservation's ID, RunInstances through its first interface specification, or no subnet at
// all (the default VPC's default subnet of the zone) — is authorized against that subnet's
// ARN and tags, so a Deny on a tagged subnet cannot be walked around.
func TestSubnetNamedIndirectly(t *testing.T) {
	a := newAuthzAPI(t)
	root := a.root
	bob := a.user("bob", "/", denyProd)
	var zoneA string
	for _, item := range xmlFields(root.ok("DescribeSubnets", "Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true"), "availabilityZone") {
		if zoneA == "" || item < zoneA {
			zoneA = item
		}
	}
	var prodDefault string
	for _, sn := range strings.Split(root.ok("DescribeSubnets", "Filter.1.Name", "availability-zone", "Filter.1.Value.1", zoneA), "<item>")[1:] {
		if strings.Contains(sn, "<defaultForAz>true</defaultForAz>") {
			prodDefault = field(sn, "subnetId")
		}
	}
	if prodDefault == "" {
		t.Fatalf("no default subnet in %s", zoneA)
	}
	root.ok("CreateTags", "ResourceId.1", prodDefault, "Tag.1.Key", "env", "Tag.1.Value", "prod")
	scr := field(root.ok("CreateSubnetCidrReservation", "SubnetId", prodDefault, "Cidr", "172.31.0.16/28", "ReservationType", "prefix"),
		"subnetCidrReservationId")
	launch := []string{"ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "InstanceType", "t3.micro"}
	for name, call := range map[string][]string{
		"reservation":     {"DeleteSubnetCidrReservation", "SubnetCidrReservationId", scr},
		"default subnet":  append([]string{"RunInstances"}, launch...),
		"in the zone":     append([]string{"RunInstances", "Placement.AvailabilityZone", zoneA}, launch...),
		"first interface": append([]string{"RunInstances", "NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SubnetId", prodDefault}, launch...),
	} {
		r := bob.call(call[0], call[1:]...)
		if r.Code != "UnauthorizedOperation" || !strings.Contains(field(r.Body, "Message"), "subnet/"+prodDefault) {
			t.Errorf("%s: %d %q, want UnauthorizedOperation on subnet/%s: %s", name, r.Status, r.Code, prodDefault, r.Body)
		}
	}
	if n := len(xmlFields(root.ok("DescribeInstances"), "instanceId")); n != 0 {
		t.Errorf("%d instances launched by refused calls", n)
	}
	other := xmlFields(root.ok("DescribeSubnets", "Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true"), "availabilityZone")
	for _, z := range other {
		if z != zoneA {
			if r := bob.call("RunInstances", append([]string{"Placement.AvailabilityZone", z}, launch...)...); r.Code != "" {
				t.Errorf("a launch in %s (untagged default subnet): %q %s", z, r.Code, r.Body)
			}
			break
		}
	}
}
