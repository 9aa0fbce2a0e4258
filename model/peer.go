package model

import (
	"net/netip"
	"strings"
)

// Peer is the one other end of a security-group rule: exactly one of an IPv4 or IPv6 CIDR
// (canonical, host bits zero), a managed prefix list, or a security group (spec §2.2, §3.4).
// The zero Peer is invalid.
type Peer struct {
	CIDR         netip.Prefix `json:"c,omitzero"`
	PrefixListID string       `json:"pl,omitempty"`
	GroupID      string       `json:"g,omitempty"`
	// UserID is the account that owns GroupID (EC2's userId in a UserIdGroupPair).
	UserID string `json:"u,omitempty"`
	// VpcID is the VPC of the referenced group, reported in referencedGroupInfo.
	VpcID string `json:"v,omitempty"`
}

// Key is the peer's identity for duplicate detection and property matching: the canonical
// CIDR, the prefix-list ID or the group ID.
func (p Peer) Key() string {
	switch {
	case p.CIDR.IsValid():
		return p.CIDR.String()
	case p.PrefixListID != "":
		return p.PrefixListID
	default:
		return p.GroupID
	}
}

// IsIPv6 reports whether the peer is an IPv6 CIDR.
func (p Peer) IsIPv6() bool { return p.CIDR.IsValid() && p.CIDR.Addr().Is6() }

// ParseCIDR parses an IPv4 (want6 false) or IPv6 CIDR and canonicalises it by zeroing host bits
// (spec §3.4: 100.68.0.18/18 is stored as 100.68.0.0/18). field names the request field in errors.
func ParseCIDR(s string, want6 bool, field string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return netip.Prefix{}, InvalidValue("Value (%s) for parameter %s is invalid. This is not a valid CIDR block.", s, field)
	}
	if p.Addr().Is6() != want6 {
		fam := "IPv4"
		if want6 {
			fam = "IPv6"
		}
		return netip.Prefix{}, InvalidValue("Value (%s) for parameter %s is invalid. It must be an %s CIDR block.", s, field, fam)
	}
	return p.Masked(), nil
}
