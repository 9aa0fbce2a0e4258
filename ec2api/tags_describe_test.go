package ec2api

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDescribeTagsFilters checks every DescribeTags filter (resource-id, resource-type, key,
// value, tag:<key>), their wildcards, several values (any) and several filters (all), the
// resource-type of each kind, pagination, and the errors of CreateTags/DeleteTags: no
// resources, no tags, reserved aws: keys in any case — each refused without a change.
func TestDescribeTagsFilters(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, sg := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	key := field(c.ok("ImportKeyPair", "KeyName", "k", "PublicKeyMaterial", b64("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x")), "keyPairId")
	pl := field(c.ok("CreateManagedPrefixList", "PrefixListName", "p", "AddressFamily", "IPv4", "MaxEntries", "1"), "prefixListId")
	rtb := field(c.ok("CreateRouteTable", "VpcId", vpc), "routeTableId")
	acl := field(c.ok("CreateNetworkAcl", "VpcId", vpc), "networkAclId")
	igw := field(c.ok("CreateInternetGateway"), "internetGatewayId")
	types := map[string]string{vpc: "vpc", sg: "security-group", sn: "subnet", key: "key-pair", pl: "prefix-list",
		rtb: "route-table", acl: "network-acl", igw: "internet-gateway"}
	for id := range types {
		c.ok("CreateTags", "ResourceId.1", id, "Tag.1.Key", "Stack", "Tag.1.Value", "Test")
	}
	c.ok("CreateTags", "ResourceId.1", vpc, "Tag.1.Key", "Name", "Tag.1.Value", "Beta Server", "Tag.2.Key", "Purpose", "Tag.2.Value", "")
	c.ok("CreateTags", "ResourceId.1", sg, "Tag.1.Key", "Stack", "Tag.1.Value", "Production")

	rows := func(params ...string) []row {
		t.Helper()
		return pageRows(c.ok("DescribeTags", params...))
	}
	for id, typ := range types {
		got := rows("Filter.1.Name", "resource-type", "Filter.1.Value.1", typ)
		if len(got) == 0 || got[0].ID != id || got[0].Type != typ {
			t.Errorf("resource-type %s: %v", typ, got)
		}
	}
	for _, tt := range []struct {
		name   string
		params []string
		want   []row
	}{
		{"resource-id", kv("Filter.1.Name", "resource-id", "Filter.1.Value.1", vpc),
			[]row{{vpc, "vpc", "Name", "Beta Server"}, {vpc, "vpc", "Purpose", ""}, {vpc, "vpc", "Stack", "Test"}}},
		{"key and value (all filters)", kv("Filter.1.Name", "key", "Filter.1.Value.1", "Stack", "Filter.2.Name", "value", "Filter.2.Value.1", "Production"),
			[]row{{sg, "security-group", "Stack", "Production"}}},
		{"tag:key", kv("Filter.1.Name", "tag:Stack", "Filter.1.Value.1", "Production"),
			[]row{{sg, "security-group", "Stack", "Production"}}},
		{"empty value", kv("Filter.1.Name", "resource-type", "Filter.1.Value.1", "vpc", "Filter.2.Name", "key", "Filter.2.Value.1", "Purpose", "Filter.3.Name", "value", "Filter.3.Value.1", ""),
			[]row{{vpc, "vpc", "Purpose", ""}}},
		{"wildcards", kv("Filter.1.Name", "value", "Filter.1.Value.1", "Beta*", "Filter.2.Name", "key", "Filter.2.Value.1", "N?me"),
			[]row{{vpc, "vpc", "Name", "Beta Server"}}},
		{"several values (any)", kv("Filter.1.Name", "resource-id", "Filter.1.Value.1", sn, "Filter.1.Value.2", igw),
			sortRows([]row{{sn, "subnet", "Stack", "Test"}, {igw, "internet-gateway", "Stack", "Test"}})},
		{"nothing matches", kv("Filter.1.Name", "key", "Filter.1.Value.1", "nope"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rows(tt.params...)
			if tt.name == "several values (any)" {
				got = sortRows(got)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}

	// Pagination: 10 tags in pages of 5, nothing lost or repeated.
	all := rows()
	var paged []row
	token := ""
	for pages := 0; ; pages++ {
		params := kv("MaxResults", 5)
		if token != "" {
			params = append(params, kv("NextToken", token)...)
		}
		body := c.ok("DescribeTags", params...)
		paged = append(paged, pageRows(body)...)
		if token = field(body, "nextToken"); token == "" || pages > 5 {
			break
		}
	}
	if len(all) != 10 || !slices.Equal(paged, all) {
		t.Errorf("paged %d rows, all %d", len(paged), len(all))
	}

	before := c.ok("DescribeTags")
	for _, tt := range []struct {
		name, code, action string
		params             []string
	}{
		{"create without resources", "MissingParameter", "CreateTags", kv("Tag.1.Key", "k")},
		{"create without tags", "MissingParameter", "CreateTags", kv("ResourceId.1", vpc)},
		{"delete without resources", "MissingParameter", "DeleteTags", kv("Tag.1.Key", "k")},
		{"create aws:", "InvalidParameterValue", "CreateTags", kv("ResourceId.1", vpc, "Tag.1.Key", "aws:cloudformation:stack-name")},
		{"create AWS: in another case", "InvalidParameterValue", "CreateTags", kv("ResourceId.1", vpc, "Tag.1.Key", "Aws:x")},
		{"delete aws:", "InvalidParameterValue", "DeleteTags", kv("ResourceId.1", vpc, "Tag.1.Key", "aWs:x")},
		{"tag spec aws:", "InvalidParameterValue", "CreateVpc", kv("CidrBlock", "10.9.0.0/16", "TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "aws:x")},
		{"unknown resource type filter value is fine, unknown filter is not", "InvalidParameterValue", "DescribeTags", kv("Filter.1.Name", "owner-id", "Filter.1.Value.1", "x")},
		{"page too small", "InvalidParameterValue", "DescribeTags", kv("MaxResults", 4)},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	if after := c.ok("DescribeTags"); normalise(after, c.acct.ID) != normalise(before, c.acct.ID) {
		t.Error("a refused request changed tags")
	}
	if r := c.fails("InvalidParameterValue", "CreateTags", "ResourceId.1", vpc, "Tag.1.Key", "aws:x"); field(r.Body, "Message") != "Value ( aws:x ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use" {
		t.Errorf("aws: message %q", field(r.Body, "Message"))
	}
}

// row is one item of DescribeTags' tagSet.
type row struct{ ID, Type, Key, Value string }

func sortRows(rs []row) []row {
	slices.SortFunc(rs, func(a, b row) int { return strings.Compare(a.ID+a.Key, b.ID+b.Key) })
	return rs
}

// pageRows is a page's rows (the type is not compared: the other fields place a row).
func pageRows(body string) []row {
	ids, typs, keys, vals := xmlFields(body, "resourceId"), xmlFields(body, "resourceType"), xmlFields(body, "key"), xmlFields(body, "value")
	out := make([]row, len(ids))
	for i := range ids {
		out[i] = row{ids[i], typs[i], keys[i], vals[i]}
	}
	return out
}
