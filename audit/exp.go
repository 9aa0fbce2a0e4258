package audit

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
	"github.com/stockade/stockade/reach"
)

// The exposure checks (audit-checks §2.1 EXP-*) ask the reachability analyser, not a
// heuristic: an interface is exposed on a port when policy.Exposure finds internet addresses
// that get to it through its VPC's internet gateway (public address, attached gateway, route
// back, subnet ACL, groups) and reach.Path, asked from one of those addresses, finds the whole
// path open — replies through the stateless ACLs included. Why is that path as `stockade reach
// --from ADDR --to ENI` prints it, and Fix what reach proposes to close it for every internet
// address (reach.Analyser.ExposureFix: revoke the ingress rules the path names).
//
// EXP-003 is not a finding of its own: it lowers SGA-* findings whose rule no internet address
// gets through (OpenRuleReachable), because the path can appear with one attach or route
// change — the finding stays, one step lower.

func init() {
	register(
		Check{ID: "EXP-001", Title: "Instance reachable from the internet on a sensitive port", Severity: Critical, Run: expSensitive},
		Check{ID: "EXP-002", Title: "Instance reachable from the internet on a non-authorized port", Severity: High, Run: expUnauthorized},
		Check{ID: "EXP-003", Title: "Open security-group rule with no reachable path (lowers SGA-* severity)", Severity: Info, Run: func(*Audit) []Finding { return nil }},
	)
}

// sensitivePorts is audit-checks table 2.3 (the admin, clear-text, file, directory, data-store
// and dev ports, and our admin additions) per protocol; the configuration's admin ports join
// both.
var sensitivePorts = map[int][]uint16{
	model.ProtoNumTCP: {20, 21, 22, 23, 25, 88, 110, 135, 137, 138, 139, 143, 389, 445, 464, 636, 749, 750, 1433, 1434, 1521,
		2049, 2375, 2376, 2379, 2483, 2484, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 5900, 5985, 5986, 6379, 6443,
		7000, 7001, 7199, 8080, 8088, 8888, 9042, 9092, 9160, 9200, 9300, 10250, 11211, 27017, 27018},
	model.ProtoNumUDP: {53, 3389},
}

// exposureState is what the EXP checks share within one audit: the analyser and the exposure
// of every interface, computed once.
type exposureState struct {
	an  *reach.Analyser
	exp map[string]policy.Exposed // interface ID →
	err error
}

func (a *Audit) exposure() *exposureState {
	if a.exp != nil {
		return a.exp
	}
	a.exp = &exposureState{exp: map[string]policy.Exposed{}}
	if a.Policy == nil { // an Audit made by hand, not by Run
		p, err := policy.Compile(a.In.Snapshot)
		if err != nil {
			a.exp.err = err
			return a.exp
		}
		a.Policy = p
	}
	an := reach.WithPolicy(a.Policy, a.In.Snapshot) // the audit's policy: compiled once
	a.exp.an = an
	var exp []policy.Exposed
	var err error
	if a.judge != nil {
		exp, err = an.Policy().ExposureOf(slices.Sorted(maps.Keys(a.judge)), a.Config.Workers)
	} else {
		exp, err = an.Policy().ExposureOn(a.Config.Workers)
	}
	if err != nil {
		a.exp.err = err
		return a.exp
	}
	for _, e := range exp {
		if len(e.Grants) > 0 {
			a.exp.exp[e.ENI] = e
		}
	}
	return a.exp
}

// probe is one exposure to put to reach.Path: a protocol and port over one address family.
type probe struct {
	proto int
	port  uint16
	v6    bool
}

func (p probe) String() string {
	return fmt.Sprintf("%s/%d over %s", model.ProtocolName(p.proto), p.port, family(p.v6))
}

// grantsFor are the grants of an exposure that carry proto (its own, or protocol -1's when
// proto is not among its exceptions).
func grantsFor(gs []policy.Grant, proto int) []policy.Grant {
	var out []policy.Grant
	for _, g := range gs {
		if g.Protocol == proto || g.Protocol == -1 && !slices.Contains(g.Except, proto) {
			if g.Protocol == -1 {
				g.From, g.To = 0, 65535
			}
			out = append(out, g)
		}
	}
	return out
}

// source is an internet address of the grant's family to ask the path from.
func source(g policy.Grant, v6 bool) (netip.Addr, bool) { return sourceIn(g.Addrs.Ranges(), v6) }

// sourceIn is source of a grant whose addresses are the ranges rr (its IPSet's).
func sourceIn(rr []netipx.IPRange, v6 bool) (netip.Addr, bool) {
	if a, ok := firstCommon(rr, internetRanges[boolIndex(v6)]); ok {
		return a, true
	}
	// Addresses outside "the internet" of audit-checks §1.5 (documentation ranges…) are
	// still outside the VPC: ask from one of them rather than miss the exposure.
	for _, r := range rr {
		if r.From().Is6() == v6 {
			return r.From(), true
		}
	}
	return netip.Addr{}, false
}

// rangesOf is s.Ranges(), read once per audit: the EXP checks ask the source of the same
// grants for both families and protocols.
func (a *Audit) rangesOf(s *netipx.IPSet) []netipx.IPRange {
	return remembered(&a.setRanges, s, s.Ranges)
}

// internetRanges are the ranges of internetOf(false) and internetOf(true).
var internetRanges = [2][]netipx.IPRange{internet4.Ranges(), internet6.Ranges()}

// firstCommon is the lowest address in both x and y, sorted disjoint ranges (an IPSet's), found
// by walking them together: the first address of their intersection, without building it.
func firstCommon(x, y []netipx.IPRange) (netip.Addr, bool) {
	for len(x) > 0 && len(y) > 0 {
		switch {
		case x[0].To().Less(y[0].From()):
			x = x[1:]
		case y[0].To().Less(x[0].From()):
			y = y[1:]
		default: // they overlap: the later start is the first common address
			if x[0].From().Less(y[0].From()) {
				return y[0].From(), true
			}
			return x[0].From(), true
		}
	}
	return netip.Addr{}, false
}

// pathFinding puts probes to the analyser for one interface and builds the finding of check
// from the paths that are open: Why is each probe's path as reach prints it, Fix their
// fixes. why is a buffer for the paths' text, reused from one interface to the next (an
// interface open on every port has some fifty paths).
func (a *Audit) pathFinding(check string, e policy.Exposed, probes []probe, from map[probe]netip.Addr, why *bytes.Buffer) *Finding {
	st := a.exposure()
	var open []string
	why.Reset()
	f := a.finding(check, "AWS::EC2::NetworkInterface", e.ENI)
	f.VpcID = e.VpcID
	for _, p := range probes {
		ans, err := st.an.Path(reach.Question{From: from[p].String(), To: e.ENI, Protocol: model.ProtocolName(p.proto), Port: p.port})
		if err != nil || !ans.Reachable {
			continue
		}
		open = append(open, p.String())
		ans.Fix, ans.FixNote = st.an.ExposureFix(ans)
		ans.WriteText(why)
		for _, r := range ans.Forward.IngressRules {
			if r.RuleID != "" && !slices.Contains(f.Rules, r.RuleID) {
				f.Rules = append(f.Rules, r.RuleID)
			}
		}
		if r := ans.Forward.DestNACL; r != nil {
			ref := entryRef(r.ACLID, &model.NACLEntry{RuleNumber: r.RuleNumber})
			if !slices.Contains(f.Rules, ref) {
				f.Rules = append(f.Rules, ref)
			}
		}
		for _, c := range ans.Fix {
			if !slices.Contains(f.Fix, c) {
				f.Fix = append(f.Fix, c)
			}
		}
	}
	if len(open) == 0 {
		return nil
	}
	slices.Sort(f.Rules)
	who := e.ENI
	if n := a.eni(e.ENI); n != nil && n.Attachment != nil && n.Attachment.InstanceID != "" {
		who += " (" + n.Attachment.InstanceID + ")"
	}
	f.Why = "the internet reaches " + who + " on " + strings.Join(open, ", ") + ":\n" + string(bytes.TrimRight(why.Bytes(), "\n"))
	return &f
}

func (a *Audit) eni(id string) *model.NetworkInterface {
	if a.enis == nil { // indexed on first use: the EXP checks ask it of every exposed interface
		a.enis = make(map[string]*model.NetworkInterface, len(a.In.Snapshot.ENIs))
		for _, n := range slices.Backward(a.In.Snapshot.ENIs) { // the first of an ID wins, as a scan finds it
			a.enis[n.ID] = n
		}
	}
	return a.enis[id]
}

// exposures runs pick over every exposed interface, in ID order.
func (a *Audit) exposures(check string, pick func(policy.Grant, int) []uint16) []Finding {
	st := a.exposure()
	if st.err != nil {
		f := a.finding(check, "AWS::EC2::VPC", "")
		f.Why = "the reachability analyser failed: " + st.err.Error()
		return []Finding{f}
	}
	ids := make([]string, 0, len(st.exp))
	for id := range st.exp {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []Finding
	var why bytes.Buffer
	for _, id := range ids {
		e := st.exp[id]
		var probes []probe
		from := map[probe]netip.Addr{}
		for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			for _, g := range grantsFor(e.Grants, proto) {
				for _, v6 := range []bool{false, true} {
					src, ok := sourceIn(a.rangesOf(g.Addrs), v6)
					if !ok {
						continue
					}
					for _, port := range pick(g, proto) {
						p := probe{proto, port, v6}
						if _, dup := from[p]; !dup {
							probes = append(probes, p)
							from[p] = src
						}
					}
				}
			}
		}
		if f := a.pathFinding(check, e, probes, from, &why); f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// expSensitive is EXP-001: every sensitive port a grant of the exposure covers.
func expSensitive(a *Audit) []Finding {
	return a.exposures("EXP-001", func(g policy.Grant, proto int) []uint16 {
		var out []uint16
		for _, p := range a.sensitive(proto) {
			if int(p) >= g.From && int(p) <= g.To {
				out = append(out, p)
			}
		}
		return out
	})
}

func (a *Audit) sensitive(proto int) []uint16 {
	out := slices.Clone(sensitivePorts[proto])
	for _, p := range a.Config.AdminPorts {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// expUnauthorized is EXP-002: per grant, the first port of each stretch of its range that is
// neither authorized nor sensitive (EXP-001 reports those): one probe stands for the stretch,
// which the same rules admit.
func expUnauthorized(a *Audit) []Finding {
	// The ports to skip, per protocol, sorted: a stretch runs from a port past one of them
	// (or the grant's start) to the port before the next (or the grant's end).
	skips := map[int][]int{}
	for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
		authorized := a.Config.AuthorizedTCP
		if proto == model.ProtoNumUDP {
			authorized = a.Config.AuthorizedUDP
		}
		skip := []int{0} // port 0 is no port
		for _, p := range slices.Concat(a.sensitive(proto), authorized) {
			skip = append(skip, int(p))
		}
		slices.Sort(skip)
		skips[proto] = slices.Compact(skip)
	}
	return a.exposures("EXP-002", func(g policy.Grant, proto int) []uint16 { return stretches(g.From, g.To, skips[proto]) })
}

// stretches lists the first port of each stretch of from..to that holds none of the ports
// skip (sorted): the stretches are found between the skipped ports, not port by port.
func stretches(from, to int, skip []int) []uint16 {
	var out []uint16
	p := from // the first port of the stretch being looked at
	for _, s := range skip {
		if s > to {
			break
		}
		if s >= p {
			if s > p {
				out = append(out, uint16(p))
			}
			p = s + 1
		}
	}
	if p <= to {
		out = append(out, uint16(p))
	}
	return out
}

// OpenRuleReachable is EXP-003 for the SG checks: whether some internet address gets through
// rule r of group gid to one of the group's interfaces — the rule among those that admit the
// path — with the path's answer. An SGA-* finding whose rule is not reachable is lowered one
// severity (Critical to High …) and says why (no public address, private subnet, ACL deny):
//
//	if ans, ok := a.OpenRuleReachable(g.ID, r); !ok { f.Severity = Lower(f.Severity); f.Why += ans }
func (a *Audit) OpenRuleReachable(gid string, r *model.Rule) (string, bool) {
	st := a.exposure()
	if st.err != nil {
		return "", true // not known: keep the catalogue's severity
	}
	proto := model.ProtocolNumber(r.Protocol)
	if proto != -1 && proto != model.ProtoNumTCP && proto != model.ProtoNumUDP {
		return "", true // exposure is judged on ports: keep the catalogue's severity
	}
	for _, n := range a.Members(gid) {
		e, ok := st.exp[n.ID]
		if !ok {
			continue
		}
		for _, pr := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			if proto != -1 && proto != pr {
				continue
			}
			for _, g := range grantsFor(e.Grants, pr) {
				lo, hi := max(g.From, int(r.FromPort)), min(g.To, int(r.ToPort))
				if proto == -1 {
					lo, hi = g.From, g.To
				}
				if lo > hi {
					continue
				}
				if r.Peer.CIDR.IsValid() { // ask from an address this rule admits
					var b netipx.IPSetBuilder
					b.AddSet(g.Addrs)
					var peer netipx.IPSetBuilder
					peer.AddPrefix(r.Peer.CIDR)
					ps, _ := peer.IPSet()
					b.Intersect(ps)
					g.Addrs, _ = b.IPSet()
				}
				for _, v6 := range []bool{false, true} {
					src, ok := source(g, v6)
					if !ok {
						continue
					}
					ans, err := st.an.Path(reach.Question{From: src.String(), To: n.ID, Protocol: model.ProtocolName(pr), Port: uint16(max(lo, 1))})
					if err == nil && ans.Reachable && slices.ContainsFunc(ans.Forward.IngressRules, func(x policy.RuleRef) bool { return x.RuleID == r.ID }) {
						return fmt.Sprintf("%s reaches %s on %s/%d through %s", src, n.ID, model.ProtocolName(pr), max(lo, 1), r.ID), true
					}
				}
			}
		}
	}
	return fmt.Sprintf("EXP-003: no internet address reaches a member of %s through %s (no member, no public address or route, or a network ACL deny); one attach or route change can open it", gid, r.ID), false
}

// Lower is one severity lower (Info stays Info): EXP-003's modification.
func Lower(s Severity) Severity { return max(Info, s-1) }
