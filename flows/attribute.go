package flows

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// Period bounds the records an analysis reads by their start: Since inclusive, Until
// exclusive; a zero bound is open.
type Period struct{ Since, Until time.Time }

// Has reports whether r started in the period.
func (p Period) Has(r *Record) bool {
	return (p.Since.IsZero() || r.Start >= p.Since.Unix()) && (p.Until.IsZero() || r.Start < p.Until.Unix())
}

// Data is what the analyses read: the records of the period and the network's revisions.
// FlowLogs are the flow-log definitions in force (nil when not known: an export without
// describe-flow-logs), which say which interfaces are logged.
type Data struct {
	Records  []Record
	Timeline *Timeline
	FlowLogs []*model.FlowLog
}

// Select keeps the records of the period and completes their directions (Direction).
func (d *Data) Select(p Period) []Record {
	out := make([]Record, 0, len(d.Records))
	for _, r := range d.Records {
		if p.Has(&r) {
			if r.Dir == Unknown && d.Timeline != nil {
				r.Dir = d.direction(&r)
			}
			out = append(out, r)
		}
	}
	return out
}

// direction tells a record's direction when its format has no flow-direction: srcaddr is the
// interface's own (primary) address on egress, dstaddr on ingress (A1).
func (d *Data) direction(r *Record) Direction {
	for _, n := range d.Timeline.At(time.Unix(r.Start, 0)).Snapshot.ENIs {
		if n.ID != r.Interface {
			continue
		}
		if slices.Contains(n.Addrs(), r.Src) {
			return Egress
		}
		if slices.Contains(n.Addrs(), r.Dst) {
			return Ingress
		}
	}
	return Unknown
}

// tuple is a record's flow on its interface, its reverse the reply's.
type tuple struct {
	iface            string
	proto            uint8
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

func tupleOf(r *Record) tuple {
	return tuple{r.Interface, r.Proto, r.PktSrc, r.PktDst, r.SrcPort, r.DstPort}
}

func (t tuple) reverse() tuple {
	return tuple{t.iface, t.proto, t.dst, t.src, t.dstPort, t.srcPort}
}

// Initiating marks, for each ACCEPT record of recs, whether it is the direction that opened
// its connection (conntrack's original side), the only one whose admission is a rule's doing:
// replies pass by statefulness and never count as a rule's use (§A5.2). In order:
//   - TCP with tcp-flags: SYN without ACK opens (A2.6); any other record — SYN-ACK, or a
//     later window of a connection (FIN, RST, or nothing reported) — does not, so that a
//     connection spanning windows is one flow;
//   - a record whose reverse is not in recs opened its flow (a one-way stream, or a
//     connection whose replies were not accepted);
//   - of a record and its reverse, the one to the lower port opened it (the service port;
//     the other is ephemeral). Equal ports cannot be told apart and both count
//     [a heuristic: AWS's records carry nothing better without tcp-flags].
func Initiating(recs []Record) []bool {
	seen := map[tuple]bool{}
	for i := range recs {
		if recs[i].OK() && recs[i].Action == "ACCEPT" {
			seen[tupleOf(&recs[i])] = true
		}
	}
	out := make([]bool, len(recs))
	for i := range recs {
		r := &recs[i]
		if !r.OK() || r.Action != "ACCEPT" {
			continue
		}
		if r.Proto == model.ProtoNumTCP && r.Flags >= 0 {
			out[i] = r.Flags&2 != 0 && r.Flags&16 == 0
			continue
		}
		t := tupleOf(r)
		out[i] = !seen[t.reverse()] || r.DstPort <= r.SrcPort
	}
	return out
}

// flowOf is the policy's question for a record: its packet addresses, protocol and ports.
// An ICMP record has no type or code (its ports are 0, A1); it is asked as an echo request
// (type 8, code 0), the ICMP that opens a flow [UNCONFIRMED: other types are attributed as
// if they were echo requests].
func flowOf(r *Record) policy.Flow {
	f := policy.Flow{Src: r.PktSrc, Dst: r.PktDst, Proto: r.Proto, SrcPort: r.SrcPort, DstPort: r.DstPort}
	switch r.Proto {
	case model.ProtoNumICMP:
		f.ICMPType, f.SrcPort, f.DstPort = 8, 0, 0
	case model.ProtoNumICMPv6:
		f.ICMPType, f.SrcPort, f.DstPort = 128, 0, 0
	}
	return f
}

// Admitting is the rules that admit r on its interface in its direction, as the policy in
// force when r started explains it: the covering set. The other end is asked as outside
// the snapshot, so that only r's own interface's groups are consulted (the remote's groups
// and NACLs are its own records' business). nil when r's interface is not in that revision
// or the direction is unknown.
func (d *Data) Admitting(r *Record) []policy.RuleRef {
	p := d.Timeline.At(time.Unix(r.Start, 0)).Policy
	self := policy.Endpoint{ENI: r.Interface}
	f := flowOf(r)
	switch r.Dir {
	case Egress:
		return p.Explain(self, policy.Outside, f).EgressRules
	case Ingress:
		return p.Explain(policy.Outside, self, f).IngressRules
	}
	return nil
}

// RuleUse is what the records of a period say about one rule.
type RuleUse struct {
	GroupID string `json:"groupId"`
	RuleID  string `json:"ruleId"`
	Egress  bool   `json:"egress"`
	// Rule is the rule for people: "tcp 22 from 10.0.0.0/24".
	Rule string `json:"rule"`
	// Status is "used" (it admitted at least one opening flow), "unused" (its group's
	// interfaces are logged and it admitted none), or "unknown" (none of its group's
	// interfaces has a flow log that records accepted traffic: nothing can be said).
	Status   string `json:"status"`
	Flows    int    `json:"flows"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	LastUsed int64  `json:"lastUsed,omitempty"` // Unix seconds: the end of its latest flow
	// Shadowed: used, but every flow it admitted was admitted by another rule too.
	Shadowed bool `json:"shadowed,omitempty"`
	// Removed is when a rule that is gone now left its group (Unix seconds): such a rule is
	// reported when it admitted flows of the period, under the policy then in force.
	Removed int64 `json:"removed,omitempty"`
}

// Rules attributes each opening ACCEPT record of the period to the rules that admitted it
// and reports every rule of the current revision: used, unused or unknown. A rule of an
// older revision that is gone now is reported when it admitted flows of the period (with
// Removed): that it admitted nothing before it went is no finding, since nothing is left
// to revoke.
func (d *Data) Rules(p Period) []RuleUse {
	recs := d.Select(p)
	init := Initiating(recs)
	type acc struct {
		RuleUse
		alone bool
	}
	uses := map[string]*acc{}
	logged := map[string]bool{} // interfaces with records or a flow log of accepted traffic
	// The covering set depends on the revision, the interface, the direction, the protocol,
	// the remote address and the destination port only: records of one service from one
	// client, window after window, ask the compiler once.
	type question struct {
		rev    time.Time // the revision's From: a rewound timeline builds a revision anew once it has left its cache
		iface  string
		dir    Direction
		proto  uint8
		remote netip.Addr
		port   uint16
	}
	answers := map[question][]policy.RuleRef{}
	// A flow is counted once however many windows opened it (a SYN retransmitted into the
	// next window); its packets and bytes are all counted.
	type counted struct {
		rule string
		flow tuple
	}
	once := map[counted]bool{}
	for i := range recs {
		r := &recs[i]
		logged[r.Interface] = true
		if !init[i] {
			continue
		}
		q := question{d.Timeline.At(time.Unix(r.Start, 0)).From, r.Interface, r.Dir, r.Proto, r.PktSrc, r.DstPort}
		if r.Dir == Egress {
			q.remote = r.PktDst
		}
		refs, ok := answers[q]
		if !ok {
			refs = d.Admitting(r)
			answers[q] = refs
		}
		for _, ref := range refs {
			u := uses[ref.RuleID]
			if u == nil {
				u = &acc{}
				uses[ref.RuleID] = u
			}
			if c := (counted{ref.RuleID, tupleOf(r)}); !once[c] {
				once[c] = true
				u.Flows++
			}
			u.Packets += r.Packets
			u.Bytes += r.Bytes
			u.LastUsed = max(u.LastUsed, r.End)
			u.alone = u.alone || len(refs) == 1
		}
	}
	cur := d.Timeline.Current().Snapshot
	for _, n := range cur.ENIs {
		for _, fl := range d.FlowLogs {
			if fl.TrafficType != "REJECT" && (fl.ResourceID == n.ID || fl.ResourceID == n.SubnetID || fl.ResourceID == n.VpcID) {
				logged[n.ID] = true
			}
		}
	}
	groupLogged := map[string]bool{}
	for _, n := range cur.ENIs {
		for _, g := range n.Groups {
			groupLogged[g] = groupLogged[g] || logged[n.ID]
		}
	}
	var out []RuleUse
	report := func(groupID string, r model.Rule, removed int64) RuleUse {
		u := RuleUse{GroupID: groupID, RuleID: r.ID, Egress: r.Egress, Rule: Describe(&r), Removed: removed}
		if a := uses[r.ID]; a != nil {
			u.Flows, u.Packets, u.Bytes, u.LastUsed = a.Flows, a.Packets, a.Bytes, a.LastUsed
			u.Shadowed = !a.alone
		}
		return u
	}
	for _, g := range d.Timeline.gone() {
		if uses[g.rule.ID] != nil {
			u := report(g.groupID, g.rule, g.removed.Unix())
			u.Status = "used"
			out = append(out, u)
		}
	}
	for _, g := range cur.Groups {
		for _, egress := range []bool{false, true} {
			for _, r := range g.Rules(egress) {
				r.Egress = egress
				u := report(g.ID, r, 0)
				switch {
				case u.Flows > 0:
					u.Status = "used"
				case groupLogged[g.ID]:
					u.Status = "unused"
				default:
					u.Status = "unknown"
				}
				out = append(out, u)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b RuleUse) int {
		return cmp.Or(cmp.Compare(a.GroupID, b.GroupID), boolCmp(a.Egress, b.Egress), cmp.Compare(a.RuleID, b.RuleID))
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Describe renders a rule for people: protocol, ports and peer.
func Describe(r *model.Rule) string {
	o := policy.OpeningOf(r)
	s := "all traffic"
	switch {
	case o.Proto == -1:
	case o.HasPorts() && o.From == o.To:
		s = fmt.Sprintf("%s %d", model.ProtocolName(o.Proto), o.From)
	case o.HasPorts():
		s = fmt.Sprintf("%s %d-%d", model.ProtocolName(o.Proto), o.From, o.To)
	case o.ICMP():
		s = fmt.Sprintf("%s type %d code %d", model.ProtocolName(o.Proto), o.From, o.To)
	default:
		s = "protocol " + model.ProtocolName(o.Proto)
	}
	dir := " from "
	if r.Egress {
		dir = " to "
	}
	peer := r.Peer.CIDR.String()
	switch {
	case r.Peer.GroupID != "":
		peer = r.Peer.GroupID
	case r.Peer.PrefixListID != "":
		peer = r.Peer.PrefixListID
	}
	return s + dir + peer
}
