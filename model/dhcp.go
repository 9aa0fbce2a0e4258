package model

import "slices"

// DhcpOptions is a DHCP option set: what a VPC's instances are told by DHCP (domain name,
// name and time servers). Each region of an account has a default set, which new VPCs use;
// a VPC may use another set or none ("default" as its DhcpOptionsID).
type DhcpOptions struct {
	ID      string       `json:"id"`
	OwnerID string       `json:"owner"`
	Config  []DhcpConfig `json:"config"` // sorted by key
	// Default marks the region's default set (domain-name and AmazonProvidedDNS).
	Default bool `json:"default,omitempty"`
	Tags    Tags `json:"tags,omitempty"`
}

// DhcpConfig is one option of a set with its values in the order given.
type DhcpConfig struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// Clone returns a copy that may be modified freely.
func (d *DhcpOptions) Clone() *DhcpOptions {
	c := *d
	c.Tags = d.Tags.Clone()
	c.Config = slices.Clone(d.Config)
	for i := range c.Config {
		c.Config[i].Values = slices.Clone(c.Config[i].Values)
	}
	return &c
}

// NoDhcpOptions is the DhcpOptionsId of a VPC that uses no option set.
const NoDhcpOptions = "default"
