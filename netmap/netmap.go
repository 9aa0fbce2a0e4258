// Package netmap holds one account's network as every consumer of it sees it: the policy
// compiler, the reachability analyser, the data plane, the host reconciler, the admin API and
// the offline snapshot loader. It holds types only, and imports nothing of ours but model, so
// that a package needing the data does not have to import the package that computes on it
// (the data plane does not import the compiler, the admin API neither, a per-host agent not the
// control service).
//
// Every object a Snapshot points to is immutable: the control service replaces objects on
// change (copy on write), so a Snapshot stays valid after the call that produced it.
package netmap

import "github.com/stockade/stockade/model"

// Tenant names one account in one region: the unit of isolation. Resources of one tenant are
// invisible to every other.
type Tenant struct {
	Account string
	Region  string
}

// Snapshot is one account's resources in one region at one revision: what a policy is
// compiled from and what a VPC router's ruleset is rendered from. Slices are sorted by ID.
// A snapshot from the control plane shares its slices and objects with the snapshots before
// and after it: both are read-only, and a change is made on a copy (as flows.undo does).
type Snapshot struct {
	VPCs        []*model.VPC
	Subnets     []*model.Subnet
	ENIs        []*model.NetworkInterface
	Groups      []*model.Group
	PrefixLists []*model.PrefixList
	NACLs       []*model.NACL
	// Addresses are the Elastic IPs, associated or not; NATGateways include deleted and failed
	// ones for the hour EC2 shows them (they hold no interface or address then). An
	// interface's launch-time public address is on the interface (PublicIP).
	Addresses   []*model.Address    `json:",omitempty"`
	NATGateways []*model.NATGateway `json:",omitempty"`
	// RouteTables are every VPC's route tables, the main one (IsMain) included; a subnet
	// without an explicit association uses its VPC's main table. A route is a blackhole when
	// its target is gone: an internet gateway missing from IGWs or attached to another VPC,
	// an egress-only gateway missing from EgressIGWs, an interface missing from ENIs, an
	// instance target whose instance is stopped (Halted) or terminated, or a NAT gateway that
	// is not available.
	RouteTables []*model.RouteTable
	IGWs        []*model.InternetGateway
	EgressIGWs  []*model.EgressOnlyIGW
	// Halted are the instances (by ID) that are stopping or stopped: they keep their
	// interfaces and forward nothing, so a route to one is a blackhole until it starts.
	Halted map[string]bool `json:",omitempty"`
	// FlowLogs are the account's flow-log definitions in the region: the host records the
	// traffic of the interfaces they cover.
	FlowLogs []*model.FlowLog `json:",omitempty"`
}

// Network is one tenant's network and instances, as the host reconciler sees them.
type Network struct {
	Tenant Tenant
	Snapshot
	Instances []*model.Instance
}

// LabInstance is a lab instance as the host made it and as `stockade lab list` shows it. The
// JSON names are the admin API's wire format.
type LabInstance struct {
	ID        string   `json:"instance"`
	Account   string   `json:"account"`
	Region    string   `json:"region"`
	VpcID     string   `json:"vpc"`
	ENI       string   `json:"eni"`
	ImageID   string   `json:"image"`   // the ImageId it was launched with (kept as given, --any-image too)
	Address   string   `json:"address"` // primary private IPv4, or in an IPv6-only subnet the first IPv6
	IPv6      []string `json:"ipv6,omitempty"`
	Namespace string   `json:"namespace"`
	Router    string   `json:"router"`
	// Operator is the namespace of its VPC's operator attachment: where `stockade lab
	// connect` opens a connection from, so that it crosses the router from outside the VPC.
	Operator string   `json:"operator"`
	Links    []string `json:"links"` // the router ends of its interfaces, the primary's first
	// InstanceType and Limits are the instance's type and what its sandbox may use.
	InstanceType string `json:"type,omitempty"`
	Limits       Limits `json:"limits,omitzero"`
	// Cgroups are the instance's cgroup directories on the host (one per controller on
	// cgroup v1, one on v2): `stockade lab exec` puts its command in them.
	Cgroups []string `json:"cgroups,omitempty"`
	// PID is the host process ID of the sandbox's first process, 0 when it is not running;
	// State is "booting", "running" or "stopped". Both are read when the list is asked for.
	PID   int    `json:"pid,omitempty"`
	State string `json:"state,omitempty"`
}

// Limits are what an instance's sandbox may use: memory (MiB, no swap), CPU (vCPUs), processes
// and the size of its writable root filesystem (MiB).
type Limits struct {
	MemoryMiB int `json:"memoryMiB"`
	VCPUs     int `json:"vcpus"`
	Processes int `json:"processes"`
	DiskMiB   int `json:"diskMiB"`
}
