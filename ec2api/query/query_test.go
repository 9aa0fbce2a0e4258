package query

import (
	"net/url"
	"slices"
	"testing"
)

func parse(t *testing.T, action string, kv ...string) *Request {
	t.Helper()
	v := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	r, err := Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func code(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestValidateModelKeys(t *testing.T) {
	tests := []struct {
		action string
		kv     []string
		want   string
	}{
		{"RunInstances", []string{"ImageId", "ami-1", "MinCount", "1", "MaxCount", "1", "SecurityGroupId.1", "sg-1", "Placement.Tenancy", "dedicated", "UserData", "eA==",
			"NetworkInterface.1.SecurityGroupId.2", "sg-2", "Monitoring.Enabled", "true", "DryRun", "false", "ClientToken", "t"}, ""},
		{"RunInstances", []string{"ImageId", "ami-1", "MinCount", "1", "MaxCount", "1", "SecurityGroupIds.1", "sg-1"}, "UnknownParameter"},
		{"RunInstances", []string{"ImageId", "ami-1", "MaxCount", "1"}, "MissingParameter"},
		{"RunInstances", []string{"ImageId", "ami-1", "MinCount", "one", "MaxCount", "1"}, "InvalidParameterValue"},
		{"AuthorizeSecurityGroupIngress", []string{"GroupId", "sg-1", "IpPermissions.1.Groups.1.GroupId", "sg-2", "IpPermissions.10.IpRanges.2.CidrIp", "0.0.0.0/0",
			"TagSpecification.1.Tag.1.Key", "k"}, ""},
		{"AuthorizeSecurityGroupIngress", []string{"IpPermissions.1.UserIdGroupPairs.1.GroupId", "sg-2"}, "UnknownParameter"},
		{"AuthorizeSecurityGroupIngress", []string{"IpPermissions.0.IpProtocol", "tcp"}, "UnknownParameter"},
		{"AuthorizeSecurityGroupIngress", []string{"IpPermissions.01.IpProtocol", "tcp"}, "UnknownParameter"},
		{"CreateNetworkAclEntry", []string{"NetworkAclId", "acl-1", "RuleNumber", "100", "Protocol", "6", "RuleAction", "allow", "Egress", "false", "Icmp.Type", "8", "PortRange.From", "1"}, ""},
		{"ModifyManagedPrefixList", []string{"PrefixListId", "pl-1", "AddEntry.1.Cidr", "10.0.0.0/8", "RemoveEntry.1.Cidr", "1.0.0.0/8"}, ""},
		{"DescribeSecurityGroups", []string{"Filter.1.Name", "group-name", "Filter.1.Value.1", "x", "MaxResults", "5", "NextToken", "t", "DryRun", "maybe"}, "InvalidParameterValue"},
		{"CreateNetworkInterface", []string{"SubnetId", "s", "ConnectionTrackingSpecification.TcpEstablishedTimeout", "100"}, ""},
		{"ModifyNetworkInterfaceAttribute", []string{"NetworkInterfaceId", "eni-1", "SourceDestCheck.Value", "true"}, ""},
		{"DescribeUnicorns", nil, "InvalidAction"},
	}
	for _, tt := range tests {
		t.Run(tt.action+tt.want, func(t *testing.T) {
			if got := code(parse(t, tt.action, tt.kv...).Validate()); got != tt.want {
				t.Errorf("Validate = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := Parse(url.Values{"Version": {"2016-11-15"}}); code(err) != "MissingAction" {
		t.Errorf("no Action: %v", err)
	}
	r, _ := Parse(url.Values{"Action": {"DescribeVpcs"}})
	if code(r.Validate()) != "MissingParameter" {
		t.Error("missing Version accepted")
	}
}

func TestAccessors(t *testing.T) {
	r := parse(t, "AuthorizeSecurityGroupIngress",
		"GroupId", "sg-1",
		"IpPermissions.10.IpProtocol", "udp",
		"IpPermissions.2.IpProtocol", "tcp", "IpPermissions.2.FromPort", "22", "IpPermissions.2.ToPort", "x",
		"IpPermissions.2.IpRanges.3.CidrIp", "b", "IpPermissions.2.IpRanges.1.CidrIp", "a",
		"IpPermissions.9.IpProtocol", "icmp",
		"TagSpecification.1.Tag.1.Key", "k")
	perms := r.List("IpPermissions")
	var protos []string
	for _, p := range perms {
		v, _ := p.String("IpProtocol")
		protos = append(protos, v)
	}
	if !slices.Equal(protos, []string{"tcp", "icmp", "udp"}) {
		t.Errorf("list order by numeric index: %v", protos)
	}
	var cidrs []string
	for _, rg := range perms[0].List("IpRanges") {
		v, _ := rg.String("CidrIp")
		cidrs = append(cidrs, v)
	}
	if !slices.Equal(cidrs, []string{"a", "b"}) {
		t.Errorf("gaps tolerated, ordered: %v", cidrs)
	}
	if n, ok, err := perms[0].Int("FromPort"); n != 22 || !ok || err != nil {
		t.Errorf("Int FromPort = %d %v %v", n, ok, err)
	}
	if _, _, err := perms[0].Int("ToPort"); code(err) != "InvalidParameterValue" {
		t.Errorf("bad int: %v", err)
	}
	if _, ok, _ := perms[0].Int("Missing"); ok {
		t.Error("absent int reported present")
	}
	if !r.Has("TagSpecification") || r.Has("TagSpec") || !perms[0].Has("IpRanges") || perms[1].Has("IpRanges") {
		t.Error("Has")
	}
	f := parse(t, "DescribeVpcs", "Filter.2.Name", "b", "Filter.1.Name", "a", "Filter.1.Value.2", "y", "Filter.1.Value.1", "x")
	fs, err := f.Filters()
	if err != nil || len(fs) != 2 || fs[0].Name != "a" || !slices.Equal(fs[0].Values, []string{"x", "y"}) || len(fs[1].Values) != 0 {
		t.Errorf("Filters = %+v %v", fs, err)
	}
	if _, err := parse(t, "DescribeVpcs", "Filter.1.Value.1", "x").Filters(); err == nil {
		t.Error("filter without a name accepted")
	}
}

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web", "web", true}, {"web", "Web", false}, {"w*", "web", true}, {"*b", "web", true},
		{"*", "", true}, {"w?b", "web", true}, {"w?b", "wb", false}, {"w*b*", "wxbyy", true},
		{`w\*b`, "w*b", true}, {`w\*b`, "wxb", false}, {`a\?`, "a?", true}, {`a\\`, `a\`, true},
		{"*-*-*", "sg-a-b", true}, {"a*b*c", "abxbc", true}, {"a*b*c", "abxbd", false},
		{"?", "é", true},
	}
	for _, tt := range tests {
		if got := (Filter{Values: []string{tt.pattern}}).Match(tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0")
	f.Add("Action=RunInstances&Version=2016-11-15&NetworkInterface.1.SecurityGroupId.1=x&MinCount=1&MaxCount=1&ImageId=a")
	f.Add("Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=a&Filter.1.Value.1=*")
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, err := Parse(v)
		if err != nil {
			return
		}
		r.Validate()
		for _, l := range r.List("IpPermissions") {
			l.Int("FromPort")
			l.Strings("IpRanges")
		}
		r.Filters()
	})
}

func FuzzFilterMatch(f *testing.F) {
	f.Add("w*b?", "web1")
	f.Add(`\*\?\\`, `*?\`)
	f.Fuzz(func(t *testing.T, pattern, s string) {
		fl := Filter{Values: []string{pattern}}
		got := fl.Match(s)
		// A pattern without special characters matches exactly itself.
		if !containsAny(pattern, `*?\`) && got != (pattern == s) {
			t.Fatalf("literal pattern %q vs %q: %v", pattern, s, got)
		}
		if pattern == "*" && !got {
			t.Fatalf("* does not match %q", s)
		}
	})
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

func BenchmarkParseValidate(b *testing.B) {
	body := "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0123456789abcdef0"
	for i := 1; i <= 5; i++ {
		n := string(rune('0' + i))
		body += "&IpPermissions." + n + ".IpProtocol=tcp&IpPermissions." + n + ".FromPort=" + n + "&IpPermissions." + n + ".ToPort=" + n +
			"&IpPermissions." + n + ".IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions." + n + ".IpRanges.1.Description=x"
	}
	b.ReportAllocs()
	for b.Loop() {
		v, _ := url.ParseQuery(body)
		r, _ := Parse(v)
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
		for _, p := range r.List("IpPermissions") {
			p.String("IpProtocol")
		}
	}
}
