package policy

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// world builds snapshots for tests: one VPC, subnets, groups, interfaces.
type world struct {
	s    netmap.Snapshot
	vpc  *model.VPC
	next int
}

func newWorld() *world {
	v := &model.VPC{ID: "vpc-00000001", CIDR: netip.MustParsePrefix("10.0.0.0/16"), IPv6CIDR: netip.MustParsePrefix("fd00:1::/56")}
	w := &world{vpc: v}
	w.s.VPCs = []*model.VPC{v}
	return w
}

func (w *world) id(prefix string) string { w.next++; return model.NewID(prefix) }

func (w *world) subnet(cidr string, acl *model.NACL) *model.Subnet {
	sn := &model.Subnet{ID: w.id("subnet"), VpcID: w.vpc.ID, CIDR: netip.MustParsePrefix(cidr)}
	w.s.Subnets = append(w.s.Subnets, sn)
	if acl != nil {
		acl.Assocs = append(acl.Assocs, model.NACLAssoc{ID: w.id("aclassoc"), SubnetID: sn.ID})
	}
	return sn
}

func (w *world) group(name string, in ...model.Rule) *model.Group {
	g := &model.Group{ID: w.id("sg"), Name: name, VpcID: w.vpc.ID}
	for _, r := range in {
		r.ID = w.id("sgr")
		if r.Egress {
			g.Egress = append(g.Egress, r)
		} else {
			g.Ingress = append(g.Ingress, r)
		}
	}
	w.s.Groups = append(w.s.Groups, g)
	return g
}

func (w *world) eni(sn *model.Subnet, ip string, groups ...*model.Group) *model.NetworkInterface {
	n := &model.NetworkInterface{ID: w.id("eni"), SubnetID: sn.ID, VpcID: w.vpc.ID, PrivateIP: netip.MustParseAddr(ip)}
	for _, g := range groups {
		n.Groups = append(n.Groups, g.ID)
	}
	w.s.ENIs = append(w.s.ENIs, n)
	return n
}

func cidr(s string) model.Peer      { return model.Peer{CIDR: netip.MustParsePrefix(s).Masked()} }
func ref(g *model.Group) model.Peer { return model.Peer{GroupID: g.ID} }

func tcp(from, to int32, p model.Peer) model.Rule {
	return model.Rule{Protocol: "tcp", FromPort: from, ToPort: to, Peer: p}
}
func allOut(p model.Peer) model.Rule {
	return model.Rule{Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: p}
}

func mustCompile(t testing.TB, s netmap.Snapshot) *Policy {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tcpFlow(src, dst string, port uint16) Flow {
	return Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: model.ProtoNumTCP, SrcPort: 40000, DstPort: port}
}

// TestThreeTier is the README's example: web open on 80/443, app only from web, db only from app.
func TestThreeTier(t *testing.T) {
	w := newWorld()
	sn := w.subnet("10.0.1.0/24", nil)
	web := w.group("web", tcp(443, 443, cidr("0.0.0.0/0")), tcp(22, 22, cidr("203.0.113.0/24")), allOut(cidr("0.0.0.0/0")))
	app := w.group("app", allOut(cidr("0.0.0.0/0")))
	app.Ingress = []model.Rule{{ID: "sgr-app", Protocol: "tcp", FromPort: 8080, ToPort: 8080, Peer: ref(web)}}
	db := w.group("db", allOut(cidr("0.0.0.0/0")))
	db.Ingress = []model.Rule{{ID: "sgr-db", Protocol: "tcp", FromPort: 3306, ToPort: 3306, Peer: ref(app)}}
	wn, an, dn := w.eni(sn, "10.0.1.4", web), w.eni(sn, "10.0.1.5", app), w.eni(sn, "10.0.1.6", db)
	p := mustCompile(t, w.s)
	E := func(n *model.NetworkInterface) Endpoint { return Endpoint{ENI: n.ID} }
	tests := []struct {
		name     string
		src, dst Endpoint
		f        Flow
		want     Stage
	}{
		{"internet to web 443", Outside, E(wn), tcpFlow("198.51.100.7", "10.0.1.4", 443), Admitted},
		{"internet to web 80 (not opened)", Outside, E(wn), tcpFlow("198.51.100.7", "10.0.1.4", 80), DestIngress},
		{"office ssh to web", Outside, E(wn), tcpFlow("203.0.113.9", "10.0.1.4", 22), Admitted},
		{"other ssh to web", Outside, E(wn), tcpFlow("192.0.2.9", "10.0.1.4", 22), DestIngress},
		{"web to app 8080", E(wn), E(an), tcpFlow("10.0.1.4", "10.0.1.5", 8080), Admitted},
		{"internet to app", Outside, E(an), tcpFlow("198.51.100.7", "10.0.1.5", 8080), DestIngress},
		{"app to db 3306", E(an), E(dn), tcpFlow("10.0.1.5", "10.0.1.6", 3306), Admitted},
		{"web to db 3306", E(wn), E(dn), tcpFlow("10.0.1.4", "10.0.1.6", 3306), DestIngress},
		{"unknown interface", E(&model.NetworkInterface{ID: "eni-00000000"}), E(dn), tcpFlow("10.0.1.4", "10.0.1.6", 3306), UnknownEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Verdict(tt.src, tt.dst, tt.f); got != tt.want {
				t.Errorf("Verdict = %v, want %v", got, tt.want)
			}
			if got := p.Explain(tt.src, tt.dst, tt.f).Decision; got != tt.want {
				t.Errorf("Explain = %v, want %v", got, tt.want)
			}
		})
	}
	ex := p.Explain(E(an), E(dn), tcpFlow("10.0.1.5", "10.0.1.6", 3306))
	if !slices.Equal(ex.IngressRules, []RuleRef{{db.ID, "sgr-db"}}) || len(ex.EgressRules) != 1 || ex.SourceNACL != nil {
		t.Errorf("explanation %+v", ex)
	}
}

// TestCanonicalCases covers audit-checks §1 and §3: 0-65535 and 1-65535 both open 22, UDP is
// not TCP, protocol -1 opens everything, ICMP type/code are not ports, a prefix list is any of
// its CIDRs, egress restrictions apply, NACLs decide in rule-number order.
func TestCanonicalCases(t *testing.T) {
	w := newWorld()
	acl := &model.NACL{ID: "acl-00000001", VpcID: w.vpc.ID, Entries: []model.NACLEntry{
		{RuleNumber: 90, Protocol: "6", HasPorts: true, FromPort: 23, ToPort: 23, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 110, Protocol: "6", HasPorts: true, FromPort: 23, ToPort: 23, Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	w.s.NACLs = []*model.NACL{acl}
	sn := w.subnet("10.0.1.0/24", acl)
	pl := &model.PrefixList{ID: "pl-00000001", Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("0.0.0.0/1")}, {CIDR: netip.MustParsePrefix("128.0.0.0/1")}}}
	w.s.PrefixLists = []*model.PrefixList{pl}
	g := w.group("g",
		tcp(0, 65535, cidr("198.51.100.0/24")),
		tcp(1, 65535, cidr("203.0.113.0/24")),
		model.Rule{Protocol: "udp", FromPort: 53, ToPort: 53, Peer: cidr("0.0.0.0/0")},
		model.Rule{Protocol: "icmp", FromPort: 8, ToPort: -1, Peer: cidr("0.0.0.0/0")},
		model.Rule{Protocol: "-1", FromPort: -1, ToPort: -1, Peer: cidr("192.0.2.0/24")},
		model.Rule{Protocol: "50", FromPort: -1, ToPort: -1, Peer: cidr("0.0.0.0/0")},
		model.Rule{Protocol: "tcp", FromPort: 5432, ToPort: 5432, Peer: model.Peer{PrefixListID: pl.ID}},
		model.Rule{Egress: true, Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: cidr("0.0.0.0/0")},
	)
	n := w.eni(sn, "10.0.1.4", g)
	p := mustCompile(t, w.s)
	in := func(f Flow) Stage { return p.Verdict(Outside, Endpoint{ENI: n.ID}, f) }
	out := func(f Flow) Stage { return p.Verdict(Endpoint{ENI: n.ID}, Outside, f) }
	icmp := func(src string, typ, code uint8) Flow {
		return Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("10.0.1.4"), Proto: model.ProtoNumICMP, ICMPType: typ, ICMPCode: code}
	}
	tests := []struct {
		name string
		got  Stage
		want Stage
	}{
		{"0-65535 opens 22", in(tcpFlow("198.51.100.1", "10.0.1.4", 22)), Admitted},
		{"1-65535 opens 22", in(tcpFlow("203.0.113.1", "10.0.1.4", 22)), Admitted},
		{"udp rule is not tcp", in(tcpFlow("8.8.8.8", "10.0.1.4", 53)), DestIngress},
		{"udp 53", in(Flow{Src: netip.MustParseAddr("8.8.8.8"), Dst: netip.MustParseAddr("10.0.1.4"), Proto: model.ProtoNumUDP, DstPort: 53}), Admitted},
		{"icmp echo, any code", in(icmp("8.8.8.8", 8, 0)), Admitted},
		{"icmp type 3 not opened", in(icmp("8.8.8.8", 3, 4)), DestIngress},
		{"protocol -1", in(Flow{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.1.4"), Proto: 47}), Admitted},
		{"protocol 50 whole", in(Flow{Src: netip.MustParseAddr("8.8.8.8"), Dst: netip.MustParseAddr("10.0.1.4"), Proto: 50}), Admitted},
		{"prefix list halves union to /0", in(tcpFlow("8.8.8.8", "10.0.1.4", 5432)), Admitted},
		{"NACL 90 deny before 100 allow", in(tcpFlow("192.0.2.1", "10.0.1.4", 23)), DestNACL},
		{"egress restricted", out(tcpFlow("10.0.1.4", "8.8.8.8", 80)), SourceEgress},
		{"egress 443", out(tcpFlow("10.0.1.4", "8.8.8.8", 443)), Admitted},
		{"IPv6 source matches no IPv4 rule", in(tcpFlow("2001:db8::1", "10.0.1.4", 22)), DestNACL},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	ex := p.Explain(Outside, Endpoint{ENI: n.ID}, tcpFlow("192.0.2.1", "10.0.1.4", 23))
	if ex.DestNACL == nil || ex.DestNACL.RuleNumber != 90 || ex.DestNACL.Allow {
		t.Errorf("NACL explanation %+v", ex.DestNACL)
	}
}

// oracle is the obviously-correct reference: the semantics written out from the spec, with
// no indexes — members found by scanning interfaces, NACL entries sorted on every call.
func oracle(s netmap.Snapshot, src, dst Endpoint, f Flow) Stage {
	find := func(id string) *model.NetworkInterface {
		for _, n := range s.ENIs {
			if n.ID == id {
				return n
			}
		}
		return nil
	}
	var sn, dn *model.NetworkInterface
	if src.ENI != "" {
		if sn = find(src.ENI); sn == nil {
			return UnknownEndpoint
		}
	}
	if dst.ENI != "" {
		if dn = find(dst.ENI); dn == nil {
			return UnknownEndpoint
		}
	}
	if (sn == nil && dn == nil) || (sn != nil && dn != nil && sn.VpcID != dn.VpcID) {
		return NoRoute
	}
	if sn == nil && !naiveInternet(s, dn, f.Src, true) || dn == nil && !naiveInternet(s, sn, f.Dst, false) {
		return NoRoute
	}
	peerHas := func(r *model.Rule, a netip.Addr) bool {
		switch {
		case r.Peer.CIDR.IsValid():
			return r.Peer.CIDR.Contains(a)
		case r.Peer.PrefixListID != "":
			for _, pl := range s.PrefixLists {
				if pl.ID == r.Peer.PrefixListID {
					for _, e := range pl.Entries {
						if e.CIDR.Contains(a) {
							return true
						}
					}
				}
			}
			return false
		}
		for _, n := range s.ENIs {
			if slices.Contains(n.Groups, r.Peer.GroupID) && slices.Contains(n.Addrs(), a) {
				return true
			}
		}
		return false
	}
	admits := func(n *model.NetworkInterface, egress bool, a netip.Addr) bool {
		for _, g := range s.Groups {
			if !slices.Contains(n.Groups, g.ID) {
				continue
			}
			for _, r := range g.Rules(egress) {
				if ruleMatches(&r, f, a, peerHas) {
					return true
				}
			}
		}
		return false
	}
	nacl := func(subnet string, egress bool, a netip.Addr) bool {
		for _, acl := range s.NACLs {
			for _, as := range acl.Assocs {
				if as.SubnetID != subnet {
					continue
				}
				var es []model.NACLEntry
				for _, e := range acl.Entries {
					if e.Egress == egress {
						es = append(es, e)
					}
				}
				slices.SortFunc(es, func(x, y model.NACLEntry) int { return x.RuleNumber - y.RuleNumber })
				for _, e := range es {
					if naclMatches(&e, f, a) {
						return e.Allow
					}
				}
				return false
			}
		}
		return true
	}
	if sn != nil && !admits(sn, true, f.Dst) {
		return SourceEgress
	}
	if sn != nil && (dn == nil || dn.SubnetID != sn.SubnetID) && !nacl(sn.SubnetID, true, f.Dst) {
		return SourceNACL
	}
	if dn != nil && (sn == nil || sn.SubnetID != dn.SubnetID) && !nacl(dn.SubnetID, false, f.Src) {
		return DestNACL
	}
	if dn != nil && !admits(dn, false, f.Src) {
		return DestIngress
	}
	return Admitted
}

// TestImplicitDenyNamesTheFlowsFamily: when no ACL entry matches, the rule that decides is the
// implicit deny of the flow's family — 32767 for IPv4, 32768 for IPv6 (review 2026-12 §3.1).
func TestImplicitDenyNamesTheFlowsFamily(t *testing.T) {
	w := newWorld()
	acl := &model.NACL{ID: "acl-00000001", VpcID: w.vpc.ID, Entries: []model.NACLEntry{
		{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("10.0.0.0/8")},
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 101, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("::/0")},
	}}
	w.s.NACLs = []*model.NACL{acl}
	sn := w.subnet("10.0.1.0/24", acl)
	open := w.group("open", tcp(0, 65535, cidr("0.0.0.0/0")), tcp(0, 65535, cidr("::/0")))
	n := w.eni(sn, "10.0.1.4", open)
	n.IPv6 = []netip.Addr{netip.MustParseAddr("fd00:1::4")}
	p := mustCompile(t, w.s)
	for _, tt := range []struct {
		src, dst string
		want     int
	}{
		{"198.51.100.7", "10.0.1.4", model.NACLDenyAllIPv4},
		{"2001:db8::7", "fd00:1::4", model.NACLDenyAllIPv6},
	} {
		ex := p.Explain(Outside, Endpoint{ENI: n.ID}, tcpFlow(tt.src, tt.dst, 22))
		if ex.Decision != DestNACL || ex.DestNACL == nil || ex.DestNACL.RuleNumber != tt.want || ex.DestNACL.Allow {
			t.Errorf("%s → %s: %v %+v, want the implicit deny %d", tt.src, tt.dst, ex.Decision, ex.DestNACL, tt.want)
		}
	}
}

// naiveInternet is the reference for route.go, written from AWS's rules with no sets: does the
// interface n exchange a connection with internet address a (inbound: opened by a)?
func naiveInternet(s netmap.Snapshot, n *model.NetworkInterface, a netip.Addr, inbound bool) bool {
	tableOf := func(subnet, vpc string) *model.RouteTable {
		var main *model.RouteTable
		for _, t := range s.RouteTables {
			for _, as := range t.Assocs {
				if as.SubnetID == subnet {
					return t
				}
				if as.Main && t.VpcID == vpc {
					main = t
				}
			}
		}
		return main
	}
	known := false
	for _, t := range s.RouteTables {
		known = known || t.VpcID == n.VpcID
	}
	if !known {
		return true
	}
	for _, v := range s.VPCs {
		for _, b := range v.AllBlocks() { // the primary IPv4 block, the secondary ones, IPv6
			if v.ID == n.VpcID && b.CIDR.Contains(a) {
				return false
			}
		}
	}
	lookup := func(t *model.RouteTable) *model.Route {
		var best *model.Route
		bits, cidrRoute := -1, false
		consider := func(r *model.Route, p netip.Prefix) {
			isCIDR := r.DestPrefixList == ""
			if p.Contains(a) && (p.Bits() > bits || p.Bits() == bits && isCIDR && !cidrRoute) {
				best, bits, cidrRoute = r, p.Bits(), isCIDR
			}
		}
		for i := range t.Routes {
			r := &t.Routes[i]
			if r.DestPrefixList == "" {
				consider(r, r.Dest)
				continue
			}
			for _, pl := range s.PrefixLists {
				if pl.ID == r.DestPrefixList {
					for _, e := range pl.Entries {
						consider(r, e.CIDR)
					}
				}
			}
		}
		return best
	}
	attached := func(igw, vpc string) bool {
		for _, g := range s.IGWs {
			if g.ID == igw && g.VpcID == vpc {
				return true
			}
		}
		return false
	}
	public := n.PublicIP.IsValid()
	for _, ad := range s.Addresses {
		public = public || ad.ENIID == n.ID && ad.AssociationID != ""
	}
	t := tableOf(n.SubnetID, n.VpcID)
	if t == nil {
		return false
	}
	r := lookup(t)
	switch {
	case r == nil:
		return false
	case r.Target.GatewayID != "":
		return attached(r.Target.GatewayID, n.VpcID) && (a.Is6() || public)
	case r.Target.EgressOnlyIGWID != "":
		for _, g := range s.EgressIGWs {
			if g.ID == r.Target.EgressOnlyIGWID && g.VpcID == n.VpcID {
				return !inbound && a.Is6()
			}
		}
	case r.Target.NatGatewayID != "":
		if inbound || a.Is6() {
			return false
		}
		for _, g := range s.NATGateways {
			if g.ID != r.Target.NatGatewayID || g.State != model.NATAvailable || g.ConnectivityType != model.NATPublic || !g.PublicIP.IsValid() {
				continue
			}
			nt := tableOf(g.SubnetID, g.VpcID)
			if nt == nil {
				return false
			}
			nr := lookup(nt)
			return nr != nil && nr.Target.GatewayID != "" && attached(nr.Target.GatewayID, g.VpcID)
		}
	}
	return false
}
