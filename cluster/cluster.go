// Package cluster is the registry of the hosts that run instances when Stockade spans several
// machines (issue 17): one record per host, written by the host's agent, and one occupancy
// record per host, written by the control service in the transaction that places, moves or
// terminates an instance there.
//
// It is a package of its own, not part of control, because three kinds of programs write or
// read these records and only one of them is an API server: the agent on every host (Register,
// Heartbeat, Deregister), `stockade hosts` (List, reading the store directly when given
// --etcd-endpoints) and the control service (placement). None of them should need the control
// service's tenants to do it.
//
// # Keys
//
//	hosts/<name>    Host: zone, capacity, labels, last heartbeat and lease (the agent's)
//	hostocc/<name>  Occupancy: what is placed on the host (the control service's)
//
// Both are server-wide, like the public address pool's pool/<address>: they belong to no
// account. The two are separate so that a heartbeat (every few seconds) never conflicts with
// a placement: a placement's transaction is conditional on the occupancy key's mod revision
// only.
//
// # Liveness
//
// A host is up while its last heartbeat is younger than its lease, and down after: the scheme
// of Kubernetes' node leases (a Lease object whose renewTime the kubelet updates; the node
// controller compares it with the lease duration). etcd's own leases (keys deleted when a
// lease expires) are not used, for two reasons: the store interface (store.Store) has no
// leases, and the embedded bolt store must work the same; and a host whose lease lapsed must
// stay listed, as `down`, with its instances still recorded on it (spec B10: a dead host's
// instances are impaired, not forgotten), which a deleted key could not say.
//
// The clock is the writer's for the heartbeat and the reader's for the comparison, so hosts'
// clocks must be roughly in step (NTP), as Kubernetes' node leases assume too; a lease of a few
// heartbeat intervals absorbs the usual skew.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// Key prefixes of the records (see the package doc).
const (
	HostPrefix      = "hosts/"
	OccupancyPrefix = "hostocc/"
)

// DefaultLease is the lease an agent registers with when it names none: three missed
// heartbeats at DefaultHeartbeat.
const (
	DefaultHeartbeat = 10 * time.Second
	DefaultLease     = 40 * time.Second
)

// States a host is listed in.
const (
	Up   = "up"
	Down = "down"
)

// Host is one host's record, as its agent registers it.
type Host struct {
	Name string `json:"name"`
	// Zone is the availability zone the host serves (a host belongs to one zone, spec B9.2).
	Zone      string `json:"zone"`
	VCPUs     int    `json:"vcpus"`
	MemoryMiB int64  `json:"memoryMiB"`
	// Labels are the operator's (rack, hardware, …); placement does not read them yet.
	Labels map[string]string `json:"labels,omitempty"`
	// Underlay is the host's address on the network between hosts, where the other hosts'
	// agents send the VXLAN traffic of the VPCs it holds (docs/cross-host.md); empty for a
	// host that shares no VPC with another.
	Underlay  string        `json:"underlay,omitempty"`
	Heartbeat time.Time     `json:"heartbeat"`
	Lease     time.Duration `json:"lease"`
}

// State is Up while the last heartbeat is younger than the lease at now, Down after.
func (h Host) State(now time.Time) string {
	if now.Sub(h.Heartbeat) <= h.Lease {
		return Up
	}
	return Down
}

// Occupancy is what the control service placed on one host. The zero value is an empty host.
type Occupancy struct {
	// Account, when set, is the one account the host runs instances for: the owner of its
	// dedicated instances (Dedicated > 0) or of the Dedicated Host it is (Allocation).
	Account string `json:"account,omitempty"`
	// Dedicated counts Account's dedicated-tenancy instances on the host.
	Dedicated int `json:"dedicated,omitempty"`
	// Allocation is set while the host is a Dedicated Host (AllocateHosts).
	Allocation *Allocation `json:"allocation,omitempty"`
	// VCPUs and MemoryMiB are the sums of the sizes of the instances placed here; Instances
	// counts them, and Accounts counts them by owner.
	VCPUs     int            `json:"vcpus,omitempty"`
	MemoryMiB int64          `json:"memoryMiB,omitempty"`
	Instances int            `json:"instances,omitempty"`
	Accounts  map[string]int `json:"accounts,omitempty"`
}

// Allocation is a Dedicated Host: a whole Stockade host allocated to one account.
type Allocation struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	HostID  string `json:"hostId"`
}

// Clone returns a copy that may be modified freely.
func (o Occupancy) Clone() Occupancy {
	o.Accounts = maps.Clone(o.Accounts)
	if o.Allocation != nil {
		a := *o.Allocation
		o.Allocation = &a
	}
	return o
}

// Exclusive is the account the host is reserved for, "" when it is shared.
func (o Occupancy) Exclusive() string {
	if o.Dedicated > 0 || o.Allocation != nil {
		return o.Account
	}
	return ""
}

// OnlyAccount reports whether every instance on the host is account's (or there is none).
func (o Occupancy) OnlyAccount(account string) bool {
	for a, n := range o.Accounts {
		if n > 0 && a != account {
			return false
		}
	}
	return true
}

// Errors of the registry's functions.
var (
	ErrInvalid     = errors.New("cluster: invalid host")
	ErrUnknownHost = errors.New("cluster: no such host")
	ErrOccupied    = errors.New("cluster: host has instances or is a Dedicated Host")
)

// hostName is what a host may be called: a DNS label or dotted name, so that it fits a store
// key, a log line and a shell argument unquoted.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Validate checks a host record before it is written.
func (h Host) Validate() error {
	switch {
	case !hostName.MatchString(h.Name):
		return fmt.Errorf("%w: name %q: want lower-case letters, digits, '.' and '-', at most 63", ErrInvalid, h.Name)
	case h.Zone == "" || strings.ContainsAny(h.Zone, "/ "):
		return fmt.Errorf("%w: host %s: an availability zone is required", ErrInvalid, h.Name)
	case h.VCPUs < 1 || h.MemoryMiB < 1:
		return fmt.Errorf("%w: host %s: capacity must be at least 1 vCPU and 1 MiB", ErrInvalid, h.Name)
	case h.Lease <= 0:
		return fmt.Errorf("%w: host %s: the lease must be positive", ErrInvalid, h.Name)
	case h.Underlay != "" && !validUnderlay(h.Underlay):
		return fmt.Errorf("%w: host %s: underlay address %q: want a unicast IP address", ErrInvalid, h.Name, h.Underlay)
	}
	return nil
}

func validUnderlay(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == "" && !a.IsUnspecified() && !a.IsMulticast()
}

// HostKey and OccupancyKey are the store keys of a host's records.
func HostKey(name string) string      { return HostPrefix + name }
func OccupancyKey(name string) string { return OccupancyPrefix + name }

// Register writes h (an agent at start), its heartbeat now. Registering again replaces the
// record: an agent restarted with another capacity or zone says so. A zone change is refused
// while instances are placed on the host, since they were placed for the old zone.
func Register(ctx context.Context, st store.Store, h Host, now time.Time) error {
	if h.Lease == 0 {
		h.Lease = DefaultLease
	}
	if err := h.Validate(); err != nil {
		return err
	}
	h.Heartbeat = now.UTC()
	old, oldRev, found, err := get(ctx, st, h.Name)
	if err != nil {
		return err
	}
	occ, occRev, err := GetOccupancy(ctx, st, h.Name)
	if err != nil {
		return err
	}
	if found && old.Zone != h.Zone && (occ.Instances > 0 || occ.Allocation != nil) {
		return fmt.Errorf("%w: %s has instances in zone %s", ErrOccupied, h.Name, old.Zone)
	}
	v, _ := json.Marshal(h) // a struct of strings, numbers and a time always encodes
	conds := []store.Cond{{Key: HostKey(h.Name), ModRevision: oldRev}, {Key: OccupancyKey(h.Name), ModRevision: occRev}}
	_, err = st.Txn(ctx, conds, []store.Op{{Key: HostKey(h.Name), Value: v}})
	return err
}

// Heartbeat renews name's lease: its heartbeat becomes now. It is conditional on the record
// read, so that a Deregister or Register in between is not undone; a host never registered
// (or deregistered) is ErrUnknownHost, on which the agent registers again.
func Heartbeat(ctx context.Context, st store.Store, name string, now time.Time) error {
	h, rev, found, err := get(ctx, st, name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownHost, name)
	}
	h.Heartbeat = now.UTC()
	v, _ := json.Marshal(h)
	_, err = st.Txn(ctx, []store.Cond{{Key: HostKey(name), ModRevision: rev}}, []store.Op{{Key: HostKey(name), Value: v}})
	return err
}

// Deregister removes name's record. A host with instances placed on it, or allocated as a
// Dedicated Host, is refused (ErrOccupied): terminate or move them first, or let it go down.
func Deregister(ctx context.Context, st store.Store, name string) error {
	_, rev, found, err := get(ctx, st, name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownHost, name)
	}
	occ, occRev, err := GetOccupancy(ctx, st, name)
	if err != nil {
		return err
	}
	if occ.Instances > 0 || occ.Allocation != nil {
		return fmt.Errorf("%w: %s runs %d instances", ErrOccupied, name, occ.Instances)
	}
	conds := []store.Cond{{Key: HostKey(name), ModRevision: rev}, {Key: OccupancyKey(name), ModRevision: occRev}}
	_, err = st.Txn(ctx, conds, []store.Op{{Key: HostKey(name), Delete: true}, {Key: OccupancyKey(name), Delete: true}})
	return err
}

func get(ctx context.Context, st store.Store, name string) (Host, int64, bool, error) {
	kv, ok, err := st.Get(ctx, HostKey(name))
	if err != nil || !ok {
		return Host{}, 0, false, err
	}
	var h Host
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		return Host{}, 0, false, fmt.Errorf("host record %s: %w", kv.Key, err)
	}
	return h, kv.ModRevision, true, nil
}

// GetOccupancy returns a host's occupancy and its key's mod revision (0: none yet).
func GetOccupancy(ctx context.Context, st store.Store, name string) (Occupancy, int64, error) {
	kv, ok, err := st.Get(ctx, OccupancyKey(name))
	if err != nil || !ok {
		return Occupancy{}, 0, err
	}
	o, err := DecodeOccupancy(kv.Value)
	if err != nil {
		return Occupancy{}, 0, fmt.Errorf("occupancy record %s: %w", kv.Key, err)
	}
	return o, kv.ModRevision, nil
}

// DecodeOccupancy decodes an occupancy record's value.
func DecodeOccupancy(b []byte) (Occupancy, error) {
	var o Occupancy
	err := json.Unmarshal(b, &o)
	return o, err
}

// List returns every registered host, sorted by name.
func List(ctx context.Context, st store.Store) ([]Host, error) {
	kvs, _, err := st.List(ctx, HostPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Host, 0, len(kvs))
	for _, kv := range kvs {
		var h Host
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			return nil, fmt.Errorf("host record %s: %w", kv.Key, err)
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Occupancies returns every host's occupancy record with its mod revision, by host name.
func Occupancies(ctx context.Context, st store.Store) (map[string]Occupancy, map[string]int64, error) {
	kvs, _, err := st.List(ctx, OccupancyPrefix)
	if err != nil {
		return nil, nil, err
	}
	occ, revs := make(map[string]Occupancy, len(kvs)), make(map[string]int64, len(kvs))
	for _, kv := range kvs {
		o, err := DecodeOccupancy(kv.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("occupancy record %s: %w", kv.Key, err)
		}
		name := strings.TrimPrefix(kv.Key, OccupancyPrefix)
		occ[name], revs[name] = o, kv.ModRevision
	}
	return occ, revs, nil
}

// Status is one host as `stockade hosts` lists it.
type Status struct {
	Host
	State     string `json:"state"`
	Used      Used   `json:"used"`
	Dedicated string `json:"dedicatedTo,omitempty"` // the account the host is reserved for
}

// Used is the capacity taken on a host.
type Used struct {
	VCPUs     int   `json:"vcpus"`
	MemoryMiB int64 `json:"memoryMiB"`
	Instances int   `json:"instances"`
}

// Statuses lists every host with its state at now and what is placed on it.
func Statuses(ctx context.Context, st store.Store, now time.Time) ([]Status, error) {
	hosts, err := List(ctx, st)
	if err != nil {
		return nil, err
	}
	occ, _, err := Occupancies(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(hosts))
	for _, h := range hosts {
		o := occ[h.Name]
		out = append(out, Status{Host: h, State: h.State(now), Used: Used{VCPUs: o.VCPUs, MemoryMiB: o.MemoryMiB, Instances: o.Instances},
			Dedicated: o.Exclusive()})
	}
	return out, nil
}
