package control

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/model"
)

// defaultVPCCIDR is the default VPC's range on AWS, with a /20 default subnet per zone.
var defaultVPCCIDR = netip.MustParsePrefix("172.31.0.0/16")

// Zones are the availability zones Stockade reports for a region: "<region>a".."<region>c".
func Zones(region string) []string {
	return []string{region + "a", region + "b", region + "c"}
}

// ZoneID is an AZ ID in AWS's form: "use1-az1" for us-east-1a.
func ZoneID(zone string) string {
	region, letter := zone[:len(zone)-1], zone[len(zone)-1]
	parts := strings.Split(region, "-")
	short := map[string]string{"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
		"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i == 0 || i == len(parts)-1:
			b.WriteString(p)
		case short[p] != "":
			b.WriteString(short[p])
		default:
			b.WriteByte(p[0])
		}
	}
	return fmt.Sprintf("%s-az%d", b.String(), letter-'a'+1)
}

// CreateVPCInput are CreateVpc's parameters.
type CreateVPCInput struct {
	CIDR        string
	IPv6        bool // AmazonProvidedIpv6CidrBlock
	Tenancy     string
	Tags        model.Tags
	DryRun      bool
	ClientToken string
}

// CreateVPC creates a VPC with its default security group (spec §1.2, §2.3).
func (s *Service) CreateVPC(ctx context.Context, t Tenant, in CreateVPCInput) (*model.VPC, Result, error) {
	if in.CIDR == "" {
		return nil, Result{}, model.Missing("CidrBlock")
	}
	cidr, err := model.ParseCIDR(in.CIDR, false, "CidrBlock")
	if err != nil {
		return nil, Result{}, err
	}
	if cidr.Bits() < 16 || cidr.Bits() > 28 {
		return nil, Result{}, model.InvalidVpcRange.Errorf("The CIDR '%s' is invalid.", in.CIDR)
	}
	switch in.Tenancy {
	case "":
		in.Tenancy = "default"
	case "default", "dedicated":
	default:
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter instanceTenancy is invalid. Valid values: default, dedicated", in.Tenancy)
	}
	var vpc *model.VPC
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if len(tx.tn.vpcs) >= s.cfg.Quotas.VPCs {
			return model.VpcLimitExceeded.New()
		}
		// A new tenant's default VPC is stored with this write: numbered first, before a
		// dry run answers, so that the answer counts the number it needs too.
		if !tx.tn.initialised {
			if err := tx.numberVPCs(); err != nil {
				return err
			}
		}
		vpc = tx.newVPC(cidr, in.Tenancy, false, in.Tags)
		var err error
		if vpc.VNI, err = tx.takeVNI(); err != nil {
			return err
		}
		if in.IPv6 {
			vpc.IPv6CIDR = tx.allocIPv6()
			vpc.IPv6CIDRAssocID = model.NewID(model.PrefixVPCCidrAssoc)
		}
		return tx.addVPC(vpc)
	})
	return vpc, res, err
}

func (tx *tx) newVPC(cidr netip.Prefix, tenancy string, isDefault bool, tags model.Tags) *model.VPC {
	return &model.VPC{
		ID:            model.NewID(model.PrefixVPC),
		OwnerID:       tx.tn.key.Account,
		CIDR:          cidr,
		CIDRAssocID:   model.NewID(model.PrefixVPCCidrAssoc),
		Tenancy:       tenancy,
		IsDefault:     isDefault,
		DhcpOptionsID: tx.defaultDhcpOptions().ID,
		Tags:          tags,
	}
}

// addVPC stores vpc together with its default security group.
func (tx *tx) addVPC(vpc *model.VPC) error {
	g := &model.Group{
		ID:          model.NewID(model.PrefixGroup),
		Name:        model.DefaultGroupName,
		Description: model.DefaultGroupDescription,
		VpcID:       vpc.ID,
		OwnerID:     vpc.OwnerID,
		Default:     true,
	}
	g.Ingress = []model.Rule{{ID: model.NewID(model.PrefixRule), Protocol: model.ProtoAll, FromPort: -1, ToPort: -1,
		Peer: model.Peer{GroupID: g.ID, UserID: g.OwnerID, VpcID: vpc.ID}}}
	g.Egress = allTrafficEgress(vpc)
	vpc.DefaultGroupID = g.ID
	set(tx, tx.tn.vpcs, kindVPC, vpc.ID, vpc)
	set(tx, tx.tn.groups, kindGroup, g.ID, g)
	acl := newNACL(vpc, true)
	set(tx, tx.tn.nacls, kindNACL, acl.ID, acl)
	tx.addMainRouteTable(vpc)
	return nil
}

// allocIPv6 picks an unused /56 from the unique-local range for an "Amazon-provided" IPv6 block.
func (tx *tx) allocIPv6() netip.Prefix {
	used := map[netip.Prefix]bool{}
	for _, v := range tx.tn.vpcs {
		for _, b := range v.IPv6Blocks() {
			used[b.CIDR] = true
		}
	}
	for {
		var b [16]byte
		b[0] = 0xfd
		rand.Read(b[1:7]) // never fails (crypto/rand)
		p := netip.PrefixFrom(netip.AddrFrom16(b), 56)
		if !used[p] {
			return p
		}
	}
}

// createDefaultVPC gives a new tenant AWS's default VPC: 172.31.0.0/16 with a default /20
// subnet in each zone (spec §1.2).
func (tx *tx) createDefaultVPC() (*model.VPC, error) {
	vpc := tx.newVPC(defaultVPCCIDR, "default", true, nil)
	vpc.DNSHostnames = true // a default VPC resolves and names its instances (Default VPCs, VPC User Guide)
	if err := tx.addVPC(vpc); err != nil {
		return nil, err
	}
	for i, zone := range Zones(tx.tn.key.Region) {
		base := defaultVPCCIDR.Addr().As4()
		base[2] = byte(16 * i)
		sn := &model.Subnet{
			ID:           model.NewID(model.PrefixSubnet),
			VpcID:        vpc.ID,
			OwnerID:      vpc.OwnerID,
			CIDR:         netip.PrefixFrom(netip.AddrFrom4(base), 20),
			AZ:           zone,
			AZID:         ZoneID(zone),
			DefaultForAz: true,
			MapPublicIP:  true,
		}
		set(tx, tx.tn.subnets, kindSubnet, sn.ID, sn)
		tx.associate(sn)
	}
	return vpc, nil
}

// CreateDefaultVPC gives the tenant a default VPC again after it deleted its own: the one a
// new tenant gets, with its default subnets, group, network ACL, route table, internet
// gateway and the default DHCP option set (made anew if deleted). A region has at most one
// (DefaultVpcAlreadyExists), and it counts towards the VPC quota.
func (s *Service) CreateDefaultVPC(ctx context.Context, t Tenant, dryRun bool) (*model.VPC, Result, error) {
	var vpc *model.VPC
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		if tx.tn.defaultVPC() != nil {
			return model.DefaultVpcAlreadyExists.New()
		}
		if len(tx.tn.vpcs) >= s.cfg.Quotas.VPCs {
			return model.VpcLimitExceeded.New()
		}
		var err error
		if vpc, err = tx.createDefaultVPC(); err != nil {
			return err
		}
		// Stored now, unlike a new tenant's default VPC (vni.go). vpc is this transaction's
		// own: no reader has seen it, so it may still be changed in place.
		vpc.VNI, err = tx.takeVNI()
		return err
	})
	return vpc, res, err
}

// DeleteVPC deletes an empty VPC with its default group, default NACL and main route table.
// Subnets, custom groups, NACLs and route tables, interfaces, instances, an attached internet
// gateway and egress-only gateways keep it alive (DependencyViolation).
func (s *Service) DeleteVPC(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc, err := tx.tn.vpc(id)
		if err != nil {
			return err
		}
		if hasAny(tx.tn.subnets, func(sn *model.Subnet) bool { return sn.VpcID == id }) ||
			hasAny(tx.tn.groups, func(g *model.Group) bool { return g.VpcID == id && !g.Default }) ||
			hasAny(tx.tn.enis, func(n *model.NetworkInterface) bool { return n.VpcID == id }) ||
			hasAny(tx.tn.nacls, func(n *model.NACL) bool { return n.VpcID == id && !n.Default }) ||
			hasAny(tx.tn.routeTables, func(rt *model.RouteTable) bool { return rt.VpcID == id && !rt.IsMain() }) ||
			hasAny(tx.tn.igws, func(g *model.InternetGateway) bool { return g.VpcID == id }) ||
			hasAny(tx.tn.eigws, func(g *model.EgressOnlyIGW) bool { return g.VpcID == id }) {
			return model.DependencyViolation.Errorf("The vpc '%s' has dependencies and cannot be deleted.", id)
		}
		if d := tx.tn.defaultNACL(id); d != nil {
			set[model.NACL](tx, tx.tn.nacls, kindNACL, d.ID, nil)
		}
		if rt := tx.tn.mainRouteTable(id); rt != nil {
			set[model.RouteTable](tx, tx.tn.routeTables, kindRouteTable, rt.ID, nil)
		}
		set[model.Group](tx, tx.tn.groups, kindGroup, vpc.DefaultGroupID, nil)
		tx.dropFlowLogs(id)
		set[model.VPC](tx, tx.tn.vpcs, kindVPC, id, nil)
		return nil
	})
}

// vpc returns the VPC with the given ID or EC2's not-found error.
func (tn *tenant) vpc(id string) (*model.VPC, error) {
	return find(tn.vpcs, id, model.PrefixVPC, model.InvalidVpcIDMalformed, model.InvalidVpcIDNotFound)
}

// defaultVPC returns the tenant's default VPC, or nil when it has none (deleted).
func (tn *tenant) defaultVPC() *model.VPC {
	for _, v := range tn.vpcs {
		if v.IsDefault {
			return v
		}
	}
	return nil
}

// hasAny reports whether some value of m satisfies p.
func hasAny[T any](m map[string]*T, p func(*T) bool) bool {
	for _, v := range m {
		if p(v) {
			return true
		}
	}
	return false
}
