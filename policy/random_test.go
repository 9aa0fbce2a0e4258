package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

// randomWorld builds a random VPC: subnets with random NACLs, groups with random rules over a
// small address and port space (so that matches are frequent), interfaces with 1-5 groups,
// IPv4 and IPv6 addresses.
func randomWorld(r *rand.Rand) *world {
	w := newWorld()
	pl4 := &model.PrefixList{ID: "pl-0000000a", Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("198.51.100.0/25")}, {CIDR: netip.MustParsePrefix("10.0.2.0/24")}}}
	pl6 := &model.PrefixList{ID: "pl-0000000b", IPv6: true, Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("2001:db8::/33")}}}
	w.s.PrefixLists = []*model.PrefixList{pl4, pl6}
	var subnets []*model.Subnet
	for i := 0; i < 1+r.IntN(3); i++ {
		var acl *model.NACL
		if r.IntN(3) > 0 {
			acl = &model.NACL{ID: fmt.Sprintf("acl-%08x", i), VpcID: w.vpc.ID}
			for _, egress := range []bool{false, true} {
				for j := 0; j < r.IntN(5); j++ {
					e := model.NACLEntry{RuleNumber: 1 + r.IntN(200), Egress: egress, Allow: r.IntN(3) > 0, CIDR: randomPrefix(r)}
					e.Protocol, e.HasPorts, e.FromPort, e.ToPort, e.HasICMP, e.ICMPType, e.ICMPCode = randomNACLProto(r, e.CIDR.Addr().Is6())
					if acl.Find(egress, e.RuleNumber) < 0 {
						acl.Entries = append(acl.Entries, e)
					}
				}
				acl.Entries = append(acl.Entries,
					model.NACLEntry{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
					model.NACLEntry{RuleNumber: 32768, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")})
			}
			w.s.NACLs = append(w.s.NACLs, acl)
		}
		subnets = append(subnets, w.subnet(fmt.Sprintf("10.0.%d.0/24", i+1), acl))
	}
	var groups []*model.Group
	for i := 0; i < 2+r.IntN(5); i++ {
		groups = append(groups, w.group(fmt.Sprintf("g%d", i)))
	}
	for _, g := range groups {
		if r.IntN(2) == 0 { // AWS's usual egress, so that flows reach the later stages
			g.Egress = append(g.Egress, model.Rule{ID: w.id("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: cidr("0.0.0.0/0")},
				model.Rule{ID: w.id("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: cidr("::/0")})
		}
		for j := 0; j < r.IntN(8); j++ {
			rule := model.Rule{ID: w.id("sgr"), Egress: r.IntN(2) == 0}
			rule.Protocol, rule.FromPort, rule.ToPort = randomProto(r)
			switch r.IntN(6) {
			case 0:
				rule.Peer = model.Peer{GroupID: groups[r.IntN(len(groups))].ID}
			case 1:
				rule.Peer = model.Peer{PrefixListID: []string{pl4.ID, pl6.ID, "pl-0000000c"}[r.IntN(3)]}
			default:
				rule.Peer = model.Peer{CIDR: randomPrefix(r)}
			}
			if rule.Egress {
				g.Egress = append(g.Egress, rule)
			} else {
				g.Ingress = append(g.Ingress, rule)
			}
		}
	}
	for i := 0; i < 2+r.IntN(5); i++ {
		sn := subnets[r.IntN(len(subnets))]
		n := w.eni(sn, sn.CIDR.Addr().Next().Next().Next().Next().String())
		n.PrivateIP = sn.AddrAt(4 + i)
		n.IPv6 = []netip.Addr{netip.AddrFrom16([16]byte{0xfd, 0, 0, 1, 0, byte(i), 14: 0, 15: byte(i + 1)})}
		for k := 0; k < 1+r.IntN(3); k++ {
			n.Groups = append(n.Groups, groups[r.IntN(len(groups))].ID)
		}
	}
	randomRouting(r, w, subnets)
	return w
}

// randomRouting gives most random worlds route tables: a main table and sometimes a subnet's
// own, routes to an internet gateway (attached, detached or gone), an egress-only gateway and
// NAT gateways (available or not, in subnets that route to the internet or not), to an
// interface and to a prefix list, and public addresses on some interfaces.
func randomRouting(r *rand.Rand, w *world, subnets []*model.Subnet) {
	if r.IntN(5) == 0 {
		return // no route tables: routing is not judged
	}
	igw := &model.InternetGateway{ID: "igw-00000001"}
	if r.IntN(4) > 0 {
		igw.VpcID = w.vpc.ID
	}
	if r.IntN(5) > 0 {
		w.s.IGWs = []*model.InternetGateway{igw}
	}
	w.s.EgressIGWs = []*model.EgressOnlyIGW{{ID: "eigw-00000001", VpcID: w.vpc.ID}}
	states := []string{model.NATAvailable, model.NATAvailable, model.NATPending, model.NATDeleted}
	var nats []*model.NATGateway
	for i := 0; i < r.IntN(3); i++ {
		g := &model.NATGateway{ID: fmt.Sprintf("nat-%08x", i+1), VpcID: w.vpc.ID, SubnetID: subnets[r.IntN(len(subnets))].ID,
			ConnectivityType: model.NATPublic, State: states[r.IntN(len(states))], PublicIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)})}
		nats = append(nats, g)
	}
	w.s.NATGateways = nats
	dests := []string{"0.0.0.0/0", "0.0.0.0/0", "::/0", "198.51.100.0/24", "198.51.100.0/25", "203.0.113.0/24", "2001:db8::/32", "10.0.0.0/8", "192.0.2.0/24"}
	randomTable := func(id string) *model.RouteTable {
		t := &model.RouteTable{ID: id, VpcID: w.vpc.ID, Routes: []model.Route{
			{Dest: w.vpc.CIDR, Target: model.RouteTarget{Local: true}}, {Dest: w.vpc.IPv6CIDR, Target: model.RouteTarget{Local: true}}}}
		for j := 0; j < r.IntN(5); j++ {
			rt := model.Route{Dest: netip.MustParsePrefix(dests[r.IntN(len(dests))])}
			if r.IntN(6) == 0 {
				rt = model.Route{DestPrefixList: "pl-0000000a"}
			}
			switch k := r.IntN(7); {
			case k < 3:
				rt.Target.GatewayID = igw.ID
			case k == 3:
				rt.Target.EgressOnlyIGWID = "eigw-00000001"
			case k == 4 && len(nats) > 0:
				rt.Target.NatGatewayID = nats[r.IntN(len(nats))].ID
			case k == 5 && len(w.s.ENIs) > 0:
				rt.Target.NetworkInterfaceID = w.s.ENIs[0].ID
			default:
				rt.Target.GatewayID = "igw-00000002" // a gateway that is gone
			}
			if t.FindRoute(rt.Dest, rt.DestPrefixList) < 0 {
				t.Routes = append(t.Routes, rt)
			}
		}
		return t
	}
	main := randomTable("rtb-00000001")
	main.Assocs = []model.RouteTableAssoc{{ID: "rtbassoc-00000001", Main: true}}
	w.s.RouteTables = []*model.RouteTable{main}
	for i, sn := range subnets {
		if r.IntN(2) == 0 {
			t := randomTable(fmt.Sprintf("rtb-%08x", i+2))
			t.Assocs = []model.RouteTableAssoc{{ID: fmt.Sprintf("rtbassoc-%08x", i+2), SubnetID: sn.ID}}
			w.s.RouteTables = append(w.s.RouteTables, t)
		}
	}
	for i, n := range w.s.ENIs {
		switch r.IntN(3) {
		case 0:
			n.PublicIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
		case 1:
			if r.IntN(2) == 0 {
				w.s.Addresses = append(w.s.Addresses, &model.Address{AllocationID: fmt.Sprintf("eipalloc-%08x", i), PublicIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(50 + i)}),
					AssociationID: fmt.Sprintf("eipassoc-%08x", i), ENIID: n.ID, PrivateIP: n.PrivateIP})
			}
		}
	}
}

var prefixes = []string{"0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "10.0.1.4/32", "198.51.100.0/24", "203.0.113.0/24",
	"::/0", "fd00:1::/56", "2001:db8::/32"}

func randomPrefix(r *rand.Rand) netip.Prefix {
	return netip.MustParsePrefix(prefixes[r.IntN(len(prefixes))])
}

func randomProto(r *rand.Rand) (string, int32, int32) {
	switch r.IntN(6) {
	case 0:
		return "-1", -1, -1
	case 1, 2:
		from := int32(r.IntN(30))
		return []string{"tcp", "udp"}[r.IntN(2)], from, from + int32(r.IntN(10))
	case 3:
		return "icmp", int32(r.IntN(4)) - 1, int32(r.IntN(3)) - 1
	case 4:
		return "icmpv6", int32(r.IntN(4)) - 1, -1
	}
	return "50", -1, -1
}

func randomNACLProto(r *rand.Rand, v6 bool) (string, bool, int32, int32, bool, int32, int32) {
	switch r.IntN(4) {
	case 0:
		return "-1", false, 0, 0, false, 0, 0
	case 1:
		from := int32(r.IntN(30))
		return []string{"6", "17"}[r.IntN(2)], true, from, from + int32(r.IntN(10)), false, 0, 0
	case 2:
		if v6 {
			return "58", false, 0, 0, true, int32(r.IntN(4)) - 1, -1
		}
		return "1", false, 0, 0, true, int32(r.IntN(4)) - 1, int32(r.IntN(3)) - 1
	}
	return "50", false, 0, 0, false, 0, 0
}

// randomFlow picks endpoints (interfaces or outside) and a flow between their addresses.
func randomFlow(r *rand.Rand, w *world) (Endpoint, Endpoint, Flow) {
	outside := []string{"198.51.100.7", "203.0.113.1", "192.0.2.1", "2001:db8::5", "2600::1", "10.0.2.9"}
	pick := func() (Endpoint, netip.Addr, bool) {
		if r.IntN(3) == 0 {
			return Outside, netip.MustParseAddr(outside[r.IntN(len(outside))]), true
		}
		n := w.s.ENIs[r.IntN(len(w.s.ENIs))]
		return Endpoint{ENI: n.ID}, n.Addrs()[r.IntN(len(n.Addrs()))], false
	}
	src, sa, _ := pick()
	dst, da, _ := pick()
	for sa.Is4() != da.Is4() {
		dst, da, _ = pick()
	}
	f := Flow{Src: sa, Dst: da}
	switch r.IntN(5) {
	case 0, 1:
		f.Proto, f.DstPort = []uint8{model.ProtoNumTCP, model.ProtoNumUDP}[r.IntN(2)], uint16(r.IntN(40))
	case 2:
		f.Proto, f.ICMPType, f.ICMPCode = model.ProtoNumICMP, uint8(r.IntN(3)), uint8(r.IntN(2))
		if sa.Is6() {
			f.Proto = model.ProtoNumICMPv6
		}
	default:
		f.Proto = []uint8{50, 47}[r.IntN(2)]
	}
	return src, dst, f
}

// FuzzVerdictMatchesOracle is the differential test: on random policies and flows, the
// compiled Verdict, Explain and the naive oracle must agree exactly.
func FuzzVerdictMatchesOracle(f *testing.F) {
	for i := uint64(0); i < 8; i++ {
		f.Add(i, i*7+3)
	}
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) {
		r := rand.New(rand.NewPCG(seed1, seed2))
		w := randomWorld(r)
		p, err := Compile(w.s)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			src, dst, fl := randomFlow(r, w)
			want := oracle(w.s, src, dst, fl)
			if got := p.Verdict(src, dst, fl); got != want {
				t.Fatalf("seed (%d,%d) flow %d %+v %v→%v: Verdict %v, oracle %v", seed1, seed2, i, fl, src, dst, got, want)
			}
			if got := p.Explain(src, dst, fl).Decision; got != want {
				t.Fatalf("seed (%d,%d) flow %d %+v: Explain %v, oracle %v", seed1, seed2, i, fl, got, want)
			}
		}
	})
}

// TestDifferentialSample runs the differential check on a fixed sample of seeds in the normal
// test run.
func TestDifferentialSample(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		w := randomWorld(r)
		p := mustCompile(t, w.s)
		for i := 0; i < 100; i++ {
			src, dst, fl := randomFlow(r, w)
			if got, want := p.Verdict(src, dst, fl), oracle(w.s, src, dst, fl); got != want {
				t.Fatalf("seed %d flow %d %+v %v→%v: Verdict %v, oracle %v", seed, i, fl, src, dst, got, want)
			}
		}
	}
}

// fullQuota builds an interface with 5 groups × 60 rules (CIDRs, references, prefix lists).
func fullQuota(b testing.TB) (*Policy, Endpoint, Flow) {
	w := newWorld()
	n, _ := fullQuotaENI(w, w.subnet("10.0.1.0/24", nil))
	// The flow comes from the internet: a public address, an attached gateway and a main
	// route table to it, so that the verdict checks the routing too.
	n.PublicIP = netip.MustParseAddr("192.0.2.4")
	w.s.IGWs = []*model.InternetGateway{{ID: "igw-00000001", VpcID: w.vpc.ID}}
	w.s.RouteTables = []*model.RouteTable{{ID: "rtb-00000001", VpcID: w.vpc.ID, Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-1", Main: true}},
		Routes: []model.Route{{Dest: w.vpc.CIDR, Target: model.RouteTarget{Local: true}},
			{Dest: netip.MustParsePrefix("192.0.2.0/24"), Target: model.RouteTarget{GatewayID: "igw-0000dead"}},
			{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-00000001"}}}}}
	p := mustCompile(b, w.s)
	return p, Endpoint{ENI: n.ID}, tcpFlow("172.16.7.9", "10.0.1.4", 1302)
}

// fullQuotaENI adds to sn the interface of fullQuota, 10.0.1.4 (sn must be 10.0.1.0/24), with
// 50 other members of its groups; it returns the interface and its groups.
func fullQuotaENI(w *world, sn *model.Subnet) (*model.NetworkInterface, []*model.Group) {
	pl := &model.PrefixList{ID: "pl-000000aa"}
	for i := 0; i < 20; i++ {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i), 0}), 24)})
	}
	w.s.PrefixLists = []*model.PrefixList{pl}
	var gs []*model.Group
	for g := 0; g < 5; g++ {
		gs = append(gs, w.group(fmt.Sprintf("g%d", g)))
	}
	for gi, g := range gs {
		for i := 0; i < 60; i++ {
			r := model.Rule{ID: w.id("sgr"), Protocol: "tcp", FromPort: int32(1000 + gi*100 + i), ToPort: int32(1000 + gi*100 + i)}
			switch i % 3 {
			case 0:
				r.Peer = model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, byte(gi), byte(i), 0}), 24)}
			case 1:
				r.Peer = model.Peer{GroupID: gs[(gi+1)%5].ID}
			default:
				r.Peer = model.Peer{PrefixListID: pl.ID}
			}
			g.Ingress = append(g.Ingress, r)
		}
	}
	n := w.eni(sn, "10.0.1.4", gs...)
	for i := 0; i < 50; i++ {
		w.eni(sn, fmt.Sprintf("10.0.1.%d", 10+i), gs[i%5])
	}
	return n, gs
}

// defaultNACL is a NACL as AWS creates it for a VPC: everything allowed both ways at rules 100
// (IPv4) and 101 (IPv6), then the implicit denies.
func defaultNACL(w *world) *model.NACL {
	acl := &model.NACL{ID: w.id("acl"), VpcID: w.vpc.ID, Default: true}
	for _, egress := range []bool{false, true} {
		acl.Entries = append(acl.Entries,
			model.NACLEntry{RuleNumber: 100, Egress: egress, Allow: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			model.NACLEntry{RuleNumber: 101, Egress: egress, Allow: true, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")},
			model.NACLEntry{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			model.NACLEntry{RuleNumber: 32768, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")})
	}
	w.s.NACLs = append(w.s.NACLs, acl)
	return acl
}

// fullQuotaAcross is fullQuota's interface reached from an interface of another subnet, both
// subnets with AWS's default NACL: every stage of Verdict runs.
func fullQuotaAcross(b testing.TB) (*Policy, Endpoint, Endpoint, Flow) {
	w := newWorld()
	acl := defaultNACL(w)
	dst, gs := fullQuotaENI(w, w.subnet("10.0.1.0/24", acl))
	web := w.group("web", allOut(cidr("0.0.0.0/0")), allOut(cidr("::/0")))
	src := w.eni(w.subnet("10.0.2.0/24", acl), "10.0.2.5", web, gs[4]) // g3's rule 1 (port 1301) admits g4
	p := mustCompile(b, w.s)
	return p, Endpoint{ENI: src.ID}, Endpoint{ENI: dst.ID}, tcpFlow("10.0.2.5", "10.0.1.4", 1301)
}

func BenchmarkVerdictFullQuota(b *testing.B) {
	p, dst, f := fullQuota(b)
	if got := p.Verdict(Outside, dst, f); got != Admitted {
		b.Fatalf("benchmark flow not admitted: %v", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Verdict(Outside, dst, f)
	}
}

func BenchmarkVerdictAcrossSubnets(b *testing.B) {
	p, src, dst, f := fullQuotaAcross(b)
	if got := p.Verdict(src, dst, f); got != Admitted {
		b.Fatalf("benchmark flow not admitted: %v", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Verdict(src, dst, f)
	}
}

func BenchmarkExplainFullQuota(b *testing.B) {
	p, dst, f := fullQuota(b)
	b.ReportAllocs()
	for b.Loop() {
		p.Explain(Outside, dst, f)
	}
}

func TestVerdictDoesNotAllocate(t *testing.T) {
	p, dst, f := fullQuota(t)
	if n := testing.AllocsPerRun(100, func() { p.Verdict(Outside, dst, f) }); n != 0 {
		t.Errorf("Verdict allocates %v times per call", n)
	}
	p, src, dst, f := fullQuotaAcross(t)
	if got := p.Verdict(src, dst, f); got != Admitted {
		t.Fatalf("flow across subnets: %v, want admitted", got)
	}
	if n := testing.AllocsPerRun(100, func() { p.Verdict(src, dst, f) }); n != 0 {
		t.Errorf("Verdict across subnets allocates %v times per call", n)
	}
	// A flow that no entry of the NACL matches is denied by the implicit rule, which Explain
	// shows as an entry; Verdict must not build it.
	w := newWorld()
	acl := &model.NACL{ID: w.id("acl"), VpcID: w.vpc.ID, Entries: []model.NACLEntry{
		{RuleNumber: 100, Allow: true, Protocol: "6", HasPorts: true, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}
	w.s.NACLs = append(w.s.NACLs, acl)
	n := w.eni(w.subnet("10.0.1.0/24", acl), "10.0.1.4", w.group("g", tcp(0, 65535, cidr("0.0.0.0/0"))))
	p, dst, f = mustCompile(t, w.s), Endpoint{ENI: n.ID}, tcpFlow("198.51.100.7", "10.0.1.4", 80)
	if got := p.Verdict(Outside, dst, f); got != DestNACL {
		t.Fatalf("flow outside the NACL's entries: %v, want %v", got, DestNACL)
	}
	if n := testing.AllocsPerRun(100, func() { p.Verdict(Outside, dst, f) }); n != 0 {
		t.Errorf("Verdict denied by the implicit NACL rule allocates %v times per call", n)
	}
}

// BenchmarkCompile10kGroups compiles 10,000 groups of 20 rules (a third of them references)
// with 2,000 interfaces of 5 groups each.
func BenchmarkCompile10kGroups(b *testing.B) {
	w := newWorld()
	sn := w.subnet("10.0.0.0/16", nil)
	var gs []*model.Group
	for i := 0; i < 10000; i++ {
		gs = append(gs, w.group(fmt.Sprintf("g%d", i)))
	}
	for i, g := range gs {
		for j := 0; j < 20; j++ {
			r := model.Rule{ID: w.id("sgr"), Protocol: "tcp", FromPort: int32(1000 + j), ToPort: int32(1000 + j)}
			if j%3 == 0 {
				r.Peer = model.Peer{GroupID: gs[(i+j)%len(gs)].ID}
			} else {
				r.Peer = model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24)}
			}
			g.Ingress = append(g.Ingress, r)
		}
	}
	for i := 0; i < 2000; i++ {
		n := w.eni(sn, "10.0.0.1")
		n.PrivateIP = sn.AddrAt(10 + i)
		for k := 0; k < 5; k++ {
			n.Groups = append(n.Groups, gs[(i*5+k)%len(gs)].ID)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(w.s); err != nil {
			b.Fatal(err)
		}
	}
}
