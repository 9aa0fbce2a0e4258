package model

import (
	"net/netip"
	"slices"
	"time"
)

// PrefixList is a managed prefix list: a named, versioned set of CIDRs of one address family,
// usable as a security-group rule peer (spec §6). Entry changes create a new version; renaming
// and resizing do not. A list owned by AWSOwner is AWS-managed: read-only, the same in every
// account of a region, and charged to the rule quota by its Weight instead of MaxEntries.
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
	// Weight is what a reference to an AWS-managed list costs in the rule quota (AWS publishes
	// one per list); zero for customer-managed lists, which cost their MaxEntries.
	Weight int `json:"weight,omitempty"`
}

// AWSOwner is the OwnerId of AWS-managed prefix lists.
const AWSOwner = "AWS"

// AWSManaged reports whether AWS owns the list (it is then read-only to every account).
func (p *PrefixList) AWSManaged() bool { return p.OwnerID == AWSOwner }

// RuleCost is what one rule referencing the list counts in its family's rule bucket: the
// published weight of an AWS-managed list, the MaxEntries of a customer-managed one (spec §4).
func (p *PrefixList) RuleCost() int {
	if p.AWSManaged() {
		return p.Weight
	}
	return p.MaxEntries
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
