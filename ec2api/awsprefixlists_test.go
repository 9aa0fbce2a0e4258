package ec2api

import (
	"slices"
	"strings"
	"testing"
)

// TestAWSManagedPrefixListsAPI checks AWS's lists on the wire: DescribeManagedPrefixLists shows
// them owned by AWS, with an ARN of the "aws" account and without maxEntries or version;
// their entries can be read; every change is refused; DescribePrefixLists lists the
// gateway-endpoint services with their CIDRs, with its filters, IDs, errors and DryRun.
func TestAWSManagedPrefixListsAPI(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	aws := c.ok("DescribeManagedPrefixLists", "Filter.1.Name", "owner-id", "Filter.1.Value.1", "AWS", "MaxResults", "100")
	if n := len(xmlFields(aws, "prefixListId")); n != 12 {
		t.Errorf("%d AWS-managed lists, want 12", n)
	}
	s3 := c.ok("DescribeManagedPrefixLists", "Filter.1.Name", "prefix-list-name", "Filter.1.Value.1", "com.amazonaws.us-east-1.s3")
	for name, want := range map[string]string{
		"prefixListId": "pl-63a5400a", "ownerId": "AWS", "state": "create-complete", "addressFamily": "IPv4",
		"prefixListArn": "arn:aws:ec2:us-east-1:aws:prefix-list/pl-63a5400a", "maxEntries": "", "version": "",
	} {
		if got := field(s3, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := xmlFields(c.ok("GetManagedPrefixListEntries", "PrefixListId", "pl-63a5400a"), "cidr"); !slices.Contains(got, "52.216.0.0/15") {
		t.Errorf("S3 entries %v", got)
	}
	for _, tt := range []struct {
		name, code, action string
		params             []string
	}{
		{"modify", "UnauthorizedOperation", "ModifyManagedPrefixList", kv("PrefixListId", "pl-63a5400a", "AddEntry.1.Cidr", "10.0.0.0/8")},
		{"rename", "UnauthorizedOperation", "ModifyManagedPrefixList", kv("PrefixListId", "pl-63a5400a", "PrefixListName", "mine")},
		{"delete", "UnauthorizedOperation", "DeleteManagedPrefixList", kv("PrefixListId", "pl-63a5400a")},
		{"tag", "UnauthorizedOperation", "CreateTags", kv("ResourceId.1", "pl-63a5400a", "Tag.1.Key", "k")},
		{"old action, unknown ID", "InvalidPrefixListID.NotFound", "DescribePrefixLists", kv("PrefixListId.1", "pl-00000000")},
		{"old action, malformed ID", "InvalidPrefixListID.Malformed", "DescribePrefixLists", kv("PrefixListId.1", "pl-xyz")},
		{"old action, own list is not a service", "InvalidPrefixListID.NotFound", "DescribePrefixLists", kv("PrefixListId.1", "pl-3b927c52")},
		{"old action, unknown filter", "InvalidParameterValue", "DescribePrefixLists", kv("Filter.1.Name", "owner-id", "Filter.1.Value.1", "AWS")},
		{"old action, MaxResults too small", "InvalidParameterValue", "DescribePrefixLists", kv("MaxResults", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	if got := field(c.ok("DescribeManagedPrefixLists", "PrefixListId.1", "pl-63a5400a"), "prefixListName"); got != "com.amazonaws.us-east-1.s3" {
		t.Errorf("a refused change altered the list: name %q", got)
	}

	old := c.ok("DescribePrefixLists")
	if got := xmlFields(old, "prefixListName"); !slices.Equal(got, []string{"com.amazonaws.us-east-1.dynamodb", "com.amazonaws.us-east-1.s3"}) {
		t.Errorf("DescribePrefixLists lists %v", got)
	}
	one := c.ok("DescribePrefixLists", "Filter.1.Name", "prefix-list-name", "Filter.1.Value.1", "*.s3")
	if field(one, "prefixListId") != "pl-63a5400a" || !strings.Contains(one, "<cidrSet><item>") || !strings.Contains(one, "<item>54.231.0.0/16</item>") {
		t.Errorf("DescribePrefixLists by name: %s", one)
	}
	if got := xmlFields(c.ok("DescribePrefixLists", "PrefixListId.1", "pl-02cd2c6b"), "prefixListName"); !slices.Equal(got, []string{"com.amazonaws.us-east-1.dynamodb"}) {
		t.Errorf("DescribePrefixLists by ID: %v", got)
	}
	page := c.ok("DescribePrefixLists", "MaxResults", "5")
	if len(xmlFields(page, "prefixListId")) != 2 || field(page, "nextToken") != "" {
		t.Errorf("one page of 5: %s", page)
	}

	// A rule may use one; the group shows it as a prefix-list peer.
	_, web := vpcWithGroup(t, c, "web")
	c.ok("AuthorizeSecurityGroupEgress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443",
		"IpPermissions.1.ToPort", "443", "IpPermissions.1.PrefixListIds.1.PrefixListId", "pl-63a5400a")
	if got := xmlFields(c.ok("DescribeSecurityGroups", "Filter.1.Name", "egress.ip-permission.prefix-list-id", "Filter.1.Value.1", "pl-63a5400a"), "groupName"); !slices.Equal(got, []string{"web"}) {
		t.Errorf("groups using S3's list: %v", got)
	}
	if field(c.ok("GetManagedPrefixListAssociations", "PrefixListId", "pl-63a5400a"), "resourceId") != web {
		t.Error("the association of the group with S3's list is not listed")
	}
}
