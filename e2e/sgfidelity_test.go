package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestSecurityGroupFidelityWithSDK drives the security-group behaviours of issue 13 that a
// client sees through the AWS SDK for Go: each was found to differ from AWS, and each is
// answered here as AWS answers it.
func TestSecurityGroupFidelityWithSDK(t *testing.T) {
	s := startServer(t, "", "--quota", "rules-per-group=3")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)

	// The default VPC: 172.31.0.0/16, a /20 default subnet per zone.
	vpcs := must[*ec2.DescribeVpcsOutput](t)(c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{
		Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})).Vpcs
	if len(vpcs) != 1 || *vpcs[0].CidrBlock != "172.31.0.0/16" {
		t.Fatalf("default VPC: %+v", vpcs)
	}
	subnets := must[*ec2.DescribeSubnetsOutput](t)(c.DescribeSubnets(cx, &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpcs[0].VpcId}}}})).Subnets
	zones := map[string]bool{}
	for _, sn := range subnets {
		if !strings.HasPrefix(*sn.CidrBlock, "172.31.") || !strings.HasSuffix(*sn.CidrBlock, "/20") || !*sn.DefaultForAz || zones[*sn.AvailabilityZone] {
			t.Errorf("default subnet %s in %s", *sn.CidrBlock, *sn.AvailabilityZone)
		}
		zones[*sn.AvailabilityZone] = true
	}
	if len(subnets) < 2 {
		t.Errorf("%d default subnets", len(subnets))
	}

	// Tags given at creation are in the reply.
	vpc := must[*ec2.CreateVpcOutput](t)(c.CreateVpc(cx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("main")}}}}})).Vpc
	if len(vpc.Tags) != 1 || *vpc.Tags[0].Key != "Name" || *vpc.Tags[0].Value != "main" {
		t.Errorf("CreateVpc reply tags: %+v", vpc.Tags)
	}

	// A custom group in an IPv6 VPC: egress to 0.0.0.0/0 and ::/0.
	group := func(name string) string {
		return *must[*ec2.CreateSecurityGroupOutput](t)(c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{
			VpcId: vpc.VpcId, GroupName: aws.String(name), Description: aws.String(name)})).GroupId
	}
	web, app := group("web"), group("app")
	g := must[*ec2.DescribeSecurityGroupsOutput](t)(c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{web}})).SecurityGroups[0]
	if eg := g.IpPermissionsEgress; len(eg) != 1 || *eg[0].IpProtocol != "-1" || len(eg[0].IpRanges) != 1 || *eg[0].IpRanges[0].CidrIp != "0.0.0.0/0" ||
		len(eg[0].Ipv6Ranges) != 1 || *eg[0].Ipv6Ranges[0].CidrIpv6 != "::/0" {
		t.Errorf("custom group egress in an IPv6 VPC: %+v", eg)
	}

	// A same-VPC reference: referencedGroupInfo with GroupId and UserId only.
	auth := must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(app),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(web)}}}}}))
	rule := *auth.SecurityGroupRules[0].SecurityGroupRuleId
	rules := must[*ec2.DescribeSecurityGroupRulesOutput](t)(c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{rule}})).SecurityGroupRules
	if ref := rules[0].ReferencedGroupInfo; ref == nil || *ref.GroupId != web || ref.UserId == nil || ref.VpcId != nil || ref.PeeringStatus != nil || ref.VpcPeeringConnectionId != nil {
		t.Errorf("referencedGroupInfo: %+v", ref)
	}

	// DescribeSecurityGroupRules lookups.
	_, err := c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{"foobar"}}}})
	wantCode(t, err, "InvalidGroupId.Malformed")
	none := must[*ec2.DescribeSecurityGroupRulesOutput](t)(c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{"sg-0123456789abcdef0"}}}}))
	if len(none.SecurityGroupRules) != 0 {
		t.Errorf("unknown group-id matched %d rules", len(none.SecurityGroupRules))
	}
	_, err = c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")

	// ModifySecurityGroupRules refusals.
	modify := func(group string, req types.SecurityGroupRuleRequest) error {
		_, err := c.ModifySecurityGroupRules(cx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(group),
			SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String(rule), SecurityGroupRule: &req}}})
		return err
	}
	wantCode(t, modify("sg-00000000", types.SecurityGroupRuleRequest{IpProtocol: aws.String("-1"), CidrIpv4: aws.String("10.0.0.0/8")}), "InvalidGroup.NotFound")
	wantCode(t, modify(app, types.SecurityGroupRuleRequest{CidrIpv4: aws.String("10.0.0.0/8")}), "InvalidParameterValue")
	wantCode(t, modify(app, types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), ToPort: aws.Int32(1), CidrIpv4: aws.String("10.0.0.0/8")}), "InvalidParameterValue")
	wantCode(t, modify(app, types.SecurityGroupRuleRequest{IpProtocol: aws.String("-1")}), "MissingParameter")

	// A short, well-formed, unknown ID is NotFound.
	_, err = c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-123abc"),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	wantCode(t, err, "InvalidGroup.NotFound")

	// The rules quota (3 per bucket here): a reference counts in both families, so two IPv6
	// ranges and the reference fill the IPv6 ingress bucket, and one more is refused whole.
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(app),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/64")}, {CidrIpv6: aws.String("2001:db8:1::/64")}}}}}))
	_, err = c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(app),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("10.1.0.0/16")}},
			Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("2001:db8:2::/64")}}}}})
	wantCode(t, err, "RulesPerSecurityGroupLimitExceeded")
	after := must[*ec2.DescribeSecurityGroupRulesOutput](t)(c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{app}}}})).SecurityGroupRules
	if len(after) != 5 { // the reference, two IPv6 ranges, two egress rules
		t.Errorf("after a refused authorize the group has %d rules, want 5", len(after))
	}

	// Describe* with DryRun.
	_, err = c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	_, err = c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	_, err = c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
}

// TestSecurityGroupFidelityWithAWSCLI: the same behaviours as the AWS CLI shows them.
func TestSecurityGroupFidelityWithAWSCLI(t *testing.T) {
	a, vpc := cliWithIPv6VPC(t)
	var g struct {
		GroupId string
		Tags    []struct{ Key, Value string }
	}
	a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc, "--group-name", "web", "--description", "web",
		"--tag-specifications", "ResourceType=security-group,Tags=[{Key=tier,Value=web}]")
	if len(g.Tags) != 1 || g.Tags[0].Key != "tier" || g.Tags[0].Value != "web" {
		t.Errorf("create-security-group tags: %+v", g.Tags)
	}
	var rules struct {
		SecurityGroupRules []struct {
			IsEgress            bool
			CidrIpv4, CidrIpv6  string
			IpProtocol          string
			SecurityGroupRuleId string
		}
	}
	a.ok(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+g.GroupId)
	var peers []string
	for _, r := range rules.SecurityGroupRules {
		if !r.IsEgress || r.IpProtocol != "-1" {
			t.Errorf("rule %+v", r)
		}
		peers = append(peers, r.CidrIpv4+r.CidrIpv6)
	}
	slices.Sort(peers)
	if !slices.Equal(peers, []string{"0.0.0.0/0", "::/0"}) {
		t.Errorf("custom group egress peers %v, want 0.0.0.0/0 and ::/0", peers)
	}
	a.fails("InvalidGroupId.Malformed", "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values=foobar")
	a.fails("InvalidGroup.NotFound", "ec2", "authorize-security-group-ingress", "--group-id", "sg-123abc", "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
	a.fails("DryRunOperation", "ec2", "describe-security-groups", "--dry-run")
	a.fails("MissingParameter", "ec2", "modify-security-group-rules", "--group-id", g.GroupId, "--security-group-rules",
		"SecurityGroupRuleId="+rules.SecurityGroupRules[0].SecurityGroupRuleId+",SecurityGroupRule={IpProtocol=-1}")
}

// cliWithIPv6VPC starts a server (skipping without the AWS CLI) and makes a VPC with an
// Amazon-provided IPv6 block through the CLI.
func cliWithIPv6VPC(t *testing.T) (awsCLI, string) {
	t.Helper()
	needCLI(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", "--amazon-provided-ipv6-cidr-block")
	return a, vpc.Vpc.VpcId
}
