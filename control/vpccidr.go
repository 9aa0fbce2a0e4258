package control

import (
	"context"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// A VPC's CIDR blocks after creation (AssociateVpcCidrBlock, DisassociateVpcCidrBlock), with
// AWS's rules from "Add IPv4 CIDR blocks to a VPC" in the Amazon VPC User Guide: a secondary
// IPv4 block is a /16 to /28 that overlaps none of the VPC's blocks, counts towards the
// CIDR-blocks quota (5 with the primary), and comes from a range compatible with the primary
// one; an Amazon-provided IPv6 block is a /56, up to the IPv6-blocks quota (5). Every route
// table of the VPC gets a local
// route for a new block and loses it with the block; a block that holds a subnet stays.

// privateRanges are the ranges of which AWS lets a VPC mix blocks only with its primary in
// the same one: a secondary block from 10/8 needs a primary in 10/8, and so on. A block
// outside all of them (publicly routable, or 100.64.0.0/10) may join any VPC.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.19.0.0/16"),
}

// forbiddenRanges are never a VPC's: this network, loopback, link-local and multicast and
// the reserved class E. [UNCONFIRMED] that AWS answers these with the "restricted" message.
var forbiddenRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"),
}

// The two exceptions of the User Guide's table inside a range ([UNCONFIRMED]: from the
// table's text as remembered): with a primary block in 10.0.0.0/15 no block of 10.0.0.0/16
// may join, and with one in 172.16.0.0/12 none of 172.31.0.0/16 (the default VPC's range).
var rangeExceptions = []struct{ primaryIn, blocked netip.Prefix }{
	{netip.MustParsePrefix("10.0.0.0/15"), netip.MustParsePrefix("10.0.0.0/16")},
	{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("172.31.0.0/16")},
}

// restricted reports whether block may not join a VPC whose primary block is primary.
func restricted(primary, block netip.Prefix) bool {
	for _, f := range forbiddenRanges {
		if f.Overlaps(block) {
			return true
		}
	}
	for _, x := range rangeExceptions {
		if x.primaryIn.Contains(primary.Addr()) && x.blocked.Overlaps(block) {
			return true
		}
	}
	for _, r := range privateRanges {
		if r.Overlaps(block) && !r.Contains(primary.Addr()) {
			return true
		}
	}
	return false
}

// AssociateVPCCIDRInput are AssociateVpcCidrBlock's parameters: one of CIDR or IPv6.
type AssociateVPCCIDRInput struct {
	VpcID  string
	CIDR   string
	IPv6   bool // AmazonProvidedIpv6CidrBlock
	DryRun bool
}

// VPCCIDRAssociation is one block's association, as Associate/DisassociateVpcCidrBlock
// answer it.
type VPCCIDRAssociation struct {
	VpcID   string
	AssocID string
	CIDR    netip.Prefix
	IPv6    bool
}

// AssociateVPCCIDR adds a secondary IPv4 block or an Amazon-provided IPv6 /56 to a VPC.
func (s *Service) AssociateVPCCIDR(ctx context.Context, t Tenant, in AssociateVPCCIDRInput) (VPCCIDRAssociation, Result, error) {
	var out VPCCIDRAssociation
	if in.VpcID == "" {
		return out, Result{}, model.Missing("VpcId")
	}
	if (in.CIDR == "") == !in.IPv6 {
		// [UNCONFIRMED] wording.
		return out, Result{}, model.MissingParameter.Errorf("Either 'cidrBlock' or 'amazonProvidedIpv6CidrBlock' must be specified.")
	}
	var cidr netip.Prefix
	if in.CIDR != "" {
		var err error
		if cidr, err = model.ParseCIDR(in.CIDR, false, "CidrBlock"); err != nil {
			return out, Result{}, err
		}
		if cidr.Bits() < 16 || cidr.Bits() > 28 {
			return out, Result{}, model.InvalidVpcRange.Errorf("The CIDR '%s' is invalid.", in.CIDR)
		}
	}
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		c := vpc.Clone()
		if in.IPv6 {
			if n := len(vpc.IPv6Blocks()); n >= s.cfg.Quotas.IPv6BlocksPerVPC {
				return model.CidrLimitExceeded.New(vpc.ID, s.cfg.Quotas.IPv6BlocksPerVPC)
			}
			b := model.CIDRBlock{CIDR: tx.allocIPv6(), AssocID: model.NewID(model.PrefixVPCCidrAssoc)}
			out = VPCCIDRAssociation{VpcID: vpc.ID, AssocID: b.AssocID, CIDR: b.CIDR, IPv6: true}
			if vpc.IPv6CIDR.IsValid() {
				c.IPv6Secondary = append(c.IPv6Secondary, b)
			} else {
				c.IPv6CIDR, c.IPv6CIDRAssocID = b.CIDR, b.AssocID
				tx.ipv6Added(c) // the VPC's first IPv6 block
			}
		} else {
			blocks := vpc.Blocks()
			if len(blocks) >= s.cfg.Quotas.CIDRBlocksPerVPC {
				return model.CidrLimitExceeded.New(vpc.ID, s.cfg.Quotas.CIDRBlocksPerVPC)
			}
			for _, b := range blocks {
				if b.CIDR.Overlaps(cidr) {
					// [UNCONFIRMED] wording.
					return model.InvalidVpcRange.Errorf("The CIDR '%s' conflicts with another CIDR block of the VPC.", in.CIDR)
				}
			}
			if restricted(vpc.CIDR, cidr) {
				return model.InvalidVpcRange.Errorf("The CIDR '%s' is restricted. Use a CIDR from the same private address range as the current VPC CIDR, or use a publicly-routable CIDR.", in.CIDR)
			}
			b := model.CIDRBlock{CIDR: cidr, AssocID: model.NewID(model.PrefixVPCCidrAssoc)}
			c.Secondary = append(c.Secondary, b)
			out = VPCCIDRAssociation{VpcID: vpc.ID, AssocID: b.AssocID, CIDR: cidr}
		}
		set(tx, tx.tn.vpcs, kindVPC, c.ID, c)
		tx.localRoutes(c.ID, out.CIDR, true)
		return nil
	})
	return out, res, err
}

// DisassociateVPCCIDR removes a secondary IPv4 block or the IPv6 block from its VPC. The
// primary IPv4 block cannot go, nor a block that holds a subnet.
func (s *Service) DisassociateVPCCIDR(ctx context.Context, t Tenant, assocID string, dryRun bool) (VPCCIDRAssociation, Result, error) {
	var out VPCCIDRAssociation
	if assocID == "" {
		return out, Result{}, model.Missing("AssociationId")
	}
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		vpc, i := tx.tn.vpcByCIDRAssoc(assocID)
		switch {
		case vpc == nil:
			return model.InvalidVpcCidrBlockAssociationIDNotFound.New(assocID)
		case i == 0:
			// [UNCONFIRMED] wording.
			return model.OperationNotPermitted.Errorf("The vpc CIDR block with association ID %s may not be disassociated. It is the primary IPv4 CIDR block of the VPC", assocID)
		}
		c := vpc.Clone()
		b := vpc.AllBlocks()[i]
		out = VPCCIDRAssociation{VpcID: vpc.ID, AssocID: assocID, CIDR: b.CIDR, IPv6: b.CIDR.Addr().Is6()}
		switch n4 := len(vpc.Blocks()); {
		case i < n4:
			c.Secondary = slices.Delete(c.Secondary, i-1, i)
		case i == n4: // the first IPv6 block: the next one, if any, takes its place
			c.IPv6CIDR, c.IPv6CIDRAssocID = netip.Prefix{}, ""
			if len(c.IPv6Secondary) > 0 {
				c.IPv6CIDR, c.IPv6CIDRAssocID = c.IPv6Secondary[0].CIDR, c.IPv6Secondary[0].AssocID
				c.IPv6Secondary = slices.Delete(c.IPv6Secondary, 0, 1)
			}
		default:
			c.IPv6Secondary = slices.Delete(c.IPv6Secondary, i-n4-1, i-n4)
		}
		for _, sn := range tx.tn.subnets {
			if sn.VpcID == vpc.ID && (out.CIDR.Overlaps(sn.CIDR) || sn.IPv6CIDR.IsValid() && out.CIDR.Overlaps(sn.IPv6CIDR)) {
				return model.InvalidCidrBlockInUse.New(vpc.ID, out.CIDR)
			}
		}
		set(tx, tx.tn.vpcs, kindVPC, c.ID, c)
		tx.localRoutes(c.ID, out.CIDR, false)
		return nil
	})
	return out, res, err
}

// vpcByCIDRAssoc finds the VPC of a block association and the block's index in AllBlocks.
func (tn *tenant) vpcByCIDRAssoc(id string) (*model.VPC, int) {
	for _, v := range tn.vpcs {
		for i, b := range v.AllBlocks() {
			if b.AssocID == id {
				return v, i
			}
		}
	}
	return nil, 0
}

// localRoutes adds (or removes) the local route for block in every route table of the VPC.
func (tx *tx) localRoutes(vpcID string, block netip.Prefix, add bool) {
	for _, rt := range sorted(tx.tn.routeTables, func(x *model.RouteTable) string { return x.ID }) {
		if rt.VpcID != vpcID {
			continue
		}
		c := rt.Clone()
		c.Routes = slices.DeleteFunc(c.Routes, func(r model.Route) bool { return r.Target.Local && r.Dest == block })
		if add {
			c.Routes = append(c.Routes, model.Route{Dest: block, Target: model.RouteTarget{Local: true}, Origin: model.OriginCreateRouteTable})
		}
		set(tx, tx.tn.routeTables, kindRouteTable, c.ID, c)
	}
}

// ipv6Added gives a VPC what an IPv6 block brings on AWS. Its network ACLs get the
// catch-all IPv6 deny in both directions, and the default ACL the rule-101 allow for every
// direction the user left as it was born ("Default network ACL", VPC User Guide). Its default
// security group gets the egress rule to ::/0 it has in a VPC born with IPv6 (spec §2.3:
// "added only if your VPC has an associated IPv6 CIDR block"), unless it has one.
// [UNCONFIRMED] that AWS adds the group's rule at association rather than only at creation.
func (tx *tx) ipv6Added(vpc *model.VPC) {
	if g := tx.tn.groups[vpc.DefaultGroupID]; g != nil && !slices.ContainsFunc(g.Egress, func(r model.Rule) bool {
		return r.Protocol == model.ProtoAll && r.Peer.CIDR == allIPv6
	}) {
		c := g.Clone()
		c.Egress = append(c.Egress, model.Rule{ID: model.NewID(model.PrefixRule), Egress: true, Protocol: model.ProtoAll, FromPort: -1, ToPort: -1,
			Peer: model.Peer{CIDR: allIPv6}})
		set(tx, tx.tn.groups, kindGroup, c.ID, c)
	}
	for _, n := range sorted(tx.tn.nacls, func(x *model.NACL) string { return x.ID }) {
		if n.VpcID != vpc.ID {
			continue
		}
		c := n.Clone()
		for _, egress := range []bool{false, true} {
			untouched := n.Default && slices.EqualFunc(entriesOf(n, egress), []model.NACLEntry{
				{RuleNumber: 100, Egress: egress, Protocol: "-1", Allow: true, CIDR: allIPv4},
				{RuleNumber: model.NACLDenyAllIPv4, Egress: egress, Protocol: "-1", CIDR: allIPv4},
			}, func(a, b model.NACLEntry) bool { return a == b })
			if untouched {
				c.Entries = append(c.Entries, model.NACLEntry{RuleNumber: 101, Egress: egress, Protocol: "-1", Allow: true, CIDR: allIPv6})
			}
			if !slices.ContainsFunc(c.Entries, func(e model.NACLEntry) bool { return e.Egress == egress && e.RuleNumber == model.NACLDenyAllIPv6 }) {
				c.Entries = append(c.Entries, model.NACLEntry{RuleNumber: model.NACLDenyAllIPv6, Egress: egress, Protocol: "-1", CIDR: allIPv6})
			}
		}
		set(tx, tx.tn.nacls, kindNACL, c.ID, c)
	}
}

// entriesOf are a NACL's entries of one direction, in stored order.
func entriesOf(n *model.NACL, egress bool) []model.NACLEntry {
	var out []model.NACLEntry
	for _, e := range n.Entries {
		if e.Egress == egress {
			out = append(out, e)
		}
	}
	return out
}
