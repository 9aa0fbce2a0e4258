package ec2api

import (
	"testing"

	"github.com/stockade/stockade/image"
)

func TestInstanceMetadataOptions(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	run := func(params ...any) []string {
		return append(kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1, "SubnetId", sn, "SecurityGroupId.1", web), kv(params...)...)
	}
	id := field(c.ok("RunInstances", run("MetadataOptions.HttpTokens", "required", "MetadataOptions.HttpPutResponseHopLimit", 3)...), "instanceId")
	desc := func() map[string]string {
		body := c.ok("DescribeInstances", "InstanceId.1", id)
		out := map[string]string{}
		for _, f := range []string{"httpTokens", "httpPutResponseHopLimit", "httpEndpoint", "httpProtocolIpv6", "instanceMetadataTags"} {
			out[f] = field(body, f)
		}
		return out
	}
	want := map[string]string{"httpTokens": "required", "httpPutResponseHopLimit": "3", "httpEndpoint": "enabled",
		"httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"}
	check := func(when string) {
		t.Helper()
		got := desc()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", when, k, got[k], v)
			}
		}
	}
	check("launched")

	for _, tt := range []struct {
		name, code string
		params     []string
	}{
		{"run: tokens", "InvalidParameterValue", run("MetadataOptions.HttpTokens", "sometimes")},
		{"run: hop limit 0", "InvalidParameterValue", run("MetadataOptions.HttpPutResponseHopLimit", 0)},
		{"run: hop limit 65", "InvalidParameterValue", run("MetadataOptions.HttpPutResponseHopLimit", 65)},
		{"run: hop limit not a number", "InvalidParameterValue", run("MetadataOptions.HttpPutResponseHopLimit", "two")},
		{"run: endpoint", "InvalidParameterValue", run("MetadataOptions.HttpEndpoint", "true")},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "RunInstances", tt.params...) })
	}
	for _, tt := range []struct {
		name, code string
		params     []string
	}{
		{"no instance", "MissingParameter", kv("HttpTokens", "optional")},
		{"malformed instance", "InvalidInstanceID.Malformed", kv("InstanceId", "i-12g", "HttpTokens", "optional")},
		{"unknown instance", "InvalidInstanceID.NotFound", kv("InstanceId", "i-0123456789abcdef0", "HttpTokens", "optional")},
		{"nothing to change", "InvalidParameterCombination", kv("InstanceId", id)},
		{"tokens", "InvalidParameterValue", kv("InstanceId", id, "HttpTokens", "REQUIRED")},
		{"hop limit 0", "InvalidParameterValue", kv("InstanceId", id, "HttpPutResponseHopLimit", 0)},
		{"hop limit 65", "InvalidParameterValue", kv("InstanceId", id, "HttpPutResponseHopLimit", 65)},
		{"ipv6", "InvalidParameterValue", kv("InstanceId", id, "HttpProtocolIpv6", "on")},
		{"tags", "InvalidParameterValue", kv("InstanceId", id, "InstanceMetadataTags", "1")},
		{"disabled and another", "InvalidParameterCombination", kv("InstanceId", id, "HttpEndpoint", "disabled", "HttpTokens", "optional")},
		{"unknown parameter", "UnknownParameter", kv("InstanceId", id, "HttpTokens", "optional", "Tokens", "x")},
		{"dry run", "DryRunOperation", kv("InstanceId", id, "HttpTokens", "optional", "DryRun", "true")},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "ModifyInstanceMetadataOptions", tt.params...) })
	}
	check("after the refused requests")

	reply := c.ok("ModifyInstanceMetadataOptions", "InstanceId", id, "HttpEndpoint", "disabled")
	if field(reply, "instanceId") != id || field(reply, "state") != "applied" || field(reply, "httpEndpoint") != "disabled" ||
		field(reply, "httpTokens") != "required" {
		t.Errorf("reply: %s", reply)
	}
	want["httpEndpoint"] = "disabled"
	check("after disabling the endpoint")
	c.ok("ModifyInstanceMetadataOptions", "InstanceId", id, "HttpEndpoint", "enabled", "HttpTokens", "optional", "HttpPutResponseHopLimit", "1",
		"InstanceMetadataTags", "enabled")
	want["httpEndpoint"], want["httpTokens"], want["httpPutResponseHopLimit"], want["instanceMetadataTags"] = "enabled", "optional", "1", "enabled"
	check("after enabling it again")
}
