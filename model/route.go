package model

import (
	"net/netip"
	"slices"
)

// RouteTable is a VPC route table: the routes that decide the next hop of traffic leaving its
// associated subnets (or, for an edge association, arriving through its gateway). Every VPC
// has exactly one main table, which subnets without an explicit association use.
type RouteTable struct {
	ID      string            `json:"id"`
	VpcID   string            `json:"vpc"`
	OwnerID string            `json:"owner"`
	Routes  []Route           `json:"routes"`
	Assocs  []RouteTableAssoc `json:"assocs,omitempty"`
	Tags    Tags              `json:"tags,omitempty"`
}

// Route is one route. Exactly one destination (Dest, or DestPrefixList) and exactly one
// target is set. Whether a route is active or a blackhole is not stored: it follows from
// whether its target still exists (and, for an internet gateway, is still attached to the
// table's VPC), so it changes when the target does without a write to the table.
type Route struct {
	Dest           netip.Prefix `json:"dst,omitzero"`
	DestPrefixList string       `json:"dstPl,omitempty"`
	Target         RouteTarget  `json:"target"`
	// Origin is CreateRouteTable for the routes a table is born with (local, and the default
	// VPC's route to its internet gateway) and CreateRoute for the user's.
	Origin string `json:"origin"`
}

// RouteTarget is where a route sends traffic: one field is set. Local is the VPC itself
// (EC2 shows it as gatewayId "local"). A route created with InstanceId keeps the instance
// and the primary interface it resolved to, as EC2 shows both.
type RouteTarget struct {
	Local              bool   `json:"local,omitempty"`
	GatewayID          string `json:"igw,omitempty"`
	EgressOnlyIGWID    string `json:"eigw,omitempty"`
	NatGatewayID       string `json:"nat,omitempty"`
	NetworkInterfaceID string `json:"eni,omitempty"`
	InstanceID         string `json:"instance,omitempty"`
}

// Route origins as EC2 names them.
const (
	OriginCreateRouteTable = "CreateRouteTable"
	OriginCreateRoute      = "CreateRoute"
)

// Route states as EC2 names them.
const (
	RouteActive    = "active"
	RouteBlackhole = "blackhole"
)

// RouteTableAssoc is one association of a table: the VPC's main association (Main), a
// subnet's, or a gateway's (an edge association).
type RouteTableAssoc struct {
	ID        string `json:"id"`
	Main      bool   `json:"main,omitempty"`
	SubnetID  string `json:"subnet,omitempty"`
	GatewayID string `json:"gw,omitempty"`
}

// Clone returns a deep copy that may be modified freely.
func (t *RouteTable) Clone() *RouteTable {
	c := *t
	c.Routes = slices.Clone(t.Routes)
	c.Assocs = slices.Clone(t.Assocs)
	c.Tags = t.Tags.Clone()
	return &c
}

// IsMain reports whether the table is its VPC's main route table.
func (t *RouteTable) IsMain() bool {
	return slices.ContainsFunc(t.Assocs, func(a RouteTableAssoc) bool { return a.Main })
}

// FindRoute returns the index of the route to a CIDR or prefix-list destination, or -1.
func (t *RouteTable) FindRoute(dest netip.Prefix, prefixList string) int {
	return slices.IndexFunc(t.Routes, func(r Route) bool {
		if prefixList != "" {
			return r.DestPrefixList == prefixList
		}
		return r.DestPrefixList == "" && r.Dest == dest
	})
}

// InternetGateway is an internet gateway; VpcID is the VPC it is attached to, "" when detached.
type InternetGateway struct {
	ID      string `json:"id"`
	OwnerID string `json:"owner"`
	VpcID   string `json:"vpc,omitempty"`
	Tags    Tags   `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (g *InternetGateway) Clone() *InternetGateway { c := *g; c.Tags = g.Tags.Clone(); return &c }

// EgressOnlyIGW is an egress-only internet gateway: outbound-only IPv6, bound to one VPC
// for its whole life.
type EgressOnlyIGW struct {
	ID    string `json:"id"`
	VpcID string `json:"vpc"`
	Tags  Tags   `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (g *EgressOnlyIGW) Clone() *EgressOnlyIGW { c := *g; c.Tags = g.Tags.Clone(); return &c }
