package ec2api

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// vpcWithGroup creates a VPC and a custom group in it, returning their IDs.
func vpcWithGroup(t *testing.T, c *client, name string) (vpc, group string) {
	t.Helper()
	vpc = field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	group = field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", name, "GroupDescription", name+" tier"), "groupId")
	return vpc, group
}

func TestCreateSecurityGroupErrors(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, _ := vpcWithGroup(t, c, "web")
	tests := []struct {
		name   string
		code   string
		params []string
	}{
		{"duplicate name", "InvalidGroup.Duplicate", kv("VpcId", vpc, "GroupName", "web", "GroupDescription", "x")},
		{"duplicate name case-insensitive, trailing space", "InvalidGroup.Duplicate", kv("VpcId", vpc, "GroupName", "WEB ", "GroupDescription", "x")},
		{"reserved default", "InvalidParameterValue", kv("VpcId", vpc, "GroupName", "default", "GroupDescription", "x")},
		{"sg- prefix", "InvalidParameterValue", kv("VpcId", vpc, "GroupName", "sg-web", "GroupDescription", "x")},
		{"bad charset", "InvalidParameterValue", kv("VpcId", vpc, "GroupName", "web\"", "GroupDescription", "x")},
		{"bad description", "InvalidParameterValue", kv("VpcId", vpc, "GroupName", "ok", "GroupDescription", "caf\u00e9")},
		{"missing description", "MissingParameter", kv("VpcId", vpc, "GroupName", "ok")},
		{"missing name", "MissingParameter", kv("VpcId", vpc, "GroupDescription", "x")},
		{"unknown vpc", "InvalidVpcID.NotFound", kv("VpcId", "vpc-0123456789abcdef0", "GroupName", "ok", "GroupDescription", "x")},
		{"unknown parameter", "UnknownParameter", kv("VpcId", vpc, "GroupName", "ok", "GroupDescription", "x", "Colour", "red")},
		{"dry run", "DryRunOperation", kv("VpcId", vpc, "GroupName", "ok", "GroupDescription", "x", "DryRun", "true")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.fails(tt.code, "CreateSecurityGroup", tt.params...)
			if tt.code == "DryRunOperation" && r.Status != http.StatusPreconditionFailed {
				t.Errorf("DryRun status %d, want 412", r.Status)
			}
		})
	}
	// None of the failures created anything: the VPC has its default group and web only.
	body := c.ok("DescribeSecurityGroups", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc)
	if got := xmlFields(body, "groupName"); !slices.Equal(sorted(got), []string{"default", "web"}) {
		t.Errorf("groups after failed creates = %v", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestDefaultAndCustomGroupRules(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.1.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	body := c.ok("DescribeSecurityGroups", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc, "Filter.2.Name", "group-name", "Filter.2.Value.1", "default")
	id := field(body, "groupId")
	if field(body, "groupDescription") != "default VPC security group" {
		t.Errorf("default group description: %s", body)
	}
	// Ingress: all protocols from itself; egress: all to 0.0.0.0/0 and ::/0 (IPv6 VPC).
	rules := c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", id)
	if got := xmlFields(rules, "cidrIpv4"); !slices.Equal(got, []string{"0.0.0.0/0"}) {
		t.Errorf("default egress IPv4 = %v", got)
	}
	if got := xmlFields(rules, "cidrIpv6"); !slices.Equal(got, []string{"::/0"}) {
		t.Errorf("default egress IPv6 = %v", got)
	}
	if got := xmlFields(rules, "groupId"); !slices.Contains(got[1:], id) {
		t.Errorf("default ingress does not reference the group itself: %s", rules)
	}
	c.fails("CannotDelete", "DeleteSecurityGroup", "GroupId", id)

	// A custom group: no ingress; egress to 0.0.0.0/0 and, in an IPv6 VPC, to ::/0, two rules
	// (spec §2.4 as corrected by issue 13).
	web := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "web", "GroupDescription", "w"), "groupId")
	rules = c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", web)
	if n := len(xmlFields(rules, "securityGroupRuleId")); n != 2 || !slices.Equal(xmlFields(rules, "isEgress"), []string{"true", "true"}) ||
		!slices.Equal(xmlFields(rules, "cidrIpv4"), []string{"0.0.0.0/0"}) || !slices.Equal(xmlFields(rules, "cidrIpv6"), []string{"::/0"}) ||
		!slices.Equal(xmlFields(rules, "ipProtocol"), []string{"-1", "-1"}) || field(rules, "fromPort") != "-1" {
		t.Errorf("custom group rules: %s", rules)
	}
	// DescribeSecurityGroups shows them as one IpPermission with both ranges.
	var described struct {
		Egress []struct {
			Protocol string   `xml:"ipProtocol"`
			V4       []string `xml:"ipRanges>item>cidrIp"`
			V6       []string `xml:"ipv6Ranges>item>cidrIpv6"`
		} `xml:"securityGroupInfo>item>ipPermissionsEgress>item"`
	}
	if err := xml.Unmarshal([]byte(c.ok("DescribeSecurityGroups", "GroupId.1", web)), &described); err != nil {
		t.Fatal(err)
	}
	if e := described.Egress; len(e) != 1 || e[0].Protocol != "-1" || !slices.Equal(e[0].V4, []string{"0.0.0.0/0"}) || !slices.Equal(e[0].V6, []string{"::/0"}) {
		t.Errorf("custom group egress as described: %+v", e)
	}
	// DescribeSecurityGroups omits the ports of protocol -1.
	g := c.ok("DescribeSecurityGroups", "GroupId.1", web)
	if strings.Contains(g, "<fromPort>") {
		t.Errorf("protocol -1 rendered with ports: %s", g)
	}
}

func TestDeleteGroupDependencies(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	app := field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", "app", "GroupDescription", "a"), "groupId")
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", app, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "8080", "IpPermissions.1.ToPort", "8080", "IpPermissions.1.Groups.1.GroupId", web)
	// Self-references do not block deletion; references from another group do.
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Groups.1.GroupId", web)
	c.fails("DependencyViolation", "DeleteSecurityGroup", "GroupId", web)
	c.ok("DeleteSecurityGroup", "GroupId", app)
	c.ok("DeleteSecurityGroup", "GroupId", web)
	c.fails("InvalidGroup.NotFound", "DeleteSecurityGroup", "GroupId", web)
	c.fails("InvalidGroupId.Malformed", "DeleteSecurityGroup", "GroupId", "web")
	// A VPC with a subnet cannot be deleted; without it, it goes with its default group.
	subnet := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	c.fails("DependencyViolation", "DeleteVpc", "VpcId", vpc)
	c.ok("DeleteSubnet", "SubnetId", subnet)
	c.ok("DeleteVpc", "VpcId", vpc)
	c.fails("InvalidVpcID.NotFound", "DescribeVpcs", "VpcId.1", vpc)
}

func TestDescribeFiltersAndPagination(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	var all []string
	for _, n := range []string{"a1", "a2", "b1", "b2", "b3", "c1"} {
		all = append(all, field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", n, "GroupDescription", "d-"+n,
			"TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", "tier", "TagSpecification.1.Tag.1.Value", n[:1]), "groupId"))
	}
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22",
		"IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.0/24")
	c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "80",
		"IpPermissions.1.ToPort", "80", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0")
	names := func(params ...string) []string {
		return sorted(xmlFields(c.ok("DescribeSecurityGroups", params...), "groupName"))
	}
	tests := []struct {
		name   string
		params []string
		want   []string
	}{
		{"wildcard", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "b*"), []string{"b1", "b2", "b3"}},
		{"single char", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "?1"), []string{"a1", "b1", "c1"}},
		{"values OR, filters AND", kv("Filter.1.Name", "tag:tier", "Filter.1.Value.1", "a", "Filter.1.Value.2", "c",
			"Filter.2.Name", "description", "Filter.2.Value.1", "*1"), []string{"a1", "c1"}},
		{"tag-key", kv("Filter.1.Name", "tag-key", "Filter.1.Value.1", "tier", "Filter.2.Name", "group-name", "Filter.2.Value.1", "a2"), []string{"a2"}},
		// Rule filters may be satisfied by different rules (spec §11.33).
		{"rule filters across rules", kv("Filter.1.Name", "ip-permission.from-port", "Filter.1.Value.1", "22",
			"Filter.2.Name", "ip-permission.cidr", "Filter.2.Value.1", "0.0.0.0/0"), []string{"web"}},
		{"egress filter", kv("Filter.1.Name", "egress.ip-permission.protocol", "Filter.1.Value.1", "-1",
			"Filter.2.Name", "vpc-id", "Filter.2.Value.1", vpc, "Filter.3.Name", "group-name", "Filter.3.Value.1", "web", "Filter.3.Value.2", "default"), []string{"default", "web"}},
		{"wildcard cidr and port", kv("Filter.1.Name", "ip-permission.cidr", "Filter.1.Value.1", "203.0.113.*",
			"Filter.2.Name", "ip-permission.to-port", "Filter.2.Value.1", "8?"), []string{"web"}},
		{"matches nothing", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "zzz"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(tt.params...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	c.fails("InvalidParameterValue", "DescribeSecurityGroups", "Filter.1.Name", "colour", "Filter.1.Value.1", "x")
	c.fails("InvalidGroup.NotFound", "DescribeSecurityGroups", "GroupId.1", web, "GroupId.2", "sg-0123456789abcdef0")

	// Paging through everything with MaxResults 5 returns each group once.
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		params := kv("MaxResults", 5, "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc)
		if token != "" {
			params = append(params, "NextToken", token)
		}
		body := c.ok("DescribeSecurityGroups", params...)
		seen = append(seen, xmlFields(body, "securityGroupArn")...) // one per group; groupId also names rule peers
		token = field(body, "nextToken")
		if token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 8 || len(sorted(seen)) != len(slices.Compact(sorted(seen))) {
		t.Errorf("paged %d groups (%v), want 8 distinct", len(seen), seen)
	}
	c.fails("InvalidParameterValue", "DescribeSecurityGroups", "MaxResults", "4")
	c.fails("InvalidPaginationToken", "DescribeSecurityGroups", "MaxResults", "5", "NextToken", "garbage!")
}

// TestDescribeGroupsByNameOrIDFilter: a group-name or group-id filter without wildcards is
// answered from the name index or by ID instead of a look at every group, with the same
// answers as the filter gives every group: exact and case-sensitive, across VPCs, combined
// with other filters, paged.
func TestDescribeGroupsByNameOrIDFilter(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpcA, webA := vpcWithGroup(t, c, "web")
	vpcB, webB := vpcWithGroup(t, c, "Web")
	var many []string
	for i := range 7 {
		many = append(many, field(c.ok("CreateSecurityGroup", "VpcId", vpcA, "GroupName", fmt.Sprint("g", i), "GroupDescription", "d"), "groupId"))
	}
	ids := func(params ...string) []string {
		return slices.Compact(sorted(xmlFields(c.ok("DescribeSecurityGroups", params...), "groupId")))
	}
	defaults := ids("Filter.1.Name", "group-name", "Filter.1.Value.1", "*default*")
	if len(defaults) != 3 {
		t.Fatalf("%d default groups, want 3 (the default VPC's and two more)", len(defaults))
	}
	for _, tt := range []struct {
		name   string
		params []string
		want   []string
	}{
		{"name", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "web"), []string{webA}},
		{"the other case is another name", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "Web"), []string{webB}},
		{"both", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "Web", "Filter.1.Value.2", "web"), sorted([]string{webA, webB})},
		{"a case no group has", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "WEB"), nil},
		{"wildcard", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "w*"), []string{webA}},
		{"a name in every VPC", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "default"), defaults},
		{"and a VPC", kv("Filter.1.Name", "group-name", "Filter.1.Value.1", "Web", "Filter.2.Name", "vpc-id", "Filter.2.Value.1", vpcA), nil},
		{"and its VPC", kv("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpcB, "Filter.2.Name", "group-name", "Filter.2.Value.1", "Web"), []string{webB}},
		{"ID", kv("Filter.1.Name", "group-id", "Filter.1.Value.1", many[3]), []string{many[3]}},
		{"an unknown ID is no error", kv("Filter.1.Name", "group-id", "Filter.1.Value.1", "sg-0123456789abcdef0"), nil},
		{"ID and a name it does not have", kv("Filter.1.Name", "group-id", "Filter.1.Value.1", many[3], "Filter.2.Name", "group-name", "Filter.2.Value.1", "web"), nil},
	} {
		if got := ids(tt.params...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	// The literal filters are answered from the index: the candidates are the groups named,
	// not every group.
	tenant := control.Tenant{Account: c.acct.ID, Region: c.region}
	err := c.api.svc.View(context.Background(), tenant, func(v control.View) error {
		for _, tt := range []struct {
			filters []query.Filter
			want    int // candidates; -1: the filters cannot narrow
		}{
			{[]query.Filter{{Name: "group-name", Values: []string{"web"}}}, 2}, // webA and, without case, webB
			{[]query.Filter{{Name: "vpc-id", Values: []string{vpcA}}, {Name: "group-id", Values: []string{many[0], many[1]}}}, 2},
			{[]query.Filter{{Name: "group-name", Values: []string{"web", "w*"}}}, -1},
			{[]query.Filter{{Name: "vpc-id", Values: []string{vpcA}}}, -1},
		} {
			found, ok := groupsFiltered(v, tt.filters)
			got := len(found)
			if !ok {
				got = -1
			}
			if got != tt.want {
				t.Errorf("%v: %d candidates (-1: not narrowed), want %d", tt.filters, got, tt.want)
			}
			if !slices.IsSortedFunc(found, func(a, b *model.Group) int { return strings.Compare(a.ID, b.ID) }) {
				t.Errorf("%v: candidates not in ID order", tt.filters)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Seven IDs in pages of five.
	var paged []string
	token := ""
	for pages := 0; ; pages++ {
		params := kv("MaxResults", 5)
		for i, id := range many {
			params = append(params, "Filter.1.Name", "group-id", fmt.Sprintf("Filter.1.Value.%d", i+1), id)
		}
		if token != "" {
			params = append(params, "NextToken", token)
		}
		body := c.ok("DescribeSecurityGroups", params...)
		paged = append(paged, xmlFields(body, "securityGroupArn")...)
		if token = field(body, "nextToken"); token == "" {
			break
		}
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
	}
	if len(paged) != 7 || len(slices.Compact(sorted(paged))) != 7 {
		t.Errorf("paged %v, want the 7 groups once each", paged)
	}
}

// TestDescribeGroupsByRuleCIDRFilter: the rule CIDR filters with literal CIDRs, answered from
// the index of rule peers, give what the same filters read from every rule give (the value
// with a trailing wildcard, which the index cannot answer): the direction and the family
// count, a CIDR is the prefix as the rule holds it, and a value that is no CIDR matches none.
func TestDescribeGroupsByRuleCIDRFilter(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	gs := []string{web}
	for i := range 3 {
		gs = append(gs, field(c.ok("CreateSecurityGroup", "VpcId", vpc, "GroupName", fmt.Sprint("g", i), "GroupDescription", "d"), "groupId"))
	}
	rule := func(action, group, ranges, cidr string) {
		c.ok(action, "GroupId", group, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443", "IpPermissions.1.ToPort", "443",
			"IpPermissions.1."+ranges+".1."+map[string]string{"IpRanges": "CidrIp", "Ipv6Ranges": "CidrIpv6"}[ranges], cidr)
	}
	rule("AuthorizeSecurityGroupIngress", gs[0], "IpRanges", "10.0.0.0/8")
	rule("AuthorizeSecurityGroupIngress", gs[1], "IpRanges", "10.0.0.0/8")
	rule("AuthorizeSecurityGroupEgress", gs[2], "IpRanges", "192.168.0.0/16")
	rule("AuthorizeSecurityGroupIngress", gs[3], "Ipv6Ranges", "2001:db8::/32")
	ids := func(params ...string) []string {
		return sorted(xmlFields(c.ok("DescribeSecurityGroups", params...), "groupId"))
	}
	for _, tt := range []struct {
		name, filter string
		values       []string
		want         []string
	}{
		{"ingress", "ip-permission.cidr", []string{"10.0.0.0/8"}, sorted(gs[:2])},
		{"ingress only", "ip-permission.cidr", []string{"10.0.0.0/8", "192.168.0.0/16"}, sorted(gs[:2])},
		{"egress", "egress.ip-permission.cidr", []string{"192.168.0.0/16"}, gs[2:3]},
		{"IPv6", "ip-permission.ipv6-cidr", []string{"2001:db8::/32"}, gs[3:4]},
		{"an IPv6 CIDR is no cidr", "ip-permission.cidr", []string{"2001:db8::/32"}, nil},
		{"the prefix as held", "ip-permission.cidr", []string{"10.0.0.1/8"}, nil},
		{"not a CIDR", "ip-permission.cidr", []string{"10.0.0.0"}, nil},
	} {
		params := []string{"Filter.1.Name", tt.filter}
		scanned := []string{"Filter.1.Name", tt.filter}
		for i, v := range tt.values {
			params = append(params, fmt.Sprintf("Filter.1.Value.%d", i+1), v)
			scanned = append(scanned, fmt.Sprintf("Filter.1.Value.%d", i+1), v+"*")
		}
		if got := ids(params...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if tt.name != "the prefix as held" && tt.name != "not a CIDR" { // "10.0.0.1/8*" is another question
			if got := ids(scanned...); !slices.Equal(got, tt.want) {
				t.Errorf("%s, read from every rule: got %v, want %v", tt.name, got, tt.want)
			}
		}
	}
	// Every group of the VPC has the default egress rule to 0.0.0.0/0 (and the default VPC's
	// default group too): from the index as from the rules.
	all := ids("Filter.1.Name", "egress.ip-permission.cidr", "Filter.1.Value.1", "0.0.0.0/0")
	if scan := ids("Filter.1.Name", "egress.ip-permission.cidr", "Filter.1.Value.1", "0.0.0.0/?"); len(all) < len(gs)+1 || !slices.Equal(all, scan) {
		t.Errorf("egress to 0.0.0.0/0: %v, read from every rule %v", all, scan)
	}

	// The candidates are the groups with that peer, not every group.
	tenant := control.Tenant{Account: c.acct.ID, Region: c.region}
	err := c.api.svc.View(context.Background(), tenant, func(v control.View) error {
		for _, tt := range []struct {
			filters []query.Filter
			want    int // -1: not narrowed
		}{
			{[]query.Filter{{Name: "ip-permission.cidr", Values: []string{"10.0.0.0/8"}}}, 2},
			{[]query.Filter{{Name: "egress.ip-permission.ipv6-cidr", Values: []string{"2001:db8::/32"}}}, 0},
			{[]query.Filter{{Name: "ip-permission.cidr", Values: []string{"10.0.0.0"}}}, -1},
			{[]query.Filter{{Name: "ip-permission.cidr", Values: []string{"10.*"}}}, -1},
			{[]query.Filter{{Name: "ip-permission.cidr", Values: []string{"10.0.0.0"}}, {Name: "group-id", Values: []string{gs[1]}}}, 1},
		} {
			found, ok := groupsFiltered(v, tt.filters)
			if got := len(found); !ok && tt.want != -1 || ok && got != tt.want {
				t.Errorf("%v: %d candidates (narrowed %v), want %d", tt.filters, got, ok, tt.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
