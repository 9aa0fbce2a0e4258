package model

import (
	"slices"
	"time"
)

// InstanceState is EC2's code/name pair (spec §1.3).
type InstanceState struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

// Instance states.
var (
	StatePending      = InstanceState{0, "pending"}
	StateRunning      = InstanceState{16, "running"}
	StateShuttingDown = InstanceState{32, "shutting-down"}
	StateTerminated   = InstanceState{48, "terminated"}
	StateStopping     = InstanceState{64, "stopping"}
	StateStopped      = InstanceState{80, "stopped"}
)

// Stopped reports whether the instance is stopped: it keeps its interfaces and private
// addresses, and runs nothing.
func (in *Instance) Stopped() bool { return in.State == StateStopped }

// Forwards reports whether an instance in state s forwards what a route sends it: pending or
// running. A route to an instance that is stopping, stopped, shutting down or terminated is a
// blackhole on EC2, until the instance runs again.
func Forwards(s InstanceState) bool { return s == StatePending || s == StateRunning }

// Instance is a launched instance: a record with its interfaces until a lab host runs it.
type Instance struct {
	ID            string        `json:"id"`
	ReservationID string        `json:"reservation"`
	OwnerID       string        `json:"owner"`
	ImageID       string        `json:"image"`
	InstanceType  string        `json:"type"`
	KeyName       string        `json:"key,omitempty"`
	State         InstanceState `json:"state"`
	LaunchTime    time.Time     `json:"launch"`
	// TerminatedAt is set when the instance was terminated; it stays visible for an hour.
	TerminatedAt  time.Time `json:"terminated,omitzero"`
	AZ            string    `json:"az"`
	Tenancy       string    `json:"tenancy"`
	SubnetID      string    `json:"subnet"`
	VpcID         string    `json:"vpc"`
	LaunchIndex   int       `json:"launchIndex"`
	ClientToken   string    `json:"clientToken,omitempty"`
	UserData      []byte    `json:"userData,omitempty"`
	NoTermination bool      `json:"noTermination,omitempty"`
	// ShutdownBehavior is instanceInitiatedShutdownBehavior, "stop" (EC2's default, stored as
	// "") or "terminate".
	ShutdownBehavior string `json:"shutdown,omitempty"`
	// NoStop is disableApiStop: StopInstances refuses the instance while it is set.
	NoStop       bool     `json:"noStop,omitempty"`
	InterfaceIDs []string `json:"enis"`
	// TerminationMsg is EC2's StateTransitionReason ("User initiated (… GMT)") of the last
	// stop or termination; a start clears it.
	TerminationMsg string `json:"reason,omitempty"`
	// Boots counts the instance's boots after its launch: every StartInstances and
	// RebootInstances adds one, so that a host sees a new boot as a new sandbox to start
	// even when nothing else of the instance changed.
	Boots int  `json:"boots,omitempty"`
	Tags  Tags `json:"tags,omitempty"`
	// PublicKey is the key pair's public key (OpenSSH authorized_keys form) as it was at
	// launch: the metadata service serves it as public-keys/0/openssh-key for the life of the
	// instance, even after the key pair is deleted or re-imported (EC2 guide "delete-key-pair").
	PublicKey string `json:"pub,omitempty"`
	// MetadataOptions are the metadata service's options; read them through WithDefaults.
	MetadataOptions MetadataOptions `json:"imds,omitzero"`
	// Node is the Stockade host the instance is placed on (cluster.Host's name); "" when no
	// host is registered and the local machine runs everything. Internal: EC2 shows a host
	// only for host tenancy, as HostID.
	Node string `json:"node,omitempty"`
	// HostID is the Dedicated Host of a host-tenancy instance; Affinity is its
	// Placement.Affinity ("default" or "host"), "" for other tenancies.
	HostID   string `json:"hostId,omitempty"`
	Affinity string `json:"affinity,omitempty"`
}

// Clone returns a deep copy that may be modified freely.
func (in *Instance) Clone() *Instance {
	c := *in
	c.UserData = slices.Clone(in.UserData)
	c.InterfaceIDs = slices.Clone(in.InterfaceIDs)
	c.Tags = in.Tags.Clone()
	return &c
}

// TerminatedVisibleFor is how long a terminated instance stays visible to DescribeInstances.
const TerminatedVisibleFor = time.Hour

// KeyPair is a stored key pair. The private key is never stored.
type KeyPair struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Fingerprint string    `json:"fp"`
	PublicKey   string    `json:"pub"`
	CreateTime  time.Time `json:"created"`
	Tags        Tags      `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (k *KeyPair) Clone() *KeyPair { c := *k; c.Tags = k.Tags.Clone(); return &c }
