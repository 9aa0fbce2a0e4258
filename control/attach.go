package control

import (
	"context"
	"slices"

	"github.com/stockade/stockade/model"
)

// maxDeviceIndex bounds AttachNetworkInterface's DeviceIndex. [UNCONFIRMED] EC2 documents no
// bound of its own beyond the type's interface count; Stockade needs one because a lab
// instance routes what interface N sends through routing table 100+N (netlab), and Linux
// reserves tables 253-255.
const maxDeviceIndex = 127

// AttachENIInput are AttachNetworkInterface's parameters.
type AttachENIInput struct {
	ENIID, InstanceID string
	DeviceIndex       int
	NetworkCardIndex  int
	DryRun            bool
}

// AttachENI attaches an available interface to an instance at a device index other than 0
// (EC2 user guide, "Attach a network interface to an instance"): both in one availability
// zone and one VPC, the index free, the instance type's interface count not exceeded. The
// attachment is new (eni-attach-…), DeleteOnTermination false, as EC2 makes it for an
// interface attached after launch. A running lab instance gets the interface as ethN at once.
func (s *Service) AttachENI(ctx context.Context, t Tenant, in AttachENIInput) (*model.Attachment, Result, error) {
	switch {
	case in.ENIID == "":
		return nil, Result{}, model.Missing("NetworkInterfaceId")
	case in.InstanceID == "":
		return nil, Result{}, model.Missing("InstanceId")
	case in.DeviceIndex < 0 || in.DeviceIndex > maxDeviceIndex:
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter deviceIndex is invalid. It must be between 1 and %d.", in.DeviceIndex, maxDeviceIndex)
	case in.NetworkCardIndex != 0:
		// Lab instances have one network card, as every type Stockade launches does.
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter networkCardIndex is invalid. The instance has one network card (index 0).", in.NetworkCardIndex)
	}
	var out *model.Attachment
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.eni(in.ENIID)
		if err != nil {
			return err
		}
		inst, err := tx.tn.instance(in.InstanceID)
		if err != nil {
			return err
		}
		switch inst.State {
		case model.StateRunning, model.StateStopped, model.StatePending, model.StateStopping:
		default:
			// [UNCONFIRMED] wording.
			return model.IncorrectInstanceState.Errorf("The instance '%s' is not in a state from which a network interface can be attached.", inst.ID)
		}
		switch {
		case n.Attachment != nil:
			return model.InvalidNetworkInterfaceInUse.Errorf("Interface: [%s] in use.", n.ID)
		case n.RequesterManaged:
			return serviceManaged(n)
		case n.AZ != inst.AZ:
			// [UNCONFIRMED] code and wording.
			return model.InvalidValue("You may not attach a network interface to an instance if they are not in the same availability zone")
		case n.VpcID != inst.VpcID:
			// [UNCONFIRMED] code and wording. EC2 now allows an interface of another VPC in
			// the same zone (multi-VPC ENI attachments); a lab instance is wired to its own
			// VPC's router only, so Stockade keeps the older rule.
			return model.InvalidValue("Network interface %s and instance %s are in different VPCs.", n.ID, inst.ID)
		}
		attached := tx.tn.attachedTo(inst)
		for _, a := range attached {
			if a.Attachment.DeviceIndex == in.DeviceIndex {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Instance '%s' already has an interface attached at device index '%d'.", inst.ID, in.DeviceIndex)
			}
		}
		lim := model.InterfaceLimitsOf(typeOf(inst))
		if len(attached)+1 > lim.Interfaces {
			// The wording of EC2's reply to a launch with too many interfaces.
			return model.AttachmentLimitExceeded.Errorf("Interface count %d exceeds the limit for %s", len(attached)+1, typeOf(inst))
		}
		if err := checkAddrLimits(n, lim, typeOf(inst)); err != nil {
			return err
		}
		if sn := tx.tn.subnets[n.SubnetID]; sn != nil {
			if err := ipv6OnlyFits(sn, typeOf(inst)); err != nil {
				return err
			}
		}
		c := n.Clone()
		c.Attachment = &model.Attachment{ID: model.NewID(model.PrefixAttachment), InstanceID: inst.ID, DeviceIndex: in.DeviceIndex, AttachTime: tx.now}
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		ic := inst.Clone()
		ic.InterfaceIDs = append(ic.InterfaceIDs, c.ID)
		set(tx, tx.tn.instances, kindInstance, ic.ID, ic)
		a := *c.Attachment
		out = &a
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// DetachENIInput are DetachNetworkInterface's parameters.
type DetachENIInput struct {
	AttachmentID string
	// Force is accepted: a lab instance has no operating system to ask, so every detachment
	// is immediate, forced or not.
	Force  bool
	DryRun bool
}

// DetachENI detaches an interface from its instance; the primary (device index 0) cannot be
// detached. The interface becomes available with its addresses, groups and Elastic IPs; a
// running lab instance loses its ethN at once.
func (s *Service) DetachENI(ctx context.Context, t Tenant, in DetachENIInput) (Result, error) {
	if in.AttachmentID == "" {
		return Result{}, model.Missing("AttachmentId")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var n *model.NetworkInterface
		for _, e := range tx.tn.enis {
			if e.Attachment != nil && e.Attachment.ID == in.AttachmentID {
				n = e
				break
			}
		}
		if n == nil {
			return model.InvalidAttachmentIDNotFound.New(in.AttachmentID)
		}
		if n.Attachment.DeviceIndex == 0 {
			// [UNCONFIRMED] wording.
			return model.OperationNotPermitted.Errorf("The network interface at device index 0 cannot be detached.")
		}
		c := n.Clone()
		c.Attachment = nil
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		if inst := tx.tn.instances[n.Attachment.InstanceID]; inst != nil {
			ic := inst.Clone()
			ic.InterfaceIDs = slices.DeleteFunc(ic.InterfaceIDs, func(id string) bool { return id == c.ID })
			set(tx, tx.tn.instances, kindInstance, ic.ID, ic)
		}
		return nil
	})
}

// attachedTo returns the interfaces attached to an instance, in its order (primary first).
func (tn *tenant) attachedTo(inst *model.Instance) []*model.NetworkInterface {
	var out []*model.NetworkInterface
	for _, id := range inst.InterfaceIDs {
		if n := tn.enis[id]; n != nil && n.Attachment != nil && n.Attachment.InstanceID == inst.ID {
			out = append(out, n)
		}
	}
	return out
}

// typeOf is an instance's type; a record without one was launched with EC2's default.
func typeOf(inst *model.Instance) string {
	if inst.InstanceType == "" {
		return model.DefaultInstanceType
	}
	return inst.InstanceType
}

// addrLimits returns how many IPv4 (primary included) and IPv6 addresses an interface may
// hold: its instance type's (named), or, unattached, the most any type allows (type "").
func (tn *tenant) addrLimits(n *model.NetworkInterface) (model.InterfaceLimits, string) {
	if n.Attachment != nil {
		if inst := tn.instances[n.Attachment.InstanceID]; inst != nil {
			return model.InterfaceLimitsOf(typeOf(inst)), typeOf(inst)
		}
	}
	return model.InterfaceLimits{IPv4PerENI: model.UnattachedAddresses, IPv6PerENI: model.UnattachedAddresses}, ""
}

// checkAddrLimits refuses an interface holding more addresses than lim, the limits of
// instance type itype, allows, or any IPv6 address when the type has no IPv6.
func checkAddrLimits(n *model.NetworkInterface, lim model.InterfaceLimits, itype string) error {
	if 1+len(n.SecondaryIPs) > lim.IPv4PerENI {
		return model.PrivateIpAddressLimitExceeded.New()
	}
	if len(n.IPv6) > 0 && lim.IPv6Disabled {
		return noIPv6(itype)
	}
	if len(n.IPv6) > lim.IPv6PerENI {
		// [UNCONFIRMED] code and wording for IPv6.
		return model.InvalidValue("Number of IPv6 addresses (%d) exceeds the limit of %d for the interface.", len(n.IPv6), lim.IPv6PerENI)
	}
	return nil
}

// noIPv6 refuses IPv6 addresses on an instance type without IPv6: EC2-Classic-era types such
// as m1.small, EC2's default (model.InterfaceLimits.IPv6Disabled).
func noIPv6(itype string) error {
	return model.UnsupportedOperation.Errorf("IPv6 addresses are not supported on %s", itype)
}
