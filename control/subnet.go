package control

import (
	"context"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// CreateSubnetInput are CreateSubnet's parameters.
type CreateSubnetInput struct {
	VpcID      string
	CIDR       string
	IPv6CIDR   string
	IPv6Native bool   // Ipv6Native: an IPv6-only subnet, with an IPv6 block and no IPv4 one
	Zone       string // AvailabilityZone
	ZoneID     string // AvailabilityZoneId
	Tags       model.Tags
	DryRun     bool
}

// CreateSubnet adds a subnet inside one of a VPC's blocks, not overlapping its other subnets.
func (s *Service) CreateSubnet(ctx context.Context, t Tenant, in CreateSubnetInput) (*model.Subnet, Result, error) {
	switch {
	case in.VpcID == "":
		return nil, Result{}, model.Missing("VpcId")
	case in.IPv6Native && in.IPv6CIDR == "":
		return nil, Result{}, model.Missing("Ipv6CidrBlock")
	case in.IPv6Native && in.CIDR != "":
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.InvalidParameterCombination.Errorf("An IPv6-native subnet cannot have an IPv4 CIDR block.")
	case in.CIDR == "" && !in.IPv6Native:
		return nil, Result{}, model.Missing("CidrBlock")
	}
	var cidr netip.Prefix
	if in.CIDR != "" {
		var err error
		if cidr, err = model.ParseCIDR(in.CIDR, false, "CidrBlock"); err != nil {
			return nil, Result{}, err
		}
	}
	zone, err := pickZone(t.Region, in.Zone, in.ZoneID)
	if err != nil {
		return nil, Result{}, err
	}
	var sn *model.Subnet
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		if cidr.IsValid() {
			if _, ok := vpc.BlockOf(cidr); cidr.Bits() < 16 || cidr.Bits() > 28 || !ok {
				return model.InvalidSubnetRange.Errorf("The CIDR '%s' is invalid.", in.CIDR)
			}
		}
		sn = &model.Subnet{
			ID:         model.NewID(model.PrefixSubnet),
			VpcID:      vpc.ID,
			OwnerID:    vpc.OwnerID,
			CIDR:       cidr,
			AZ:         zone,
			AZID:       ZoneID(zone),
			Tags:       in.Tags,
			IPv6Native: in.IPv6Native,
		}
		if in.IPv6Native {
			// An IPv6-only subnet's instances are named by their ID (VPC User Guide,
			// "Subnets for your VPC").
			sn.HostnameType = model.HostnameResourceName
		}
		if in.IPv6CIDR != "" {
			if sn.IPv6CIDR, err = tx.subnetIPv6(vpc, "", in.IPv6CIDR); err != nil {
				return err
			}
			sn.IPv6AssocID = model.NewID(model.PrefixSubnetCidrAssoc)
		}
		return tx.addSubnet(sn)
	})
	return sn, res, err
}

// subnetIPv6 checks an IPv6 block for a subnet of vpc (other than the subnet except): a /64
// inside the VPC's IPv6 block that no other subnet has.
func (tx *tx) subnetIPv6(vpc *model.VPC, except, block string) (netip.Prefix, error) {
	p, err := model.ParseCIDR(block, true, "Ipv6CidrBlock")
	if err != nil {
		return netip.Prefix{}, err
	}
	if !slices.ContainsFunc(vpc.IPv6Blocks(), func(b model.CIDRBlock) bool { return b.CIDR.Contains(p.Addr()) }) || p.Bits() != 64 {
		return netip.Prefix{}, model.InvalidSubnetRange.Errorf("The IPv6 CIDR '%s' is invalid: it must be a /64 inside one of the VPC's IPv6 blocks.", block)
	}
	for _, o := range tx.tn.subnets {
		if o.VpcID == vpc.ID && o.ID != except && o.IPv6CIDR == p {
			return netip.Prefix{}, model.InvalidSubnetConflict.Errorf("The CIDR '%s' conflicts with another subnet", block)
		}
	}
	return p, nil
}

// addSubnet stores a new subnet after checking its IPv4 block against the VPC's other
// subnets and the subnet quota, and associates it with the VPC's default network ACL.
func (tx *tx) addSubnet(sn *model.Subnet) error {
	n := 0
	for _, o := range tx.tn.subnets {
		if o.VpcID != sn.VpcID {
			continue
		}
		n++
		if sn.CIDR.IsValid() && o.CIDR.IsValid() && o.CIDR.Overlaps(sn.CIDR) {
			return model.InvalidSubnetConflict.Errorf("The CIDR '%s' conflicts with another subnet", sn.CIDR)
		}
	}
	if n >= tx.s.cfg.Quotas.SubnetsPerVPC {
		return model.SubnetLimitExceeded.New(sn.VpcID)
	}
	set(tx, tx.tn.subnets, kindSubnet, sn.ID, sn)
	tx.associate(sn)
	return nil
}

// pickZone resolves the requested zone (by name or ID); neither given picks the first zone.
func pickZone(region, zone, zoneID string) (string, error) {
	zones := Zones(region)
	if zone == "" && zoneID == "" {
		return zones[0], nil
	}
	for _, z := range zones {
		if (zone == "" || z == zone) && (zoneID == "" || ZoneID(z) == zoneID) {
			return z, nil
		}
	}
	if zone != "" {
		return "", model.InvalidValue("Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", zone, joinZones(zones))
	}
	return "", model.InvalidValue("Value (%s) for parameter availabilityZoneId is invalid.", zoneID)
}

func joinZones(zs []string) string {
	out := ""
	for i, z := range zs {
		if i > 0 {
			out += ", "
		}
		out += z
	}
	return out
}

// DeleteSubnet deletes a subnet that holds no network interfaces.
func (s *Service) DeleteSubnet(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if _, err := tx.tn.subnet(id); err != nil {
			return err
		}
		for _, n := range tx.tn.enis {
			if n.SubnetID == id {
				return model.DependencyViolation.Errorf("The subnet '%s' has dependencies and cannot be deleted.", id)
			}
		}
		tx.disassociate(id)
		tx.dropRouteAssoc(id)
		tx.dropFlowLogs(id)
		tx.dropReservations(id)
		set[model.Subnet](tx, tx.tn.subnets, kindSubnet, id, nil)
		return nil
	})
}

// subnet returns Subnet by ID or EC2's malformed and not-found error.
func (tn *tenant) subnet(id string) (*model.Subnet, error) {
	return find(tn.subnets, id, model.PrefixSubnet, model.InvalidSubnetIDMalformed, model.InvalidSubnetIDNotFound)
}

// usedAddrs returns the addresses of a subnet held by interfaces.
func (tn *tenant) usedAddrs(subnetID string) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, n := range tn.enis {
		if n.SubnetID == subnetID {
			for _, a := range n.Addrs() {
				used[a] = true
			}
		}
	}
	return used
}

// available is the subnet's availableIpAddressCount: its size less AWS's five reserved
// addresses and the IPv4 addresses in use.
func (tn *tenant) available(sn *model.Subnet) int {
	if !sn.CIDR.IsValid() {
		return 0 // IPv6-only
	}
	used := 0
	for _, n := range tn.enis {
		if n.SubnetID == sn.ID {
			used += 1 + len(n.SecondaryIPs)
		}
	}
	return sn.Size() - model.ReservedAddresses - used
}

// ModifySubnetInput are ModifySubnetAttribute's parameters: one attribute per call, as on
// EC2; nil (or "") leaves an attribute as it is.
type ModifySubnetInput struct {
	SubnetID            string
	MapPublicIPOnLaunch *bool
	AssignIPv6          *bool  // AssignIpv6AddressOnCreation
	DNS64               *bool  // EnableDns64
	HostnameType        string // PrivateDnsHostnameTypeOnLaunch
	DNSARecord          *bool  // EnableResourceNameDnsARecordOnLaunch
	DNSAAAARecord       *bool  // EnableResourceNameDnsAAAARecordOnLaunch
	DryRun              bool
}

// ModifySubnet changes one of a subnet's launch attributes.
func (s *Service) ModifySubnet(ctx context.Context, t Tenant, in ModifySubnetInput) (Result, error) {
	if in.SubnetID == "" {
		return Result{}, model.Missing("SubnetId")
	}
	n := 0
	for _, p := range []*bool{in.MapPublicIPOnLaunch, in.AssignIPv6, in.DNS64, in.DNSARecord, in.DNSAAAARecord} {
		if p != nil {
			n++
		}
	}
	if in.HostnameType != "" {
		n++
		if in.HostnameType != model.HostnameIPName && in.HostnameType != model.HostnameResourceName {
			return Result{}, model.InvalidValue("Value (%s) for parameter privateDnsHostnameTypeOnLaunch is invalid. Valid values: ip-name, resource-name", in.HostnameType)
		}
	}
	if n != 1 {
		// [UNCONFIRMED] wording: EC2 wants exactly one attribute.
		return Result{}, model.InvalidParameterCombination.Errorf("Specify one attribute to modify.")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		sn, err := tx.tn.subnet(in.SubnetID)
		if err != nil {
			return err
		}
		c := sn.Clone()
		switch {
		case in.MapPublicIPOnLaunch != nil:
			if *in.MapPublicIPOnLaunch && sn.IPv6Native {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Subnet %s is IPv6-only: it has no IPv4 addresses to map public ones to.", sn.ID)
			}
			c.MapPublicIP = *in.MapPublicIPOnLaunch
		case in.AssignIPv6 != nil:
			if *in.AssignIPv6 && !sn.IPv6CIDR.IsValid() {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Subnet %s has no IPv6 CIDR block, so its interfaces cannot be assigned IPv6 addresses.", sn.ID)
			}
			c.AssignIPv6 = *in.AssignIPv6
		case in.DNS64 != nil:
			c.DNS64 = *in.DNS64
		case in.DNSARecord != nil:
			c.DNSARecord = *in.DNSARecord
		case in.DNSAAAARecord != nil:
			c.DNSAAAARecord = *in.DNSAAAARecord
		default:
			if sn.IPv6Native && in.HostnameType == model.HostnameIPName {
				// An IPv6-only subnet's instances have no IPv4 address to name them by.
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Subnet %s is IPv6-only: its hostname type must be resource-name.", sn.ID)
			}
			c.HostnameType = in.HostnameType
		}
		set(tx, tx.tn.subnets, kindSubnet, c.ID, c)
		return nil
	})
}
