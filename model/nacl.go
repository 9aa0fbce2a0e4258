package model

import (
	"net/netip"
	"slices"
)

// NACL is a network ACL: stateless, numbered allow and deny entries per direction, evaluated
// in ascending rule number with the first match deciding, ending in an immutable deny (spec §5).
type NACL struct {
	ID      string      `json:"id"`
	VpcID   string      `json:"vpc"`
	OwnerID string      `json:"owner"`
	Default bool        `json:"default,omitempty"`
	Entries []NACLEntry `json:"entries"`
	Assocs  []NACLAssoc `json:"assocs,omitempty"`
	Tags    Tags        `json:"tags,omitempty"`
}

// NACLEntry is one numbered entry. Protocol is the IANA number as a string ("-1" for all).
// Ports apply to 6 and 17, ICMP type/code to 1 and to 58 with an IPv6 CIDR.
type NACLEntry struct {
	RuleNumber int          `json:"n"`
	Egress     bool         `json:"e,omitempty"`
	Protocol   string       `json:"p"`
	Allow      bool         `json:"allow,omitempty"`
	CIDR       netip.Prefix `json:"cidr"`
	HasPorts   bool         `json:"hp,omitempty"`
	FromPort   int32        `json:"f,omitempty"`
	ToPort     int32        `json:"t,omitempty"`
	HasICMP    bool         `json:"hi,omitempty"`
	ICMPType   int32        `json:"it,omitempty"`
	ICMPCode   int32        `json:"ic,omitempty"`
}

// NACLAssoc joins a subnet to its (one) network ACL.
type NACLAssoc struct {
	ID       string `json:"id"`
	SubnetID string `json:"subnet"`
}

// The catch-all deny entries every NACL ends with; users cannot change or delete them.
const (
	NACLDenyAllIPv4 = 32767
	NACLDenyAllIPv6 = 32768
	MaxNACLRule     = 32766
)

// Clone returns a deep copy that may be modified freely.
func (n *NACL) Clone() *NACL {
	c := *n
	c.Entries = slices.Clone(n.Entries)
	c.Assocs = slices.Clone(n.Assocs)
	c.Tags = n.Tags.Clone()
	return &c
}

// Find returns the index of the entry with a rule number in a direction, or -1.
func (n *NACL) Find(egress bool, number int) int {
	return slices.IndexFunc(n.Entries, func(e NACLEntry) bool { return e.Egress == egress && e.RuleNumber == number })
}
