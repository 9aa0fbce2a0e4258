package control

import (
	"cmp"
	"context"
	"slices"

	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/model"
)

// Dedicated Hosts (spec flowlogs-multihost.md B9.1): AllocateHosts gives an account whole
// Stockade hosts of a zone, on which only its host-tenancy instances run, until ReleaseHosts.
// The account's record of a host is a resource of its tenant (kind "host", tagged as
// "dedicated-host"); the host's side is its occupancy record's Allocation, written in the same
// transaction, which keeps every other launch off it (placement.go).

// AllocateHostsInput are AllocateHosts' parameters.
type AllocateHostsInput struct {
	Zone                         string
	InstanceType, InstanceFamily string
	Quantity                     int
	AutoPlacement, HostRecovery  string // "on", "off" or "" (off)
	ClientToken                  string
	Tags                         model.Tags
	DryRun                       bool
}

// maxHostQuantity bounds one AllocateHosts call: Stockade's hosts are few. [UNCONFIRMED]
// AWS's own bound is the account's Dedicated Host quota per type (HostLimitExceeded).
const maxHostQuantity = 100

// AllocateHosts allocates Quantity free hosts of the zone to the account, all or none: a free
// host is up, runs no instance and is no one's Dedicated Host, and has room for at least one
// instance of the type (or the family's smallest). Too few such hosts: InsufficientHostCapacity.
func (s *Service) AllocateHosts(ctx context.Context, t Tenant, in AllocateHostsInput) ([]string, Result, error) {
	switch {
	case in.Zone == "":
		return nil, Result{}, model.Missing("AvailabilityZone")
	case in.InstanceType == "" && in.InstanceFamily == "":
		return nil, Result{}, model.Missing("InstanceType")
	case in.InstanceType != "" && in.InstanceFamily != "":
		// [UNCONFIRMED] wording; the API reference says to give one or the other.
		return nil, Result{}, model.InvalidParameterCombination.Errorf("Specify either an instance type or an instance family, not both.")
	case in.Quantity < 1 || in.Quantity > maxHostQuantity:
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter quantity is invalid. It must be between 1 and %d.", in.Quantity, maxHostQuantity)
	}
	if in.InstanceType != "" {
		if err := model.ValidateInstanceType(in.InstanceType); err != nil {
			return nil, Result{}, err
		}
	} else if !model.KnownFamily(in.InstanceFamily) {
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter instanceFamily is invalid.", in.InstanceFamily)
	}
	for name, v := range map[string]string{"autoPlacement": in.AutoPlacement, "hostRecovery": in.HostRecovery} {
		if v != "" && v != "on" && v != "off" {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter %s is invalid. Valid values: on, off", v, name)
		}
	}
	if err := model.ValidateClientToken(in.ClientToken); err != nil {
		return nil, Result{}, err
	}
	if !slices.Contains(Zones(t.Region), in.Zone) {
		return nil, Result{}, model.InvalidValue("Invalid availability zone: [%s]", in.Zone) // [UNCONFIRMED] wording
	}
	// The smallest instance the host must take: the type, or the family's smallest.
	var need model.InstanceType
	for _, it := range model.InstanceTypes() {
		if it.Name == in.InstanceType || (in.InstanceType == "" && model.InstanceFamily(it.Name) == in.InstanceFamily && (need.Name == "" || it.VCPUs < need.VCPUs)) {
			need = it
		}
	}
	var ids []string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("AllocateHosts", in)
		if got, done, err := tx.replay("AllocateHosts", in.ClientToken, fp); err != nil || done {
			ids = got
			return err
		}
		pl, err := tx.placement()
		if err != nil {
			return err
		}
		p := &s.place
		var free []cluster.Host
		for _, h := range pl.hosts {
			o := p.occ[h.Name]
			if h.State(tx.now) == cluster.Up && h.Zone == in.Zone && o.Instances == 0 && o.Allocation == nil &&
				need.VCPUs <= h.VCPUs && need.MemoryMiB <= h.MemoryMiB {
				free = append(free, h)
			}
		}
		if len(free) < in.Quantity {
			// [UNCONFIRMED] wording.
			return model.InsufficientHostCapacity.Errorf("There is not enough capacity to allocate %d Dedicated Hosts in %s: %d are free.", in.Quantity, in.Zone, len(free))
		}
		slices.SortFunc(free, compareHosts)
		ids = nil
		for _, h := range free[:in.Quantity] {
			dh := &model.DedicatedHost{ID: model.NewID(model.PrefixHost), OwnerID: t.Account, AZ: in.Zone, Node: h.Name,
				InstanceType: in.InstanceType, InstanceFamily: in.InstanceFamily, AutoPlacement: in.AutoPlacement == "on",
				HostRecovery: in.HostRecovery == "on", VCPUs: h.VCPUs, MemoryMiB: h.MemoryMiB, State: model.HostAvailable,
				AllocationTime: tx.now, ClientToken: in.ClientToken, Tags: in.Tags.Clone()}
			set(tx, tx.tn.dhosts, kindHost, dh.ID, dh)
			o := p.occ[h.Name].Clone()
			o.Account = t.Account
			o.Allocation = &cluster.Allocation{Account: t.Account, Region: t.Region, HostID: dh.ID}
			tx.setOcc(h.Name, o)
			ids = append(ids, dh.ID)
		}
		tx.remember("AllocateHosts", in.ClientToken, fp, ids...)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return ids, res, nil
}

// compareHosts orders free hosts for allocation: the largest first, then by name.
func compareHosts(a, b cluster.Host) int {
	return cmp.Or(cmp.Compare(b.VCPUs, a.VCPUs), cmp.Compare(a.Name, b.Name))
}

// ReleaseHosts releases each host that runs no instance (stopped ones count): it shows as
// released from then on and its Stockade host is free for any account again. The others are
// reported unsuccessful, each with its error (the shape CreateFlowLogs' failures have); the
// call itself succeeds. On EC2 the item's code has the "Client." prefix (as recorded by
// terraform-provider-aws: Client.InvalidHostID.NotFound), which the API adds.
func (s *Service) ReleaseHosts(ctx context.Context, t Tenant, ids []string, dryRun bool) ([]string, []FlowLogFailure, Result, error) {
	if len(ids) == 0 {
		return nil, nil, Result{}, model.Missing("HostId")
	}
	var ok []string
	var failed []FlowLogFailure
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		ok, failed = nil, nil
		for _, id := range ids {
			if slices.Contains(ok, id) {
				continue
			}
			dh, err := tx.tn.availableHost(id)
			if err == nil && tx.tn.onHost(id) > 0 {
				err = model.InvalidHostOccupied.Errorf("The specified host %s has running instances and cannot be released.", id) // [UNCONFIRMED] wording
			}
			if err != nil {
				failed = append(failed, flowLogFailure(id, model.Internal(err)))
				continue
			}
			c := dh.Clone()
			c.State, c.ReleaseTime = model.HostReleased, tx.now
			set(tx, tx.tn.dhosts, kindHost, id, c)
			if _, err := tx.placement(); err != nil {
				return err
			}
			o := s.place.occ[dh.Node].Clone()
			o.Allocation = nil
			if o.Dedicated == 0 {
				o.Account = ""
			}
			tx.setOcc(dh.Node, o)
			ok = append(ok, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, res, err
	}
	return ok, failed, res, nil
}

// onHost counts the tenant's instances (running or stopped) on Dedicated Host id.
func (tn *tenant) onHost(id string) int {
	n := 0
	for _, in := range tn.instances {
		if in.HostID == id && in.State != model.StateTerminated {
			n++
		}
	}
	return n
}

// dedicatedHost returns a Dedicated Host with EC2's errors.
func (tn *tenant) dedicatedHost(id string) (*model.DedicatedHost, error) {
	return find(tn.dhosts, id, model.PrefixHost, model.InvalidHostIDMalformed, model.InvalidHostIDNotFound)
}

// availableHost is dedicatedHost for a request that uses the host: a released host "can no
// longer be specified in another request" (API reference, ReleaseHosts), though DescribeHosts
// still shows it.
func (tn *tenant) availableHost(id string) (*model.DedicatedHost, error) {
	dh, err := tn.dedicatedHost(id)
	if err == nil && dh.State != model.HostAvailable {
		return nil, model.InvalidHostIDNotFound.New(id)
	}
	return dh, err
}

// ModifyPlacementInput are ModifyInstancePlacement's parameters.
type ModifyPlacementInput struct {
	InstanceID, Tenancy, HostID, Affinity string
	DryRun                                bool
}

// ModifyInstancePlacement moves a stopped instance between dedicated and host tenancy, to
// another Dedicated Host, or changes its affinity. Tenancy never changes to or from default
// (EC2 user guide, "Change the tenancy of an instance"; whether newer releases allow more is
// [UNCONFIRMED]). The instance is placed anew in the same transaction, so a move that does
// not fit changes nothing.
func (s *Service) ModifyInstancePlacement(ctx context.Context, t Tenant, in ModifyPlacementInput) (Result, error) {
	if in.InstanceID == "" {
		return Result{}, model.Missing("InstanceId")
	}
	if err := validTenancy(in.Tenancy); err != nil {
		return Result{}, err
	}
	if in.HostID != "" && !model.ValidID(model.PrefixHost, in.HostID) {
		return Result{}, model.InvalidHostIDMalformed.New(in.HostID)
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		inst, err := tx.tn.instance(in.InstanceID)
		if err != nil {
			return err
		}
		if !inst.Stopped() {
			return model.IncorrectInstanceState.Errorf("The instance '%s' is not in the 'stopped' state.", inst.ID)
		}
		tenancy := in.Tenancy
		if tenancy == "" {
			tenancy = inst.Tenancy
			if in.HostID != "" {
				tenancy = model.TenancyHost
			}
		}
		if tenancy != inst.Tenancy && (tenancy == model.TenancyDefault || inst.Tenancy == model.TenancyDefault || inst.Tenancy == "") {
			// [UNCONFIRMED] code and wording.
			return model.InvalidParameterCombination.Errorf("The tenancy of instance %s can only be changed between dedicated and host.", inst.ID)
		}
		if in.HostID != "" && tenancy != model.TenancyHost {
			return model.InvalidParameterCombination.Errorf("A host ID can only be specified with host tenancy.") // [UNCONFIRMED] wording
		}
		affinity := in.Affinity
		if affinity == "" && tenancy == model.TenancyHost {
			affinity = cmp.Or(inst.Affinity, model.AffinityDefault)
		}
		if err := validAffinity(in.Affinity, tenancy); err != nil {
			return err
		}
		c := inst.Clone()
		c.Tenancy, c.Affinity = tenancy, affinity
		if tenancy != model.TenancyHost {
			c.HostID, c.Affinity = "", ""
		} else if in.HostID != "" {
			c.HostID = in.HostID
		} else if inst.Tenancy != model.TenancyHost {
			c.HostID = ""
		}
		if c.Tenancy != inst.Tenancy || c.HostID != inst.HostID {
			if err := tx.unplace(inst); err != nil {
				return err
			}
			c.Node = ""
			if err := tx.place(c); err != nil {
				return err
			}
		}
		set(tx, tx.tn.instances, kindInstance, c.ID, c)
		return nil
	})
}

// DedicatedHosts returns the account's Dedicated Hosts, released ones included, by ID.
func (v View) DedicatedHosts() []*model.DedicatedHost {
	return sorted(v.tn.dhosts, func(h *model.DedicatedHost) string { return h.ID })
}

// DedicatedHost returns one Dedicated Host or EC2's error.
func (v View) DedicatedHost(id string) (*model.DedicatedHost, error) { return v.tn.dedicatedHost(id) }

// HostInstances returns the instances (running or stopped) on Dedicated Host id, by ID.
func (v View) HostInstances(id string) []*model.Instance {
	var out []*model.Instance
	for _, in := range sorted(v.tn.instances, func(i *model.Instance) string { return i.ID }) {
		if in.HostID == id && in.State != model.StateTerminated {
			out = append(out, in)
		}
	}
	return out
}
