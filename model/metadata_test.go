package model

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadataOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		o    MetadataOptions
		bad  string // the parameter the error names; "" = valid
	}{
		{"unset", MetadataOptions{}, ""},
		{"all set", MetadataOptions{"required", 64, "disabled", "enabled", "enabled"}, ""},
		{"hop limit 1", MetadataOptions{HttpPutResponseHopLimit: 1}, ""},
		{"hop limit 65", MetadataOptions{HttpPutResponseHopLimit: 65}, "HttpPutResponseHopLimit"},
		{"hop limit negative", MetadataOptions{HttpPutResponseHopLimit: -1}, "HttpPutResponseHopLimit"},
		{"tokens", MetadataOptions{HttpTokens: "Required"}, "HttpTokens"},
		{"endpoint", MetadataOptions{HttpEndpoint: "on"}, "HttpEndpoint"},
		{"ipv6", MetadataOptions{HttpProtocolIpv6: "yes"}, "HttpProtocolIpv6"},
		{"tags", MetadataOptions{InstanceMetadataTags: "true"}, "InstanceMetadataTags"},
	} {
		err := c.o.Validate()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.HasPrefix(err.Error(), "InvalidParameterValue") || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: %v, want InvalidParameterValue naming %s", c.name, err, c.bad)
		}
	}
}

// An instance stored before metadata options existed reads as EC2's defaults.
func TestMetadataOptionsOfOldRecords(t *testing.T) {
	var in Instance
	if err := json.Unmarshal([]byte(`{"id":"i-0123456789abcdef0","state":{"code":16,"name":"running"}}`), &in); err != nil {
		t.Fatal(err)
	}
	want := MetadataOptions{"optional", 1, "enabled", "disabled", "disabled"}
	if d := cmp.Diff(want, in.MetadataOptions.WithDefaults()); d != "" {
		t.Error(d)
	}
	merged := want.Merge(MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2})
	if d := cmp.Diff(MetadataOptions{"required", 2, "enabled", "disabled", "disabled"}, merged); d != "" {
		t.Error(d)
	}
}
