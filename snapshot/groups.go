package snapshot

import (
	"fmt"
	"strconv"

	"github.com/stockade/stockade/model"
)

// ruleKey is a rule's identity, to find its sgr- ID from describe-security-group-rules.
type ruleKey struct {
	group    string
	egress   bool
	proto    string
	from, to int32
	peer     string // canonical CIDR, prefix-list ID or group ID
}

// ruleIDs reads describe-security-group-rules.json: one rule per entry, with its ID.
func (l *loader) ruleIDs(doc node) map[ruleKey]string {
	ids := map[ruleKey]string{}
	for _, r := range l.list(doc, "SecurityGroupRules", true) {
		id := l.str(r, "SecurityGroupRuleId")
		k := ruleKey{group: l.str(r, "GroupId"), egress: l.boolean(r, "IsEgress")}
		k.proto, k.from, k.to = l.protocolAndPorts(r)
		n := 0
		for _, key := range []string{"CidrIpv4", "CidrIpv6", "PrefixListId"} {
			if v, ok := l.optStr(r, key); ok && v != "" {
				n++
				k.peer = v
				if key != "PrefixListId" {
					k.peer = l.parsePrefix(r.file, r.child(key), v).String()
				}
			}
		}
		if ref := l.object(r, "ReferencedGroupInfo", false); ref.present {
			n++
			k.peer = l.str(ref, "GroupId")
		}
		if n != 1 && r.present {
			l.failf(r.file, r.path, "names %d peers; a rule has exactly one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupInfo", n)
		}
		ids[k] = id
	}
	return ids
}

// protocolAndPorts reads IpProtocol, FromPort and ToPort as EC2 stores them: ports are
// required for tcp, udp, icmp and icmpv6 (the AWS CLI always writes them; -1 means all) and
// -1/-1 for every other protocol.
func (l *loader) protocolAndPorts(n node) (string, int32, int32) {
	raw := l.str(n, "IpProtocol")
	if raw == "" {
		return "", -1, -1
	}
	proto, err := model.NormalizeProtocol(raw)
	if err != nil {
		l.failf(n.file, n.child("IpProtocol"), "%q is not a protocol", raw)
		return "", -1, -1
	}
	if !model.HasPorts(proto) {
		return proto, -1, -1
	}
	from := int32(l.integer(n, "FromPort", -1, 65535))
	to := int32(l.integer(n, "ToPort", -1, 65535))
	if (proto == model.ProtoTCP || proto == model.ProtoUDP) && from == -1 && to == -1 {
		from, to = 0, 65535
	}
	return proto, from, to
}

func (l *loader) groups(doc node, ids map[ruleKey]string) []*model.Group {
	var out []*model.Group
	for _, g := range l.list(doc, "SecurityGroups", true) {
		m := &model.Group{ID: l.str(g, "GroupId"), VpcID: l.str(g, "VpcId")}
		m.Name, _ = l.optStr(g, "GroupName")
		m.Description, _ = l.optStr(g, "Description")
		m.OwnerID, _ = l.optStr(g, "OwnerId")
		m.Description, _ = l.optStr(g, "Description")
		m.Tags = l.tags(g)
		// DescribeSecurityGroups has no default flag: a VPC's default group is the one named
		// "default", a name no other group may take.
		m.Default = m.Name == model.DefaultGroupName && m.VpcID != ""
		m.Ingress = l.rules(g, "IpPermissions", m.ID, false, ids)
		m.Egress = l.rules(g, "IpPermissionsEgress", m.ID, true, ids)
		out = append(out, m)
	}
	return out
}

// rules expands a group's IpPermissions into one rule per peer, as EC2 stores them.
func (l *loader) rules(g node, key, groupID string, egress bool, ids map[ruleKey]string) []model.Rule {
	var out []model.Rule
	for _, p := range l.list(g, key, true) {
		proto, from, to := l.protocolAndPorts(p)
		base := model.Rule{Egress: egress, Protocol: proto, FromPort: from, ToPort: to}
		add := func(peer model.Peer, key string, item node) {
			r := base
			r.Peer = peer
			r.Description, _ = l.optStr(item, "Description")
			r.ID = ids[ruleKey{groupID, egress, proto, from, to, key}]
			if r.ID == "" {
				r.ID = fmt.Sprintf("%s/%s/%d", groupID, direction(egress), len(out)) // no rule IDs exported
			}
			out = append(out, r)
		}
		n := len(out)
		for _, r := range l.list(p, "IpRanges", false) {
			c := l.prefix(r, "CidrIp")
			add(model.Peer{CIDR: c}, c.String(), r)
		}
		for _, r := range l.list(p, "Ipv6Ranges", false) {
			c := l.prefix(r, "CidrIpv6")
			add(model.Peer{CIDR: c}, c.String(), r)
		}
		for _, r := range l.list(p, "PrefixListIds", false) {
			id := l.str(r, "PrefixListId")
			add(model.Peer{PrefixListID: id}, id, r)
		}
		for _, r := range l.list(p, "UserIdGroupPairs", false) {
			id := l.str(r, "GroupId")
			user, _ := l.optStr(r, "UserId")
			add(model.Peer{GroupID: id, UserID: user}, id, r)
		}
		if len(out) == n && p.present {
			l.failf(p.file, p.path, "no peer: a permission has IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs")
		}
	}
	return out
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

// nacl reads one network ACL. Every entry field the verdict depends on is required: the
// number orders the entries, a missing port range would widen a tcp entry to every port.
func (l *loader) nacl(a node) *model.NACL {
	n := &model.NACL{ID: l.str(a, "NetworkAclId"), VpcID: l.str(a, "VpcId"), Default: l.boolean(a, "IsDefault")}
	n.OwnerID, _ = l.optStr(a, "OwnerId")
	n.Tags = l.tags(a)
	for _, e := range l.list(a, "Entries", true) {
		m := model.NACLEntry{RuleNumber: int(l.integer(e, "RuleNumber", 1, 32768)), Egress: l.boolean(e, "Egress")}
		switch action := l.str(e, "RuleAction"); action {
		case "allow", "deny", "":
			m.Allow = action == "allow"
		default:
			l.failf(e.file, e.child("RuleAction"), "%q is neither allow nor deny", action)
		}
		m.Protocol = l.str(e, "Protocol")
		if n, err := strconv.Atoi(m.Protocol); m.Protocol != "" && (err != nil || n < -1 || n > 255) {
			l.failf(e.file, e.child("Protocol"), "%q is not a protocol number", m.Protocol)
		}
		_, has4 := l.optStr(e, "CidrBlock")
		_, has6 := l.optStr(e, "Ipv6CidrBlock")
		switch {
		case has4 && has6:
			l.failf(e.file, e.path, "has both CidrBlock and Ipv6CidrBlock")
		case has4:
			m.CIDR = l.prefix(e, "CidrBlock")
		case has6:
			m.CIDR = l.prefix(e, "Ipv6CidrBlock")
		case e.present:
			l.failf(e.file, e.child("CidrBlock"), "missing (an entry has CidrBlock or Ipv6CidrBlock)")
		}
		switch {
		case m.Protocol == "6" || m.Protocol == "17":
			pr := l.object(e, "PortRange", true)
			m.HasPorts, m.FromPort, m.ToPort = true, int32(l.integer(pr, "From", 0, 65535)), int32(l.integer(pr, "To", 0, 65535))
		case m.Protocol == "1" || (m.Protocol == "58" && m.CIDR.Addr().Is6()):
			ic := l.object(e, "IcmpTypeCode", true)
			m.HasICMP, m.ICMPType, m.ICMPCode = true, int32(l.integer(ic, "Type", -1, 255)), int32(l.integer(ic, "Code", -1, 255))
		}
		n.Entries = append(n.Entries, m)
	}
	for _, as := range l.list(a, "Associations", true) {
		n.Assocs = append(n.Assocs, model.NACLAssoc{ID: l.str(as, "NetworkAclAssociationId"), SubnetID: l.str(as, "SubnetId")})
	}
	return n
}
