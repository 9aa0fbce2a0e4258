package model

import (
	"fmt"
	"strings"
)

// Rule is one security-group rule: one direction, one protocol with its port range or ICMP
// type/code, and exactly one peer. Each peer of an IpPermission becomes its own Rule with its
// own sgr- ID (spec §3.1); describes regroup them.
type Rule struct {
	ID       string `json:"id"`
	Egress   bool   `json:"e,omitempty"`
	Protocol string `json:"p"`
	// FromPort/ToPort are the port range for tcp/udp, the ICMP type/code (-1 = any) for icmp
	// and icmpv6, and -1/-1 for every other protocol.
	FromPort    int32  `json:"f"`
	ToPort      int32  `json:"t"`
	Peer        Peer   `json:"peer"`
	Description string `json:"d,omitempty"`
	Tags        Tags   `json:"tags,omitempty"`
}

// Identity is what makes two rules of one group the same rule: direction, protocol, ports and
// peer. The description is not part of it (spec §3.1, §11.5).
type Identity struct {
	Egress   bool
	Protocol string
	FromPort int32
	ToPort   int32
	Peer     string
}

// Identity returns the rule's identity.
func (r *Rule) Identity() Identity {
	return Identity{r.Egress, r.Protocol, r.FromPort, r.ToPort, r.Peer.Key()}
}

// Family reports which quota buckets the rule is charged to (spec §4): a CIDR rule counts in its
// family's bucket, a group reference in both. Prefix lists are charged by the caller, which
// knows the list's family and MaxEntries.
func (r *Rule) Family() (v4, v6 bool) {
	switch {
	case r.Peer.CIDR.IsValid():
		return !r.Peer.IsIPv6(), r.Peer.IsIPv6()
	case r.Peer.GroupID != "":
		return true, true
	}
	return false, false
}

// String renders the rule the way EC2 names it in InvalidPermission.Duplicate messages:
// `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`.
func (r *Rule) String() string {
	proto := strings.ToUpper(r.Protocol)
	if r.Protocol == ProtoAll {
		proto = "ALL"
	}
	if HasPorts(r.Protocol) {
		return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", r.Peer.Key(), proto, r.FromPort, r.ToPort)
	}
	return fmt.Sprintf("peer: %s, %s, ALLOW", r.Peer.Key(), proto)
}
