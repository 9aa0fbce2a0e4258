package reach

import (
	"fmt"
	"io"
	"strings"

	"github.com/stockade/stockade/policy"
)

// WriteText prints an answer for people.
func (ans Answer) WriteText(w io.Writer) {
	what := ans.Protocol
	switch {
	case ans.ICMPType != nil:
		what += fmt.Sprintf(" type %d code %d", *ans.ICMPType, *ans.ICMPCode)
	case ans.Protocol == "tcp" || ans.Protocol == "udp":
		what += fmt.Sprintf("/%d", ans.Port)
	}
	verdict := "REACHABLE"
	if !ans.Reachable {
		verdict = "NOT REACHABLE"
	}
	fmt.Fprintf(w, "%s → %s %s: %s\n", ans.From, ans.To, what, verdict)
	ex := ans.Forward
	if len(ex.EgressRules) > 0 {
		fmt.Fprintf(w, "  source egress allowed by:       %s\n", rules(ex.EgressRules))
	}
	if r := ex.SourceNACL; r != nil {
		fmt.Fprintf(w, "  source subnet ACL (out):        %s\n", acl(r))
	}
	if r := ex.DestNACL; r != nil {
		fmt.Fprintf(w, "  destination subnet ACL (in):    %s\n", acl(r))
	}
	if len(ex.IngressRules) > 0 {
		fmt.Fprintf(w, "  destination ingress allowed by: %s\n", rules(ex.IngressRules))
	}
	if r := ex.Routing; r != nil && r.OK() {
		via := routingText(r)
		if r.PublicIP.IsValid() {
			via += ", the internet sees " + r.PublicIP.String()
		}
		fmt.Fprintf(w, "  route:                          %s\n", via)
	}
	if ap := ans.Appliance; ap != nil {
		fmt.Fprintf(w, "  through appliance %s: %s routes it by %s (the appliance's own groups and source/destination check are not judged)\n",
			ap.Interface, ap.RouteTable, ap.Route)
	}
	if r := ans.Return; r != nil && (r.DestNACL != nil || r.SourceNACL != nil) {
		fmt.Fprintf(w, "  replies (to source port %d):\n", r.SourcePort)
		if r.DestNACL != nil {
			fmt.Fprintf(w, "    destination subnet ACL (out): %s\n", acl(r.DestNACL))
		}
		if r.SourceNACL != nil {
			fmt.Fprintf(w, "    source subnet ACL (in):       %s\n", acl(r.SourceNACL))
		}
	}
	for _, b := range ans.Blockers {
		fmt.Fprintf(w, "  BLOCKED %s: %s\n", b.Code, b.describe())
	}
	if len(ans.Fix) > 0 || ans.FixNote != "" {
		if ans.Reachable {
			fmt.Fprintln(w, "to make it unreachable:")
		} else {
			fmt.Fprintln(w, "to make it reachable:")
		}
		for _, c := range ans.Fix {
			fmt.Fprintln(w, "  "+c)
		}
		if ans.FixNote != "" {
			fmt.Fprintln(w, "  # "+ans.FixNote)
		}
	}
}

func (b Blocker) describe() string {
	switch b.Stage {
	case policy.SourceEgress:
		return fmt.Sprintf("no egress rule of %s (%s) admits it", b.Interface, strings.Join(b.SecurityGroups, ", "))
	case policy.DestIngress:
		return fmt.Sprintf("no ingress rule of %s (%s) admits it", b.Interface, strings.Join(b.SecurityGroups, ", "))
	case policy.SourceNACL, policy.DestNACL:
		what := "the traffic"
		if b.ReturnPath {
			what = "the replies"
		}
		dir := "entering"
		if b.Direction == "egress" {
			dir = "leaving"
		}
		return fmt.Sprintf("%s %s %s", acl(b.NACL), what, dir+" "+b.Subnet)
	}
	if r := b.Routing; r != nil {
		return routingText(r)
	}
	return b.Stage.String()
}

// routingText says how a routing blocker's route table sends the traffic.
func routingText(r *policy.Routing) string {
	var s string
	switch {
	case r.RouteTable == "":
		return "the subnet has no route table"
	case r.Route == "" && r.Target == "local":
		s = r.RouteTable + ": the address is in the VPC (local)"
	case r.Route == "":
		s = r.RouteTable + " has no route for it"
	default:
		s = fmt.Sprintf("%s routes it by %s to %s", r.RouteTable, r.Route, r.Target)
	}
	if r.NATGateway != "" {
		if r.NATRoute == "" {
			s += fmt.Sprintf("; %s's subnet (%s) has no route for it", r.NATGateway, r.NATRouteTable)
		} else {
			s += fmt.Sprintf("; %s's subnet (%s) routes it by %s", r.NATGateway, r.NATRouteTable, r.NATRoute)
		}
	}
	switch r.Code {
	case policy.CodeBadRoute:
		s += " (blackhole: the target is gone, detached or not available)"
	case policy.CodeNoPublicIPEgress, policy.CodeNoPublicIPIngress:
		s += " (no public address)"
	}
	if r.Gateway == "" {
		s += "; the VPC has no internet gateway attached"
	}
	return s
}

func rules(rs []policy.RuleRef) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.GroupID+" "+r.RuleID)
	}
	return strings.Join(s, ", ")
}

func acl(r *policy.NACLRef) string {
	verb := "denies"
	if r.Allow {
		verb = "allows"
	}
	num := fmt.Sprint(r.RuleNumber)
	if r.RuleNumber > 32766 {
		num = "*"
	}
	return fmt.Sprintf("%s rule %s %s", r.ACLID, num, verb)
}

// WriteText prints effective access for people.
func (acc Access) WriteText(w io.Writer) {
	name := acc.Interface
	if acc.Instance != "" {
		name = acc.Instance + " " + name
	}
	if acc.InternetGateway != "" {
		via := "through " + acc.InternetGateway
		if acc.PublicIP.IsValid() {
			via = "at " + acc.PublicIP.String() + " " + via
		}
		fmt.Fprintf(w, "can reach %s %s:\n", name, via)
	} else if acc.Direction == "egress" {
		fmt.Fprintf(w, "%s can reach:\n", name)
	} else {
		fmt.Fprintf(w, "can reach %s:\n", name)
	}
	if len(acc.Traffic) == 0 {
		fmt.Fprintln(w, "  nothing")
	}
	for _, t := range acc.Traffic {
		head := t.Protocol
		if len(t.Except) > 0 {
			head += " (except " + strings.Join(t.Except, ", ") + ")"
		}
		if t.Ports != "" {
			head += " " + t.Ports
		}
		addrs := t.summary
		if addrs == "" { // decoded from JSON
			addrs = strings.Join(t.Addresses, ", ")
		}
		fmt.Fprintf(w, "  %-24s %s\n", head, addrs)
	}
}
