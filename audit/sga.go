package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// The SGA family: what a security group lets in (audit-checks §2.1, SGA-001…015). Every
// "open to the internet" question goes through policy.InternetOpen, the canonical matcher:
// ranges hold the ports inside them, 0-65535 and 1-65535 are both all ports, UDP counts,
// protocol -1 is everything, ICMP type and code are never ports, and a prefix list or several
// rules whose addresses together are /0 are the internet. Each group is judged on all its
// rules at once, so one harmless rule (a self reference) never hides another (Checkov's early
// return, §3.5), and a group no interface carries is still judged, one severity lower (§3.7).

func init() {
	register(
		Check{ID: "SGA-001", Title: "All traffic open to the internet", Severity: Critical, Run: sga001},
		Check{ID: "SGA-002", Title: "Remote admin ports open to 0.0.0.0/0", Severity: High, Run: adminCheck("SGA-002", false)},
		Check{ID: "SGA-003", Title: "Remote admin ports open to ::/0", Severity: High, Run: adminCheck("SGA-003", true)},
		Check{ID: "SGA-004", Title: "High-risk ports open to the internet", Severity: Critical,
			Run: sensitiveCheck("SGA-004", "high-risk ports", func(*Audit) []servicePort { return portsOf(true) })},
		Check{ID: "SGA-005", Title: "Data-store port open to the internet", Severity: High,
			Run: sensitiveCheck("SGA-005", "data-store ports", func(*Audit) []servicePort { return portsOf(false, bucketData) })},
		Check{ID: "SGA-006", Title: "Clear-text, file-sharing or directory protocol open to the internet", Severity: High,
			Run: sensitiveCheck("SGA-006", "clear-text, file-sharing or directory ports", func(*Audit) []servicePort {
				return portsOf(false, bucketClearText, bucketInfra, bucketDirectory, bucketFile)
			})},
		Check{ID: "SGA-007", Title: "Internet ingress on a non-authorized port", Severity: High, Run: sga007},
		Check{ID: "SGA-008", Title: "Broad public CIDR", Severity: Medium, Run: broadCheck("SGA-008", false)},
		Check{ID: "SGA-009", Title: "Individual public addresses in rules", Severity: Medium, Run: sga009},
		Check{ID: "SGA-010", Title: "Shared-cloud address ranges trusted", Severity: Medium, Run: sga010},
		Check{ID: "SGA-011", Title: "ICMP open to the internet", Severity: Low, Run: sga011},
		Check{ID: "SGA-012", Title: "Port ranges instead of explicit ports", Severity: Low, Run: sga012},
		Check{ID: "SGA-013", Title: "All ports open to self or a peer group", Severity: Low, Run: sga013},
		Check{ID: "SGA-014", Title: "Whole-VPC or large private range as source", Severity: Medium, Run: sga014},
		Check{ID: "SGA-015", Title: "CIDR used where a security-group reference would do", Severity: Info, Run: sga015},
	)
}

// internet names the families an exposure reaches.
func internet(v4, v6 []string) string {
	switch {
	case v4 != nil && v6 != nil:
		return "0.0.0.0/0 and ::/0"
	case v6 != nil:
		return "::/0"
	}
	return "0.0.0.0/0"
}

// exposureFinding is a finding that rules of g open something to the internet: its Why names
// what, through which rules; its Fix revokes them, then gives the catalogue's advice.
func (a *Audit) exposureFinding(c string, g *model.Group, what string, ids []string, advice string) Finding {
	f := a.groupFinding(c, g, ids...)
	f.Why = "Group " + g.ID + " lets " + what + " in through " + rulesText(g, false, ids) + "."
	f.Fix = []string{revoke(g.ID, false, ids...), "# " + advice}
	return a.exposed(f, g)
}

// sga001: every port of TCP or of UDP (or protocol -1) open to the internet.
func sga001(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if !a.mayReachInternet(g, false) {
			continue
		}
		var v4, v6 []string
		for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			x4, x6 := a.Policy.InternetOpen(g.Ingress, func(o policy.Opening) bool { return o.AllPortsOf(proto) })
			v4, v6 = union(v4, x4...), union(v6, x6...)
		}
		if v4 == nil && v6 == nil {
			continue
		}
		out = append(out, a.exposureFinding("SGA-001", g, "every port from "+internet(v4, v6), union(v4, v6...),
			"re-add only the ports the workload serves; put public services behind a load balancer and allow its group instead of /0"))
	}
	return out
}

// portHit is one port of a service, over one protocol, open to the internet.
type portHit struct {
	proto  string
	sp     servicePort
	v4, v6 []string
}

// openPorts lists the ports of ps that g's ingress opens to the internet, over TCP and over
// UDP.
func (a *Audit) openPorts(g *model.Group, ps []servicePort) []portHit {
	var out []portHit
	segs := [...]*portSegments{a.portSegments(g, model.ProtoNumTCP), a.portSegments(g, model.ProtoNumUDP)}
	for _, sp := range ps {
		for k, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			if v4, v6 := a.internetOpenAt(g, segs[k], sp.port); v4 != nil || v6 != nil {
				out = append(out, portHit{model.ProtocolName(proto), sp, v4, v6})
			}
		}
	}
	return out
}

// openings are the rules' openings (policy.OpeningOf), read once.
func openings(rs []model.Rule) []policy.Opening {
	ops := make([]policy.Opening, len(rs))
	for i := range rs {
		ops[i] = policy.OpeningOf(&rs[i])
	}
	return ops
}

// internetOpenAt is the matcher's answer (policy.InternetOpen) for g's ingress at one port of
// the protocol whose segments (portSegments) are segs — found by the caller once per group,
// not once per port. The answer depends on the port only through which rules open it, and
// most ports of a group are opened by the same few rules (or none): it is worked out once per
// segment of ports opened by the same rules, for every check of the audit, and asked of the
// matcher once per group and such set of rules. A set without a rule whose peer holds a
// global address is answered without asking: no union of it is the internet.
func (a *Audit) internetOpenAt(g *model.Group, segs *portSegments, port uint16) (v4, v6 []string) {
	i, found := slices.BinarySearch(segs.starts, int32(port))
	if !found {
		i-- // the segment starting below port (the first starts at 0)
	}
	if ans := segs.answers[i]; ans != nil {
		return ans.v4, ans.v6
	}
	ans := &noAnswer
	if mask := segs.mask(i); segs.mayBeInternet(mask) {
		m := segs.memo
		if ans = m.opens[string(mask)]; ans == nil {
			ans = &openAnswer{}
			ans.v4, ans.v6 = a.Policy.InternetOpenOf(g.Ingress, func(i int) bool { return mask[i/8]&(1<<(i%8)) != 0 })
			if m.opens == nil {
				m.opens = map[string]*openAnswer{}
			}
			m.opens[string(mask)] = ans
		}
	}
	segs.answers[i] = ans
	return ans.v4, ans.v6
}

// portSegments cuts the port space of one protocol (TCP or UDP) of g's ingress where the
// rules that open a port change: a rule opens a range of ports, or all of them, so every port
// of a segment is opened by the same rules. Remembered per group and protocol for the audit,
// with the matcher's answer for each segment once asked (internetOpenAt).
type portSegments struct {
	starts []int32 // the first port of each segment; starts[0] is 0
	// masks are the rules that open the ports of each segment, a bit per rule (rule j: byte
	// j/8, bit j%8), stride bytes per segment.
	masks  []byte
	stride int
	// global has the bits of the rules whose peer holds a globally routable address
	// (globalRules).
	global  []byte
	answers []*openAnswer // nil: not asked yet
	memo    *groupMemo    // the group's, which keeps the answers per set of rules
}

// noAnswer is the answer of a segment no rule with a global peer opens.
var noAnswer openAnswer

// mask is the mask of segment i.
func (s *portSegments) mask(i int) []byte { return s.masks[i*s.stride : (i+1)*s.stride] }

// mayBeInternet reports whether a rule of mask has a peer with a global address.
func (s *portSegments) mayBeInternet(mask []byte) bool {
	for i := range s.global {
		if mask[i]&s.global[i] != 0 {
			return true
		}
	}
	return false
}

func (a *Audit) portSegments(g *model.Group, proto int) *portSegments {
	m := a.memoOf(g)
	k := boolIndex(proto == model.ProtoNumUDP)
	if s := m.segs[k]; s != nil {
		return s
	}
	ops := a.openingsOf(g, false)
	starts := make([]int32, 1, 1+2*len(ops))
	for _, o := range ops {
		if o.Proto == proto && o.HasPorts() { // protocol -1 opens every port: no cut
			if o.From > 0 && o.From <= 65535 {
				starts = append(starts, o.From)
			}
			if o.To >= 0 && o.To < 65535 {
				starts = append(starts, o.To+1)
			}
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	stride := (len(ops) + 7) / 8
	s := &portSegments{starts: starts, masks: make([]byte, len(starts)*stride), stride: stride,
		global: a.globalRules(g, false), answers: make([]*openAnswer, len(starts)), memo: m}
	for i, st := range starts {
		mask := s.mask(i)
		for j, o := range ops {
			if o.Port(proto, uint16(st)) {
				mask[j/8] |= 1 << (j % 8)
			}
		}
	}
	m.segs[k] = s
	return s
}

// openAnswer is the matcher's answer (policy.InternetOpen) for the rules of a group's
// ingress that open a port.
type openAnswer struct{ v4, v6 []string }

// portsFinding reports the hits of one family (v4, v6 or both) as one finding on g.
func (a *Audit) portsFinding(c string, g *model.Group, hits []portHit, v4, v6 bool, kind, advice string) []Finding {
	var ids, what []string
	var fam4, fam6 []string
	for _, h := range hits {
		var hit []string
		if v4 && h.v4 != nil {
			hit, fam4 = union(hit, h.v4...), h.v4
		}
		if v6 && h.v6 != nil {
			hit, fam6 = union(hit, h.v6...), h.v6
		}
		if hit == nil {
			continue
		}
		ids = union(ids, hit...)
		what = append(what, h.proto+" "+strconv.Itoa(int(h.sp.port))+" ("+h.sp.service+")")
	}
	if ids == nil {
		return nil
	}
	return []Finding{a.exposureFinding(c, g, "the "+kind+" "+strings.Join(what, ", ")+" from "+internet(fam4, fam6), ids, advice)}
}

// adminCheck is SGA-002 (v6 false: 0.0.0.0/0) and SGA-003 (::/0): the configured admin ports
// (CIS "remote server administration ports"), over TCP, UDP or -1, in any range.
func adminCheck(c string, v6 bool) func(*Audit) []Finding {
	return func(a *Audit) []Finding {
		var ps []servicePort
		for _, p := range a.Config.AdminPorts {
			ps = append(ps, servicePort{cmpOr(serviceName(p), "admin"), p})
		}
		var out []Finding
		for _, g := range a.In.Snapshot.Groups {
			if !a.mayReachInternet(g, false) {
				continue
			}
			out = append(out, a.portsFinding(c, g, a.openPorts(g, ps), !v6, v6, "remote administration ports",
				"use a bastion or VPN CIDR, a security-group reference or a session-manager path; never expose admin ports directly")...)
		}
		return out
	}
}

// sensitiveCheck is SGA-004…006: a bucket of the port table open to the internet.
func sensitiveCheck(c, kind string, ports func(*Audit) []servicePort) func(*Audit) []Finding {
	advice := map[string]string{
		"SGA-004": "if the service must be public, terminate it on a load balancer or reverse proxy and allow only that proxy's group",
		"SGA-005": "databases never need internet ingress: allow only the application tier's group, from a private subnet",
		"SGA-006": "replace clear-text protocols with encrypted ones; file and directory services stay private",
	}[c]
	return func(a *Audit) []Finding {
		ps := ports(a)
		var out []Finding
		for _, g := range a.In.Snapshot.Groups {
			if !a.mayReachInternet(g, false) {
				continue
			}
			out = append(out, a.portsFinding(c, g, a.openPorts(g, ps), true, true, kind, advice)...)
		}
		return out
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// exemptTypes are the interface types whose groups may take internet ingress on any port:
// the front doors themselves (Prowler exempts load balancers and endpoints the same way).
var exemptTypes = []string{"load_balancer", "network_load_balancer", "gateway_load_balancer",
	"gateway_load_balancer_endpoint", "vpc_endpoint"}

// sga007: internet ingress outside the authorized ports (Security Hub EC2.18: TCP 80 and 443,
// no UDP, by default). The open ports are worked out per port segment over every rule of the
// group, so that 80-8080 is not passed for starting at 80 (Steampipe's EC2.18 query, §3.1).
func sga007(a *Audit) []Finding {
	var out []Finding
	var cuts []int // one buffer for every group
	for _, g := range a.In.Snapshot.Groups {
		if !a.mayReachInternet(g, false) {
			continue
		}
		if m := a.Members(g.ID); len(m) > 0 && !slices.ContainsFunc(m, func(n *model.NetworkInterface) bool {
			return !slices.Contains(exemptTypes, n.InterfaceType)
		}) {
			continue
		}
		var ids, what []string
		ops := a.openingsOf(g, false)
		for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			authorized := a.Config.AuthorizedTCP
			if proto == model.ProtoNumUDP {
				authorized = a.Config.AuthorizedUDP
			}
			cuts = append(cuts[:0], 0, 65536)
			for _, o := range ops {
				if o.Proto == proto {
					cuts = append(cuts, int(max(0, o.From)), int(o.To)+1)
				}
			}
			slices.Sort(cuts)
			cuts = slices.Compact(cuts)
			segs := a.portSegments(g, proto)
			for i := 0; i+1 < len(cuts) && cuts[i] <= 65535; i++ {
				lo, hi := cuts[i], min(cuts[i+1]-1, 65535)
				v4, v6 := a.internetOpenAt(g, segs, uint16(lo))
				if v4 == nil && v6 == nil {
					continue
				}
				gaps := outside(lo, hi, authorized)
				if len(gaps) == 0 {
					continue
				}
				ids = union(union(ids, v4...), v6...)
				what = append(what, model.ProtocolName(proto)+" "+strings.Join(gaps, ",")+" from "+internet(v4, v6))
			}
		}
		var others []int
		for i := range g.Ingress {
			if o := policy.OpeningOf(&g.Ingress[i]); o.Proto >= 0 && !o.HasPorts() && !o.ICMP() && !slices.Contains(others, o.Proto) {
				others = append(others, o.Proto)
			}
		}
		for _, proto := range others {
			v4, v6 := a.Policy.InternetOpen(g.Ingress, func(o policy.Opening) bool { return o.Proto == proto })
			if v4 != nil || v6 != nil {
				ids = union(union(ids, v4...), v6...)
				what = append(what, fmt.Sprintf("protocol %d from %s", proto, internet(v4, v6)))
			}
		}
		if ids == nil {
			continue
		}
		f := a.groupFinding("SGA-007", g, ids...)
		f.Why = "Group " + g.ID + " lets the internet in outside the authorized ports: " + strings.Join(what, "; ") + ", through " + rulesText(g, false, ids) + "."
		f.Fix = append([]string{revoke(g.ID, false, ids...)}, a.reauthorize(g, ids)...)
		f.Fix = append(f.Fix, "# or add the port to the organisation's authorized list with a justification, or restrict the source")
		out = append(out, a.exposed(f, g))
	}
	return out
}

// reauthorize gives back, for the rules about to be revoked, the authorized ports they held
// (revoking tcp 80-8080 from /0 must not close 80): one rule per authorized port, same peer.
func (a *Audit) reauthorize(g *model.Group, revoked []string) []string {
	var out []string
	for _, id := range revoked {
		r := ruleByID(g, false, id)
		if r == nil {
			continue
		}
		o := policy.OpeningOf(r)
		for _, x := range []struct {
			proto int
			ports []uint16
		}{{model.ProtoNumTCP, a.Config.AuthorizedTCP}, {model.ProtoNumUDP, a.Config.AuthorizedUDP}} {
			for _, p := range x.ports {
				if !o.Port(x.proto, p) {
					continue
				}
				nr := model.Rule{Protocol: model.ProtocolName(x.proto), FromPort: int32(p), ToPort: int32(p), Peer: r.Peer}
				if !has(g, nr, revoked) {
					out = append(out, authorize(g.ID, nr, "authorized port kept from "+r.ID))
				}
			}
		}
	}
	return out
}

// outside lists the parts of lo..hi that are not authorized ports, as "a-b" or "a".
func outside(lo, hi int, authorized []uint16) []string {
	var out []string
	start := lo
	flush := func(end int) {
		switch {
		case end < start:
		case end == start:
			out = append(out, fmt.Sprint(start))
		default:
			out = append(out, fmt.Sprintf("%d-%d", start, end))
		}
	}
	ps := slices.Clone(authorized)
	slices.Sort(ps)
	for _, p := range ps {
		if int(p) < lo || int(p) > hi {
			continue
		}
		flush(int(p) - 1)
		start = int(p) + 1
	}
	flush(hi)
	return out
}

// cidrRules runs pred over the CIDR rules of one direction of every group; each rule pred
// accepts is a finding of check c, with the Why and Fix pred gives. pred gets the rule's CIDR
// from the list (cidrList), and reads the rule itself only for what it reports.
func (a *Audit) cidrRules(c string, egress bool, pred func(g *model.Group, r *model.Rule, cidr netip.Prefix) (why string, fix []string, ok bool)) []Finding {
	var out []Finding
	for _, x := range a.cidrList(egress) {
		g, r := x.g, x.r
		why, fix, ok := pred(g, r, x.cidr)
		if !ok {
			continue
		}
		f := a.groupFinding(c, g, r.ID)
		f.Why = "Group " + g.ID + ": rule " + ruleText(r) + ": " + why
		f.Fix = append([]string{revoke(g.ID, egress, r.ID)}, fix...)
		out = append(out, f)
	}
	return out
}

// cidrRule is a rule with a CIDR peer, its group and its CIDR.
type cidrRule struct {
	g    *model.Group
	r    *model.Rule
	cidr netip.Prefix
}

// cidrList lists the CIDR rules of one direction of the groups the checks judge, in order:
// six checks look at every one of them, and at no other rule. The list is kept for the
// groups it was made of (a scoped run of a continuous audit judges others).
func (a *Audit) cidrList(egress bool) []cidrRule {
	gs, c := a.In.Snapshot.Groups, &a.cidrs[boolIndex(egress)]
	if c.made && len(c.of) == len(gs) && (len(gs) == 0 || &c.of[0] == &gs[0]) {
		return c.list
	}
	n := 0 // counted first: a list grown by append would be copied many times over
	for _, r := range a.rules(egress) {
		if r.Peer.CIDR.IsValid() {
			n++
		}
	}
	list := make([]cidrRule, 0, n)
	for g, r := range a.rules(egress) {
		if r.Peer.CIDR.IsValid() {
			list = append(list, cidrRule{g, r, r.Peer.CIDR})
		}
	}
	*c = cidrCache{of: gs, list: list, made: true}
	return list
}

// cidrCache is a cidrList and the groups it was made of.
type cidrCache struct {
	of   []*model.Group
	list []cidrRule
	made bool
}

// broadCheck is SGA-008 (ingress) and SGE-002 (egress): a globally routable CIDR that is
// broad (policy.Broad: IPv4 /1-/23, IPv6 shorter than /48).
func broadCheck(c string, egress bool) func(*Audit) []Finding {
	return func(a *Audit) []Finding {
		return a.cidrRules(c, egress, func(_ *model.Group, r *model.Rule, cidr netip.Prefix) (string, []string, bool) {
			if !policy.Broad(cidr) { // most rules: no text to write
				return "", nil, false
			}
			return fmt.Sprintf("%s is a broad public range (%s addresses).", r.Peer.CIDR, span(r.Peer.CIDR)),
				[]string{"# narrow it to the exact partner or office ranges, or use a managed prefix list maintained by its owner"}, true
		})
	}
}

// span is how many addresses a prefix holds, as text (an IPv6 prefix can hold more than
// uint64 counts).
func span(p netip.Prefix) string {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 63 {
		return fmt.Sprintf("2^%d", bits)
	}
	return fmt.Sprint(uint64(1) << bits)
}

// sga009: a specific public address or small public range that is not one of the
// organisation's known CIDRs ("a developer's home IP").
func sga009(a *Audit) []Finding {
	return a.cidrRules("SGA-009", false, func(_ *model.Group, _ *model.Rule, c netip.Prefix) (string, []string, bool) {
		if !policy.Global(c) || c.Bits() == 0 || policy.Broad(c) || a.known(c) {
			return "", nil, false
		}
		return fmt.Sprintf("%s is a public address range not on the organisation's known-CIDR list.", c),
			[]string{"# move personal access to a VPN or bastion; keep partner ranges in a named prefix list with an owner tag"}, true
	})
}

// known reports whether c lies inside one of the configuration's known CIDRs.
func (a *Audit) known(c netip.Prefix) bool {
	return slices.ContainsFunc(a.Config.KnownCIDRs, func(k netip.Prefix) bool { return within(c, k) })
}

// within reports whether prefix c lies inside prefix k.
func within(c, k netip.Prefix) bool {
	return k.Bits() <= c.Bits() && k.Contains(c.Addr()) && c.Addr().Is4() == k.Addr().Is4()
}

// sga010: a source inside a public cloud provider's published ranges, where anyone can rent
// an address.
func sga010(a *Audit) []Finding {
	return a.cidrRules("SGA-010", false, func(_ *model.Group, r *model.Rule, cidr netip.Prefix) (string, []string, bool) {
		for _, cr := range cloudRanges {
			if within(cidr, cr.prefix) {
				return fmt.Sprintf("%s lies inside %s's published range %s, where anyone can rent an address.", r.Peer.CIDR, cr.provider, cr.prefix),
					[]string{"# trust a specific endpoint (an Elastic IP or a prefix list) or authenticate at a higher layer instead"}, true
			}
		}
		return "", nil, false
	})
}

// sga011: every ICMP (or ICMPv6) type open to the internet. The fix keeps what path MTU
// discovery needs: ICMP destination-unreachable/fragmentation-needed (type 3 code 4) and
// ICMPv6 packet-too-big (type 2 code 0).
func sga011(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if !a.mayReachInternet(g, false) {
			continue
		}
		v4, v6 := a.Policy.InternetOpen(g.Ingress, func(o policy.Opening) bool { return o.ICMP() && o.From == -1 })
		ids := union(v4, v6...)
		if ids == nil {
			continue
		}
		f := a.exposureFinding("SGA-011", g, "every ICMP type from "+internet(v4, v6), ids,
			"allow further types only where needed (echo for monitoring)")
		f.Fix = f.Fix[:1]
		for _, id := range ids {
			r := ruleByID(g, false, id)
			pmtu := model.Rule{Protocol: r.Protocol, FromPort: 3, ToPort: 4, Peer: r.Peer}
			if r.Protocol == model.ProtoICMPv6 {
				pmtu.FromPort, pmtu.ToPort = 2, 0
			}
			if !has(g, pmtu, ids) {
				f.Fix = append(f.Fix, authorize(g.ID, pmtu, "path MTU discovery"))
			}
		}
		f.Fix = append(f.Fix, "# allow further ICMP types only where needed (echo for monitoring)")
		out = append(out, f)
	}
	return out
}

// ingressRule is an ingress rule of a group, with its opening.
type ingressRule struct {
	g *model.Group
	r *model.Rule
	o policy.Opening
}

// ingressWhere lists the ingress rules of the groups judged for which keep holds, in order,
// reading each group's openings once per audit (openingsOf, which the port checks share).
func (a *Audit) ingressWhere(keep func(r *model.Rule, o policy.Opening) bool) []ingressRule {
	var out []ingressRule
	for _, g := range a.In.Snapshot.Groups {
		ops := a.openingsOf(g, false)
		for i := range g.Ingress {
			if keep(&g.Ingress[i], ops[i]) {
				out = append(out, ingressRule{g, &g.Ingress[i], ops[i]})
			}
		}
	}
	return out
}

// sga012: a TCP or UDP range that is neither one port nor every port; more than 1024 ports
// raise it to Medium (ours).
func sga012(a *Audit) []Finding {
	// A tenth of the rules of a large account can be ranges: they are listed first, so that
	// the findings are made in a list of the right size, not copied as it grows.
	rs := a.ingressWhere(func(_ *model.Rule, o policy.Opening) bool { return o.HasPorts() && o.From != o.To && !o.AllPorts() })
	if len(rs) == 0 {
		return nil
	}
	out := make([]Finding, len(rs))
	for k, x := range rs {
		g, r, o := x.g, x.r, x.o
		f := a.groupFinding("SGA-012", g, r.ID)
		n := o.To - o.From + 1
		f.Why = "Group " + g.ID + ": rule " + ruleText(r) + " opens a range of " + strconv.Itoa(int(n)) + " ports."
		if n > 1024 {
			f.Severity = Medium
		}
		f.Fix = []string{revoke(g.ID, false, r.ID), "# then authorize the explicit ports the service uses, from " + peerText(r.Peer)}
		out[k] = f
	}
	return out
}

// sga013: every port open to the group itself or to another group.
func sga013(a *Audit) []Finding {
	rs := a.ingressWhere(func(r *model.Rule, o policy.Opening) bool { return r.Peer.GroupID != "" && o.AllPorts() }) // as in SGA-012
	if len(rs) == 0 {
		return nil
	}
	out := make([]Finding, len(rs))
	for k, x := range rs {
		g, r := x.g, x.r
		who := "group " + r.Peer.GroupID
		if r.Peer.GroupID == g.ID {
			who = "the group itself"
		}
		f := a.groupFinding("SGA-013", g, r.ID)
		f.Why = "Group " + g.ID + ": rule " + ruleText(r) + " opens every port to " + who + "."
		f.Fix = []string{revoke(g.ID, false, r.ID), "# then authorize the cluster's actual ports from " + r.Peer.GroupID}
		out[k] = f
	}
	return out
}

// vpc is the snapshot's VPC with id, nil when it has none.
func (a *Audit) vpc(id string) *model.VPC {
	if v := a.vpcIndex()[id]; v != nil {
		return v.v
	}
	return nil
}

// vpcBlocks are the blocks of the snapshot's VPC with id (VPC.AllBlocks), nil when it has none.
func (a *Audit) vpcBlocks(id string) []model.CIDRBlock {
	if v := a.vpcIndex()[id]; v != nil {
		return v.blocks
	}
	return nil
}

// vpcEntry is a VPC of the snapshot with what the CIDR checks ask of it for every rule: its
// blocks and its interfaces.
type vpcEntry struct {
	v      *model.VPC
	blocks []model.CIDRBlock
	enis   []*model.NetworkInterface
}

// vpcIndex is the snapshot's VPCs by ID, built on first use.
func (a *Audit) vpcIndex() map[string]*vpcEntry {
	if a.vpcs == nil {
		a.vpcs = make(map[string]*vpcEntry, len(a.In.Snapshot.VPCs))
		for _, v := range a.In.Snapshot.VPCs {
			if a.vpcs[v.ID] == nil { // the first of an ID, as a scan would find
				a.vpcs[v.ID] = &vpcEntry{v: v, blocks: v.AllBlocks()}
			}
		}
		for _, n := range a.In.Snapshot.ENIs {
			if e := a.vpcs[n.VpcID]; e != nil {
				e.enis = append(e.enis, n)
			}
		}
	}
	return a.vpcs
}

// inRange lists the interfaces of VPC vpc with an address inside c.
func (a *Audit) inRange(vpc string, c netip.Prefix) []*model.NetworkInterface {
	var out []*model.NetworkInterface
	var enis []*model.NetworkInterface
	if e := a.vpcIndex()[vpc]; e != nil {
		enis = e.enis
	} else { // interfaces of a VPC the snapshot does not hold
		enis = a.In.Snapshot.ENIs
	}
	for _, n := range enis {
		if n.VpcID == vpc && slices.ContainsFunc(n.Addrs(), c.Contains) {
			out = append(out, n)
		}
	}
	return out
}

// wholeVPC reports whether c holds one of the VPC's blocks, or is a private prefix shorter
// than /16 (IPv6: unique-local shorter than /48).
func (a *Audit) wholeVPC(vpcID string, c netip.Prefix) bool {
	if policy.Global(c) {
		return false // 0.0.0.0/0 holds the VPC too: internet sources are SGA-001…009's
	}
	if v := a.vpc(vpcID); v != nil {
		for _, b := range a.vpcBlocks(vpcID) {
			if within(b.CIDR, c) {
				return true
			}
		}
	}
	if !policy.Private(c) {
		return false
	}
	if c.Addr().Is4() {
		return c.Bits() < 16
	}
	return c.Bits() < 48
}

// sga014: a source as large as the VPC. The fix computes the groups to reference from the
// interfaces the range actually holds: the one group they all carry, or else each one's first.
func sga014(a *Audit) []Finding {
	return a.cidrRules("SGA-014", false, func(g *model.Group, r *model.Rule, cidr netip.Prefix) (string, []string, bool) {
		if !a.wholeVPC(g.VpcID, cidr) {
			return "", nil, false
		}
		enis := a.inRange(g.VpcID, r.Peer.CIDR)
		refs := common(enis)
		if len(refs) > 0 {
			refs = refs[:1]
		} else {
			for _, n := range enis {
				if len(n.Groups) > 0 { // a NAT gateway's interface carries none
					refs = union(refs, n.Groups[0])
				}
			}
		}
		return fmt.Sprintf("%s holds the whole VPC or a large private range; %d interfaces of the VPC are inside it.", r.Peer.CIDR, len(enis)),
			a.refFix(g, r, refs), true
	})
}

// sga015: a CIDR inside the VPC whose interfaces all carry one group: that group's ID says the
// same and follows instances as they come and go.
func sga015(a *Audit) []Finding {
	return a.cidrRules("SGA-015", false, func(g *model.Group, r *model.Rule, cidr netip.Prefix) (string, []string, bool) {
		v := a.vpc(g.VpcID)
		if v == nil || a.wholeVPC(g.VpcID, cidr) || !slices.ContainsFunc(a.vpcBlocks(g.VpcID), func(b model.CIDRBlock) bool { return within(cidr, b.CIDR) }) {
			return "", nil, false
		}
		refs := common(a.inRange(g.VpcID, r.Peer.CIDR))
		if len(refs) == 0 {
			return "", nil, false
		}
		return fmt.Sprintf("every interface inside %s carries group %s.", r.Peer.CIDR, refs[0]), a.refFix(g, r, refs[:1]), true
	})
}

// common lists the groups every interface of enis carries, sorted; nil for no interfaces.
func common(enis []*model.NetworkInterface) []string {
	if len(enis) == 0 {
		return nil
	}
	out := slices.Clone(enis[0].Groups)
	for _, n := range enis[1:] {
		out = slices.DeleteFunc(out, func(id string) bool { return !slices.Contains(n.Groups, id) })
	}
	slices.Sort(out)
	return out
}

// refFix authorizes r's protocol and ports from each of the groups refs instead of its CIDR.
func (a *Audit) refFix(g *model.Group, r *model.Rule, refs []string) []string {
	var out []string
	for _, id := range refs {
		nr := *r
		nr.ID, nr.Peer = "", model.Peer{GroupID: id}
		if !has(g, nr, []string{r.ID}) {
			out = append(out, authorize(g.ID, nr, "replaces "+r.ID))
		}
	}
	return out
}
