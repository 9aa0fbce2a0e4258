package model

import (
	"net/netip"
	"strings"
)

// MetadataOptions are an instance's instance-metadata-service (IMDS) options, as
// RunInstances' MetadataOptions and ModifyInstanceMetadataOptions set them (EC2 guide
// "configuring-instance-metadata-options"). An empty field means EC2's default; read them
// through WithDefaults, so that instances stored before the options existed read as
// optional tokens, hop limit 1, endpoint enabled.
type MetadataOptions struct {
	// HttpTokens is "optional" (IMDSv1 and v2) or "required" (v2 only: a GET without a
	// session token is answered 401).
	HttpTokens string `json:"tokens,omitempty"`
	// HttpPutResponseHopLimit is the IP TTL of the token response, 1..64: with 1, a container
	// or nested namespace behind the instance (one more hop) never receives a token.
	HttpPutResponseHopLimit int `json:"hops,omitempty"`
	// HttpEndpoint is "enabled" or "disabled".
	HttpEndpoint string `json:"endpoint,omitempty"`
	// HttpProtocolIpv6 is "enabled" or "disabled" (the IPv6 endpoint fd00:ec2::254).
	HttpProtocolIpv6 string `json:"ipv6,omitempty"`
	// InstanceMetadataTags is "enabled" or "disabled": whether tags/instance/ is served.
	InstanceMetadataTags string `json:"tags,omitempty"`
}

// MetadataOptions' values.
const (
	TokensOptional  = "optional"
	TokensRequired  = "required"
	Enabled         = "enabled"
	Disabled        = "disabled"
	MaxHopLimit     = 64
	DefaultHopLimit = 1
)

// WithDefaults fills every unset option with EC2's API default: optional tokens, hop limit 1,
// endpoint enabled, IPv6 endpoint and tags disabled.
func (o MetadataOptions) WithDefaults() MetadataOptions {
	if o.HttpTokens == "" {
		o.HttpTokens = TokensOptional
	}
	if o.HttpPutResponseHopLimit == 0 {
		o.HttpPutResponseHopLimit = DefaultHopLimit
	}
	if o.HttpEndpoint == "" {
		o.HttpEndpoint = Enabled
	}
	if o.HttpProtocolIpv6 == "" {
		o.HttpProtocolIpv6 = Disabled
	}
	if o.InstanceMetadataTags == "" {
		o.InstanceMetadataTags = Disabled
	}
	return o
}

// Validate checks the options that are set (empty strings and a zero hop limit are unset).
// EC2's wording for these errors is not documented; the code is EC2's.
func (o MetadataOptions) Validate() error {
	if err := oneOf("HttpTokens", o.HttpTokens, TokensOptional, TokensRequired); err != nil {
		return err
	}
	if o.HttpPutResponseHopLimit != 0 && (o.HttpPutResponseHopLimit < 1 || o.HttpPutResponseHopLimit > MaxHopLimit) {
		return InvalidValue("Invalid value '%d' for HttpPutResponseHopLimit. It must be between 1 and %d.", o.HttpPutResponseHopLimit, MaxHopLimit)
	}
	for _, f := range []struct{ name, v string }{
		{"HttpEndpoint", o.HttpEndpoint}, {"HttpProtocolIpv6", o.HttpProtocolIpv6}, {"InstanceMetadataTags", o.InstanceMetadataTags},
	} {
		if err := oneOf(f.name, f.v, Enabled, Disabled); err != nil {
			return err
		}
	}
	return nil
}

// Merge returns o with every option that c sets replacing o's.
func (o MetadataOptions) Merge(c MetadataOptions) MetadataOptions {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.HttpTokens, c.HttpTokens)
	set(&o.HttpEndpoint, c.HttpEndpoint)
	set(&o.HttpProtocolIpv6, c.HttpProtocolIpv6)
	set(&o.InstanceMetadataTags, c.InstanceMetadataTags)
	if c.HttpPutResponseHopLimit != 0 {
		o.HttpPutResponseHopLimit = c.HttpPutResponseHopLimit
	}
	return o
}

func oneOf(name, v string, valid ...string) error {
	if v == "" {
		return nil
	}
	for _, ok := range valid {
		if v == ok {
			return nil
		}
	}
	return InvalidValue("Invalid value '%.64s' for %s. Valid values: %s.", v, name, strings.Join(valid, ", "))
}

// PrivateDNSName is the IP-based private DNS name EC2 gives an address: ip-10-0-1-5.ec2.internal
// in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere. It is also the instance's
// hostname (the metadata service's hostname and local-hostname).
func PrivateDNSName(region string, ip netip.Addr) string {
	return "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + privateDomain(region)
}

// privateDomain is the suffix of a region's private DNS names.
func privateDomain(region string) string {
	if region == "us-east-1" {
		return ".ec2.internal"
	}
	return "." + region + ".compute.internal"
}

// ResourceDNSName is an instance's resource-based name (hostname type "resource-name"), the
// only kind an instance in an IPv6-only subnet has: its ID under the region's private domain,
// i-0123456789abcdef0.ec2.internal in us-east-1 ("Amazon EC2 instance hostname types").
func ResourceDNSName(region, instanceID string) string { return instanceID + privateDomain(region) }
