package model

import (
	"net/netip"
	"time"
)

// InsightsPath is a Network Insights path: the question a reachability analysis answers,
// "can Source reach Destination over Protocol to DestinationPort?". Source and Destination are
// interface or instance IDs, or one of them an internet gateway (igw-…); SourceIP and DestinationIP pick an address of them, or stand for
// an address outside the VPC when Destination is empty. It is immutable once created.
type InsightsPath struct {
	ID            string     `json:"id"`
	Source        string     `json:"src"`
	Destination   string     `json:"dst,omitempty"`
	SourceIP      netip.Addr `json:"srcIp,omitzero"`
	DestinationIP netip.Addr `json:"dstIp,omitzero"`
	Protocol      string     `json:"proto"` // tcp or udp
	// DestinationPort is the port asked about; without one (HasPort false) the analysis asks
	// whether any port is reachable.
	DestinationPort int32     `json:"port,omitempty"`
	HasPort         bool      `json:"hasPort,omitempty"`
	Created         time.Time `json:"created"`
	Tags            Tags      `json:"tags,omitempty"`
}

// InsightsAnalysis is one run of the analyser over a path, with its result as of the revision
// it ran at. Stockade completes analyses before StartNetworkInsightsAnalysis returns.
type InsightsAnalysis struct {
	ID            string                `json:"id"`
	PathID        string                `json:"path"`
	Started       time.Time             `json:"started"`
	Status        string                `json:"status"` // succeeded or failed
	StatusMessage string                `json:"statusMessage,omitempty"`
	PathFound     bool                  `json:"found"`
	Explanations  []InsightsExplanation `json:"explanations,omitempty"`
	Forward       []InsightsHop         `json:"forward,omitempty"`
	Return        []InsightsHop         `json:"return,omitempty"`
	Tags          Tags                  `json:"tags,omitempty"`
}

// InsightsExplanation is why a path is not reachable, with Reachability Analyzer's code.
type InsightsExplanation struct {
	Code             string           `json:"code"`
	Direction        string           `json:"direction,omitempty"`
	NetworkInterface string           `json:"eni,omitempty"`
	SecurityGroups   []string         `json:"groups,omitempty"`
	ACL              string           `json:"acl,omitempty"`
	ACLRule          *InsightsACLRule `json:"aclRule,omitempty"`
	Subnet           string           `json:"subnet,omitempty"`
	VPC              string           `json:"vpc,omitempty"`
	// RouteTable, Route and InternetGateway are set for a routing blocker: the table that
	// decides, its route (nil for no route) and the VPC's or the path's internet gateway.
	RouteTable      string         `json:"rtb,omitempty"`
	Route           *InsightsRoute `json:"route,omitempty"`
	InternetGateway string         `json:"igw,omitempty"`
}

// InsightsRoute is a route as an analysis shows it: its destination (a CIDR or a prefix-list
// ID) and its target's ID ("local" for the VPC's own route).
type InsightsRoute struct {
	Destination string `json:"dst"`
	Target      string `json:"target"`
	State       string `json:"state,omitempty"`
}

// InsightsHop is one component a path crosses: an interface with the security-group rule that
// admitted the traffic, or a network ACL with the entry that decided.
type InsightsHop struct {
	Component string           `json:"component"`
	SGRule    *InsightsSGRule  `json:"sgRule,omitempty"`
	ACLRule   *InsightsACLRule `json:"aclRule,omitempty"`
	Subnet    string           `json:"subnet,omitempty"`
	VPC       string           `json:"vpc,omitempty"`
	// Route is the route of a route-table component (Component rtb-…).
	Route *InsightsRoute `json:"route,omitempty"`
}

// InsightsSGRule is a security-group rule as an analysis shows it.
type InsightsSGRule struct {
	GroupID      string `json:"group"`
	Direction    string `json:"direction"`
	Protocol     string `json:"proto"`
	CIDR         string `json:"cidr,omitempty"`
	PrefixListID string `json:"pl,omitempty"`
	PeerGroupID  string `json:"peer,omitempty"`
	HasPorts     bool   `json:"hp,omitempty"`
	FromPort     int32  `json:"from,omitempty"`
	ToPort       int32  `json:"to,omitempty"`
}

// InsightsACLRule is a network ACL entry as an analysis shows it.
type InsightsACLRule struct {
	Number   int    `json:"n"`
	Egress   bool   `json:"egress,omitempty"`
	Protocol string `json:"proto"`
	Action   string `json:"action"` // allow or deny
	CIDR     string `json:"cidr"`
	HasPorts bool   `json:"hp,omitempty"`
	FromPort int32  `json:"from,omitempty"`
	ToPort   int32  `json:"to,omitempty"`
}
