package ec2api

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

func createSecurityGroup(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "security-group")
	if err != nil {
		return err
	}
	g, res, err := c.svc().CreateGroup(c.ctx, c.tenant, control.CreateGroupInput{
		Name: str(r, "GroupName"), Description: str(r, "GroupDescription"), VpcID: str(r, "VpcId"),
		Tags: tags, DryRun: c.dryRun(), ID: c.newID("security-group"),
	})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.str("groupId", g.ID)
	writeTags(x, g.Tags)
	x.str("securityGroupArn", c.arn("security-group/"+g.ID))
	return nil
}

func deleteSecurityGroup(c *call) error {
	ref := control.GroupRef{ID: str(c.req, "GroupId"), Name: str(c.req, "GroupName")}
	id, res, err := c.svc().DeleteGroup(c.ctx, c.tenant, control.DeleteGroupInput{Group: ref, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.str("groupId", id)
	return nil
}

// groupRow is a group with a lookup of group names for the ip-permission.group-name filters.
type groupRow struct {
	*model.Group
	names map[string]string
}

// anyRule builds a matcher that holds when some rule of the direction satisfies the rule
// predicate compiled from the filter.
func anyRule(egress bool, compile func(q queryFilter) func(r *model.Rule, names map[string]string) bool) func(queryFilter) func(groupRow) bool {
	return func(q queryFilter) func(groupRow) bool {
		match := compile(q)
		return func(g groupRow) bool {
			rs := g.Rules(egress)
			for i := range rs {
				if match(&rs[i], g.names) {
					return true
				}
			}
			return false
		}
	}
}

// stringField is a rule filter on one string field, matched with EC2's wildcards.
func stringField(get func(r *model.Rule, names map[string]string) string) func(q queryFilter) func(*model.Rule, map[string]string) bool {
	return func(q queryFilter) func(*model.Rule, map[string]string) bool {
		return func(r *model.Rule, names map[string]string) bool {
			v := get(r, names)
			return v != "" && q.Match(v)
		}
	}
}

// groupFilters are DescribeSecurityGroups' filters. The rule filters look at every rule of the
// group, so several of them may be satisfied by different rules (spec §11.33).
var groupFilters = func() filterer[groupRow] {
	f := fields[groupRow]{
		"description": one2(func(g groupRow) string { return g.Description }),
		"group-id":    one2(func(g groupRow) string { return g.ID }),
		"group-name":  one2(func(g groupRow) string { return g.Name }),
		"vpc-id":      one2(func(g groupRow) string { return g.VpcID }),
		"owner-id":    one2(func(g groupRow) string { return g.OwnerID }),
	}
	m := map[string]func(queryFilter) func(groupRow) bool{}
	for _, egress := range []bool{false, true} {
		prefix := "ip-permission."
		if egress {
			prefix = "egress.ip-permission."
		}
		m[prefix+"cidr"] = anyRule(egress, func(q queryFilter) func(*model.Rule, map[string]string) bool {
			match := prefixMatcher(q)
			return func(r *model.Rule, _ map[string]string) bool {
				return r.Peer.CIDR.IsValid() && !r.Peer.IsIPv6() && match(r.Peer.CIDR)
			}
		})
		m[prefix+"ipv6-cidr"] = anyRule(egress, func(q queryFilter) func(*model.Rule, map[string]string) bool {
			match := prefixMatcher(q)
			return func(r *model.Rule, _ map[string]string) bool { return r.Peer.IsIPv6() && match(r.Peer.CIDR) }
		})
		m[prefix+"from-port"] = anyRule(egress, func(q queryFilter) func(*model.Rule, map[string]string) bool {
			match := intMatcher(q)
			return func(r *model.Rule, _ map[string]string) bool { return match(int(r.FromPort)) }
		})
		m[prefix+"to-port"] = anyRule(egress, func(q queryFilter) func(*model.Rule, map[string]string) bool {
			match := intMatcher(q)
			return func(r *model.Rule, _ map[string]string) bool { return match(int(r.ToPort)) }
		})
		m[prefix+"protocol"] = anyRule(egress, stringField(func(r *model.Rule, _ map[string]string) string { return r.Protocol }))
		m[prefix+"group-id"] = anyRule(egress, stringField(func(r *model.Rule, _ map[string]string) string { return r.Peer.GroupID }))
		m[prefix+"group-name"] = anyRule(egress, stringField(func(r *model.Rule, names map[string]string) string {
			if r.Peer.GroupID == "" {
				return ""
			}
			return names[r.Peer.GroupID]
		}))
		m[prefix+"user-id"] = anyRule(egress, stringField(func(r *model.Rule, _ map[string]string) string { return r.Peer.UserID }))
		m[prefix+"prefix-list-id"] = anyRule(egress, stringField(func(r *model.Rule, _ map[string]string) string { return r.Peer.PrefixListID }))
	}
	return filterer[groupRow]{fields: f, matchers: m, tagsOf: func(g groupRow) model.Tags { return g.Tags }}
}()

var describeSecurityGroups = describeSpec[groupRow]{
	IDs: []string{"GroupId", "GroupName"},
	From: func(c *call, v control.View) source[groupRow] {
		var names map[string]string
		if needsNames(c.req) {
			names = groupNameMap(v)
		}
		row := func(g *model.Group) groupRow { return groupRow{g, names} }
		s := rowsOf(v.Groups, row, v.Group, v.GroupByName)
		s.narrow = func(filters []query.Filter) ([]groupRow, bool) {
			found, ok := groupsFiltered(v, filters)
			rows := make([]groupRow, len(found))
			for i, g := range found {
				rows[i] = row(g)
			}
			return rows, ok
		}
		return s
	},
	Filters: groupFilters,
	Key:     func(g groupRow) string { return g.ID },
	Set:     "securityGroupInfo",
	Item:    func(c *call, g groupRow) { c.writeGroup(g.Group) },
}

// groupsFiltered finds, sorted by ID, the groups a filter without wildcards can match: a
// group-id or group-name filter's looked up by ID, or in the name index (whose match ignores
// case, a superset of the filter's exact one); a rule CIDR filter's (ip-permission.cidr,
// ipv6-cidr and their egress forms) in the index of rule peers, when every value parses as
// a CIDR. ok is false when no filter is of those kinds.
func groupsFiltered(v control.View, filters []query.Filter) (found []*model.Group, ok bool) {
	wildcard := func(val string) bool { return !literal(val) }
next:
	for _, f := range filters {
		if len(f.Values) == 0 || slices.ContainsFunc(f.Values, wildcard) {
			continue next
		}
		switch f.Name {
		case "group-id", "group-name":
			for _, val := range f.Values {
				if f.Name == "group-name" {
					found = append(found, v.GroupsNamed(val)...)
				} else if g, err := v.Group(val); err == nil {
					found = append(found, g)
				}
			}
		case "ip-permission.cidr", "ip-permission.ipv6-cidr", "egress.ip-permission.cidr", "egress.ip-permission.ipv6-cidr":
			cidrs := make([]netip.Prefix, len(f.Values))
			for i, val := range f.Values {
				p, err := netip.ParsePrefix(val)
				if err != nil {
					continue next // matched as text (prefixMatcher): not from the index
				}
				cidrs[i] = p
			}
			egress := strings.HasPrefix(f.Name, "egress.")
			for _, p := range cidrs {
				found = append(found, v.GroupsWithPeer(egress, p)...)
			}
		default:
			continue next
		}
		slices.SortFunc(found, func(a, b *model.Group) int { return strings.Compare(a.ID, b.ID) })
		return slices.Compact(found), true
	}
	return nil, false
}

func needsNames(r *query.Request) bool {
	fs, _ := r.Filters()
	for _, f := range fs {
		if f.Name == "ip-permission.group-name" || f.Name == "egress.ip-permission.group-name" {
			return true
		}
	}
	return false
}

func (c *call) writeGroup(g *model.Group) {
	x := &c.out
	x.str("ownerId", g.OwnerID)
	x.str("groupId", g.ID)
	x.str("groupName", g.Name)
	x.str("groupDescription", g.Description)
	x.str("vpcId", g.VpcID)
	writePermissions(x, "ipPermissions", g, g.Ingress)
	writePermissions(x, "ipPermissionsEgress", g, g.Egress)
	writeTags(x, g.Tags)
	x.str("securityGroupArn", c.arn("security-group/"+g.ID))
}

// describeSecurityGroupReferences lists references to the groups from other VPCs over peering
// or transit gateways. Stockade has neither, so the set is always empty — but the groups must
// exist.
func describeSecurityGroupReferences(c *call) error {
	want, err := ids(c.req, "GroupId")
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return model.Missing("GroupId")
	}
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		for _, id := range want {
			if _, err := v.Group(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.out.empty("securityGroupReferenceSet")
	return nil
}

// describeStaleSecurityGroups lists groups with rules that reference groups in peered VPCs that
// are gone. Without peering no rule can go stale (a referenced group cannot be deleted), so the
// answer is empty for any existing VPC.
func describeStaleSecurityGroups(c *call) error {
	id := str(c.req, "VpcId")
	if id == "" {
		return model.Missing("VpcId")
	}
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		_, err := v.VPC(id)
		return err
	})
	if err != nil {
		return err
	}
	if _, _, err := paginate(c.req, []string{}, func(s string) string { return s }, staleLimits); err != nil {
		return err
	}
	c.out.empty("staleSecurityGroupSet")
	return nil
}
