package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestAuthorizeNormalisesAndDetectsDuplicates(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	_, web := vpcWithGroup(t, c, "web")
	body := c.ok("AuthorizeSecurityGroupIngress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "6", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.77/24", "IpPermissions.1.IpRanges.1.Description", "office",
		"IpPermissions.1.IpRanges.2.CidrIp", "198.51.100.0/24")
	if got := xmlFields(body, "securityGroupRuleId"); len(got) != 2 {
		t.Fatalf("one permission with two ranges must create two rules: %s", body)
	}
	if field(body, "ipProtocol") != "tcp" || field(body, "cidrIpv4") != "203.0.113.0/24" {
		t.Errorf("not normalised: %s", body)
	}
	tests := []struct {
		name, code string
		params     []string
	}{
		{"same rule by name and number, canonical CIDR", "InvalidPermission.Duplicate", kv("GroupId", web,
			"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
			"IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.5/24", "IpPermissions.1.IpRanges.1.Description", "new text")},
		{"same permission twice in one request", "InvalidParameterValue", kv("GroupId", web,
			"IpPermissions.1.IpProtocol", "udp", "IpPermissions.1.FromPort", "53", "IpPermissions.1.ToPort", "53",
			"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8", "IpPermissions.1.IpRanges.2.CidrIp", "10.1.2.3/8")},
		{"fifth permission bad: nothing added", "InvalidParameterValue", kv("GroupId", web,
			"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.1/32",
			"IpPermissions.2.IpProtocol", "tcp", "IpPermissions.2.FromPort", "2", "IpPermissions.2.ToPort", "2", "IpPermissions.2.IpRanges.1.CidrIp", "10.0.0.2/32",
			"IpPermissions.3.IpProtocol", "tcp", "IpPermissions.3.FromPort", "3", "IpPermissions.3.ToPort", "3", "IpPermissions.3.IpRanges.1.CidrIp", "10.0.0.3/32",
			"IpPermissions.4.IpProtocol", "tcp", "IpPermissions.4.FromPort", "4", "IpPermissions.4.ToPort", "4", "IpPermissions.4.IpRanges.1.CidrIp", "10.0.0.4/32",
			"IpPermissions.5.IpProtocol", "tcp", "IpPermissions.5.FromPort", "5", "IpPermissions.5.ToPort", "5", "IpPermissions.5.IpRanges.1.CidrIp", "10.0.0.5/33")},
		{"unknown protocol", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "foo", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"from > to", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "90", "IpPermissions.1.ToPort", "80", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"port out of range", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "0", "IpPermissions.1.ToPort", "70000", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"icmp code without type", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "icmp", "IpPermissions.1.FromPort", "-1", "IpPermissions.1.ToPort", "3", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"ipv6 in IpRanges", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "::/0")},
		{"bad description", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8", "IpPermissions.1.IpRanges.1.Description", "a\"b")},
		{"unknown referenced group", "InvalidGroup.NotFound", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Groups.1.GroupId", "sg-0123456789abcdef0")},
		{"malformed group", "InvalidGroupId.Malformed", kv("GroupId", "sg-nope", "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"unknown group", "InvalidGroup.NotFound", kv("GroupId", "sg-0123456789abcdef0", "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
		{"unknown prefix list", "InvalidPrefixListID.NotFound", kv("GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.PrefixListIds.1.PrefixListId", "pl-0123456789abcdef0")},
		{"no peers", "MissingParameter", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "1")},
		{"no permissions", "MissingParameter", kv("GroupId", web)},
		{"non-integer port", "InvalidParameterValue", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "x", "IpPermissions.1.ToPort", "1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "AuthorizeSecurityGroupIngress", tt.params...) })
	}
	rules := c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", web)
	if n := len(xmlFields(rules, "securityGroupRuleId")); n != 3 {
		t.Errorf("after failed authorizations the group has %d rules, want 3 (2 ingress + default egress): %s", n, rules)
	}
	// DescribeSecurityGroups regroups the two rules into one IpPermission.
	g := c.ok("DescribeSecurityGroups", "GroupId.1", web)
	if n := strings.Count(g, "<ipProtocol>tcp</ipProtocol>"); n != 1 {
		t.Errorf("want one tcp/22 IpPermission with two ranges, got %d: %s", n, g)
	}
}

func TestRuleQuotaFourBuckets(t *testing.T) {
	c := newTestAPI(t, "rules-per-group=2").newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	app := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "app", "GroupDescription", "a"), "groupId")
	perm := func(i int, peerKey, peer string) []string {
		return kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", i, "IpPermissions.1.ToPort", i, "IpPermissions.1."+peerKey, peer)
	}
	c.ok("AuthorizeSecurityGroupIngress", perm(1, "IpRanges.1.CidrIp", "10.0.0.0/8")...)
	c.ok("AuthorizeSecurityGroupIngress", perm(2, "Ipv6Ranges.1.CidrIpv6", "fd00::/8")...)
	c.ok("AuthorizeSecurityGroupIngress", perm(3, "Ipv6Ranges.1.CidrIpv6", "fd01::/16")...) // IPv6 bucket: 2
	// A group reference counts in both buckets: IPv4 has room (1) but IPv6 is full.
	c.fails("RulesPerSecurityGroupLimitExceeded", "AuthorizeSecurityGroupIngress", perm(4, "Groups.1.GroupId", app)...)
	c.ok("AuthorizeSecurityGroupIngress", perm(5, "IpRanges.1.CidrIp", "192.168.0.0/16")...) // IPv4 bucket: 2
	c.fails("RulesPerSecurityGroupLimitExceeded", "AuthorizeSecurityGroupIngress", perm(6, "IpRanges.1.CidrIp", "172.16.0.0/12")...)
	// Egress is its own pair of buckets (it holds the default IPv4 rule).
	c.ok("AuthorizeSecurityGroupEgress", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", 443, "IpPermissions.1.ToPort", 443, "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")...)
	c.fails("RulesPerSecurityGroupLimitExceeded", "AuthorizeSecurityGroupEgress", kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", 80, "IpPermissions.1.ToPort", 80, "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")...)
}

func TestRevoke(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	_, web := vpcWithGroup(t, c, "web")
	add := c.ok("AuthorizeSecurityGroupIngress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "80", "IpPermissions.1.ToPort", "80",
		"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0", "IpPermissions.1.IpRanges.2.CidrIp", "10.0.0.0/8")
	ids := xmlFields(add, "securityGroupRuleId")
	// Non-default VPC: a permission that matches nothing fails the call and revokes nothing.
	c.fails("InvalidPermission.NotFound", "RevokeSecurityGroupIngress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "80", "IpPermissions.1.ToPort", "80",
		"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0", "IpPermissions.1.IpRanges.2.CidrIp", "172.16.0.0/12")
	// Unknown rule IDs fail the whole call.
	c.fails("InvalidSecurityGroupRuleId.NotFound", "RevokeSecurityGroupIngress", "GroupId", web,
		"SecurityGroupRuleId.1", ids[0], "SecurityGroupRuleId.2", "sgr-0123456789abcdef0")
	if n := len(xmlFields(c.ok("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", ids[0], "SecurityGroupRuleId.2", ids[1]), "securityGroupRuleId")); n != 2 {
		t.Fatalf("failed revokes removed rules: %d left", n)
	}
	// Revoke by properties, description ignored, protocol by number.
	body := c.ok("RevokeSecurityGroupIngress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "6", "IpPermissions.1.FromPort", "80", "IpPermissions.1.ToPort", "80",
		"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0", "IpPermissions.1.IpRanges.1.Description", "whatever")
	if got := xmlFields(body, "securityGroupRuleId"); !slices.Equal(got, ids[:1]) {
		t.Errorf("revoked %v, want %v", got, ids[:1])
	}
	c.ok("RevokeSecurityGroupIngress", "GroupId", web, "SecurityGroupRuleId.1", ids[1])
	c.fails("InvalidSecurityGroupRuleId.NotFound", "DescribeSecurityGroupRules", "SecurityGroupRuleId.1", ids[1])

	// Default VPC: unmatched permissions are reported, the rest revoked.
	dflt := field(c.ok("CreateSecurityGroup", "GroupName", "legacy", "GroupDescription", "in the default VPC"), "groupId")
	c.ok("AuthorizeSecurityGroupIngress", "GroupName", "legacy", "IpProtocol", "tcp", "FromPort", "22", "ToPort", "22", "CidrIp", "10.0.0.0/8")
	body = c.ok("RevokeSecurityGroupIngress", "GroupName", "legacy",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8", "IpPermissions.1.IpRanges.2.CidrIp", "11.0.0.0/8")
	if field(body, "cidrIp") != "11.0.0.0/8" || len(xmlFields(body, "securityGroupRuleId")) != 1 {
		t.Errorf("default-VPC revoke: %s", body)
	}
	if !strings.Contains(c.ok("DescribeSecurityGroups", "GroupName.1", "legacy"), dflt) {
		t.Error("GroupName lookup in the default VPC failed")
	}
}

func TestModifyAndDescriptions(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	app := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "app", "GroupDescription", "a"), "groupId")
	id := field(c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "80", "IpPermissions.1.ToPort", "80", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"), "securityGroupRuleId")
	c.ok("ModifySecurityGroupRules", "GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", id,
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", "8080",
		"SecurityGroupRule.1.SecurityGroupRule.ToPort", "8080", "SecurityGroupRule.1.SecurityGroupRule.ReferencedGroupId", app,
		"SecurityGroupRule.1.SecurityGroupRule.Description", "from app")
	r := c.ok("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", id)
	if field(r, "fromPort") != "8080" || field(r, "description") != "from app" || !strings.Contains(r, "<referencedGroupInfo><groupId>"+app) {
		t.Errorf("modified rule: %s", r)
	}
	c.fails("InvalidParameterValue", "ModifySecurityGroupRules", "GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", id,
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", "1",
		"SecurityGroupRule.1.SecurityGroupRule.ToPort", "1", "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8",
		"SecurityGroupRule.1.SecurityGroupRule.ReferencedGroupId", app)
	c.fails("InvalidSecurityGroupRuleId.NotFound", "ModifySecurityGroupRules", "GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", "sgr-0123456789abcdef0",
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "-1", "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8")

	c.ok("UpdateSecurityGroupRuleDescriptionsIngress", "GroupId", web,
		"SecurityGroupRuleDescription.1.SecurityGroupRuleId", id, "SecurityGroupRuleDescription.1.Description", "renamed")
	if d := field(c.ok("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", id), "description"); d != "renamed" {
		t.Errorf("description = %q", d)
	}
	// By properties: an omitted description clears it.
	c.ok("UpdateSecurityGroupRuleDescriptionsIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "8080", "IpPermissions.1.ToPort", "8080", "IpPermissions.1.Groups.1.GroupId", app)
	if d := field(c.ok("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", id), "description"); d != "" {
		t.Errorf("description not cleared: %q", d)
	}
	c.fails("InvalidPermission.NotFound", "UpdateSecurityGroupRuleDescriptionsIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "udp",
		"IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
}
