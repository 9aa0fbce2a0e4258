package reach

import (
	"fmt"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// DefaultSourcePort is the client port a return path is judged with when the question names
// none: it lies in the ephemeral ranges of Linux (32768–60999) and Windows (49152–65535).
const DefaultSourcePort = 49152

// Question is "can From reach To?". From and To are interface IDs, instance IDs or addresses.
type Question struct {
	From, To   string
	Protocol   string // tcp, udp, icmp, icmpv6 or a protocol number
	Port       uint16 // destination port (tcp, udp)
	SourcePort uint16 // client port for the return path; 0 means DefaultSourcePort
	ICMPType   uint8
	ICMPCode   uint8
	// AnyPort asks about every destination port: the answer is for the lowest port the forward
	// path admits (port 0 if none does).
	AnyPort bool
}

// Explanation codes of AWS's Reachability Analyzer whose meaning Stockade's blockers share.
const (
	CodeSGRulesMismatch = "ENI_SG_RULES_MISMATCH"
	CodeACLRestriction  = "SUBNET_ACL_RESTRICTION"
	CodeCannotRoute     = "CANNOT_ROUTE"
)

// Blocker is one thing that stops the path.
type Blocker struct {
	Stage policy.Stage `json:"stage"`
	// Code is the Reachability Analyzer explanation code with the same meaning.
	Code      string `json:"code"`
	Direction string `json:"direction,omitempty"` // ingress or egress, as seen by the component
	// ReturnPath marks a network ACL that drops the replies (ACLs are stateless).
	ReturnPath     bool            `json:"returnPath,omitempty"`
	Interface      string          `json:"interface,omitempty"`
	SecurityGroups []string        `json:"securityGroups,omitempty"`
	Subnet         string          `json:"subnet,omitempty"`
	NACL           *policy.NACLRef `json:"networkAcl,omitempty"`
	// Routing is how a flow between an interface and the internet is routed, for a routing
	// blocker (its Code is the blocker's).
	Routing *policy.Routing `json:"routing,omitempty"`
}

// ReturnPath is how the replies fare at the network ACLs they cross (security groups pass
// replies of tracked connections, so only ACLs can stop them).
type ReturnPath struct {
	SourcePort uint16 `json:"sourcePort"`
	// DestNACL is the destination subnet's ACL letting the reply out; SourceNACL the source
	// subnet's letting it in. Nil where no subnet boundary is crossed.
	DestNACL   *policy.NACLRef `json:"destinationNacl,omitempty"`
	SourceNACL *policy.NACLRef `json:"sourceNacl,omitempty"`
}

// Answer is the full answer to a Question.
type Answer struct {
	Reachable bool               `json:"reachable"`
	From      Endpoint           `json:"from"`
	To        Endpoint           `json:"to"`
	Protocol  string             `json:"protocol"`
	Port      uint16             `json:"port,omitempty"`
	ICMPType  *uint8             `json:"icmpType,omitempty"`
	ICMPCode  *uint8             `json:"icmpCode,omitempty"`
	Forward   policy.Explanation `json:"forward"`
	Return    *ReturnPath        `json:"return,omitempty"`
	Blockers  []Blocker          `json:"blockers,omitempty"`
	// Appliance is the interface a more specific route of the source subnet's table sends
	// this traffic through inside the VPC (a firewall or NAT instance), with the route.
	// The verdict judges the two endpoints only: the appliance's own groups and its
	// source/destination check are not followed.
	Appliance *Appliance `json:"appliance,omitempty"`
	// Fix is the smallest change that flips the answer, as AWS CLI commands to run in order;
	// FixNote says what they do or why there is none.
	Fix     []string `json:"fix,omitempty"`
	FixNote string   `json:"fixNote,omitempty"`
}

// Appliance is a hop through an interface that a route targets.
type Appliance struct {
	Interface  string `json:"interface"`
	RouteTable string `json:"routeTable"`
	Route      string `json:"route"`
}

// Path answers a Question: the forward path judged as its first packet, the return path's
// network ACLs for TCP and UDP, every blocker on both, and the fix.
func (a *Analyser) Path(q Question) (Answer, error) {
	proto, err := model.NormalizeProtocol(q.Protocol)
	if err != nil || proto == model.ProtoAll {
		return Answer{}, fmt.Errorf("protocol %q: give tcp, udp, icmp, icmpv6 or a protocol number", q.Protocol)
	}
	src, dst, err := a.resolve(q.From, q.To)
	if err != nil {
		return Answer{}, err
	}
	if q.SourcePort == 0 {
		q.SourcePort = DefaultSourcePort
	}
	f := policy.Flow{Src: src.Address, Dst: dst.Address, Proto: uint8(model.ProtocolNumber(proto)), SrcPort: q.SourcePort, DstPort: q.Port}
	ans := Answer{From: src, To: dst, Protocol: proto}
	switch f.Proto {
	case model.ProtoNumTCP, model.ProtoNumUDP:
		if q.AnyPort {
			f.DstPort = a.firstPort(src, dst, f)
		}
		ans.Port = f.DstPort
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		f.SrcPort, f.DstPort, f.ICMPType, f.ICMPCode = 0, 0, q.ICMPType, q.ICMPCode
		ans.ICMPType, ans.ICMPCode = &f.ICMPType, &f.ICMPCode
	default:
		f.SrcPort, f.DstPort = 0, 0
	}
	ans.Forward = a.p.Explain(src.policy(), dst.policy(), f)
	ans.Blockers = a.forwardBlockers(src, dst, ans.Forward)
	if b := gatewayBlocker(src, dst, ans.Forward.Routing); b != nil {
		ans.Blockers = append([]Blocker{*b}, ans.Blockers...)
	}
	ans.Appliance = a.appliance(src, dst)
	if ans.Forward.Decision != policy.NoRoute && (f.Proto == model.ProtoNumTCP || f.Proto == model.ProtoNumUDP) {
		reply := policy.Flow{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort}
		back := a.p.Explain(dst.policy(), src.policy(), reply)
		ans.Return = &ReturnPath{SourcePort: q.SourcePort, DestNACL: back.SourceNACL, SourceNACL: back.DestNACL}
		if r := ans.Return.DestNACL; r != nil && !r.Allow {
			ans.Blockers = append(ans.Blockers, Blocker{Stage: policy.DestNACL, Code: CodeACLRestriction, Direction: "egress",
				ReturnPath: true, Subnet: dst.Subnet, NACL: r})
		}
		if r := ans.Return.SourceNACL; r != nil && !r.Allow {
			ans.Blockers = append(ans.Blockers, Blocker{Stage: policy.SourceNACL, Code: CodeACLRestriction, Direction: "ingress",
				ReturnPath: true, Subnet: src.Subnet, NACL: r})
		}
	}
	ans.Reachable = len(ans.Blockers) == 0
	if ans.Reachable {
		ans.Fix, ans.FixNote = a.breakFix(ans, f)
	} else {
		ans.Fix, ans.FixNote = a.openFix(ans, f)
	}
	return ans, nil
}

// forwardBlockers lists every stage of the forward path that stops the flow; Explain judges
// each stage on its own, so all of them are known, not just the first.
func (a *Analyser) forwardBlockers(src, dst Endpoint, ex policy.Explanation) []Blocker {
	var out []Blocker
	switch {
	case ex.Routing != nil && !ex.Routing.OK():
		// A routing blocker between an interface and the internet: the filters are judged
		// too, so that the fix opens everything at once.
		b := Blocker{Stage: policy.NoRoute, Code: ex.Routing.Code, Routing: ex.Routing, Subnet: src.Subnet, Interface: src.Interface}
		if src.Interface == "" {
			b.Subnet, b.Interface = dst.Subnet, dst.Interface
		}
		out = append(out, b)
	case ex.Decision == policy.NoRoute:
		return []Blocker{{Stage: policy.NoRoute, Code: CodeCannotRoute}}
	case ex.Decision == policy.UnknownEndpoint:
		return []Blocker{{Stage: policy.UnknownEndpoint, Code: CodeCannotRoute}}
	}
	if src.Interface != "" && len(ex.EgressRules) == 0 {
		out = append(out, Blocker{Stage: policy.SourceEgress, Code: CodeSGRulesMismatch, Direction: "egress",
			Interface: src.Interface, SecurityGroups: a.enis[src.Interface].Groups})
	}
	if r := ex.SourceNACL; r != nil && !r.Allow {
		out = append(out, Blocker{Stage: policy.SourceNACL, Code: CodeACLRestriction, Direction: "egress", Subnet: src.Subnet, NACL: r})
	}
	if r := ex.DestNACL; r != nil && !r.Allow {
		out = append(out, Blocker{Stage: policy.DestNACL, Code: CodeACLRestriction, Direction: "ingress", Subnet: dst.Subnet, NACL: r})
	}
	if dst.Interface != "" && len(ex.IngressRules) == 0 {
		out = append(out, Blocker{Stage: policy.DestIngress, Code: CodeSGRulesMismatch, Direction: "ingress",
			Interface: dst.Interface, SecurityGroups: a.enis[dst.Interface].Groups})
	}
	return out
}

// gatewayBlocker stops a path that names an internet gateway as an end when the interface's
// traffic to or from the internet does not cross that gateway: it is attached to another VPC
// or to none (otherwise routing's own blocker explains the path). [UNCONFIRMED] the code AWS
// gives for a path between an interface and another VPC's internet gateway; Stockade answers
// NO_ROUTE_TO_DESTINATION, as for a VPC without a route to the gateway.
func gatewayBlocker(src, dst Endpoint, r *policy.Routing) *Blocker {
	gw, eni := src.Gateway, dst
	if gw == "" {
		gw, eni = dst.Gateway, src
	}
	if gw == "" || r == nil || !r.OK() || r.Gateway == gw {
		return nil
	}
	rr := *r
	rr.Code = policy.CodeNoRoute
	return &Blocker{Stage: policy.NoRoute, Code: rr.Code, Routing: &rr, Subnet: eni.Subnet, Interface: eni.Interface}
}

// firstPort is the lowest destination port the forward path admits, 0 if none: 65,536
// verdicts of well under a microsecond each.
func (a *Analyser) firstPort(src, dst Endpoint, f policy.Flow) uint16 {
	for port := 0; port <= 65535; port++ {
		f.DstPort = uint16(port)
		if a.p.Verdict(src.policy(), dst.policy(), f) == policy.Admitted {
			return uint16(port)
		}
	}
	return 0
}

// appliance is the interface the source subnet's route table sends traffic to the
// destination through, when a route more specific than the local one targets an interface
// other than the two ends; nil otherwise.
func (a *Analyser) appliance(src, dst Endpoint) *Appliance {
	if src.Interface == "" || dst.Interface == "" {
		return nil
	}
	r := a.p.RouteFor(src.Subnet, dst.Address)
	if r == nil || r.Target.NetworkInterfaceID == "" || r.Target.NetworkInterfaceID == src.Interface || r.Target.NetworkInterfaceID == dst.Interface {
		return nil
	}
	dest := r.DestPrefixList
	if dest == "" {
		dest = r.Dest.String()
	}
	return &Appliance{Interface: r.Target.NetworkInterfaceID, RouteTable: a.p.RouteTable(src.Subnet), Route: dest}
}
