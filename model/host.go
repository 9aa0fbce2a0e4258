package model

import (
	"slices"
	"strings"
	"time"
)

// PrefixHost is a Dedicated Host's ID prefix (h-0123456789abcdef0).
const PrefixHost = "h"

// Dedicated Host states (DescribeHosts' state). Stockade's hosts are allocated at once, so a
// host is available from AllocateHosts until ReleaseHosts and released after.
const (
	HostAvailable = "available"
	HostReleased  = "released"
)

// Tenancies of an instance (Placement.Tenancy) and affinities (Placement.Affinity).
const (
	TenancyDefault   = "default"
	TenancyDedicated = "dedicated"
	TenancyHost      = "host"
	AffinityDefault  = "default"
	AffinityHost     = "host"
)

// DedicatedHost is one Dedicated Host of an account (AllocateHosts): a whole Stockade host
// (Node) allocated to the account, running only its host-tenancy instances.
type DedicatedHost struct {
	ID      string `json:"id"`
	OwnerID string `json:"owner"`
	AZ      string `json:"az"`
	// Node is the Stockade host (cluster.Host's name) the Dedicated Host is. It is internal:
	// EC2 shows no physical server's name.
	Node string `json:"node"`
	// InstanceType or InstanceFamily: what the host accepts (one of them is set).
	InstanceType   string `json:"type,omitempty"`
	InstanceFamily string `json:"family,omitempty"`
	AutoPlacement  bool   `json:"autoPlacement,omitempty"`
	HostRecovery   bool   `json:"recovery,omitempty"`
	// VCPUs and MemoryMiB are the node's capacity when it was allocated.
	VCPUs          int       `json:"vcpus"`
	MemoryMiB      int64     `json:"memoryMiB"`
	State          string    `json:"state"`
	AllocationTime time.Time `json:"allocated"`
	ReleaseTime    time.Time `json:"released,omitzero"`
	ClientToken    string    `json:"clientToken,omitempty"`
	Tags           Tags      `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (h *DedicatedHost) Clone() *DedicatedHost { c := *h; c.Tags = h.Tags.Clone(); return &c }

// Accepts reports whether the host may run an instance of type t: the type it was allocated
// for, or any type of its family.
func (h *DedicatedHost) Accepts(t string) bool {
	if h.InstanceType != "" {
		return t == h.InstanceType
	}
	return InstanceFamily(t) == h.InstanceFamily
}

// InstanceFamily is the family of an instance type: "m5" for "m5.large".
func InstanceFamily(t string) string {
	family, _, _ := strings.Cut(t, ".")
	return family
}

// KnownFamily reports whether Stockade has a type of family f.
func KnownFamily(f string) bool {
	return slices.ContainsFunc(InstanceTypes(), func(t InstanceType) bool { return InstanceFamily(t.Name) == f })
}
