package ec2api

import (
	"slices"
	"strings"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

func authorizeIngress(c *call) error { return authorize(c, false) }
func authorizeEgress(c *call) error  { return authorize(c, true) }

func authorize(c *call, egress bool) error {
	r := c.req
	perms, err := readPermissions(r, egress)
	if err != nil {
		return err
	}
	tags, err := tagsFor(r, "security-group-rule")
	if err != nil {
		return err
	}
	ref := control.GroupRef{ID: str(r, "GroupId"), Name: str(r, "GroupName")}
	if egress && ref.ID == "" {
		return model.Missing("GroupId")
	}
	out, res, err := c.svc().Authorize(c.ctx, c.tenant, control.AuthorizeInput{
		Group: ref, Egress: egress, Permissions: perms, RuleTags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.open("securityGroupRuleSet")
	for i := range out.Rules {
		x.open("item")
		c.writeRule(out.Group, &out.Rules[i], false)
		x.close("item")
	}
	x.close("securityGroupRuleSet")
	return nil
}

func revokeIngress(c *call) error { return revoke(c, false) }
func revokeEgress(c *call) error  { return revoke(c, true) }

func revoke(c *call, egress bool) error {
	r := c.req
	perms, err := readPermissions(r, egress)
	if err != nil {
		return err
	}
	ruleIDs, err := ids(r, "SecurityGroupRuleId")
	if err != nil {
		return err
	}
	ref := control.GroupRef{ID: str(r, "GroupId"), Name: str(r, "GroupName")}
	if egress && ref.ID == "" {
		return model.Missing("GroupId")
	}
	out, res, err := c.svc().Revoke(c.ctx, c.tenant, control.RevokeInput{
		Group: ref, Egress: egress, Permissions: perms, RuleIDs: ruleIDs, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	if len(out.Unknown) > 0 {
		writePermissions(x, "unknownIpPermissionSet", nil, out.Unknown)
	}
	x.open("revokedSecurityGroupRuleSet")
	for i := range out.Revoked {
		rr := &out.Revoked[i]
		x.open("item")
		x.str("securityGroupRuleId", rr.ID)
		x.str("groupId", out.GroupID)
		x.bool("isEgress", rr.Egress)
		x.str("ipProtocol", rr.Protocol)
		x.int("fromPort", int64(rr.FromPort))
		x.int("toPort", int64(rr.ToPort))
		writeRulePeer(x, nil, rr, true)
		x.opt("description", rr.Description)
		x.close("item")
	}
	x.close("revokedSecurityGroupRuleSet")
	return nil
}

func modifySecurityGroupRules(c *call) error {
	var changes []control.RuleChange
	for _, e := range c.req.List("SecurityGroupRule") {
		rc := control.RuleChange{RuleID: str(e, "SecurityGroupRuleId")}
		if !e.Has("SecurityGroupRule") {
			return model.Missing("SecurityGroupRule.N.SecurityGroupRule")
		}
		d := e.Sub("SecurityGroupRule")
		rc.Protocol = str(d, "IpProtocol")
		var err error
		if rc.FromPort, rc.HasFrom, err = optInt(d, "FromPort"); err != nil {
			return err
		}
		if rc.ToPort, rc.HasTo, err = optInt(d, "ToPort"); err != nil {
			return err
		}
		rc.CIDRv4, rc.CIDRv6 = str(d, "CidrIpv4"), str(d, "CidrIpv6")
		rc.PrefixListID, rc.ReferencedGroupID = str(d, "PrefixListId"), str(d, "ReferencedGroupId")
		rc.Description = str(d, "Description")
		changes = append(changes, rc)
	}
	return c.returned(c.svc().ModifyRules(c.ctx, c.tenant, control.ModifyRulesInput{GroupID: str(c.req, "GroupId"), Changes: changes, DryRun: c.dryRun()}))
}

func updateDescriptionsIngress(c *call) error { return updateDescriptions(c, false) }
func updateDescriptionsEgress(c *call) error  { return updateDescriptions(c, true) }

func updateDescriptions(c *call, egress bool) error {
	r := c.req
	var perms []control.Permission
	for _, p := range r.List("IpPermissions") {
		perm, err := readPermission(p)
		if err != nil {
			return err
		}
		perms = append(perms, perm)
	}
	var byID []control.DescriptionChange
	for _, d := range r.List("SecurityGroupRuleDescription") {
		id := str(d, "SecurityGroupRuleId")
		if id == "" {
			return model.Missing("SecurityGroupRuleDescription.N.SecurityGroupRuleId")
		}
		byID = append(byID, control.DescriptionChange{RuleID: id, Description: str(d, "Description")})
	}
	return c.returned(c.svc().UpdateDescriptions(c.ctx, c.tenant, control.UpdateDescriptionsInput{
		Group: control.GroupRef{ID: str(r, "GroupId"), Name: str(r, "GroupName")}, Egress: egress,
		Permissions: perms, ByID: byID, DryRun: c.dryRun(),
	}))
}

// ruleRow is one rule with its group, the unit of DescribeSecurityGroupRules.
type ruleRow struct {
	g *model.Group
	r *model.Rule
}

var ruleFilters = filterer[ruleRow]{
	fields: fields[ruleRow]{
		"group-id":               one2(func(x ruleRow) string { return x.g.ID }),
		"security-group-rule-id": one2(func(x ruleRow) string { return x.r.ID }),
	},
	tagsOf: func(x ruleRow) model.Tags { return x.r.Tags },
}

var describeSecurityGroupRules = describeSpec[ruleRow]{
	IDs:     []string{"SecurityGroupRuleId"},
	Keep:    groupIDFilterWellFormed,
	From:    func(_ *call, v control.View) source[ruleRow] { return ruleSource(v) },
	Filters: ruleFilters,
	Key:     func(x ruleRow) string { return x.r.ID },
	Set:     "securityGroupRuleSet",
	Item:    func(c *call, x ruleRow) { c.writeRule(x.g, x.r, true) },
}

// groupIDFilterWellFormed refuses a group-id filter value that is not a group ID at all, as
// AWS does (issue 13, from real AWS: "foobar" is InvalidGroupId.Malformed, while a well-formed
// unknown sg- ID just matches nothing). A value with a wildcard is a pattern, not an ID, and
// is left to match [UNCONFIRMED].
func groupIDFilterWellFormed(r *query.Request) (func(ruleRow) bool, error) {
	fs, _ := r.Filters() // a bad filter is reported by the filters' own compile step
	for _, f := range fs {
		if f.Name != "group-id" {
			continue
		}
		for _, v := range f.Values {
			if !strings.ContainsAny(v, "*?") && !model.ValidID(model.PrefixGroup, v) {
				return nil, model.InvalidGroupIdMalformed.Errorf("The security group ID '%s' is malformed", v)
			}
		}
	}
	return func(ruleRow) bool { return true }, nil
}

// ruleSource lists every rule of every group, by rule ID; a rule is found through an index of
// them all, since rules live inside their groups.
func ruleSource(v control.View) source[ruleRow] {
	var rows []ruleRow
	var keys []string
	for _, g := range v.Groups() {
		for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
			for i := range rs {
				rows = append(rows, ruleRow{g, &rs[i]})
				keys = append(keys, rs[i].ID)
			}
		}
	}
	sortByKeys(rows, keys)
	get := func(id string) (ruleRow, error) {
		if i, ok := slices.BinarySearch(keys, id); ok {
			return rows[i], nil
		}
		return ruleRow{}, model.InvalidSecurityGroupRuleIdNotFound.New(id)
	}
	return src(func() []ruleRow { return rows }, get)
}
