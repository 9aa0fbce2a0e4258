package ec2api

import (
	"slices"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// readPermissions decodes IpPermissions.N, or — for ingress — the legacy top-level scalars
// (IpProtocol, FromPort, ToPort, CidrIp, SourceSecurityGroupName/OwnerId, spec §3.7).
func readPermissions(r *query.Request, egress bool) ([]control.Permission, error) {
	var out []control.Permission
	for _, p := range r.List("IpPermissions") {
		perm, err := readPermission(p)
		if err != nil {
			return nil, err
		}
		out = append(out, perm)
	}
	legacy := []string{"IpProtocol", "FromPort", "ToPort", "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId"}
	var given []string
	for _, k := range legacy {
		if r.Has(k) {
			given = append(given, k)
		}
	}
	if len(given) == 0 {
		return out, nil
	}
	if egress {
		return nil, model.InvalidValue("The parameter %s is not supported for egress rules: use IpPermissions.", given[0])
	}
	if len(out) > 0 {
		return nil, model.InvalidParameterCombination.Errorf("The parameter IpPermissions cannot be used with the parameter %s", given[0])
	}
	cidr, srcName, srcOwner := str(r, "CidrIp"), str(r, "SourceSecurityGroupName"), str(r, "SourceSecurityGroupOwnerId")
	if cidr != "" && (srcName != "" || srcOwner != "") {
		return nil, model.InvalidParameterCombination.Errorf("The parameter CidrIp cannot be used with the parameter SourceSecurityGroupName")
	}
	if srcName != "" {
		if r.Has("IpProtocol") || r.Has("FromPort") || r.Has("ToPort") {
			return nil, model.InvalidParameterCombination.Errorf("The parameter SourceSecurityGroupName cannot be used with the parameters IpProtocol, FromPort or ToPort: a source group alone grants all TCP, UDP and ICMP.")
		}
		peer := []control.GroupPeer{{GroupName: srcName, UserID: srcOwner}}
		return []control.Permission{
			{Protocol: "tcp", FromPort: 0, ToPort: 65535, HasFrom: true, HasTo: true, Groups: peer},
			{Protocol: "udp", FromPort: 0, ToPort: 65535, HasFrom: true, HasTo: true, Groups: peer},
			{Protocol: "icmp", FromPort: -1, ToPort: -1, HasFrom: true, HasTo: true, Groups: peer},
		}, nil
	}
	perm := control.Permission{Protocol: str(r, "IpProtocol")}
	var err error
	if perm.FromPort, perm.HasFrom, err = optInt(r, "FromPort"); err != nil {
		return nil, err
	}
	if perm.ToPort, perm.HasTo, err = optInt(r, "ToPort"); err != nil {
		return nil, err
	}
	if cidr == "" {
		return nil, model.Missing("CidrIp")
	}
	perm.IPv4 = []control.CIDRPeer{{CIDR: cidr}}
	return []control.Permission{perm}, nil
}

func readPermission(p *query.Request) (control.Permission, error) {
	perm := control.Permission{Protocol: str(p, "IpProtocol")}
	var err error
	if perm.FromPort, perm.HasFrom, err = optInt(p, "FromPort"); err != nil {
		return perm, err
	}
	if perm.ToPort, perm.HasTo, err = optInt(p, "ToPort"); err != nil {
		return perm, err
	}
	for _, x := range p.List("IpRanges") {
		perm.IPv4 = append(perm.IPv4, control.CIDRPeer{CIDR: str(x, "CidrIp"), Description: str(x, "Description")})
	}
	for _, x := range p.List("Ipv6Ranges") {
		perm.IPv6 = append(perm.IPv6, control.CIDRPeer{CIDR: str(x, "CidrIpv6"), Description: str(x, "Description")})
	}
	for _, x := range p.List("PrefixListIds") {
		perm.PrefixLists = append(perm.PrefixLists, control.PrefixListPeer{ID: str(x, "PrefixListId"), Description: str(x, "Description")})
	}
	for _, x := range p.List("Groups") {
		perm.Groups = append(perm.Groups, control.GroupPeer{
			GroupID: str(x, "GroupId"), GroupName: str(x, "GroupName"), UserID: str(x, "UserId"),
			VpcID: str(x, "VpcId"), Description: str(x, "Description"),
		})
	}
	return perm, nil
}

// writePermissions renders rules regrouped as EC2 does in DescribeSecurityGroups: one
// IpPermission per (protocol, fromPort, toPort), in order of first appearance, with all peers
// of that key (spec §3.1, §11.1). g is the rules' group: a pair that references a group of the
// same VPC and account is userId and groupId only, as AWS writes it (the AWS CLI's
// describe-security-groups example); a nil g writes every pair's vpcId.
func writePermissions(x *xmlWriter, name string, g *model.Group, rules []model.Rule) {
	if len(rules) == 0 {
		x.empty(name)
		return
	}
	// The keys in order of first appearance, by a scan rather than a map: a group has at most
	// a few dozen rules, and a describe of many groups writes this for each one.
	var first [16]permKey
	order := first[:0]
	for i := range rules {
		if k := keyOf(&rules[i]); !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	x.open(name)
	for _, k := range order {
		rs := peersOf{rules, k}
		x.open("item")
		x.str("ipProtocol", k.proto)
		if model.HasPorts(k.proto) {
			x.int("fromPort", int64(k.from))
			x.int("toPort", int64(k.to))
		}
		writePeers(x, "groups", rs, func(r *model.Rule) bool { return r.Peer.GroupID != "" }, func(r *model.Rule) {
			x.str("userId", r.Peer.UserID)
			x.str("groupId", r.Peer.GroupID)
			if g == nil || r.Peer.VpcID != g.VpcID || r.Peer.UserID != g.OwnerID {
				x.opt("vpcId", r.Peer.VpcID)
			}
			x.opt("description", r.Description)
		})
		writePeers(x, "ipRanges", rs, func(r *model.Rule) bool { return r.Peer.CIDR.IsValid() && !r.Peer.IsIPv6() }, func(r *model.Rule) {
			x.prefix("cidrIp", r.Peer.CIDR)
			x.opt("description", r.Description)
		})
		writePeers(x, "ipv6Ranges", rs, func(r *model.Rule) bool { return r.Peer.IsIPv6() }, func(r *model.Rule) {
			x.prefix("cidrIpv6", r.Peer.CIDR)
			x.opt("description", r.Description)
		})
		writePeers(x, "prefixListIds", rs, func(r *model.Rule) bool { return r.Peer.PrefixListID != "" }, func(r *model.Rule) {
			x.str("prefixListId", r.Peer.PrefixListID)
			x.opt("description", r.Description)
		})
		x.close("item")
	}
	x.close(name)
}

// permKey is what makes rules one IpPermission.
type permKey struct {
	proto    string
	from, to int32
}

func keyOf(r *model.Rule) permKey { return permKey{r.Protocol, r.FromPort, r.ToPort} }

// peersOf is the rules of one IpPermission: those of rules with key k.
type peersOf struct {
	rules []model.Rule
	k     permKey
}

func writePeers(x *xmlWriter, name string, rs peersOf, want func(*model.Rule) bool, write func(*model.Rule)) {
	n := 0
	for i := range rs.rules {
		r := &rs.rules[i]
		if keyOf(r) != rs.k || !want(r) {
			continue
		}
		if n == 0 {
			x.open(name)
		}
		n++
		x.open("item")
		write(r)
		x.close("item")
	}
	if n == 0 {
		x.empty(name)
	} else {
		x.close(name)
	}
}

// writeRule renders one rule as a SecurityGroupRule (DescribeSecurityGroupRules, the rule set
// returned by Authorize*): ports always present, -1/-1 where they do not apply (spec §11.2).
// emptyTags writes an empty tagSet for a rule without tags, as DescribeSecurityGroupRules does
// on AWS ("Tags": [] in the AWS CLI's examples) while Authorize*'s rule set leaves it out.
func (c *call) writeRule(g *model.Group, r *model.Rule, emptyTags bool) {
	x := &c.out
	x.str("securityGroupRuleId", r.ID)
	x.str("groupId", g.ID)
	x.str("groupOwnerId", g.OwnerID)
	x.bool("isEgress", r.Egress)
	x.str("ipProtocol", r.Protocol)
	x.int("fromPort", int64(r.FromPort))
	x.int("toPort", int64(r.ToPort))
	writeRulePeer(x, g, r, false)
	x.opt("description", r.Description)
	if emptyTags && len(r.Tags) == 0 {
		x.empty("tagSet")
	}
	writeTags(x, r.Tags)
	x.str("securityGroupRuleArn", c.arn("security-group-rule/"+r.ID))
}

// writeRulePeer renders the one peer field of a rule of group g; revoke reports a referenced
// group as a bare referencedGroupId, describes as referencedGroupInfo. AWS gives a reference to
// a group of the same VPC and account as GroupId and UserId only (issue 13, from real AWS);
// vpcId appears only for a group elsewhere (a peered VPC on AWS).
func writeRulePeer(x *xmlWriter, g *model.Group, r *model.Rule, bareGroup bool) {
	switch {
	case r.Peer.IsIPv6():
		x.prefix("cidrIpv6", r.Peer.CIDR)
	case r.Peer.CIDR.IsValid():
		x.prefix("cidrIpv4", r.Peer.CIDR)
	case r.Peer.PrefixListID != "":
		x.str("prefixListId", r.Peer.PrefixListID)
	case bareGroup:
		x.str("referencedGroupId", r.Peer.GroupID)
	default:
		x.open("referencedGroupInfo")
		x.str("groupId", r.Peer.GroupID)
		x.str("userId", r.Peer.UserID)
		if r.Peer.VpcID != g.VpcID || r.Peer.UserID != g.OwnerID {
			x.opt("vpcId", r.Peer.VpcID)
		}
		x.close("referencedGroupInfo")
	}
}
