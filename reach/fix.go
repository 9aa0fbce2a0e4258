package reach

import (
	"fmt"
	"net/netip"
	"slices"
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
			if b.Routing == nil {
				return nil, "the endpoints are in different VPCs and Stockade has no peering: no rule change connects them"
			}
			c, note := a.routeFix(b, f)
			if note != "" {
				notes = append(notes, note)
			}
			cmds = append(cmds, c...)
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
	return revokeFix(rules, dir)
}

// revokeFix revokes the rules of one direction that admit a flow.
func revokeFix(rules []policy.RuleRef, dir string) ([]string, string) {
	var cmds []string
	for _, r := range rules {
		if r.RuleID == "" {
			return nil, "the snapshot has no security-group rule IDs (add describe-security-group-rules.json) to phrase the revoke commands"
		}
		cmds = append(cmds, fmt.Sprintf("aws ec2 revoke-security-group-%s --group-id %s --security-group-rule-ids %s", dir, r.GroupID, r.RuleID))
	}
	return cmds, fmt.Sprintf("revokes the %s rules that admit this traffic, and so whatever else they admit", dir)
}

// ExposureFix is the change that stops the internet — every address, not only the one ans
// asks from — reaching ans.To on ans's protocol and port, for a reachable answer from the
// internet (the auditor's EXP-* findings). Where the path's explanation names the security
// groups' ingress rules that admit it, those are revoked: breakFix's ACL deny covers the one
// address asked about, and a deny for the whole family ahead of the ACL's allow would cut the
// VPC's own traffic between subnets on that port too. With no rule to name (an offline
// snapshot without rule IDs) the note says so.
func (a *Analyser) ExposureFix(ans Answer) ([]string, string) {
	if !ans.Reachable || ans.From.Interface != "" {
		return nil, "not a reachable path from the internet"
	}
	return revokeFix(ans.Forward.IngressRules, "ingress")
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

// routeFix is the change that gives an interface its way to or from the internet: a route
// to the VPC's internet gateway (attaching or creating one first when there is none), a
// blackhole route replaced, or an Elastic IP for an interface without a public address.
func (a *Analyser) routeFix(b Blocker, f policy.Flow) ([]string, string) {
	r := b.Routing
	n := a.enis[b.Interface]
	if n == nil {
		return nil, "the interface is not in the snapshot"
	}
	remote := f.Dst
	if b.Interface != "" && f.Src != n.PrivateIP && !slices.Contains(n.IPv6, f.Src) {
		remote = f.Src
	}
	dest := "--destination-cidr-block 0.0.0.0/0"
	if remote.Is6() {
		dest = "--destination-ipv6-cidr-block ::/0"
	}
	igw, cmds := r.Gateway, []string(nil)
	if igw == "" {
		// A detached gateway of the account is reused, else one is created.
		for _, g := range a.igws {
			if g.VpcID == "" {
				igw = g.ID
				break
			}
		}
		if igw == "" {
			igw = "<igw-id>"
			cmds = append(cmds, "aws ec2 create-internet-gateway")
		}
		cmds = append(cmds, fmt.Sprintf("aws ec2 attach-internet-gateway --internet-gateway-id %s --vpc-id %s", igw, n.VpcID))
	}
	table, route := r.RouteTable, r.Route
	if r.NATGateway != "" {
		table, route = r.NATRouteTable, r.NATRoute
	}
	switch r.Code {
	case policy.CodeNoPublicIPEgress, policy.CodeNoPublicIPIngress:
		if r.NATGateway != "" {
			return nil, fmt.Sprintf("NAT gateway %s has no public address", r.NATGateway)
		}
		if r.Target != igw && r.Target != r.Gateway {
			// A private subnet (through a NAT gateway or egress-only gateway): the way back
			// must be the internet gateway, and the interface needs an address.
			cmds = append(cmds, fmt.Sprintf("aws ec2 replace-route --route-table-id %s --destination-cidr-block %s --gateway-id %s", table, route, igw))
		}
		return append(cmds, "aws ec2 allocate-address --domain vpc",
			fmt.Sprintf("aws ec2 associate-address --allocation-id <eipalloc-id> --network-interface-id %s", n.ID)), ""
	case policy.CodeBadRoute:
		if strings.HasPrefix(r.Target, "igw-") && r.Target == igw {
			return cmds, "" // the route's gateway, attached again
		}
		if strings.HasPrefix(r.Target, "nat-") {
			return nil, fmt.Sprintf("NAT gateway %s is not available: wait for it, or route %s elsewhere in %s", r.Target, route, table)
		}
		return append(cmds, fmt.Sprintf("aws ec2 replace-route --route-table-id %s %s --gateway-id %s", table, destFlag(route), igw)), ""
	}
	// No route at all (or one the verdict does not follow).
	if r.Target == "local" {
		return nil, fmt.Sprintf("%s is an address of the VPC, which stays local: no route reaches it outside", remote)
	}
	if table == "" {
		return nil, fmt.Sprintf("the snapshot has no route table for %s", b.Subnet)
	}
	if route != "" {
		cmds = append(cmds, fmt.Sprintf("aws ec2 replace-route --route-table-id %s %s --gateway-id %s", table, destFlag(route), igw))
	} else {
		cmds = append(cmds, fmt.Sprintf("aws ec2 create-route --route-table-id %s %s --gateway-id %s", table, dest, igw))
	}
	if remote.Is4() && !r.PublicIP.IsValid() {
		cmds = append(cmds, "aws ec2 allocate-address --domain vpc",
			fmt.Sprintf("aws ec2 associate-address --allocation-id <eipalloc-id> --network-interface-id %s", n.ID))
	}
	return cmds, ""
}

// destFlag is the destination option of a route command for a route's destination.
func destFlag(route string) string {
	switch {
	case strings.HasPrefix(route, "pl-"):
		return "--destination-prefix-list-id " + route
	case strings.Contains(route, ":"):
		return "--destination-ipv6-cidr-block " + route
	}
	return "--destination-cidr-block " + route
}
