package model

import (
	"net/netip"
	"slices"
	"time"
)

// PrefixList is a customer-managed prefix list: a named, versioned set of CIDRs of one address
// family, usable as a security-group rule peer (spec §6). Entry changes create a new version;
// renaming and resizing do not.
type PrefixList struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	OwnerID    string    `json:"owner"`
	IPv6       bool      `json:"ipv6,omitempty"`
	MaxEntries int       `json:"max"`
	Version    int64     `json:"version"`
	Entries    []PLEntry `json:"entries,omitempty"`
	// Versions are the entry sets of earlier versions, oldest first, for TargetVersion reads.
	Versions []PLVersion `json:"versions,omitempty"`
	Created  time.Time   `json:"created"`
	// State is create-complete or modify-complete: operations finish before the reply.
	State string `json:"state"`
	Tags  Tags   `json:"tags,omitempty"`
}

// PLEntry is one CIDR of a prefix list.
type PLEntry struct {
	CIDR        netip.Prefix `json:"cidr"`
	Description string       `json:"desc,omitempty"`
}

// PLVersion is an earlier version's entries.
type PLVersion struct {
	Version int64     `json:"v"`
	Entries []PLEntry `json:"entries,omitempty"`
}

// MaxPrefixListVersions is how many versions AWS keeps; older ones are dropped silently.
const MaxPrefixListVersions = 1000

// Family is "IPv4" or "IPv6", as the API names it.
func (p *PrefixList) Family() string {
	if p.IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Clone returns a deep copy that may be modified freely.
func (p *PrefixList) Clone() *PrefixList {
	c := *p
	c.Entries = slices.Clone(p.Entries)
	c.Versions = slices.Clone(p.Versions)
	c.Tags = p.Tags.Clone()
	return &c
}

// EntriesAt returns the entries of a version, or false when it is not kept.
func (p *PrefixList) EntriesAt(v int64) ([]PLEntry, bool) {
	if v == p.Version {
		return p.Entries, true
	}
	for _, old := range p.Versions {
		if old.Version == v {
			return old.Entries, true
		}
	}
	return nil, false
}
