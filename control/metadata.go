package control

import (
	"context"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/imds"
	"github.com/stockade/stockade/model"
)

// ModifyMetadataOptionsInput are ModifyInstanceMetadataOptions' parameters: the options to
// change (unset ones keep their values).
type ModifyMetadataOptionsInput struct {
	ID      string
	Options model.MetadataOptions
	DryRun  bool
}

// ModifyInstanceMetadataOptions changes an instance's metadata-service options and returns
// them all. EC2 applies the change asynchronously (state "pending"); the lab's metadata
// service reads the options on every request, so the change is applied when the write is
// (spec console-ssh.md B2.2: the reply says "applied").
func (s *Service) ModifyInstanceMetadataOptions(ctx context.Context, t Tenant, in ModifyMetadataOptionsInput) (model.MetadataOptions, Result, error) {
	o := in.Options
	if in.ID == "" {
		return model.MetadataOptions{}, Result{}, model.Missing("InstanceId")
	}
	if o == (model.MetadataOptions{}) {
		// [UNCONFIRMED wording] EC2 refuses a request that changes nothing.
		return model.MetadataOptions{}, Result{}, model.InvalidParameterCombination.Errorf(
			"At least one of HttpTokens, HttpPutResponseHopLimit, HttpEndpoint, HttpProtocolIpv6 and InstanceMetadataTags must be specified.")
	}
	if err := o.Validate(); err != nil {
		return model.MetadataOptions{}, Result{}, err
	}
	if o.HttpEndpoint == model.Disabled && (o.HttpTokens != "" || o.HttpPutResponseHopLimit != 0 || o.HttpProtocolIpv6 != "" || o.InstanceMetadataTags != "") {
		// EC2 requires the endpoint enabled whenever another option is set (spec B2.2).
		return model.MetadataOptions{}, Result{}, model.InvalidParameterCombination.Errorf(
			"HttpEndpoint must be enabled when other metadata options are specified.")
	}
	var out model.MetadataOptions
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		inst, err := tx.tn.instance(in.ID)
		if err != nil {
			return err
		}
		if inst.State == model.StateTerminated {
			return model.IncorrectInstanceState.Errorf("The instance '%s' is not in a state from which it can be modified.", in.ID)
		}
		out = inst.MetadataOptions.WithDefaults().Merge(o)
		if out != inst.MetadataOptions {
			c := inst.Clone()
			c.MetadataOptions = out
			set(tx, tx.tn.instances, kindInstance, c.ID, c)
		}
		return nil
	})
	if err != nil {
		return model.MetadataOptions{}, res, err
	}
	return out, res, nil
}

// Metadata is what the metadata service shows instance id of the account in the region, from
// the current state: groups (names and IDs per interface), addresses, options and the launch
// key as they are now. It is false for an instance that does not exist or was terminated.
//
// It is called on every metadata request, so it never creates anything: a tenant that was
// never used has no instances, and is not made (not even in memory, as reads through
// Service.tenant do).
func (s *Service) Metadata(account, region, id string) (imds.Instance, bool) {
	s.mu.Lock()
	tn := s.tenants[Tenant{Account: account, Region: region}]
	s.mu.Unlock()
	if tn == nil {
		return imds.Instance{}, false
	}
	tn.mu.RLock()
	out, ok := tn.metadata(id)
	seq := tn.staged
	tn.mu.RUnlock()
	// As every reader: show nothing that is not durable yet.
	if err := s.waitDurable(tn, seq); err != nil {
		return imds.Instance{}, false
	}
	return out, ok
}

func (tn *tenant) metadata(id string) (imds.Instance, bool) {
	inst := tn.instances[id]
	if inst == nil || inst.State == model.StateTerminated {
		return imds.Instance{}, false
	}
	out := imds.Instance{
		ID: inst.ID, AccountID: inst.OwnerID, Region: tn.key.Region, AZ: inst.AZ, ImageID: inst.ImageID,
		InstanceType: inst.InstanceType, ReservationID: inst.ReservationID, LaunchIndex: inst.LaunchIndex,
		PendingTime: inst.LaunchTime, KeyName: inst.KeyName, PublicKey: inst.PublicKey,
		UserData: slices.Clone(inst.UserData), Tags: inst.Tags.Clone(), Options: inst.MetadataOptions.WithDefaults(),
	}
	if out.PublicKey == "" {
		out.KeyName = "" // launched before keys were snapshotted: no key to show
	}
	var enis []*model.NetworkInterface
	for _, eid := range inst.InterfaceIDs {
		if n := tn.enis[eid]; n != nil && n.Attachment != nil && n.Attachment.InstanceID == inst.ID {
			enis = append(enis, n)
		}
	}
	slices.SortFunc(enis, func(a, b *model.NetworkInterface) int { return a.Attachment.DeviceIndex - b.Attachment.DeviceIndex })
	for _, n := range enis {
		ni := imds.Interface{
			MAC: n.MAC, ID: n.ID, DeviceNumber: n.Attachment.DeviceIndex, SubnetID: n.SubnetID, VpcID: n.VpcID,
			OwnerID: n.OwnerID, IPv4s: slices.DeleteFunc(n.Addrs(), netip.Addr.Is6), IPv6s: slices.Clone(n.IPv6),
		}
		if sn := tn.subnets[n.SubnetID]; sn != nil {
			ni.SubnetCIDR, ni.SubnetIPv6CIDR = sn.CIDR, sn.IPv6CIDR
		}
		if v := tn.vpcs[n.VpcID]; v != nil {
			for _, b := range v.Blocks() { // the primary first, then AssociateVpcCidrBlock's
				ni.VpcCIDRs = append(ni.VpcCIDRs, b.CIDR)
			}
			for _, b := range v.IPv6Blocks() {
				ni.VpcIPv6CIDRs = append(ni.VpcIPv6CIDRs, b.CIDR)
			}
		}
		for _, g := range n.Groups {
			name := ""
			if grp := tn.groups[g]; grp != nil {
				name = grp.Name
			}
			ni.GroupIDs, ni.GroupNames = append(ni.GroupIDs, g), append(ni.GroupNames, name)
		}
		out.Interfaces = append(out.Interfaces, ni)
	}
	if len(enis) > 0 && enis[0].Attachment.DeviceIndex == 0 {
		p := enis[0]
		out.PrivateIPv4, out.MAC = p.PrivateIP, p.MAC
		out.Hostname = model.PrivateDNSName(tn.key.Region, p.PrivateIP)
		if p.IPv6Only() {
			out.Hostname = model.ResourceDNSName(tn.key.Region, inst.ID)
		}
	}
	return out, true
}
