package reach

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// openFix is the smallest change that lets the flow through: for each blocker, one command
// that admits exactly this flow between these two addresses. Replies blocked by an ACL are let
// through on the whole ephemeral range 1024–65535 (AWS's advice), since a client picks a new
// port for every connection.
func (a *Analyser) openFix(ans Answer, f policy.Flow) ([]string, string) {
	var cmds, notes []string
	for _, b := range ans.Blockers {
		switch b.Stage {
		case policy.NoRoute, policy.UnknownEndpoint:
			return nil, "the endpoints are in different VPCs and Stockade has no peering: no rule change connects them"
		case policy.SourceEgress:
			cmds = append(cmds, fmt.Sprintf("aws ec2 authorize-security-group-egress --group-id %s --ip-permissions '%s'",
				b.SecurityGroups[0], permission(f, f.Dst)))
		case policy.DestIngress:
			cmds = append(cmds, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id %s --ip-permissions '%s'",
				b.SecurityGroups[0], permission(f, f.Src)))
		default: // an ACL entry denies: allow just before it
			egress := b.Direction == "egress"
			remote := f.Src // forward ingress, or a reply leaving the destination's subnet
			if egress != b.ReturnPath {
				remote = f.Dst
			}
			cmd, err := a.aclEntry(b.Subnet, b.NACL, egress, true, f, remote, b.ReturnPath)
			if err != nil {
				notes = append(notes, err.Error())
				continue
			}
			cmds = append(cmds, cmd)
		}
	}
	note := "admits exactly this traffic"
	for _, b := range ans.Blockers {
		if b.ReturnPath {
			note += ", and its replies on the ephemeral ports 1024-65535"
			break
		}
	}
	if len(notes) > 0 {
		note = strings.Join(notes, "; ")
	}
	return cmds, note
}

// breakFix is the smallest change that stops the flow: where a network ACL is crossed, one
// deny entry for exactly this flow ahead of the entry that allows it; otherwise revoking the
// rules that admit it on the side with fewer of them.
func (a *Analyser) breakFix(ans Answer, f policy.Flow) ([]string, string) {
	ex := ans.Forward
	if r := ex.DestNACL; r != nil {
		if cmd, err := a.aclEntry(ans.To.Subnet, r, false, false, f, f.Src, false); err == nil {
			return []string{cmd}, "blocks exactly this traffic at the destination subnet's network ACL"
		}
	}
	if r := ex.SourceNACL; r != nil {
		if cmd, err := a.aclEntry(ans.From.Subnet, r, true, false, f, f.Dst, false); err == nil {
			return []string{cmd}, "blocks exactly this traffic at the source subnet's network ACL"
		}
	}
	rules, dir := ex.IngressRules, "ingress"
	if len(ex.EgressRules) > 0 && (len(rules) == 0 || len(ex.EgressRules) < len(rules)) {
		rules, dir = ex.EgressRules, "egress"
	}
	var cmds []string
	for _, r := range rules {
		if r.RuleID == "" {
			return nil, "the snapshot has no security-group rule IDs (add describe-security-group-rules.json) to phrase the revoke commands"
		}
		cmds = append(cmds, fmt.Sprintf("aws ec2 revoke-security-group-%s --group-id %s --security-group-rule-ids %s", dir, r.GroupID, r.RuleID))
	}
	return cmds, fmt.Sprintf("revokes the %s rules that admit this traffic, and so whatever else they admit", dir)
}

// permission is the --ip-permissions shorthand admitting flow f to or from one address.
func permission(f policy.Flow, peer netip.Addr) string {
	var b strings.Builder
	switch f.Proto {
	case model.ProtoNumTCP, model.ProtoNumUDP:
		fmt.Fprintf(&b, "IpProtocol=%s,FromPort=%d,ToPort=%d", protoName(f.Proto), f.DstPort, f.DstPort)
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		fmt.Fprintf(&b, "IpProtocol=%s,FromPort=%d,ToPort=%d", protoName(f.Proto), f.ICMPType, f.ICMPCode)
	default:
		fmt.Fprintf(&b, "IpProtocol=%d", f.Proto)
	}
	if peer.Is4() {
		fmt.Fprintf(&b, ",IpRanges=[{CidrIp=%s}]", netip.PrefixFrom(peer, 32))
	} else {
		fmt.Fprintf(&b, ",Ipv6Ranges=[{CidrIpv6=%s}]", netip.PrefixFrom(peer, 128))
	}
	return b.String()
}

func protoName(p uint8) string { return model.ProtocolName(int(p)) }

// aclEntry phrases create-network-acl-entry for one flow and remote address, numbered just
// ahead of the entry that decides now (the highest free number below it). ephemeral asks for
// the reply ports 1024–65535 instead of the flow's destination port.
func (a *Analyser) aclEntry(subnet string, decided *policy.NACLRef, egress, allow bool, f policy.Flow, remote netip.Addr, ephemeral bool) (string, error) {
	acl := a.nacls[subnet]
	if acl == nil || acl.ID != decided.ACLID {
		return "", fmt.Errorf("the network ACL of %s is not in the snapshot", subnet)
	}
	number := 0
	for n := min(decided.RuleNumber-1, model.MaxNACLRule); n >= 1; n-- {
		if acl.Find(egress, n) < 0 {
			number = n
			break
		}
	}
	if number == 0 {
		return "", fmt.Errorf("%s has no free rule number below %d: renumber its entries first", acl.ID, decided.RuleNumber)
	}
	var b strings.Builder
	dir := "--ingress"
	if egress {
		dir = "--egress"
	}
	action := "deny"
	if allow {
		action = "allow"
	}
	fmt.Fprintf(&b, "aws ec2 create-network-acl-entry --network-acl-id %s %s --rule-number %d --protocol %d", acl.ID, dir, number, f.Proto)
	switch {
	case ephemeral:
		b.WriteString(" --port-range From=1024,To=65535")
	case f.Proto == model.ProtoNumTCP || f.Proto == model.ProtoNumUDP:
		fmt.Fprintf(&b, " --port-range From=%d,To=%d", f.DstPort, f.DstPort)
	case f.Proto == model.ProtoNumICMP || f.Proto == model.ProtoNumICMPv6:
		fmt.Fprintf(&b, " --icmp-type-code Type=%d,Code=%d", f.ICMPType, f.ICMPCode)
	}
	if remote.Is4() {
		fmt.Fprintf(&b, " --cidr-block %s", netip.PrefixFrom(remote, 32))
	} else {
		fmt.Fprintf(&b, " --ipv6-cidr-block %s", netip.PrefixFrom(remote, 128))
	}
	fmt.Fprintf(&b, " --rule-action %s", action)
	return b.String(), nil
}
