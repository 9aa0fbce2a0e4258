package control

import (
	"context"
	"net/netip"

	"github.com/stockade/stockade/model"
)

// CreateSubnetInput are CreateSubnet's parameters.
type CreateSubnetInput struct {
	VpcID    string
	CIDR     string
	IPv6CIDR string
	Zone     string // AvailabilityZone
	ZoneID   string // AvailabilityZoneId
	Tags     model.Tags
	DryRun   bool
}

// CreateSubnet adds a subnet inside a VPC's range, not overlapping its other subnets.
func (s *Service) CreateSubnet(ctx context.Context, t Tenant, in CreateSubnetInput) (*model.Subnet, Result, error) {
	switch {
	case in.VpcID == "":
		return nil, Result{}, model.Missing("VpcId")
	case in.CIDR == "":
		return nil, Result{}, model.Missing("CidrBlock")
	}
	cidr, err := model.ParseCIDR(in.CIDR, false, "CidrBlock")
	if err != nil {
		return nil, Result{}, err
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
		if _, ok := vpc.BlockOf(cidr); cidr.Bits() < 16 || cidr.Bits() > 28 || !ok {
			return model.InvalidSubnetRange.Errorf("The CIDR '%s' is invalid.", in.CIDR)
		}
		n := 0
		for _, o := range tx.tn.subnets {
			if o.VpcID != vpc.ID {
				continue
			}
			n++
			if o.CIDR.Overlaps(cidr) {
				return model.InvalidSubnetConflict.Errorf("The CIDR '%s' conflicts with another subnet", in.CIDR)
			}
		}
		if n >= s.cfg.Quotas.SubnetsPerVPC {
			return model.SubnetLimitExceeded.New(vpc.ID)
		}
		sn = &model.Subnet{
			ID:      model.NewID(model.PrefixSubnet),
			VpcID:   vpc.ID,
			OwnerID: vpc.OwnerID,
			CIDR:    cidr,
			AZ:      zone,
			AZID:    ZoneID(zone),
			Tags:    in.Tags,
		}
		if in.IPv6CIDR != "" {
			p, err := model.ParseCIDR(in.IPv6CIDR, true, "Ipv6CidrBlock")
			if err != nil {
				return err
			}
			if !vpc.IPv6CIDR.IsValid() || p.Bits() != 64 || !vpc.IPv6CIDR.Contains(p.Addr()) {
				return model.InvalidSubnetRange.Errorf("The IPv6 CIDR '%s' is invalid: it must be a /64 inside the VPC's IPv6 block.", in.IPv6CIDR)
			}
			sn.IPv6CIDR = p
			sn.IPv6AssocID = model.NewID("subnet-cidr-assoc")
		}
		set(tx, tx.tn.subnets, kindSubnet, sn.ID, sn)
		tx.associate(sn)
		return nil
	})
	return sn, res, err
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
	used := 0
	for _, n := range tn.enis {
		if n.SubnetID == sn.ID {
			used += 1 + len(n.SecondaryIPs)
		}
	}
	return sn.Size() - model.ReservedAddresses - used
}

// ModifySubnetInput are ModifySubnetAttribute's parameters: one attribute per call, as on EC2.
type ModifySubnetInput struct {
	SubnetID            string
	MapPublicIPOnLaunch *bool
	DryRun              bool
}

// ModifySubnet changes a subnet's attribute. MapPublicIpOnLaunch is the only one Stockade
// keeps; the API refuses the others before they get here.
func (s *Service) ModifySubnet(ctx context.Context, t Tenant, in ModifySubnetInput) (Result, error) {
	if in.SubnetID == "" {
		return Result{}, model.Missing("SubnetId")
	}
	if in.MapPublicIPOnLaunch == nil {
		// [UNCONFIRMED] wording: EC2 wants exactly one attribute.
		return Result{}, model.InvalidParameterCombination.Errorf("Specify one attribute to modify.")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		sn, err := tx.tn.subnet(in.SubnetID)
		if err != nil {
			return err
		}
		c := sn.Clone()
		c.MapPublicIP = *in.MapPublicIPOnLaunch
		set(tx, tx.tn.subnets, kindSubnet, c.ID, c)
		return nil
	})
}
