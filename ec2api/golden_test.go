package ec2api

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenClock is the service's clock in the golden test: every timestamp is this one.
var goldenClock = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// TestGoldenXML pins the whole reply of one action per family to a file in testdata, so that a
// change to any element, its order or its text shows as a diff. The service's clock is fixed;
// what is random by design (resource IDs, request IDs, MAC addresses, the account) is
// rewritten by normalise into stable placeholders. Every reply lists one item (filters or IDs
// pick it), because sets are ordered by resource ID and the IDs are random. The files are
// indented (see indent) so that their diffs read; the reply itself has no white space.
//
// go test ./ec2api -run Golden -update rewrites the files; review the diff before committing.
func TestGoldenXML(t *testing.T) {
	cfg := control.DefaultConfig()
	cfg.Now = func() time.Time { return goldenClock }
	cfg.Images = fixedImages()
	c := newTestAPIWith(t, cfg).newAccount("alice")

	tag := func(typ string) []string {
		return kv("TagSpecification.1.ResourceType", typ, "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "blue & <green>")
	}
	vpc := field(c.ok("CreateVpc", append(kv("CidrBlock", "10.0.0.0/16"), tag("vpc")...)...), "vpcId")
	sn := field(c.ok("CreateSubnet", append(kv("VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1b"), tag("subnet")...)...), "subnetId")
	web := field(c.ok("CreateSecurityGroup", append(kv("VpcId", vpc, "GroupName", "web", "GroupDescription", "web tier"), tag("security-group")...)...), "groupId")
	pl := field(c.ok("CreateManagedPrefixList", append(kv("PrefixListName", "admins", "AddressFamily", "IPv4", "MaxEntries", 5,
		"Entry.1.Cidr", "192.0.2.0/25", "Entry.1.Description", "office"), tag("prefix-list")...)...), "prefixListId")
	auth := c.ok("AuthorizeSecurityGroupIngress", append(kv("GroupId", web,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", 443, "IpPermissions.1.ToPort", 443,
		"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0", "IpPermissions.1.IpRanges.1.Description", "https",
		"IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0",
		"IpPermissions.2.IpProtocol", "tcp", "IpPermissions.2.FromPort", 22, "IpPermissions.2.ToPort", 22,
		"IpPermissions.2.PrefixListIds.1.PrefixListId", pl,
		"IpPermissions.3.IpProtocol", "-1", "IpPermissions.3.Groups.1.GroupId", web), tag("security-group-rule")...)...)
	rule := xmlFields(auth, "securityGroupRuleId")[0]
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl imported"
	c.ok("ImportKeyPair", append(kv("KeyName", "deploy", "PublicKeyMaterial", b64(pub)), tag("key-pair")...)...)
	eni := field(c.ok("CreateNetworkInterface", append(kv("SubnetId", sn, "SecurityGroupId.1", web, "Description", "spare",
		"PrivateIpAddress", "10.0.1.20", "SecondaryPrivateIpAddressCount", 1), tag("network-interface")...)...), "networkInterfaceId")
	inst := field(c.ok("RunInstances", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", sn,
		"SecurityGroupId.1", web, "KeyName", "deploy", "PrivateIpAddress", "10.0.1.10", "ClientToken", "golden-run", "MetadataOptions.HttpPutResponseHopLimit", 2,
		"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "web-1")...), "instanceId")
	acl := field(c.ok("CreateNetworkAcl", append(kv("VpcId", vpc), tag("network-acl")...)...), "networkAclId")
	c.ok("CreateNetworkAclEntry", kv("NetworkAclId", acl, "RuleNumber", 100, "Protocol", "6", "RuleAction", "allow", "Egress", "false",
		"CidrBlock", "10.0.0.0/16", "PortRange.From", 443, "PortRange.To", 443)...)
	c.ok("CreateNetworkAclEntry", kv("NetworkAclId", acl, "RuleNumber", 110, "Protocol", "1", "RuleAction", "deny", "Egress", "true",
		"CidrBlock", "0.0.0.0/0", "Icmp.Type", 8, "Icmp.Code", -1)...)
	fl := xmlFields(c.ok("CreateFlowLogs", append(kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "REJECT",
		"LogGroupName", "vpc-flows", "DeliverLogsPermissionArn", "arn:aws:iam::"+c.acct.ID+":role/flow-logs"), tag("vpc-flow-log")...)...), "item")[0]
	path := field(c.ok("CreateNetworkInsightsPath", append(kv("ClientToken", "golden-path", "Source", eni, "Destination", inst,
		"Protocol", "tcp", "DestinationPort", 443), tag("network-insights-path")...)...), "networkInsightsPathId")
	analysis := field(c.ok("StartNetworkInsightsAnalysis", append(kv("NetworkInsightsPathId", path, "ClientToken", "golden-analysis"),
		tag("network-insights-analysis")...)...), "networkInsightsAnalysisId")
	def := field(c.ok("DescribeSubnets", kv("Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true",
		"Filter.2.Name", "availability-zone", "Filter.2.Value.1", "us-east-1a")...), "subnetId")
	pubInst := field(c.ok("RunInstances", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", def)...), "instanceId")
	if got := c.ok("DescribeInstances", kv("InstanceId.1", pubInst)...); !strings.Contains(got, "<ipAddress>198.18.0.2</ipAddress>") ||
		!strings.Contains(got, "<association><publicIp>198.18.0.2</publicIp><publicDnsName/><ipOwnerId>amazon</ipOwnerId></association>") {
		t.Errorf("an instance launched in a default subnet shows no launch-time public address:\n%s", got)
	}
	alloc := c.ok("AllocateAddress", append(kv("Domain", "vpc"), tag("elastic-ip")...)...)
	eip := field(alloc, "allocationId")
	c.ok("AssociateAddress", kv("AllocationId", eip, "InstanceId", pubInst)...)
	if got := c.ok("DescribeInstances", kv("InstanceId.1", pubInst)...); !strings.Contains(got, "<ipAddress>"+field(alloc, "publicIp")+"</ipAddress>") ||
		!strings.Contains(got, "<allocationId>"+eip+"</allocationId>") || strings.Contains(got, "<ipOwnerId>amazon") {
		t.Errorf("the Elastic IP did not replace the launch-time address:\n%s", got)
	}
	nat := field(c.ok("CreateNatGateway", append(kv("SubnetId", sn, "ConnectivityType", "private", "PrivateIpAddress", "10.0.1.50"), tag("natgateway")...)...), "natGatewayId")
	igw := field(c.ok("CreateInternetGateway", tag("internet-gateway")...), "internetGatewayId")
	c.ok("AttachInternetGateway", "InternetGatewayId", igw, "VpcId", vpc)
	eigw := field(c.ok("CreateEgressOnlyInternetGateway", append(kv("VpcId", vpc), tag("egress-only-internet-gateway")...)...), "egressOnlyInternetGatewayId")
	rtb := field(c.ok("CreateRouteTable", append(kv("VpcId", vpc), tag("route-table")...)...), "routeTableId")
	c.ok("CreateRoute", "RouteTableId", rtb, "DestinationCidrBlock", "0.0.0.0/0", "GatewayId", igw)
	c.ok("CreateRoute", "RouteTableId", rtb, "DestinationCidrBlock", "192.168.0.0/16", "InstanceId", inst)
	c.ok("CreateRoute", "RouteTableId", rtb, "DestinationPrefixListId", pl, "NetworkInterfaceId", eni)
	c.ok("AssociateRouteTable", "RouteTableId", rtb, "SubnetId", sn)
	// Network Insights with an internet gateway as an end: the public instance out through
	// its default VPC's gateway (found), and the gateway of vpc to inst, which has no public
	// address (blocked by routing).
	defVPC := field(c.ok("DescribeSubnets", kv("SubnetId.1", def)...), "vpcId")
	defIGW := field(c.ok("DescribeInternetGateways", kv("Filter.1.Name", "attachment.vpc-id", "Filter.1.Value.1", defVPC)...), "internetGatewayId")
	outPath := field(c.ok("CreateNetworkInsightsPath", kv("ClientToken", "golden-out", "Source", pubInst, "Destination", defIGW, "Protocol", "tcp", "DestinationPort", 443)...), "networkInsightsPathId")
	outAnalysis := field(c.ok("StartNetworkInsightsAnalysis", kv("NetworkInsightsPathId", outPath, "ClientToken", "golden-out-analysis")...), "networkInsightsAnalysisId")
	inPath := field(c.ok("CreateNetworkInsightsPath", kv("ClientToken", "golden-in", "Source", igw, "Destination", inst, "Protocol", "tcp", "DestinationPort", 443)...), "networkInsightsPathId")
	inAnalysis := field(c.ok("StartNetworkInsightsAnalysis", kv("NetworkInsightsPathId", inPath, "ClientToken", "golden-in-analysis")...), "networkInsightsAnalysisId")

	for _, g := range []struct {
		action string
		params []string
	}{
		{"DescribeVpcs", kv("VpcId.1", vpc)},
		{"DescribeSubnets", kv("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc)},
		{"DescribeSecurityGroups", kv("GroupId.1", web)},
		{"DescribeSecurityGroupRules", kv("SecurityGroupRuleId.1", rule)},
		{"DescribeNetworkInterfaces", kv("NetworkInterfaceId.1", eni)},
		{"DescribeInstances", kv("InstanceId.1", inst)},
		{"DescribeKeyPairs", kv("KeyName.1", "deploy", "IncludePublicKey", "true")},
		{"DescribeImages", kv("ImageId.1", alpineImage.ID)},
		{"DescribeNetworkAcls", kv("NetworkAclId.1", acl)},
		{"DescribeFlowLogs", kv("FlowLogId.1", fl)},
		{"DescribeManagedPrefixLists", kv("PrefixListId.1", pl)},
		{"GetManagedPrefixListEntries", kv("PrefixListId", pl)},
		{"DescribeNetworkInsightsPaths", kv("NetworkInsightsPathId.1", path)},
		{"DescribeNetworkInsightsAnalyses", kv("NetworkInsightsAnalysisId.1", analysis)},
		{"DescribeRouteTables", kv("RouteTableId.1", rtb)},
		{"DescribeInternetGateways", kv("InternetGatewayId.1", igw)},
		{"DescribeEgressOnlyInternetGateways", kv("EgressOnlyInternetGatewayId.1", eigw)},
		{"DescribeTags", kv("Filter.1.Name", "resource-id", "Filter.1.Value.1", vpc)},
		{"DescribeAccountAttributes", kv("AttributeName.1", "supported-platforms")},
		{"DescribeAddresses", kv("AllocationId.1", eip)},
		{"DescribeNatGateways", kv("NatGatewayId.1", nat)},
		{"DescribeNetworkInsightsAnalyses#to-igw", kv("NetworkInsightsAnalysisId.1", outAnalysis)},
		{"DescribeNetworkInsightsAnalyses#from-igw", kv("NetworkInsightsAnalysisId.1", inAnalysis)},
		// A write, last, so that DescribeInstances above shows the options as launched.
		{"ModifyInstanceMetadataOptions", kv("InstanceId", inst, "HttpTokens", "required", "InstanceMetadataTags", "enabled")},
	} {
		// "Action#variant" is a second golden file of one action: testdata/Action-variant.xml.
		action, name, _ := strings.Cut(g.action, "#")
		name = strings.TrimSuffix(action+"-"+name, "-")
		t.Run(name, func(t *testing.T) {
			checkGolden(t, filepath.Join("testdata", name+".xml"), indent(normalise(c.ok(action, g.params...), c.acct.ID)), "Golden")
		})
	}
}

// checkGolden compares a reply with its golden file (rewriting the file first under -update);
// run names the test that -update must run.
func checkGolden(t *testing.T, file, got, run string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./ec2api -run %s -update writes it)", err, run)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s changed (-golden +now); if intended, run go test ./ec2api -run %s -update and review:\n%s", file, run, diff)
	}
}

var (
	// resourceID is an AWS resource ID: a prefix (which may have dashes: eni-attach,
	// vpc-cidr-assoc) and 17 hex digits.
	resourceID = regexp.MustCompile(`\b([a-z]+(?:-[a-z]+)*)-[0-9a-f]{17}\b`)
	macAddress = regexp.MustCompile(`\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b`)
	requestID  = regexp.MustCompile(`<requestId>[^<]*</requestId>`)
)

// normalise makes a reply deterministic: the n-th distinct ID of a prefix becomes
// <prefix>-0000000000000000n, MACs and the request ID become fixed values, and the account ID
// becomes 111122223333. The AMI ID is given by the test and kept.
func normalise(body, account string) string {
	body = requestID.ReplaceAllString(body, "<requestId>00000000-0000-0000-0000-000000000000</requestId>")
	body = macAddress.ReplaceAllString(body, "02:00:00:00:00:01")
	body = strings.ReplaceAll(body, account, "111122223333")
	seen := map[string]string{}
	count := map[string]int{}
	return resourceID.ReplaceAllStringFunc(body, func(id string) string {
		prefix := resourceID.FindStringSubmatch(id)[1]
		if prefix == "ami" {
			return id
		}
		if n, ok := seen[id]; ok {
			return n
		}
		count[prefix]++
		seen[id] = fmt.Sprintf("%s-%017d", prefix, count[prefix])
		return seen[id]
	})
}

var xmlToken = regexp.MustCompile(`<[^>]*>|[^<]+`)

// indent puts every element on its own line, indented by depth, with a leaf element's text on
// its line (<a>text</a>), so that a change shows as a diff of the lines that changed. It works
// on the bytes, keeping the reply's own escaping.
func indent(body string) string {
	var b strings.Builder
	toks := xmlToken.FindAllString(body, -1)
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case strings.HasPrefix(t, "<?"):
			b.WriteString(t)
		case strings.HasPrefix(t, "</"):
			depth--
			fmt.Fprintf(&b, "\n%s%s", strings.Repeat("  ", depth), t)
		case strings.HasPrefix(t, "<"):
			fmt.Fprintf(&b, "\n%s%s", strings.Repeat("  ", depth), t)
			if strings.HasSuffix(t, "/>") {
				continue
			}
			// A leaf: <a></a> or <a>text</a> stays on one line.
			if i+1 < len(toks) && strings.HasPrefix(toks[i+1], "</") {
				b.WriteString(toks[i+1])
				i++
				continue
			}
			if i+2 < len(toks) && !strings.HasPrefix(toks[i+1], "<") && strings.HasPrefix(toks[i+2], "</") {
				b.WriteString(toks[i+1] + toks[i+2])
				i += 2
				continue
			}
			depth++
		default: // text outside a leaf: the XML declaration's newline
		}
	}
	return b.String() + "\n"
}
