package control

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

var (
	allIPv4 = netip.MustParsePrefix("0.0.0.0/0")
	allIPv6 = netip.MustParsePrefix("::/0")
)

// newNACL builds a VPC's NACL: a custom one denies everything; the default one also allows
// everything with rule 100 (IPv4) and 101 (IPv6) in both directions (spec §5).
func newNACL(vpc *model.VPC, isDefault bool) *model.NACL {
	n := &model.NACL{ID: model.NewID(model.PrefixNACL), VpcID: vpc.ID, OwnerID: vpc.OwnerID, Default: isDefault}
	for _, egress := range []bool{false, true} {
		if isDefault {
			n.Entries = append(n.Entries, model.NACLEntry{RuleNumber: 100, Egress: egress, Protocol: "-1", Allow: true, CIDR: allIPv4})
			if vpc.IPv6CIDR.IsValid() {
				n.Entries = append(n.Entries, model.NACLEntry{RuleNumber: 101, Egress: egress, Protocol: "-1", Allow: true, CIDR: allIPv6})
			}
		}
		n.Entries = append(n.Entries, model.NACLEntry{RuleNumber: model.NACLDenyAllIPv4, Egress: egress, Protocol: "-1", CIDR: allIPv4})
		if vpc.IPv6CIDR.IsValid() {
			n.Entries = append(n.Entries, model.NACLEntry{RuleNumber: model.NACLDenyAllIPv6, Egress: egress, Protocol: "-1", CIDR: allIPv6})
		}
	}
	return n
}

// defaultNACL returns a VPC's default NACL.
func (tn *tenant) defaultNACL(vpcID string) *model.NACL {
	for _, n := range tn.nacls {
		if n.VpcID == vpcID && n.Default {
			return n
		}
	}
	return nil
}

// subnetNACL returns the NACL a subnet is associated with and the index of the association.
func (tn *tenant) subnetNACL(subnetID string) (*model.NACL, int) {
	for _, n := range tn.nacls {
		for i, a := range n.Assocs {
			if a.SubnetID == subnetID {
				return n, i
			}
		}
	}
	return nil, -1
}

// associate joins a new subnet to its VPC's default NACL.
func (tx *tx) associate(sn *model.Subnet) {
	if d := tx.tn.defaultNACL(sn.VpcID); d != nil {
		c := d.Clone()
		c.Assocs = append(c.Assocs, model.NACLAssoc{ID: model.NewID(model.PrefixNACLAssoc), SubnetID: sn.ID})
		set(tx, tx.tn.nacls, kindNACL, c.ID, c)
	}
}

// disassociate removes a deleted subnet's association.
func (tx *tx) disassociate(subnetID string) {
	if n, i := tx.tn.subnetNACL(subnetID); n != nil {
		c := n.Clone()
		c.Assocs = slices.Delete(c.Assocs, i, i+1)
		set(tx, tx.tn.nacls, kindNACL, c.ID, c)
	}
}

// CreateNACLInput are CreateNetworkAcl's parameters.
type CreateNACLInput struct {
	VpcID       string
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreateNACL creates a custom NACL, which denies everything until entries are added.
func (s *Service) CreateNACL(ctx context.Context, t Tenant, in CreateNACLInput) (*model.NACL, Result, error) {
	vpcID, tags, clientToken := in.VpcID, in.Tags, in.ClientToken
	if vpcID == "" {
		return nil, Result{}, model.Missing("VpcId")
	}
	var n *model.NACL
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateNetworkAcl", []any{vpcID, tags}) // as before the input struct: stored tokens stay valid
		if ids, done, err := tx.replay("CreateNetworkAcl", clientToken, fp); err != nil || done {
			if err == nil {
				n, err = tx.tn.nacl(ids[0])
			}
			return err
		}
		vpc, err := tx.tn.vpc(vpcID)
		if err != nil {
			return err
		}
		count := 0
		for _, o := range tx.tn.nacls {
			if o.VpcID == vpcID {
				count++
			}
		}
		if count >= s.cfg.Quotas.NACLsPerVPC {
			return model.NetworkAclLimitExceeded.New(vpcID)
		}
		n = newNACL(vpc, false)
		n.Tags = tags
		set(tx, tx.tn.nacls, kindNACL, n.ID, n)
		tx.remember("CreateNetworkAcl", clientToken, fp, n.ID)
		return nil
	})
	return n, res, err
}

// DeleteNACL deletes a custom NACL that no subnet uses.
func (s *Service) DeleteNACL(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.nacl(id)
		if err != nil {
			return err
		}
		if n.Default {
			return model.InvalidValue("cannot delete default network ACL %s", id)
		}
		if len(n.Assocs) > 0 {
			return model.DependencyViolation.Errorf("The networkAcl '%s' has dependencies and cannot be deleted.", id)
		}
		set[model.NACL](tx, tx.tn.nacls, kindNACL, id, nil)
		return nil
	})
}

// NACLEntryInput are the parameters of Create/ReplaceNetworkAclEntry.
type NACLEntryInput struct {
	ACLID              string
	RuleNumber         int64
	HasRuleNumber      bool
	Protocol           string
	Action             string
	Egress             bool
	CIDR, IPv6CIDR     string
	PortFrom, PortTo   int64
	HasFrom, HasTo     bool
	ICMPType, ICMPCode int64
	HasType, HasCode   bool
	DryRun             bool
}

// entry validates and normalises an entry (spec §5).
func (in NACLEntryInput) entry() (model.NACLEntry, error) {
	e := model.NACLEntry{Egress: in.Egress}
	if !in.HasRuleNumber {
		return e, model.Missing("RuleNumber")
	}
	if in.RuleNumber < 1 || in.RuleNumber > model.MaxNACLRule {
		return e, model.InvalidValue("Value (%d) for parameter ruleNumber is invalid. It must be between 1 and %d.", in.RuleNumber, model.MaxNACLRule)
	}
	e.RuleNumber = int(in.RuleNumber)
	if in.Protocol == "" {
		return e, model.Missing("Protocol")
	}
	p, err := model.NormalizeProtocol(in.Protocol)
	if err != nil {
		return e, err
	}
	if p == model.ProtoAll {
		e.Protocol = "-1"
	} else {
		e.Protocol = strconv.Itoa(model.ProtocolNumber(p))
	}
	switch strings.ToLower(in.Action) {
	case "allow":
		e.Allow = true
	case "deny":
	case "":
		return e, model.Missing("RuleAction")
	default:
		return e, model.InvalidValue("Value (%s) for parameter ruleAction is invalid. Valid values: allow, deny", in.Action)
	}
	switch {
	case in.CIDR != "" && in.IPv6CIDR != "":
		return e, model.InvalidParameterCombination.Errorf("Only one of CidrBlock and Ipv6CidrBlock may be given")
	case in.CIDR != "":
		if e.CIDR, err = model.ParseCIDR(in.CIDR, false, "CidrBlock"); err != nil {
			return e, err
		}
	case in.IPv6CIDR != "":
		if e.CIDR, err = model.ParseCIDR(in.IPv6CIDR, true, "Ipv6CidrBlock"); err != nil {
			return e, err
		}
	default:
		return e, model.Missing("CidrBlock")
	}
	switch {
	case e.Protocol == "6" || e.Protocol == "17":
		if !in.HasFrom || !in.HasTo {
			return e, model.Missing("PortRange")
		}
		if in.PortFrom < 0 || in.PortTo > 65535 || in.PortFrom > in.PortTo {
			return e, model.InvalidValue("Invalid port range %d-%d: ports are 0-65535, from not above to.", in.PortFrom, in.PortTo)
		}
		e.HasPorts, e.FromPort, e.ToPort = true, int32(in.PortFrom), int32(in.PortTo)
	case e.Protocol == "1" || (e.Protocol == "58" && e.CIDR.Addr().Is6()):
		if !in.HasType || !in.HasCode {
			return e, model.Missing("Icmp")
		}
		if in.ICMPType < -1 || in.ICMPType > 255 || in.ICMPCode < -1 || in.ICMPCode > 255 {
			return e, model.InvalidValue("ICMP type and code must be -1 or 0-255.")
		}
		e.HasICMP, e.ICMPType, e.ICMPCode = true, int32(in.ICMPType), int32(in.ICMPCode)
	}
	return e, nil
}

// CreateNACLEntry adds an entry with a rule number not used in its direction.
func (s *Service) CreateNACLEntry(ctx context.Context, t Tenant, in NACLEntryInput) (Result, error) {
	return s.changeNACLEntry(ctx, t, in, false)
}

// ReplaceNACLEntry replaces an existing numbered entry.
func (s *Service) ReplaceNACLEntry(ctx context.Context, t Tenant, in NACLEntryInput) (Result, error) {
	return s.changeNACLEntry(ctx, t, in, true)
}

func (s *Service) changeNACLEntry(ctx context.Context, t Tenant, in NACLEntryInput, replace bool) (Result, error) {
	if in.ACLID == "" {
		return Result{}, model.Missing("NetworkAclId")
	}
	e, err := in.entry()
	if err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.nacl(in.ACLID)
		if err != nil {
			return err
		}
		c := n.Clone()
		i := c.Find(e.Egress, e.RuleNumber)
		switch {
		case replace && i < 0:
			return model.InvalidNetworkAclEntryNotFound.Errorf("The network acl entry identified by %d does not exist: no %s entry with number %d.", e.RuleNumber, direction(e.Egress), e.RuleNumber)
		case !replace && i >= 0:
			return model.NetworkAclEntryAlreadyExists.Errorf("The network acl entry identified by %d already exists.", e.RuleNumber)
		case replace:
			c.Entries[i] = e
		default:
			c.Entries = append(c.Entries, e)
		}
		count := 0
		for _, o := range c.Entries {
			if o.Egress == e.Egress && o.CIDR.Addr().Is6() == e.CIDR.Addr().Is6() {
				count++
			}
		}
		if count > s.cfg.Quotas.NACLEntries {
			return model.NetworkAclEntryLimitExceeded.New()
		}
		set(tx, tx.tn.nacls, kindNACL, c.ID, c)
		return nil
	})
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

// DeleteNACLEntryInput are DeleteNetworkAclEntry's parameters.
type DeleteNACLEntryInput struct {
	NACLID string
	Number int64
	Egress bool
	DryRun bool
}

// DeleteNACLEntry removes a numbered entry; the catch-all denies cannot be removed.
func (s *Service) DeleteNACLEntry(ctx context.Context, t Tenant, in DeleteNACLEntryInput) (Result, error) {
	aclID, number, egress := in.NACLID, in.Number, in.Egress
	if aclID == "" {
		return Result{}, model.Missing("NetworkAclId")
	}
	if number == model.NACLDenyAllIPv4 || number == model.NACLDenyAllIPv6 {
		return Result{}, model.InvalidValue("The default network acl entry %d cannot be deleted.", number)
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.nacl(aclID)
		if err != nil {
			return err
		}
		i := n.Find(egress, int(number))
		if i < 0 {
			return model.InvalidNetworkAclEntryNotFound.Errorf("The network acl entry identified by %d does not exist: no %s entry with number %d.", number, direction(egress), number)
		}
		c := n.Clone()
		c.Entries = slices.Delete(c.Entries, i, i+1)
		set(tx, tx.tn.nacls, kindNACL, c.ID, c)
		return nil
	})
}

// ReplaceNACLAssociationInput are ReplaceNetworkAclAssociation's parameters.
type ReplaceNACLAssociationInput struct {
	AssociationID string
	NACLID        string // the NACL the subnet moves to
	DryRun        bool
}

// ReplaceNACLAssociation moves the subnet of an association to another NACL of its VPC and
// returns the new association ID (spec §11.20).
func (s *Service) ReplaceNACLAssociation(ctx context.Context, t Tenant, in ReplaceNACLAssociationInput) (string, Result, error) {
	assocID, aclID := in.AssociationID, in.NACLID
	if assocID == "" {
		return "", Result{}, model.Missing("AssociationId")
	}
	if aclID == "" {
		return "", Result{}, model.Missing("NetworkAclId")
	}
	var newID string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var from *model.NACL
		idx := -1
		for _, n := range tx.tn.nacls {
			for i, a := range n.Assocs {
				if a.ID == assocID {
					from, idx = n, i
				}
			}
		}
		if from == nil {
			return model.InvalidAssociationIDNotFound.New(assocID)
		}
		to, err := tx.tn.nacl(aclID)
		if err != nil {
			return err
		}
		if to.VpcID != from.VpcID {
			return model.InvalidValue("Network ACL %s and the subnet of association %s belong to different VPCs.", aclID, assocID)
		}
		subnet := from.Assocs[idx].SubnetID
		f := from.Clone()
		f.Assocs = slices.Delete(f.Assocs, idx, idx+1)
		set(tx, tx.tn.nacls, kindNACL, f.ID, f)
		dst := tx.tn.nacls[to.ID].Clone() // re-read: it may be the NACL just changed
		newID = model.NewID(model.PrefixNACLAssoc)
		dst.Assocs = append(dst.Assocs, model.NACLAssoc{ID: newID, SubnetID: subnet})
		set(tx, tx.tn.nacls, kindNACL, dst.ID, dst)
		return nil
	})
	return newID, res, err
}

// nacl returns NACL by ID or EC2's malformed and not-found error.
func (tn *tenant) nacl(id string) (*model.NACL, error) {
	return find(tn.nacls, id, model.PrefixNACL, model.InvalidNetworkAclIDMalformed, model.InvalidNetworkAclIDNotFound)
}

// SortedEntries returns a NACL's entries in evaluation order: ingress, then egress, each by rule
// number.
func SortedEntries(n *model.NACL) []model.NACLEntry {
	out := slices.Clone(n.Entries)
	slices.SortFunc(out, func(a, b model.NACLEntry) int {
		if a.Egress != b.Egress {
			if a.Egress {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.RuleNumber, b.RuleNumber)
	})
	return out
}
