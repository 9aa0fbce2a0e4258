package control

import (
	"context"
	"net/netip"

	"github.com/stockade/stockade/model"
)

// A subnet's IPv6 block after creation (AssociateSubnetCidrBlock, DisassociateSubnetCidrBlock),
// default subnets (CreateDefaultSubnet) and subnet CIDR reservations.

// SubnetCIDRAssociation is a subnet's IPv6 block association as the actions answer it.
type SubnetCIDRAssociation struct {
	SubnetID string
	AssocID  string
	CIDR     netip.Prefix
}

// AssociateSubnetCIDR gives a subnet an IPv6 /64 from its VPC's IPv6 block. A subnet has at
// most one IPv6 block.
func (s *Service) AssociateSubnetCIDR(ctx context.Context, t Tenant, subnetID, block string) (SubnetCIDRAssociation, Result, error) {
	var out SubnetCIDRAssociation
	switch {
	case subnetID == "":
		return out, Result{}, model.Missing("SubnetId")
	case block == "":
		return out, Result{}, model.Missing("Ipv6CidrBlock")
	}
	res, err := s.write(ctx, t, false, func(tx *tx) error {
		sn, err := tx.tn.subnet(subnetID)
		if err != nil {
			return err
		}
		if sn.IPv6CIDR.IsValid() {
			// [UNCONFIRMED] code and wording: AWS allows one IPv6 block per subnet.
			return model.CidrLimitExceeded.New(sn.ID, 1)
		}
		p, err := tx.subnetIPv6(tx.tn.vpcs[sn.VpcID], sn.ID, block)
		if err != nil {
			return err
		}
		c := sn.Clone()
		c.IPv6CIDR, c.IPv6AssocID = p, model.NewID(model.PrefixSubnetCidrAssoc)
		set(tx, tx.tn.subnets, kindSubnet, c.ID, c)
		out = SubnetCIDRAssociation{SubnetID: c.ID, AssocID: c.IPv6AssocID, CIDR: p}
		return nil
	})
	return out, res, err
}

// DisassociateSubnetCIDR removes a subnet's IPv6 block. It stays while an interface of the
// subnet has an IPv6 address, and an IPv6-only subnet keeps its only block.
func (s *Service) DisassociateSubnetCIDR(ctx context.Context, t Tenant, assocID string) (SubnetCIDRAssociation, Result, error) {
	var out SubnetCIDRAssociation
	if assocID == "" {
		return out, Result{}, model.Missing("AssociationId")
	}
	res, err := s.write(ctx, t, false, func(tx *tx) error {
		var sn *model.Subnet
		for _, x := range tx.tn.subnets {
			if x.IPv6AssocID == assocID {
				sn = x
			}
		}
		switch {
		case sn == nil:
			return model.InvalidSubnetCidrBlockAssociationIDNotFound.New(assocID)
		case sn.IPv6Native:
			// [UNCONFIRMED] code and wording.
			return model.OperationNotPermitted.Errorf("The IPv6 CIDR block of IPv6-only subnet %s cannot be disassociated.", sn.ID)
		case hasAny(tx.tn.enis, func(n *model.NetworkInterface) bool { return n.SubnetID == sn.ID && len(n.IPv6) > 0 }):
			// [UNCONFIRMED] code and wording.
			return model.InvalidCidrBlockInUse.Errorf("The subnet %s has network interfaces with IPv6 addresses in CIDR block %s", sn.ID, sn.IPv6CIDR)
		}
		out = SubnetCIDRAssociation{SubnetID: sn.ID, AssocID: assocID, CIDR: sn.IPv6CIDR}
		c := sn.Clone()
		c.IPv6CIDR, c.IPv6AssocID, c.AssignIPv6 = netip.Prefix{}, "", false
		set(tx, tx.tn.subnets, kindSubnet, c.ID, c)
		return nil
	})
	return out, res, err
}

// CreateDefaultSubnetInput are CreateDefaultSubnet's parameters: one of Zone and ZoneID.
type CreateDefaultSubnetInput struct {
	Zone, ZoneID string
	IPv6Native   bool
	DryRun       bool
}

// CreateDefaultSubnet gives the default VPC a default subnet in a zone that has none: a /20
// (the zone's own slot of 172.31.0.0/16 when free, else the first free /20 of the VPC's
// blocks), public addresses on launch; or, IPv6-native, the first free /64 of the VPC's IPv6
// block.
func (s *Service) CreateDefaultSubnet(ctx context.Context, t Tenant, in CreateDefaultSubnetInput) (*model.Subnet, Result, error) {
	if in.Zone != "" && in.ZoneID != "" {
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.InvalidParameterCombination.Errorf("Specify either AvailabilityZone or AvailabilityZoneId, not both.")
	}
	if in.Zone == "" && in.ZoneID == "" {
		return nil, Result{}, model.Missing("AvailabilityZone")
	}
	zone, err := pickZone(t.Region, in.Zone, in.ZoneID)
	if err != nil {
		return nil, Result{}, err
	}
	var sn *model.Subnet
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc := tx.tn.defaultVPC()
		if vpc == nil {
			return model.DefaultVpcDoesNotExist.New()
		}
		var taken []netip.Prefix
		var taken6 []netip.Prefix
		for _, o := range tx.tn.subnets {
			if o.VpcID != vpc.ID {
				continue
			}
			if o.DefaultForAz && o.AZ == zone {
				return model.DefaultSubnetAlreadyExistsInAvailabilityZone.Errorf("A default subnet already exists in availability zone %s.", zone)
			}
			if o.CIDR.IsValid() {
				taken = append(taken, o.CIDR)
			}
			if o.IPv6CIDR.IsValid() {
				taken6 = append(taken6, o.IPv6CIDR)
			}
		}
		sn = &model.Subnet{ID: model.NewID(model.PrefixSubnet), VpcID: vpc.ID, OwnerID: vpc.OwnerID, AZ: zone, AZID: ZoneID(zone),
			DefaultForAz: true, IPv6Native: in.IPv6Native}
		if in.IPv6Native {
			if !vpc.IPv6CIDR.IsValid() {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("The default VPC %s has no IPv6 CIDR block for an IPv6-only subnet.", vpc.ID)
			}
			var blocks []netip.Prefix
			for _, b := range vpc.IPv6Blocks() {
				blocks = append(blocks, b.CIDR)
			}
			p, ok := freeBlock(blocks, 64, taken6, netip.Prefix{})
			if !ok {
				return model.InsufficientFreeAddressesInSubnet.Errorf("The default VPC %s has no free /64 left.", vpc.ID)
			}
			sn.IPv6CIDR, sn.IPv6AssocID, sn.HostnameType = p, model.NewID(model.PrefixSubnetCidrAssoc), model.HostnameResourceName
		} else {
			var blocks []netip.Prefix
			for _, b := range vpc.Blocks() {
				blocks = append(blocks, b.CIDR)
			}
			// The zone's own slot, as createDefaultVPC lays them out, is tried first.
			base := defaultVPCCIDR.Addr().As4()
			for i, z := range Zones(t.Region) {
				if z == zone {
					base[2] = byte(16 * i)
				}
			}
			p, ok := freeBlock(blocks, 20, taken, netip.PrefixFrom(netip.AddrFrom4(base), 20))
			if !ok {
				return model.InsufficientFreeAddressesInSubnet.Errorf("The default VPC %s has no free /20 left.", vpc.ID)
			}
			sn.CIDR, sn.MapPublicIP = p, true
		}
		return tx.addSubnet(sn)
	})
	return sn, res, err
}

// freeBlock finds a /bits inside one of blocks that overlaps nothing taken: prefer, when
// valid, inside a block and free; else the first in address order. Its search is bounded by
// the 4,096 /20s of a /8 or 256 /64s of a /56, the largest VPC blocks there are.
func freeBlock(blocks []netip.Prefix, bits int, taken []netip.Prefix, prefer netip.Prefix) (netip.Prefix, bool) {
	free := func(p netip.Prefix) bool {
		for _, t := range taken {
			if t.Overlaps(p) {
				return false
			}
		}
		return true
	}
	for _, b := range blocks {
		if prefer.IsValid() && b.Bits() <= bits && b.Contains(prefer.Addr()) && free(prefer) {
			return prefer, true
		}
	}
	for _, b := range blocks {
		if b.Bits() > bits {
			continue
		}
		for p := netip.PrefixFrom(b.Masked().Addr(), bits); b.Contains(p.Addr()); {
			if free(p) {
				return p, true
			}
			next, ok := nextPrefix(p)
			if !ok {
				break
			}
			p = next
		}
	}
	return netip.Prefix{}, false
}

// nextPrefix is the prefix of the same length right after p; false past the last address.
func nextPrefix(p netip.Prefix) (netip.Prefix, bool) {
	b := p.Addr().AsSlice() // 4 or 16 bytes
	// Add one at the prefix's last bit, carrying into the bytes before.
	for i, inc := (p.Bits()-1)/8, byte(1)<<(7-(p.Bits()-1)%8); i >= 0; i, inc = i-1, 1 {
		old := b[i]
		b[i] += inc
		if b[i] > old {
			a, _ := netip.AddrFromSlice(b)
			return netip.PrefixFrom(a, p.Bits()), true
		}
	}
	return netip.Prefix{}, false
}
