package audit

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// This file holds what the security-group families (sga.go, sge.go, sgh.go) share: the
// severity scaling of audit-checks §1.6, how a rule is named in a finding's Why, and the AWS
// CLI commands of a Fix. Fix lines that start with "#" are advice a person has to act on (the
// catalogue's remediation where no exact command exists); every other line is a command that,
// run in order, makes the finding go away.

const sgType = "AWS::EC2::SecurityGroup"

// groupFinding starts a finding of check c about group g and the rules named.
func (a *Audit) groupFinding(c string, g *model.Group, rules ...string) Finding {
	f := a.finding(c, sgType, g.ID)
	f.VpcID = g.VpcID
	f.Rules = rules
	return f
}

// exposed scales an internet-exposure finding's severity by where the group is (audit-checks
// §1.6): one step lower when no interface carries it (one attach away from exposure, so still
// reported), one step higher when an interface that carries it has a public IPv4 address or a
// global IPv6 address, and the catalogue's otherwise.
func (a *Audit) exposed(f Finding, g *model.Group) Finding {
	members := a.Members(g.ID)
	switch {
	case len(members) == 0:
		f.Severity = max(Info, f.Severity-1)
		f.Why += " The group is attached to no interface."
	case slices.ContainsFunc(members, a.public):
		f.Severity = min(Critical, f.Severity+1)
		f.Why += " An interface that carries it has a public address."
	}
	return f
}

// public reports whether an interface has an address the internet can send to: a public
// IPv4 address (launch-time or Elastic) or a global IPv6 address.
func (a *Audit) public(n *model.NetworkInterface) bool {
	if n.PublicIP.IsValid() || a.Policy.PublicIP(n.ID).IsValid() {
		return true
	}
	return slices.ContainsFunc(n.IPv6, func(ip netip.Addr) bool {
		return policy.Global(netip.PrefixFrom(ip, 128))
	})
}

// mayReachInternet reports whether any rule of one direction of g has a peer holding a
// globally routable address: without one, no union of its rules can be the internet, and
// the exposure checks skip the group without asking the matcher port by port.
// Several checks ask it of every group: it is read from globalRules, worked out once.
func (a *Audit) mayReachInternet(g *model.Group, egress bool) bool {
	for _, b := range a.globalRules(g, egress) {
		if b != 0 {
			return true
		}
	}
	return false
}

// globalRules has a bit (rule i: byte i/8, bit i%8) for each rule of one direction of g whose
// peer holds a globally routable address (policy.PeerGlobal), worked out once per audit.
func (a *Audit) globalRules(g *model.Group, egress bool) []byte {
	m := a.memoOf(g)
	if bits := m.globals[boolIndex(egress)]; bits != nil {
		return bits
	}
	rs := g.Rules(egress)
	bits := make([]byte, (len(rs)+7)/8)
	for i := range rs {
		// A CIDR is answered from its prefix, a prefix list's or a group's set once per set.
		if v4, v6 := a.Policy.PeerGlobal(&rs[i]); v4 || v6 {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	m.globals[boolIndex(egress)] = bits
	return bits
}

// rules yields every rule of one direction of every group, with its group.
func (a *Audit) rules(egress bool) iter.Seq2[*model.Group, *model.Rule] {
	return func(yield func(*model.Group, *model.Rule) bool) {
		for _, g := range a.In.Snapshot.Groups {
			rs := g.Rules(egress)
			for i := range rs {
				if !yield(g, &rs[i]) {
					return
				}
			}
		}
	}
}

// ruleText names a rule for a Why: "sgr-1 (tcp 0-1024 from 0.0.0.0/0)". A full audit names
// tens of thousands of rules: the text is appended to one buffer (appendRuleText), not
// formatted piece by piece.
func ruleText(r *model.Rule) string {
	return string(appendRuleText(make([]byte, 0, 64), r))
}

func appendRuleText(b []byte, r *model.Rule) []byte {
	b = append(b, r.ID...)
	b = append(b, " ("...)
	b = appendOpeningText(b, r)
	if r.Egress {
		b = append(b, " to "...)
	} else {
		b = append(b, " from "...)
	}
	b = appendPeerText(b, r.Peer)
	return append(b, ')')
}

// openingText is a rule's protocol and ports as a person reads them.
func openingText(r *model.Rule) string { return string(appendOpeningText(nil, r)) }

func appendOpeningText(b []byte, r *model.Rule) []byte {
	o := policy.OpeningOf(r)
	switch {
	case o.Proto == -1:
		return append(b, "all traffic"...)
	case o.HasPorts() && o.AllPorts():
		return append(append(b, r.Protocol...), " all ports"...)
	case o.HasPorts() && o.From == o.To:
		b = append(append(b, r.Protocol...), ' ')
		return strconv.AppendInt(b, int64(o.From), 10)
	case o.HasPorts():
		b = append(append(b, r.Protocol...), ' ')
		b = append(strconv.AppendInt(b, int64(o.From), 10), '-')
		return strconv.AppendInt(b, int64(o.To), 10)
	case o.ICMP() && o.From == -1:
		return append(append(b, r.Protocol...), " all types"...)
	case o.ICMP():
		b = append(append(b, r.Protocol...), " type "...)
		b = append(strconv.AppendInt(b, int64(o.From), 10), " code "...)
		return strconv.AppendInt(b, int64(o.To), 10)
	}
	return append(append(b, "protocol "...), r.Protocol...)
}

func peerText(p model.Peer) string { return string(appendPeerText(nil, p)) }

func appendPeerText(b []byte, p model.Peer) []byte {
	switch {
	case p.PrefixListID != "":
		return append(append(b, "prefix list "...), p.PrefixListID...)
	case p.GroupID != "":
		return append(append(b, "group "...), p.GroupID...)
	case p.CIDR.IsValid():
		return p.CIDR.AppendTo(b)
	}
	return append(b, "invalid Prefix"...) // what netip.Prefix's String says of the zero prefix
}

// rulesText names several rules of g, separated by ", ".
func rulesText(g *model.Group, egress bool, ids []string) string {
	b := make([]byte, 0, 64*len(ids))
	n := 0
	for _, id := range ids {
		if i := g.FindRule(egress, id); i >= 0 {
			if n > 0 {
				b = append(b, ", "...)
			}
			b = appendRuleText(b, &g.Rules(egress)[i])
			n++
		}
	}
	return string(b)
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

// revoke is the command that removes rules of one direction of a group by their IDs.
func revoke(groupID string, egress bool, ids ...string) string {
	return "aws ec2 revoke-security-group-" + direction(egress) + " --group-id " + groupID + " --security-group-rule-ids " + strings.Join(ids, " ")
}

// authorize is the command that adds rule r to a group, in the CLI's shorthand for
// --ip-permissions (one permission, one peer). A description, when given, says why the rule
// is there (so that the fix does not raise SGH-006).
func authorize(groupID string, r model.Rule, desc string) string {
	return fmt.Sprintf("aws ec2 authorize-security-group-%s --group-id %s --ip-permissions '%s'",
		direction(r.Egress), groupID, unquoteVars(permission(r, desc)))
}

// unquoteVars lets the shell expand a "$VAR" peer inside a single-quoted argument: the quote
// is closed around it ('…GroupId='"$SG"'}]').
func unquoteVars(s string) string { return strings.ReplaceAll(s, `"$SG"`, `'"$SG"'`) }

// permission is rule r in the AWS CLI's shorthand syntax of an IpPermission.
func permission(r model.Rule, desc string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "IpProtocol=%s", r.Protocol)
	if model.HasPorts(r.Protocol) {
		fmt.Fprintf(&b, ",FromPort=%d,ToPort=%d", r.FromPort, r.ToPort)
	}
	if desc != "" {
		desc = ",Description=" + desc
	}
	switch p := r.Peer; {
	case p.PrefixListID != "":
		fmt.Fprintf(&b, ",PrefixListIds=[{PrefixListId=%s%s}]", p.PrefixListID, desc)
	case p.GroupID != "":
		fmt.Fprintf(&b, ",UserIdGroupPairs=[{GroupId=%s%s}]", p.GroupID, desc)
	case p.IsIPv6():
		fmt.Fprintf(&b, ",Ipv6Ranges=[{CidrIpv6=%s%s}]", p.CIDR, desc)
	default:
		fmt.Fprintf(&b, ",IpRanges=[{CidrIp=%s%s}]", p.CIDR, desc)
	}
	return b.String()
}

// ruleSet is the rules of one direction of a group by ID.
func ruleByID(g *model.Group, egress bool, id string) *model.Rule {
	if i := g.FindRule(egress, id); i >= 0 {
		return &g.Rules(egress)[i]
	}
	return nil
}

// has reports whether g already holds a rule with r's identity (authorizing it again is an
// InvalidPermission.Duplicate error), leaving out the rules about to be revoked.
func has(g *model.Group, r model.Rule, revoked []string) bool {
	for _, x := range g.Rules(r.Egress) {
		if x.Identity() == r.Identity() && !slices.Contains(revoked, x.ID) {
			return true
		}
	}
	return false
}

// union adds the IDs of b missing from a, keeping a's order.
func union(a []string, b ...string) []string {
	for _, id := range b {
		if !slices.Contains(a, id) {
			a = append(a, id)
		}
	}
	return a
}
