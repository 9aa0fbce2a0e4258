package control

import (
	"cmp"
	"context"
	"net/netip"

	"github.com/stockade/stockade/model"
)

// RunInterface is one NetworkInterface.N of RunInstances.
type RunInterface struct {
	DeviceIndex         int
	SubnetID            string
	GroupIDs            []string
	NetworkInterfaceID  string // attach an existing interface instead of creating one
	PrivateIP           string
	IPv6                []string // IPv6 addresses by address
	IPv6Count           int      // or by number
	DeleteOnTermination *bool
	ConnTrack           *model.ConnTrack
	// AssociatePublicIP asks for (or refuses) a public address from the pool; nil takes the
	// subnet's MapPublicIpOnLaunch.
	AssociatePublicIP *bool
	// EnablePrimaryIPv6 is RunInstances' EnablePrimaryIpv6, for the primary interface only.
	EnablePrimaryIPv6 bool
}

// RunInput are RunInstances' parameters.
type RunInput struct {
	ImageID, InstanceType string
	MinCount, MaxCount    int
	SubnetID              string
	GroupIDs, GroupNames  []string
	Interfaces            []RunInterface
	KeyName               string
	Zone, Tenancy         string
	// HostID and Affinity are Placement.HostId and Placement.Affinity (Dedicated Hosts).
	HostID, Affinity      string
	PrivateIP             string
	IPv6                  []string // the primary interface's IPv6 addresses, by address
	IPv6Count             int      // or by number
	EnablePrimaryIPv6     bool     // the primary interface's first IPv6 address is its primary
	UserData              []byte   // decoded
	ClientToken           string
	InstanceTags, ENITags model.Tags
	// DisableAPITermination and DisableAPIStop are nil when the request does not give them
	// (a launch template's then count), false when it turns them off.
	DisableAPITermination *bool
	DisableAPIStop        *bool
	ShutdownBehavior      string // "", "stop" or "terminate"
	// MetadataOptions are the metadata service's options; unset ones take EC2's defaults.
	MetadataOptions model.MetadataOptions
	// LaunchTemplate, when set, fills what the request leaves unset (runtemplate.go).
	LaunchTemplate *LaunchTemplateSpec
	DryRun         bool
}

// Reservation is what RunInstances launched, with the instances' interfaces for rendering.
type Reservation struct {
	ID, OwnerID string
	Instances   []*model.Instance
	ENIs        map[string]*model.NetworkInterface
}

// MaxUserData is EC2's limit on user data, decoded.
const MaxUserData = 16 << 10

// RunInstances launches between MinCount and MaxCount instances, each with a primary
// interface carrying its groups (spec §9.3). Instances are stored running; the reply shows
// them pending, as EC2's does.
func (s *Service) RunInstances(ctx context.Context, t Tenant, in RunInput) (*Reservation, Result, error) {
	in, err := s.fromTemplate(ctx, t, in)
	if err != nil {
		return nil, Result{}, err
	}
	if in.InstanceType == "" {
		in.InstanceType = defaultInstanceType
	}
	switch {
	case in.MinCount < 1 || in.MaxCount < 1:
		return nil, Result{}, model.InvalidValue("MinCount and MaxCount must be at least 1")
	case in.MinCount > in.MaxCount:
		return nil, Result{}, model.InvalidValue("MinCount (%d) must not be greater than MaxCount (%d)", in.MinCount, in.MaxCount)
	case len(in.UserData) > MaxUserData:
		return nil, Result{}, model.InvalidValue("User data is limited to %d bytes", MaxUserData)
	case in.PrivateIP != "" && in.MaxCount > 1:
		return nil, Result{}, model.InvalidParameterCombination.Errorf("A private IP address can only be given when launching one instance")
	case len(in.IPv6) > 0 && in.MaxCount > 1:
		return nil, Result{}, model.InvalidParameterCombination.Errorf("IPv6 addresses can only be given when launching one instance")
	case len(in.GroupNames) > 0 && (in.SubnetID != "" || len(in.Interfaces) > 0):
		return nil, Result{}, model.InvalidParameterCombination.Errorf("The parameter groupName cannot be used with the parameter subnet")
	}
	if _, err := s.launchImage(in.ImageID); err != nil {
		return nil, Result{}, err
	}
	if err := model.ValidateInstanceType(in.InstanceType); err != nil {
		return nil, Result{}, err
	}
	if err := model.ValidateClientToken(in.ClientToken); err != nil {
		return nil, Result{}, err
	}
	if err := in.MetadataOptions.Validate(); err != nil {
		return nil, Result{}, err
	}
	if in.ShutdownBehavior != "" {
		if err := validShutdownBehavior(in.ShutdownBehavior); err != nil {
			return nil, Result{}, err
		}
	}
	if err := validTenancy(in.Tenancy); err != nil {
		return nil, Result{}, err
	}
	if in.HostID != "" {
		if !model.ValidID(model.PrefixHost, in.HostID) {
			return nil, Result{}, model.InvalidHostIDMalformed.New(in.HostID)
		}
		if in.Tenancy != "" && in.Tenancy != model.TenancyHost {
			// [UNCONFIRMED] wording: a host ID means host tenancy.
			return nil, Result{}, model.InvalidParameterCombination.Errorf("A host ID can only be specified with host tenancy.")
		}
	}
	requested := in.Tenancy
	if in.HostID != "" {
		requested = model.TenancyHost
	}
	if err := validAffinity(in.Affinity, requested); err != nil {
		return nil, Result{}, err
	}
	var resv *Reservation
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("RunInstances", in)
		if ids, done, err := tx.replay("RunInstances", in.ClientToken, fp); err != nil || done {
			if err == nil {
				resv, err = tx.reservation(ids)
			}
			return err
		}
		var err error
		resv, err = s.launch(tx, in)
		if err != nil {
			return err
		}
		var ids []string
		for _, i := range resv.Instances {
			ids = append(ids, i.ID)
		}
		tx.remember("RunInstances", in.ClientToken, fp, ids...)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return resv, res, nil
}

func (s *Service) launch(tx *tx, in RunInput) (*Reservation, error) {
	tn := tx.tn
	// Where: the primary interface's subnet, the SubnetId, or the default VPC.
	primary := RunInterface{SubnetID: in.SubnetID, GroupIDs: in.GroupIDs, PrivateIP: in.PrivateIP, IPv6: in.IPv6, IPv6Count: in.IPv6Count,
		EnablePrimaryIPv6: in.EnablePrimaryIPv6}
	var extra []RunInterface
	if len(in.Interfaces) > 0 {
		if len(in.GroupIDs) > 0 || in.SubnetID != "" || len(in.IPv6) > 0 || in.IPv6Count > 0 {
			return nil, model.InvalidParameterCombination.Errorf("Network interfaces and an instance-level security group, subnet or IPv6 address may not be specified on the same request")
		}
		found := false
		for _, ni := range in.Interfaces {
			if ni.DeviceIndex == 0 {
				primary, found = ni, true
			} else {
				extra = append(extra, ni)
			}
		}
		if !found {
			return nil, model.InvalidValue("When specifying network interfaces, one must have DeviceIndex 0")
		}
		// The instance type bounds the interfaces at launch as at attachment (EC2's reply,
		// as recorded: "Interface count 3 exceeds the limit for m1.small").
		itype := typeOf(&model.Instance{InstanceType: in.InstanceType})
		if n := len(in.Interfaces); n > model.InterfaceLimitsOf(itype).Interfaces {
			return nil, model.AttachmentLimitExceeded.Errorf("Interface count %d exceeds the limit for %s", n, itype)
		}
		for _, ni := range in.Interfaces {
			switch {
			case ni.AssociatePublicIP == nil:
			case ni.DeviceIndex != 0:
				return nil, model.InvalidParameterCombination.Errorf("The associatePublicIPAddress parameter can only be specified for the network interface with DeviceIndex 0.")
			case len(in.Interfaces) > 1 && *ni.AssociatePublicIP:
				return nil, model.InvalidParameterCombination.Errorf("The associatePublicIPAddress parameter cannot be specified when launching with multiple network interfaces.")
			case ni.NetworkInterfaceID != "" && *ni.AssociatePublicIP:
				// [UNCONFIRMED] wording: EC2 assigns public addresses only to interfaces it creates.
				return nil, model.InvalidParameterCombination.Errorf("The associatePublicIPAddress parameter cannot be specified for an existing network interface.")
			}
		}
	}
	var groups []string
	groups = append(groups, primary.GroupIDs...)
	if len(in.GroupNames) > 0 {
		for _, name := range in.GroupNames {
			g, err := tn.groupByName(name)
			if err != nil {
				return nil, err
			}
			groups = append(groups, g.ID)
		}
	}
	var sn *model.Subnet
	var existing *model.NetworkInterface
	switch {
	case primary.NetworkInterfaceID != "":
		n, err := tn.eni(primary.NetworkInterfaceID)
		if err != nil {
			return nil, err
		}
		if n.Attachment != nil {
			return nil, model.InvalidNetworkInterfaceInUse.Errorf("Interface: [%s] in use.", n.ID)
		}
		if err := serviceManaged(n); err != nil {
			return nil, err
		}
		if in.MaxCount > 1 {
			return nil, model.InvalidParameterCombination.Errorf("An existing network interface can only be attached when launching one instance")
		}
		existing = n
		sn = tn.subnets[n.SubnetID]
	case primary.SubnetID != "":
		var err error
		if sn, err = tn.subnet(primary.SubnetID); err != nil {
			return nil, err
		}
	default:
		vpc := tn.defaultVPC()
		if vpc == nil {
			return nil, model.VPCIdNotSpecified.Errorf("No default VPC for this user")
		}
		for _, o := range tn.subnets {
			if o.VpcID == vpc.ID && o.DefaultForAz && (in.Zone == "" || o.AZ == in.Zone) && (sn == nil || o.AZ < sn.AZ) {
				sn = o
			}
		}
		if sn == nil {
			return nil, model.InvalidValue("The default VPC has no default subnet in availability zone %q", in.Zone)
		}
	}
	if in.Zone != "" && sn.AZ != in.Zone {
		return nil, model.InvalidValue("Subnet %s is in availability zone %s, not %s", sn.ID, sn.AZ, in.Zone)
	}
	if err := ipv6OnlyFits(sn, in.InstanceType); err != nil {
		return nil, err
	}
	var publicKey string
	if in.KeyName != "" {
		kp := tn.keyPairByName(in.KeyName)
		if kp == nil {
			return nil, model.InvalidKeyPairNotFound.New(in.KeyName)
		}
		// The launch key is the instance's for good: deleting or re-importing the key pair
		// changes nothing on it (spec console-ssh.md B1.5). The comment is the key's name.
		publicKey = kp.PublicKey + " " + kp.Name
	}
	// A public address: asked for on the primary interface, or the subnet's default, which EC2
	// applies only to a single interface it creates (EC2 user guide, "Public IPv4 addresses").
	public := sn.MapPublicIP && existing == nil && len(extra) == 0
	if primary.AssociatePublicIP != nil {
		public = *primary.AssociatePublicIP
	}
	if public && sn.IPv6Native {
		// [UNCONFIRMED] code and wording: a public IPv4 address maps to a private one, which an
		// interface in an IPv6-only subnet does not have.
		return nil, model.InvalidParameterCombination.Errorf("Subnet %s is an IPv6-only subnet: a public IPv4 address cannot be associated with an interface in it.", sn.ID)
	}
	vpc := tn.vpcs[sn.VpcID]
	// A dedicated VPC makes every launch dedicated unless it asks for a Dedicated Host.
	tenancy, affinity := in.Tenancy, ""
	switch {
	case in.HostID != "" || tenancy == model.TenancyHost:
		tenancy, affinity = model.TenancyHost, cmp.Or(in.Affinity, model.AffinityDefault)
	case tenancy == "" || vpc.Tenancy == model.TenancyDedicated:
		tenancy = vpc.Tenancy
	}
	resv := &Reservation{ID: model.NewID(model.PrefixReservation), OwnerID: tn.key.Account, ENIs: map[string]*model.NetworkInterface{}}
	for i := 0; i < in.MaxCount; i++ {
		inst := &model.Instance{
			ID: model.NewID(model.PrefixInstance), ReservationID: resv.ID, OwnerID: tn.key.Account,
			ImageID: in.ImageID, InstanceType: in.InstanceType, KeyName: in.KeyName, State: model.StateRunning,
			LaunchTime: tx.now, AZ: sn.AZ, Tenancy: tenancy, SubnetID: sn.ID, VpcID: sn.VpcID, LaunchIndex: i,
			ClientToken: in.ClientToken, UserData: in.UserData, NoTermination: isTrue(in.DisableAPITermination), NoStop: isTrue(in.DisableAPIStop),
			ShutdownBehavior: shutdownBehavior(in.ShutdownBehavior), Tags: in.InstanceTags.Clone(),
			PublicKey: publicKey, MetadataOptions: in.MetadataOptions.WithDefaults(), HostID: in.HostID, Affinity: affinity,
		}
		sp := tx.savepoint()
		err := tx.place(inst) // first: a launch that does not fit takes no addresses
		var staged []*model.NetworkInterface
		if err == nil {
			staged, err = s.attachAll(tx, inst, sn, groups, primary, existing, extra, in.ENITags, public)
		}
		if err == nil {
			err = checkTypeLimits(inst, staged)
		}
		if err != nil {
			if i >= in.MinCount { // once MinCount is met, launch what fits, as EC2 does
				tx.rollbackTo(sp)
				break
			}
			return nil, err
		}
		for _, n := range staged {
			resv.ENIs[n.ID] = n
		}
		set(tx, tn.instances, kindInstance, inst.ID, inst)
		shown := inst.Clone()
		shown.State = model.StatePending
		resv.Instances = append(resv.Instances, shown)
	}
	return resv, nil
}

// attachAll creates (or, for existing, attaches) the instance's interfaces and stages them.
// Each is staged as soon as it exists, so that the next one's address allocation sees it.
func (s *Service) attachAll(tx *tx, inst *model.Instance, sn *model.Subnet, groups []string, primary RunInterface,
	existing *model.NetworkInterface, extra []RunInterface, tags model.Tags, public bool) ([]*model.NetworkInterface, error) {
	var out []*model.NetworkInterface
	attach := func(n *model.NetworkInterface, device int, deleteOnTermination bool) {
		n.Attachment = &model.Attachment{ID: model.NewID(model.PrefixAttachment), InstanceID: inst.ID, DeviceIndex: device,
			DeleteOnTermination: deleteOnTermination, AttachTime: tx.now}
		set(tx, tx.tn.enis, kindENI, n.ID, n)
		inst.InterfaceIDs = append(inst.InterfaceIDs, n.ID)
		out = append(out, n)
	}
	if existing != nil {
		n := existing.Clone()
		if primary.EnablePrimaryIPv6 {
			if err := enablePrimaryIPv6(n, true); err != nil {
				return nil, err
			}
		}
		attach(n, 0, primary.DeleteOnTermination != nil && *primary.DeleteOnTermination)
	} else {
		addrs := addrRequest{private: primary.PrivateIP, ipv6: primary.IPv6, ipv6Count: primary.IPv6Count, primary6: primary.EnablePrimaryIPv6}
		n, err := s.newENI(tx, sn, groups, addrs, primary.ConnTrack, "", tags.Clone())
		if err != nil {
			return nil, err
		}
		if public {
			if n.PublicIP, err = tx.takePublic(n.ID, netip.Addr{}); err != nil {
				return nil, err
			}
			n.PublicOnLaunch = true
		}
		attach(n, 0, primary.DeleteOnTermination == nil || *primary.DeleteOnTermination)
	}
	for _, ni := range extra {
		if ni.NetworkInterfaceID != "" {
			return nil, model.InvalidValue("Attaching existing network interfaces at device indexes other than 0 is not supported")
		}
		esn, err := tx.tn.subnet(ni.SubnetID)
		if err != nil {
			return nil, err
		}
		if esn.AZ != sn.AZ {
			return nil, model.InvalidValue("Network interfaces of one instance must be in one availability zone")
		}
		if err := ipv6OnlyFits(esn, inst.InstanceType); err != nil {
			return nil, err
		}
		addrs := addrRequest{private: ni.PrivateIP, ipv6: ni.IPv6, ipv6Count: ni.IPv6Count}
		n, err := s.newENI(tx, esn, ni.GroupIDs, addrs, ni.ConnTrack, "", tags.Clone())
		if err != nil {
			return nil, err
		}
		attach(n, ni.DeviceIndex, ni.DeleteOnTermination == nil || *ni.DeleteOnTermination)
	}
	return out, nil
}

// checkTypeLimits refuses interfaces that hold more addresses than the instance's type allows
// each, or IPv6 addresses on a type without IPv6 — asked for at launch by count or address,
// given by the subnet's AssignIpv6AddressOnCreation, or held by an existing interface.
func checkTypeLimits(inst *model.Instance, enis []*model.NetworkInterface) error {
	itype := typeOf(inst)
	lim := model.InterfaceLimitsOf(itype)
	for _, n := range enis {
		if err := checkAddrLimits(n, lim, itype); err != nil {
			return err
		}
	}
	return nil
}

// ipv6OnlyFits refuses an instance type that cannot have an interface in subnet sn: only
// Nitro types launch in an IPv6-only subnet ("IPv6-only subnets", VPC User Guide).
// [UNCONFIRMED] code and wording.
func ipv6OnlyFits(sn *model.Subnet, itype string) error {
	if t, ok := model.LookupInstanceType(itype); ok && sn.IPv6Native && !t.Nitro() {
		return model.InvalidParameterCombination.Errorf("Instance type %s is not supported in IPv6-only subnet %s: only instance types built on the Nitro System are.", itype, sn.ID)
	}
	return nil
}

// savepoint marks a point in a transaction that rollbackTo returns to, so that launch can drop
// an instance that did not fit after others did.
type savepoint struct{ undo, keys int }

func (tx *tx) savepoint() savepoint { return savepoint{len(tx.undo), len(tx.keys)} }

// rollbackTo undoes what was staged since sp. It is only right when every record staged since
// sp was new to the transaction, as the interfaces and instance of one more launched instance
// are (an existing interface is attached only when launching one instance, which never rolls
// back to a savepoint).
func (tx *tx) rollbackTo(sp savepoint) {
	for i := len(tx.undo) - 1; i >= sp.undo; i-- {
		tx.undo[i]()
	}
	tx.undo = tx.undo[:sp.undo]
	for _, k := range tx.keys[sp.keys:] {
		delete(tx.ops, k)
	}
	tx.keys = tx.keys[:sp.keys]
}

// reservation rebuilds the reply for a ClientToken retry.
func (tx *tx) reservation(ids []string) (*Reservation, error) {
	resv := &Reservation{OwnerID: tx.tn.key.Account, ENIs: map[string]*model.NetworkInterface{}}
	for _, id := range ids {
		inst, err := tx.tn.instance(id)
		if err != nil {
			return nil, err
		}
		resv.ID = inst.ReservationID
		resv.Instances = append(resv.Instances, inst)
		for _, eid := range inst.InterfaceIDs {
			if n := tx.tn.enis[eid]; n != nil {
				resv.ENIs[eid] = n
			}
		}
	}
	return resv, nil
}

// StateChange is one instance's transition in a TerminateInstances reply.
type StateChange struct {
	ID                string
	Previous, Current model.InstanceState
}

// TerminateInstancesInput are TerminateInstances' parameters.
type TerminateInstancesInput struct {
	IDs    []string
	DryRun bool
}

// TerminateInstances terminates instances, all or nothing. Interfaces created with the
// instance are deleted — releasing their groups and addresses — and others detached.
func (s *Service) TerminateInstances(ctx context.Context, t Tenant, in TerminateInstancesInput) ([]StateChange, Result, error) {
	ids := in.IDs
	if len(ids) == 0 {
		return nil, Result{}, model.Missing("InstanceId")
	}
	if len(ids) > 1000 {
		return nil, Result{}, model.InvalidValue("At most 1000 instance IDs may be given")
	}
	var out []StateChange
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		for _, id := range ids {
			inst, err := tx.tn.instance(id)
			if err != nil {
				return err
			}
			if inst.NoTermination && inst.State != model.StateTerminated {
				return model.OperationNotPermitted.Errorf("The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", id)
			}
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			inst := tx.tn.instances[id]
			if inst.State == model.StateTerminated {
				out = append(out, StateChange{id, model.StateTerminated, model.StateTerminated})
				continue
			}
			out = append(out, StateChange{id, inst.State, model.StateShuttingDown})
			if err := tx.unplace(inst); err != nil { // its host's capacity is free again
				return err
			}
			c := inst.Clone()
			c.State, c.TerminatedAt, c.TerminationMsg = model.StateTerminated, tx.now, transitionReason(tx.now)
			for _, eid := range inst.InterfaceIDs {
				n := tx.tn.enis[eid]
				if n == nil {
					continue
				}
				if n.Attachment != nil && n.Attachment.DeleteOnTermination {
					tx.dropENIAddresses(n)
					tx.dropFlowLogs(eid)
					set[model.NetworkInterface](tx, tx.tn.enis, kindENI, eid, nil)
					continue
				}
				d := n.Clone()
				d.Attachment = nil
				// The launch-time public address goes with the instance; Elastic IPs stay.
				tx.releasePublic(d.PublicIP)
				d.PublicIP, d.PublicOnLaunch = netip.Addr{}, false
				set(tx, tx.tn.enis, kindENI, eid, d)
			}
			set(tx, tx.tn.instances, kindInstance, id, c)
			tx.schedulePurge()
		}
		return nil
	})
	return out, res, err
}

// ModifyInstanceInput are ModifyInstanceAttribute's parameters: exactly one attribute.
type ModifyInstanceInput struct {
	ID                    string
	Groups                []string // replaces the primary interface's groups
	SourceDestCheck       *bool
	DisableAPITermination *bool
	DisableAPIStop        *bool
	ShutdownBehavior      *string // "stop" or "terminate"
	UserData              []byte  // non-nil: set (stopped instances only)
	InstanceType          *string
	DryRun                bool
}

// ModifyInstance changes one attribute of an instance.
func (s *Service) ModifyInstance(ctx context.Context, t Tenant, in ModifyInstanceInput) (Result, error) {
	if err := exactlyOne(len(in.Groups) > 0, in.SourceDestCheck != nil, in.DisableAPITermination != nil, in.DisableAPIStop != nil,
		in.ShutdownBehavior != nil, in.UserData != nil, in.InstanceType != nil); err != nil {
		return Result{}, err
	}
	if in.InstanceType != nil {
		if err := model.ValidateInstanceType(*in.InstanceType); err != nil {
			return Result{}, err
		}
	}
	if len(in.UserData) > MaxUserData {
		return Result{}, model.InvalidValue("User data is limited to %d bytes", MaxUserData)
	}
	if in.ShutdownBehavior != nil {
		if err := validShutdownBehavior(*in.ShutdownBehavior); err != nil {
			return Result{}, err
		}
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		inst, err := tx.tn.instance(in.ID)
		if err != nil {
			return err
		}
		if inst.State == model.StateTerminated {
			return model.IncorrectInstanceState.Errorf("The instance '%s' is not in a state from which it can be modified.", in.ID)
		}
		var primary *model.NetworkInterface
		for _, eid := range inst.InterfaceIDs {
			if e := tx.tn.enis[eid]; e != nil && e.Attachment != nil && e.Attachment.DeviceIndex == 0 {
				primary = e
			}
		}
		switch {
		case len(in.Groups) > 0 || in.SourceDestCheck != nil:
			if primary == nil {
				return model.IncorrectInstanceState.Errorf("The instance '%s' has no primary network interface.", in.ID)
			}
			c := primary.Clone()
			if in.SourceDestCheck != nil {
				c.SourceDestCheck = *in.SourceDestCheck
			} else if c.Groups, err = s.checkGroups(tx.tn, c.VpcID, c.SubnetID, in.Groups); err != nil {
				return err
			}
			set(tx, tx.tn.enis, kindENI, c.ID, c)
		case in.DisableAPITermination != nil || in.DisableAPIStop != nil || in.ShutdownBehavior != nil:
			c := inst.Clone()
			switch {
			case in.DisableAPIStop != nil:
				c.NoStop = *in.DisableAPIStop
			case in.ShutdownBehavior != nil:
				c.ShutdownBehavior = shutdownBehavior(*in.ShutdownBehavior)
			default:
				c.NoTermination = *in.DisableAPITermination
			}
			set(tx, tx.tn.instances, kindInstance, c.ID, c)
		default: // user data and instance type: EC2 changes them only on a stopped instance
			if !inst.Stopped() {
				return model.IncorrectInstanceState.Errorf("The instance '%s' is not in the 'stopped' state.", in.ID)
			}
			c := inst.Clone()
			if in.InstanceType != nil {
				c.InstanceType = *in.InstanceType
				// The interfaces stay: the new type must take them and their addresses.
				attached := tx.tn.attachedTo(inst)
				if n := len(attached); n > model.InterfaceLimitsOf(typeOf(c)).Interfaces {
					return model.AttachmentLimitExceeded.Errorf("Interface count %d exceeds the limit for %s", n, typeOf(c))
				}
				if err := checkTypeLimits(c, attached); err != nil {
					return err
				}
				// Its host holds the old size: the new one is placed anew (placement.go).
				if inst.Node != "" {
					if err := tx.unplace(inst); err != nil {
						return err
					}
					c.Node = ""
					if err := tx.place(c); err != nil {
						return err
					}
				}
			} else {
				c.UserData = in.UserData
			}
			set(tx, tx.tn.instances, kindInstance, c.ID, c)
		}
		return nil
	})
}

// validShutdownBehavior checks instanceInitiatedShutdownBehavior's value.
func validShutdownBehavior(v string) error {
	if v != "stop" && v != "terminate" {
		return model.InvalidValue("Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate", v)
	}
	return nil
}

// shutdownBehavior is how a behaviour is stored: EC2's default, stop, as "".
func shutdownBehavior(v string) string {
	if v == "stop" {
		return ""
	}
	return v
}

// instance returns an instance with EC2's errors; one terminated over an hour ago is gone.
func (tn *tenant) instance(id string) (*model.Instance, error) {
	if in := tn.instances[id]; in != nil && !tn.expired(in) {
		return in, nil
	}
	if !model.ValidID(model.PrefixInstance, id) {
		return nil, model.InvalidInstanceIDMalformed.New(id)
	}
	return nil, model.InvalidInstanceIDNotFound.New(id)
}

// expired reports whether a terminated instance has passed its hour of visibility.
func (tn *tenant) expired(in *model.Instance) bool {
	return !in.TerminatedAt.IsZero() && tn.now().Sub(in.TerminatedAt) > model.TerminatedVisibleFor
}
