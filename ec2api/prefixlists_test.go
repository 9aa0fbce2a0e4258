package ec2api

import (
	"slices"
	"testing"
)

func TestPrefixLists(t *testing.T) {
	c := newTestAPI(t, "rules-per-group=10").newAccount("alice")
	_, web := vpcWithGroup(t, c, "web")
	body := c.ok("CreateManagedPrefixList", "PrefixListName", "offices", "AddressFamily", "IPv4", "MaxEntries", "3",
		"Entry.1.Cidr", "203.0.113.7/24", "Entry.1.Description", "HQ", "Entry.2.Cidr", "198.51.100.0/24")
	pl := field(body, "prefixListId")
	if field(body, "version") != "1" || field(body, "state") != "create-in-progress" || field(body, "maxEntries") != "3" {
		t.Errorf("create: %s", body)
	}
	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"reserved name", "InvalidParameterValue", "CreateManagedPrefixList", kv("PrefixListName", "com.amazonaws.x", "AddressFamily", "IPv4", "MaxEntries", 1)},
		{"bad family", "InvalidParameterValue", "CreateManagedPrefixList", kv("PrefixListName", "x", "AddressFamily", "IPv5", "MaxEntries", 1)},
		{"family mismatch", "InvalidParameterValue", "CreateManagedPrefixList", kv("PrefixListName", "x", "AddressFamily", "IPv6", "MaxEntries", 1, "Entry.1.Cidr", "10.0.0.0/8")},
		{"too many entries", "InvalidParameterValue", "CreateManagedPrefixList", kv("PrefixListName", "x", "AddressFamily", "IPv4", "MaxEntries", 1, "Entry.1.Cidr", "10.0.0.0/8", "Entry.2.Cidr", "11.0.0.0/8")},
		{"missing max", "MissingParameter", "CreateManagedPrefixList", kv("PrefixListName", "x", "AddressFamily", "IPv4")},
		{"stale version", "PrefixListVersionMismatch", "ModifyManagedPrefixList", kv("PrefixListId", pl, "CurrentVersion", 7, "AddEntry.1.Cidr", "10.0.0.0/8")},
		{"entries and size at once", "InvalidParameterCombination", "ModifyManagedPrefixList", kv("PrefixListId", pl, "MaxEntries", 5, "AddEntry.1.Cidr", "10.0.0.0/8")},
		{"over max entries", "InvalidParameterValue", "ModifyManagedPrefixList", kv("PrefixListId", pl, "AddEntry.1.Cidr", "10.0.0.0/8", "AddEntry.2.Cidr", "11.0.0.0/8")},
		{"remove missing", "InvalidParameterValue", "ModifyManagedPrefixList", kv("PrefixListId", pl, "RemoveEntry.1.Cidr", "10.0.0.0/8")},
		{"shrink below entries", "InvalidParameterValue", "ModifyManagedPrefixList", kv("PrefixListId", pl, "MaxEntries", 1)},
		{"unknown list", "InvalidPrefixListID.NotFound", "DescribeManagedPrefixLists", kv("PrefixListId.1", "pl-0123456789abcdef0")},
		{"unknown version", "InvalidParameterValue", "GetManagedPrefixListEntries", kv("PrefixListId", pl, "TargetVersion", 9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	// Entry changes make a new version; earlier versions stay readable.
	mod := c.ok("ModifyManagedPrefixList", "PrefixListId", pl, "CurrentVersion", "1", "AddEntry.1.Cidr", "192.0.2.0/24", "RemoveEntry.1.Cidr", "198.51.100.0/24")
	if field(mod, "version") != "2" {
		t.Errorf("modify: %s", mod)
	}
	if got := xmlFields(c.ok("GetManagedPrefixListEntries", "PrefixListId", pl), "cidr"); !slices.Equal(got, []string{"192.0.2.0/24", "203.0.113.0/24"}) {
		t.Errorf("current entries %v", got)
	}
	if got := xmlFields(c.ok("GetManagedPrefixListEntries", "PrefixListId", pl, "TargetVersion", "1"), "cidr"); !slices.Equal(got, []string{"198.51.100.0/24", "203.0.113.0/24"}) {
		t.Errorf("version 1 entries %v", got)
	}
	c.ok("ModifyManagedPrefixList", "PrefixListId", pl, "PrefixListName", "offices-eu")
	desc := c.ok("DescribeManagedPrefixLists", "Filter.1.Name", "prefix-list-name", "Filter.1.Value.1", "offices-*")
	if field(desc, "version") != "2" || field(desc, "state") != "modify-complete" {
		t.Errorf("rename must not bump the version: %s", desc)
	}

	// As a rule peer the list costs its MaxEntries (3) in the IPv4 bucket: 3 + 7 = 10 fits.
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443",
		"IpPermissions.1.ToPort", "443", "IpPermissions.1.PrefixListIds.1.PrefixListId", pl)
	params := kv("GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", 22, "IpPermissions.1.ToPort", 22)
	for i := 1; i <= 7; i++ {
		params = append(params, kv("IpPermissions.1.IpRanges."+itoa(i)+".CidrIp", "10."+itoa(i)+".0.0/16")...)
	}
	c.ok("AuthorizeSecurityGroupIngress", params...)
	// Growing the list would push the group past the quota: refused, size unchanged.
	c.fails("RulesPerSecurityGroupLimitExceeded", "ModifyManagedPrefixList", "PrefixListId", pl, "MaxEntries", "4")
	if m := field(c.ok("DescribeManagedPrefixLists", "PrefixListId.1", pl), "maxEntries"); m != "3" {
		t.Errorf("failed resize changed MaxEntries to %s", m)
	}
	assoc := c.ok("GetManagedPrefixListAssociations", "PrefixListId", pl)
	if field(assoc, "resourceId") != web {
		t.Errorf("associations: %s", assoc)
	}
	if got := xmlFields(c.ok("DescribeSecurityGroups", "Filter.1.Name", "ip-permission.prefix-list-id", "Filter.1.Value.1", pl), "groupName"); !slices.Equal(got, []string{"web"}) {
		t.Errorf("prefix-list-id filter: %v", got)
	}
	c.fails("DependencyViolation", "DeleteManagedPrefixList", "PrefixListId", pl)
	c.ok("RevokeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443",
		"IpPermissions.1.ToPort", "443", "IpPermissions.1.PrefixListIds.1.PrefixListId", pl)
	c.ok("ModifyManagedPrefixList", "PrefixListId", pl, "MaxEntries", "4")
	if st := field(c.ok("DeleteManagedPrefixList", "PrefixListId", pl), "state"); st != "delete-in-progress" {
		t.Errorf("delete state %s", st)
	}
	c.fails("InvalidPrefixListID.NotFound", "GetManagedPrefixListEntries", "PrefixListId", pl)
}
