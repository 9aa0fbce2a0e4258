package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestNetworkACLs(t *testing.T) {
	c := newTestAPI(t, "nacl-entries=3").newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")

	// The default NACL: 100 allow IPv4, 101 allow IPv6, the catch-all denies, both directions;
	// the new subnet is associated with it.
	dflt := c.ok("DescribeNetworkAcls", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc, "Filter.2.Name", "default", "Filter.2.Value.1", "true")
	defaultID := field(dflt, "networkAclId")
	if got := xmlFields(dflt, "ruleNumber"); !slices.Equal(got, []string{"100", "101", "32767", "32768", "100", "101", "32767", "32768"}) {
		t.Errorf("default entries %v", got)
	}
	if field(dflt, "subnetId") != sn || field(dflt, "protocol") != "-1" {
		t.Errorf("default NACL: %s", dflt)
	}
	assoc := field(dflt, "networkAclAssociationId")
	c.fails("InvalidParameterValue", "DeleteNetworkAcl", "NetworkAclId", defaultID)

	// A custom NACL denies everything until entries are added.
	acl := field(c.ok("CreateNetworkAcl", "VpcId", vpc), "networkAclId")
	if got := xmlFields(c.ok("DescribeNetworkAcls", "NetworkAclId.1", acl), "ruleAction"); !slices.Equal(got, []string{"deny", "deny", "deny", "deny"}) {
		t.Errorf("custom NACL entries %v", got)
	}
	entry := func(params ...any) []string { return append(kv("NetworkAclId", acl), kv(params...)...) }
	c.ok("CreateNetworkAclEntry", entry("RuleNumber", 100, "Protocol", "tcp", "RuleAction", "allow", "Egress", false, "CidrBlock", "0.0.0.0/0", "PortRange.From", 443, "PortRange.To", 443)...)
	c.ok("CreateNetworkAclEntry", entry("RuleNumber", 100, "Protocol", "6", "RuleAction", "allow", "Egress", true, "CidrBlock", "0.0.0.0/0", "PortRange.From", 1024, "PortRange.To", 65535)...)
	c.ok("CreateNetworkAclEntry", entry("RuleNumber", 90, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "203.0.113.9/24")...)
	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"number taken", "NetworkAclEntryAlreadyExists", "CreateNetworkAclEntry", entry("RuleNumber", 100, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"number 0", "InvalidParameterValue", "CreateNetworkAclEntry", entry("RuleNumber", 0, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"reserved number", "InvalidParameterValue", "CreateNetworkAclEntry", entry("RuleNumber", 32767, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"tcp without ports", "MissingParameter", "CreateNetworkAclEntry", entry("RuleNumber", 5, "Protocol", "tcp", "RuleAction", "allow", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"icmp without type", "MissingParameter", "CreateNetworkAclEntry", entry("RuleNumber", 5, "Protocol", "icmp", "RuleAction", "allow", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"bad action", "InvalidParameterValue", "CreateNetworkAclEntry", entry("RuleNumber", 5, "Protocol", "-1", "RuleAction", "maybe", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"both cidrs", "InvalidParameterCombination", "CreateNetworkAclEntry", entry("RuleNumber", 5, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8", "Ipv6CidrBlock", "::/0")},
		{"unknown protocol", "InvalidParameterValue", "CreateNetworkAclEntry", entry("RuleNumber", 5, "Protocol", "bogus", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"quota per direction and family", "NetworkAclEntryLimitExceeded", "CreateNetworkAclEntry", entry("RuleNumber", 110, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"replace missing", "InvalidNetworkAclEntry.NotFound", "ReplaceNetworkAclEntry", entry("RuleNumber", 120, "Protocol", "-1", "RuleAction", "deny", "Egress", false, "CidrBlock", "10.0.0.0/8")},
		{"delete missing", "InvalidNetworkAclEntry.NotFound", "DeleteNetworkAclEntry", kv("NetworkAclId", acl, "RuleNumber", 120, "Egress", false)},
		{"delete catch-all", "InvalidParameterValue", "DeleteNetworkAclEntry", kv("NetworkAclId", acl, "RuleNumber", 32767, "Egress", false)},
		{"unknown nacl", "InvalidNetworkAclID.NotFound", "DescribeNetworkAcls", kv("NetworkAclId.1", "acl-0123456789abcdef0")},
		{"unknown association", "InvalidAssociationID.NotFound", "ReplaceNetworkAclAssociation", kv("AssociationId", "aclassoc-0123456789abcdef0", "NetworkAclId", acl)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	// The quota counts per family: the IPv6 side of ingress still has room.
	c.ok("CreateNetworkAclEntry", entry("RuleNumber", 110, "Protocol", "58", "RuleAction", "allow", "Egress", false, "Ipv6CidrBlock", "::/0", "Icmp.Type", 128, "Icmp.Code", -1)...)
	c.ok("ReplaceNetworkAclEntry", entry("RuleNumber", 90, "Protocol", "udp", "RuleAction", "deny", "Egress", false, "CidrBlock", "203.0.113.0/24", "PortRange.From", 53, "PortRange.To", 53)...)
	desc := c.ok("DescribeNetworkAcls", "NetworkAclId.1", acl)
	if got := xmlFields(desc, "ruleNumber"); !slices.Equal(got, []string{"90", "100", "110", "32767", "32768", "100", "32767", "32768"}) {
		t.Errorf("entries in rule order %v", got)
	}
	if !strings.Contains(desc, "<ruleNumber>90</ruleNumber><protocol>17</protocol><ruleAction>deny</ruleAction>") ||
		!strings.Contains(desc, "<icmpTypeCode><code>-1</code><type>128</type></icmpTypeCode>") {
		t.Errorf("entry rendering: %s", desc)
	}
	c.ok("DeleteNetworkAclEntry", "NetworkAclId", acl, "RuleNumber", "90", "Egress", "false")

	// Association moves return a new ID; the old one is gone.
	newAssoc := field(c.ok("ReplaceNetworkAclAssociation", "AssociationId", assoc, "NetworkAclId", acl), "newAssociationId")
	if newAssoc == "" || newAssoc == assoc {
		t.Fatalf("new association %q", newAssoc)
	}
	c.fails("InvalidAssociationID.NotFound", "ReplaceNetworkAclAssociation", "AssociationId", assoc, "NetworkAclId", defaultID)
	if got := xmlFields(c.ok("DescribeNetworkAcls", "Filter.1.Name", "association.subnet-id", "Filter.1.Value.1", sn), "networkAclId"); !slices.Contains(got, acl) {
		t.Errorf("subnet's NACL: %v", got)
	}
	c.fails("DependencyViolation", "DeleteNetworkAcl", "NetworkAclId", acl)
	c.fails("DependencyViolation", "DeleteVpc", "VpcId", vpc)
	c.ok("ReplaceNetworkAclAssociation", "AssociationId", newAssoc, "NetworkAclId", defaultID)
	c.ok("DeleteNetworkAcl", "NetworkAclId", acl)
	c.ok("DeleteSubnet", "SubnetId", sn)
	c.ok("DeleteVpc", "VpcId", vpc)
	if strings.Contains(c.ok("DescribeNetworkAcls", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc), "<item>") {
		t.Error("the default NACL outlived its VPC")
	}
	// The default VPC's default subnets are associated with its default NACL.
	if n := len(xmlFields(c.ok("DescribeNetworkAcls", "Filter.1.Name", "default", "Filter.1.Value.1", "true"), "networkAclAssociationId")); n != 3 {
		t.Errorf("default VPC NACL associations: %d", n)
	}
}
