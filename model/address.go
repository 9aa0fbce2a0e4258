package model

import (
	"net/netip"
	"time"
)

// Address is an Elastic IP address: a public IPv4 address from the server's public pool,
// allocated to one account in one region until released (EC2 API "AllocateAddress"). It is
// associated with at most one private IPv4 address of one network interface at a time; the
// instance it shows is that interface's, read when it is shown, so that an interface moving
// between instances never leaves a stale instance ID here.
type Address struct {
	AllocationID string     `json:"id"`
	PublicIP     netip.Addr `json:"ip"`
	OwnerID      string     `json:"owner"`
	// Domain is always "vpc": EC2-Classic is retired.
	Domain string `json:"domain"`
	// AssociationID, ENIID and PrivateIP are set together while the address is associated.
	AssociationID string     `json:"assoc,omitempty"`
	ENIID         string     `json:"eni,omitempty"`
	PrivateIP     netip.Addr `json:"private,omitzero"`
	Tags          Tags       `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (a *Address) Clone() *Address { c := *a; c.Tags = a.Tags.Clone(); return &c }

// Associated reports whether the address is associated with an interface.
func (a *Address) Associated() bool { return a.AssociationID != "" }

// NAT gateway connectivity types and states (EC2 API "NatGateway").
const (
	NATPublic  = "public"
	NATPrivate = "private"

	NATPending   = "pending"
	NATAvailable = "available"
	NATDeleting  = "deleting"
	NATDeleted   = "deleted"
	NATFailed    = "failed"
)

// NATGateway is a NAT gateway in one subnet. It owns a requester-managed network interface
// (ENIID) with a private address of the subnet; a public one also holds an Elastic IP
// (AllocationID, associated with that interface as AssociationID). A deleted or failed
// gateway keeps its record, without interface or address, and stays visible for an hour
// (NATGatewayVisibleFor), as on EC2.
type NATGateway struct {
	ID               string     `json:"id"`
	SubnetID         string     `json:"subnet"`
	VpcID            string     `json:"vpc"`
	OwnerID          string     `json:"owner"`
	ConnectivityType string     `json:"type"`
	State            string     `json:"state"`
	CreateTime       time.Time  `json:"created"`
	DeleteTime       time.Time  `json:"deleted,omitzero"`
	FailureCode      string     `json:"failCode,omitempty"`
	FailureMessage   string     `json:"failMsg,omitempty"`
	ENIID            string     `json:"eni,omitempty"`
	PrivateIP        netip.Addr `json:"private,omitzero"`
	AllocationID     string     `json:"alloc,omitempty"`
	AssociationID    string     `json:"assoc,omitempty"`
	PublicIP         netip.Addr `json:"public,omitzero"`
	Tags             Tags       `json:"tags,omitempty"`
	// Node is the Stockade host the gateway runs on (cluster.Host's name, chosen when it was
	// created); "" when no host was registered then (control/placement.go).
	Node string `json:"node,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (g *NATGateway) Clone() *NATGateway { c := *g; c.Tags = g.Tags.Clone(); return &c }

// Gone reports whether the gateway was deleted or failed: it is shown, but routes through it
// are blackholes and it holds no address.
func (g *NATGateway) Gone() bool { return g.State == NATDeleted || g.State == NATFailed }

// NATGatewayVisibleFor is how long EC2 keeps showing a deleted or failed NAT gateway
// ("approximately an hour", Amazon VPC user guide, "Delete a NAT gateway").
const NATGatewayVisibleFor = time.Hour
