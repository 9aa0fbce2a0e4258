package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	c.ok("CreateTags", "ResourceId.1", vpc, "ResourceId.2", web, "Tag.1.Key", "env", "Tag.1.Value", "prod", "Tag.2.Key", "owner")
	tags := c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", web)
	if got := xmlFields(tags, "key"); !slices.Equal(got, []string{"env", "owner"}) || field(tags, "resourceType") != "security-group" {
		t.Errorf("tags: %s", tags)
	}
	if got := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", "tag:env", "Filter.1.Value.1", "prod"), "vpcId"); !slices.Equal(got, []string{vpc}) {
		t.Errorf("tag filter: %v", got)
	}
	c.fails("InvalidParameterValue", "CreateTags", "ResourceId.1", web, "Tag.1.Key", "aws:reserved")
	c.fails("InvalidGroup.NotFound", "CreateTags", "ResourceId.1", vpc, "ResourceId.2", "sg-0123456789abcdef0", "Tag.1.Key", "k")
	if strings.Contains(c.ok("DescribeTags", "Filter.1.Name", "key", "Filter.1.Value.1", "k"), "<item>") {
		t.Error("a failed CreateTags tagged the first resource")
	}
	// 50 user tags is the limit.
	params := []string{"ResourceId.1", web}
	for i := 0; i < 49; i++ {
		params = append(params, kv("Tag."+itoa(i+1)+".Key", "k"+itoa(i))...)
	}
	c.fails("TagLimitExceeded", "CreateTags", params...)
	// DeleteTags: value must match when given; key alone deletes.
	c.ok("DeleteTags", "ResourceId.1", web, "Tag.1.Key", "env", "Tag.1.Value", "dev")
	c.ok("DeleteTags", "ResourceId.1", web, "Tag.1.Key", "owner")
	if got := xmlFields(c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", web), "key"); !slices.Equal(got, []string{"env"}) {
		t.Errorf("after deletes: %v", got)
	}
	c.ok("DeleteTags", "ResourceId.1", vpc)
	if strings.Contains(c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", vpc), "<item>") {
		t.Error("DeleteTags without Tag.N left tags")
	}
	// Rules are taggable at creation.
	rule := field(c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8",
		"TagSpecification.1.ResourceType", "security-group-rule", "TagSpecification.1.Tag.1.Key", "why", "TagSpecification.1.Tag.1.Value", "vpn"), "securityGroupRuleId")
	if got := xmlFields(c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "tag:why", "Filter.1.Value.1", "vpn"), "securityGroupRuleId"); !slices.Equal(got, []string{rule}) {
		t.Errorf("rule tag filter: %v", got)
	}
	c.fails("InvalidParameterValue", "CreateSecurityGroup", "VpcId", vpc, "GroupName", "x", "GroupDescription", "x", "TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "k")
}
