package control

import (
	"context"
	"slices"

	"github.com/stockade/stockade/model"
)

// AuthorizeInput are the parameters of AuthorizeSecurityGroupIngress/Egress.
type AuthorizeInput struct {
	Group       GroupRef
	Egress      bool
	Permissions []Permission
	// RuleTags are applied to every created rule (TagSpecification of type security-group-rule).
	RuleTags model.Tags
	DryRun   bool
}

// AuthorizeOutput is what Authorize returns: the rules it added, with their new IDs, and the
// group as it now is.
type AuthorizeOutput struct {
	Rules []model.Rule
	Group *model.Group
}

// Authorize adds rules to a group, all or nothing: a request that repeats a rule, duplicates a
// stored rule or exceeds the quota adds none (spec §3.6).
func (s *Service) Authorize(ctx context.Context, t Tenant, in AuthorizeInput) (AuthorizeOutput, Result, error) {
	var out AuthorizeOutput
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		if in.Egress && in.Group.ID == "" {
			return model.Missing("GroupId")
		}
		rules, err := tx.tn.expand(g, in.Egress, in.Permissions)
		if err != nil {
			return err
		}
		seen := map[model.Identity]bool{}
		for i := range rules {
			id := rules[i].Identity()
			if seen[id] {
				return model.InvalidValue("The same permission must not appear multiple times")
			}
			seen[id] = true
		}
		for _, r := range g.Rules(in.Egress) {
			if seen[r.Identity()] {
				return model.InvalidPermissionDuplicate.New(r.String())
			}
		}
		for i := range rules {
			rules[i].ID = model.NewID(model.PrefixRule)
			rules[i].Tags = in.RuleTags.Clone()
		}
		ng := g.Clone()
		if in.Egress {
			ng.Egress = slices.Concat(ng.Egress, rules) // exact size: a group's rules live long
		} else {
			ng.Ingress = slices.Concat(ng.Ingress, rules)
		}
		if err := s.checkRuleQuota(tx.tn, ng); err != nil {
			return err
		}
		set(tx, tx.tn.groups, kindGroup, ng.ID, ng)
		out = AuthorizeOutput{Rules: rules, Group: ng}
		return nil
	})
	return out, res, err
}

// checkRuleQuota applies AWS's four-bucket rule (spec §4): ingress and egress, IPv4 and IPv6,
// each limited separately; a group reference counts in both families of its direction, and a
// prefix-list reference counts the list's MaxEntries (an AWS-managed list: its weight) in the
// bucket of its family.
func (s *Service) checkRuleQuota(tn *tenant, g *model.Group) error {
	limit := s.cfg.Quotas.RulesPerGroup
	for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
		var n4, n6 int
		for i := range rs {
			if id := rs[i].Peer.PrefixListID; id != "" {
				if pl, _ := tn.prefixList(id); pl != nil && pl.IPv6 {
					n6 += pl.RuleCost()
				} else if pl != nil {
					n4 += pl.RuleCost()
				}
				continue
			}
			v4, v6 := rs[i].Family()
			if v4 {
				n4++
			}
			if v6 {
				n6++
			}
		}
		if n4 > limit || n6 > limit {
			return model.RulesPerSecurityGroupLimitExceeded.New()
		}
	}
	return nil
}

// RevokeInput are the parameters of RevokeSecurityGroupIngress/Egress: permissions matched by
// identity (descriptions ignored), rule IDs, or both.
type RevokeInput struct {
	Group       GroupRef
	Egress      bool
	Permissions []Permission
	RuleIDs     []string
	DryRun      bool
}

// RevokeOutput reports what a revoke removed, and — in the default VPC only — the permissions
// that matched nothing (unknownIpPermissionSet).
type RevokeOutput struct {
	GroupID string
	Revoked []model.Rule
	Unknown []model.Rule
}

// Revoke removes rules. In a non-default VPC every permission must match a rule exactly or
// nothing is revoked (InvalidPermission.NotFound); in the default VPC unmatched permissions are
// reported instead (spec §11.7). Unknown rule IDs always fail the whole call.
func (s *Service) Revoke(ctx context.Context, t Tenant, in RevokeInput) (RevokeOutput, Result, error) {
	var out RevokeOutput
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		out.GroupID = g.ID
		if len(in.Permissions) == 0 && len(in.RuleIDs) == 0 {
			return model.MissingParameter.Errorf("The request must contain the parameter IpPermissions or SecurityGroupRuleIds")
		}
		drop := map[string]bool{}
		for _, id := range in.RuleIDs {
			if g.FindRule(in.Egress, id) < 0 {
				return model.InvalidSecurityGroupRuleIdNotFound.New(id)
			}
			drop[id] = true
		}
		if len(in.Permissions) > 0 {
			want, err := tx.tn.expand(g, in.Egress, in.Permissions)
			if err != nil {
				return err
			}
			byIdentity := map[model.Identity]string{}
			for _, r := range g.Rules(in.Egress) {
				byIdentity[r.Identity()] = r.ID
			}
			vpc := tx.tn.vpcs[g.VpcID]
			for _, w := range want {
				id, ok := byIdentity[w.Identity()]
				switch {
				case ok:
					drop[id] = true
				case vpc != nil && vpc.IsDefault:
					out.Unknown = append(out.Unknown, w)
				default:
					return model.InvalidPermissionNotFound.New()
				}
			}
		}
		if len(drop) == 0 {
			return nil
		}
		ng := g.Clone()
		keep := func(rs []model.Rule) []model.Rule {
			return slices.DeleteFunc(rs, func(r model.Rule) bool {
				if drop[r.ID] {
					out.Revoked = append(out.Revoked, r)
					return true
				}
				return false
			})
		}
		if in.Egress {
			ng.Egress = keep(ng.Egress)
		} else {
			ng.Ingress = keep(ng.Ingress)
		}
		set(tx, tx.tn.groups, kindGroup, ng.ID, ng)
		return nil
	})
	if err != nil {
		return RevokeOutput{}, res, err
	}
	return out, res, nil
}

// RuleChange is one ModifySecurityGroupRules element: the new definition of an existing rule.
// Exactly one peer field must be set.
type RuleChange struct {
	RuleID            string
	Protocol          string
	FromPort, ToPort  int64
	HasFrom, HasTo    bool
	CIDRv4, CIDRv6    string
	PrefixListID      string
	ReferencedGroupID string
	Description       string
}

// check applies ModifySecurityGroupRules' own checks of a new definition, which word their
// errors differently from Authorize's (issue 13, from real AWS): the protocol must be given,
// TCP and UDP need both ports, and exactly one peer. The order of these checks among
// themselves is [UNCONFIRMED], and so is AWS's answer to more than one peer (kept as the
// InvalidParameterValue it was).
func (c RuleChange) check() error {
	if c.Protocol == "" {
		return model.InvalidValue("Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")
	}
	if p, err := model.NormalizeProtocol(c.Protocol); err == nil && (p == model.ProtoTCP || p == model.ProtoUDP) && (!c.HasFrom || !c.HasTo) {
		return model.InvalidValue("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
	}
	peers := 0
	for _, v := range []string{c.CIDRv4, c.CIDRv6, c.PrefixListID, c.ReferencedGroupID} {
		if v != "" {
			peers++
		}
	}
	switch {
	case peers == 0:
		return model.MissingParameter.Errorf("The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId")
	case peers > 1:
		return model.InvalidValue("Exactly one of CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId must be specified for rule '%s'", c.RuleID)
	}
	return nil
}

// ModifyRulesInput are ModifySecurityGroupRules' parameters.
type ModifyRulesInput struct {
	GroupID string
	Changes []RuleChange
	DryRun  bool
}

// ModifyRules replaces the definitions of rules of one group; each keeps its ID and direction.
func (s *Service) ModifyRules(ctx context.Context, t Tenant, in ModifyRulesInput) (Result, error) {
	groupID, changes := in.GroupID, in.Changes
	if groupID == "" {
		return Result{}, model.Missing("GroupId")
	}
	if len(changes) == 0 {
		return Result{}, model.Missing("SecurityGroupRule")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.group(groupID)
		if err != nil {
			return err
		}
		ng := g.Clone()
		seen := map[string]bool{}
		for _, c := range changes {
			if c.RuleID == "" {
				return model.Missing("SecurityGroupRule.N.SecurityGroupRuleId")
			}
			if seen[c.RuleID] {
				return model.InvalidValue("The security group rule ID '%s' appears more than once in the request", c.RuleID)
			}
			seen[c.RuleID] = true
			egress := false
			i := ng.FindRule(false, c.RuleID)
			if i < 0 {
				egress, i = true, ng.FindRule(true, c.RuleID)
			}
			if i < 0 {
				return model.InvalidSecurityGroupRuleIdNotFound.New(c.RuleID)
			}
			if err := c.check(); err != nil {
				return err
			}
			perm := Permission{Protocol: c.Protocol, FromPort: c.FromPort, ToPort: c.ToPort, HasFrom: c.HasFrom, HasTo: c.HasTo}
			switch {
			case c.CIDRv4 != "":
				perm.IPv4 = []CIDRPeer{{c.CIDRv4, c.Description}}
			case c.CIDRv6 != "":
				perm.IPv6 = []CIDRPeer{{c.CIDRv6, c.Description}}
			case c.PrefixListID != "":
				perm.PrefixLists = []PrefixListPeer{{c.PrefixListID, c.Description}}
			default:
				perm.Groups = []GroupPeer{{GroupID: c.ReferencedGroupID, Description: c.Description}}
			}
			rs, err := tx.tn.expand(g, egress, []Permission{perm})
			if err != nil {
				return err
			}
			nr := rs[0]
			rules := ng.Rules(egress)
			nr.ID, nr.Tags = c.RuleID, rules[i].Tags
			rules[i] = nr
		}
		for _, egress := range []bool{false, true} {
			ids := map[model.Identity]bool{}
			for _, r := range ng.Rules(egress) {
				if ids[r.Identity()] {
					return model.InvalidPermissionDuplicate.New(r.String())
				}
				ids[r.Identity()] = true
			}
		}
		if err := s.checkRuleQuota(tx.tn, ng); err != nil {
			return err
		}
		set(tx, tx.tn.groups, kindGroup, ng.ID, ng)
		return nil
	})
}

// DescriptionChange sets one rule's description by rule ID.
type DescriptionChange struct {
	RuleID      string
	Description string
}

// UpdateDescriptionsInput are the parameters of UpdateSecurityGroupRuleDescriptions*: either
// permissions (matched by identity; each peer's description becomes the rule's, an omitted one
// clears it) or rule IDs with descriptions.
type UpdateDescriptionsInput struct {
	Group       GroupRef
	Egress      bool
	Permissions []Permission
	ByID        []DescriptionChange
	DryRun      bool
}

// UpdateDescriptions changes rule descriptions, all or nothing.
func (s *Service) UpdateDescriptions(ctx context.Context, t Tenant, in UpdateDescriptionsInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		if len(in.Permissions) == 0 && len(in.ByID) == 0 {
			return model.MissingParameter.Errorf("The request must contain the parameter IpPermissions or SecurityGroupRuleDescriptions")
		}
		ng := g.Clone()
		rules := ng.Rules(in.Egress)
		for _, c := range in.ByID {
			if err := model.ValidateRuleDescription(c.Description); err != nil {
				return err
			}
			i := ng.FindRule(in.Egress, c.RuleID)
			if i < 0 {
				return model.InvalidSecurityGroupRuleIdNotFound.New(c.RuleID)
			}
			rules[i].Description = c.Description
		}
		if len(in.Permissions) > 0 {
			want, err := tx.tn.expand(g, in.Egress, in.Permissions)
			if err != nil {
				return err
			}
			for _, w := range want {
				i := slices.IndexFunc(rules, func(r model.Rule) bool { return r.Identity() == w.Identity() })
				if i < 0 {
					return model.InvalidPermissionNotFound.New()
				}
				rules[i].Description = w.Description
			}
		}
		set(tx, tx.tn.groups, kindGroup, ng.ID, ng)
		return nil
	})
}
