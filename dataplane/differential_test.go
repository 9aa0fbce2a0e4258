package dataplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// TestKernelDifferential is tier 4 of design.md: random groups, rules, memberships, prefix
// lists and network ACLs, random TCP, UDP and ICMP exchanges over IPv4 and IPv6 between real
// namespaces (every interface has an address of each family); each
// exchange must succeed exactly when the policy engine's connection-tracking model admits both
// its first packet and the reply. A packet the model denies that gets through fails the test
// with the reproduction (seed, network and flow).
//
// The namespaces stay; each round changes the network and applies it as an in-place update,
// whose result must list exactly like a whole-table replacement of the same network.
// STOCKADE_SEED=n replays one seed; STOCKADE_ROUNDS sets the number of rounds (default 6).
func TestKernelDifferential(t *testing.T) {
	l := newKernelLab(t)
	seed, rounds := seedAndRounds(t, 6)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	g := newGen(rng)
	base := g.network()
	ns := map[string]string{}
	for _, e := range base.Snapshot.ENIs {
		ns[e.ID] = l.attach(e, g.subnetOf(e).CIDR)
	}
	base.Link = l.names.Link
	var prev *dataplane.Ruleset
	scratch := l.names.Router("vpc-scratch")
	if _, err := netlab.CreateRouter(context.Background(), scratch); err != nil {
		t.Fatal(err)
	}
	type kept struct {
		f    flow
		conn *netlab.Conn
		ct   *policy.Conntrack
	}
	var carry []kept
	servers := map[string]bool{}
	port := 20000
	admitted, denied, admitted6 := 0, 0, 0
	defer func() {
		t.Logf("%d exchanges admitted (%d of them IPv6), %d denied, kernel and model agreeing", admitted, admitted6, denied)
	}()
	for round := 0; round < rounds; round++ {
		n := g.vary(base)
		n.Link = l.names.Link
		rs := dataplane.Render(n)
		if prev == nil {
			l.apply(rs.Replace())
			if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
				t.Fatal(err)
			}
		} else {
			tx, ok := rs.Update(prev)
			if !ok {
				t.Fatalf("round %d: no in-place update possible", round)
			}
			if tx != "" {
				l.apply(tx)
			}
			l.sameAsReplace(scratch, rs)
			// Then a change of the kind the agent sends over netlink rather than through nft
			// (an interface's groups: member elements and its chains refilled), so that the
			// packets below meet a ruleset updated that way too.
			enis := slices.Clone(n.Snapshot.ENIs)
			e := enis[round%len(enis)].Clone()
			e.Groups = []string{fmt.Sprintf("sg-%d", rng.IntN(5)), fmt.Sprintf("sg-%d", rng.IntN(5))}
			e.Groups = slices.Compact(e.Groups)
			enis[round%len(enis)] = e
			n.Snapshot.ENIs = enis
			joined := dataplane.Render(n)
			if tx, ok := joined.Update(rs); ok && tx != "" {
				if !dataplane.NetlinkCovers(tx) {
					t.Fatalf("round %d: a membership change is not sent over netlink:\n%s", round, tx)
				}
				l.apply(tx)
				l.sameAsReplace(scratch, joined)
			}
			rs = joined
		}
		prev = rs
		p, err := policy.Compile(n.Snapshot)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range n.Snapshot.ENIs {
			for _, sp := range g.ports {
				key := e.ID + "/" + strconv.Itoa(sp)
				if servers[key] {
					continue
				}
				srv, err := netlab.Serve(ns[e.ID], sp)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Close)
				servers[key] = true
			}
		}
		report := func(what string, f flow, got bool, err error) {
			t.Helper()
			repro, _ := json.MarshalIndent(n.Snapshot, "", " ")
			kind := "the kernel dropped " + what + " the model admits"
			if got {
				kind = "A PACKET THE MODEL DENIES GOT THROUGH (" + what + ")"
			}
			t.Errorf("round %d: %s: %s (kernel: %v)\nreproduce with STOCKADE_SEED=%d\nnetwork: %s\nruleset:\n%s",
				round, kind, f, err, seed, repro, rs.Text())
		}
		// Connections kept open from the last round meet the changed rules: tracked ones pass
		// whatever the rules say now, untracked ones are judged again, NACLs always apply.
		for _, k := range carry {
			k.ct.SetPolicy(p)
			want := k.f.exchange(k.ct)
			err := k.conn.Echo(netlab.Timeout(want))
			k.conn.Close()
			if (err == nil) != want {
				report("an established connection", k.f, err == nil, err)
				return
			}
		}
		carry = carry[:0]
		flows := g.flows(n, 60, &port)
		// The model answers first, so that each exchange waits as long as its outcome needs.
		wants := make([]bool, len(flows))
		cts := make([]*policy.Conntrack, len(flows))
		for i, f := range flows {
			cts[i] = policy.NewConntrack(p)
			wants[i] = f.exchange(cts[i])
		}
		var wg sync.WaitGroup
		results := make([]error, len(flows))
		conns := make([]*netlab.Conn, len(flows))
		for i, f := range flows {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conns[i], results[i] = f.send(ns, netlab.Timeout(wants[i]))
			}()
		}
		wg.Wait()
		for i, f := range flows {
			ct, want := cts[i], wants[i]
			got := results[i] == nil
			if conns[i] != nil {
				if got && want && len(carry) < 10 {
					carry = append(carry, kept{f, conns[i], ct})
				} else {
					conns[i].Close()
				}
			}
			if got == want {
				if want {
					admitted++
					if f.v6 {
						admitted6++
					}
				} else {
					denied++
				}
				continue
			}
			report("a new flow", f, got, results[i])
			return
		}
	}
}

// seedAndRounds are a differential test's random seed and number of rounds: STOCKADE_SEED
// replays a seed (logged, so that a failure can be replayed), STOCKADE_ROUNDS overrides rounds.
func seedAndRounds(t testing.TB, rounds int) (uint64, int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("STOCKADE_SEED"), 10, 64); err == nil {
		seed = s
	}
	if n, err := strconv.Atoi(os.Getenv("STOCKADE_ROUNDS")); err == nil {
		rounds = n
	}
	t.Logf("seed %d (STOCKADE_SEED=%d to replay)", seed, seed)
	return seed, rounds
}

// sameAsReplace checks that the table an in-place update produced lists exactly like the
// same ruleset applied whole in a fresh namespace.
func (l *kernelLab) sameAsReplace(scratch string, rs *dataplane.Ruleset) {
	l.t.Helper()
	l.sameAsReplaceIn(l.router, scratch, rs)
}

// sameAsReplaceIn is sameAsReplace for the ruleset of router.
func (l *kernelLab) sameAsReplaceIn(router, scratch string, rs *dataplane.Ruleset) {
	l.t.Helper()
	ctx := context.Background()
	if err := l.k.Apply(ctx, scratch, rs.Replace()); err != nil {
		l.t.Fatal(err)
	}
	want, err := l.k.List(ctx, scratch)
	if err != nil {
		l.t.Fatal(err)
	}
	got, err := l.k.List(ctx, router)
	if err != nil {
		l.t.Fatal(err)
	}
	if g, w := normalize(got), normalize(want); g != w {
		gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
		l.t.Fatalf("in-place update differs from a replacement:\n--- only after the update:\n%s\n--- only after the replacement:\n%s",
			strings.Join(minus(gl, wl), "\n"), strings.Join(minus(wl, gl), "\n"))
	}
}

// normalize puts a listing in a canonical order: nft lists objects in the order they were
// created and elements in the order they were added, both of which differ between an
// in-place update and a replacement. Objects are sorted, and the elements of each.
func normalize(listing string) string {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(listing, "\n") {
		switch {
		case strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "\t\t") && strings.HasSuffix(line, "{"):
			cur = []string{line}
		case line == "\t}":
			blocks = append(blocks, sortElements(strings.Join(append(cur, line), "\n")))
			cur = nil
		case cur != nil:
			cur = append(cur, line)
		}
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "\n")
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func sortElements(block string) string {
	i := strings.Index(block, "elements = { ")
	if i < 0 {
		return block
	}
	j := strings.Index(block[i:], " }")
	elems := strings.Split(block[i+len("elements = { "):i+j], ",")
	for k := range elems {
		elems[k] = strings.TrimSpace(elems[k])
	}
	sort.Strings(elems)
	return block[:i] + "elements = { " + strings.Join(elems, ", ") + " }" + block[i+j+2:]
}

// gen makes random networks over a fixed set of interfaces in three subnets.
type gen struct {
	rng     *rand.Rand
	vpc     *model.VPC
	subnets []*model.Subnet
	ports   []int
	eni     string // the interfaces' ID prefix ("eni-"), distinct per VPC of one lab
}

// The test's addresses: IPv6 ones are from the documentation block and, like the IPv4 ones,
// exist only inside the test's namespaces.
func newGen(rng *rand.Rand) *gen { return newGenIn(rng, "vpc-1", "eni-") }

// newGenIn is newGen for VPC vpc, whose interfaces' IDs start with eni. Every VPC has the
// same blocks, as two accounts' VPCs may: only their public addresses tell them apart.
func newGenIn(rng *rand.Rand, vpc, eni string) *gen {
	g := &gen{rng: rng, vpc: &model.VPC{ID: vpc, CIDR: netip.MustParsePrefix("10.50.0.0/16"),
		IPv6CIDR: netip.MustParsePrefix("2001:db8:50::/56")}, ports: []int{22, 80, 443, 8080}, eni: eni}
	for i := 1; i <= 3; i++ {
		g.subnets = append(g.subnets, &model.Subnet{ID: fmt.Sprintf("subnet-%d", i), VpcID: vpc,
			CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.50.%d.0/24", i)),
			IPv6CIDR: netip.MustParsePrefix(fmt.Sprintf("2001:db8:50:%d::/64", i))})
	}
	return g
}

func (g *gen) subnetOf(e *model.NetworkInterface) *model.Subnet {
	for _, s := range g.subnets {
		if s.ID == e.SubnetID {
			return s
		}
	}
	return nil
}

// network is the fixed part: six interfaces, two per subnet.
func (g *gen) network() dataplane.Network {
	var enis []*model.NetworkInterface
	for i := range 6 {
		sn := g.subnets[i%3]
		ip := sn.CIDR.Addr().As4()
		ip[3] = byte(10 + i/3)
		ip6 := sn.IPv6CIDR.Addr().As16()
		ip6[15] = byte(10 + i/3)
		enis = append(enis, &model.NetworkInterface{ID: fmt.Sprintf("%s%d", g.eni, i), SubnetID: sn.ID, VpcID: g.vpc.ID,
			MAC: fmt.Sprintf("02:00:00:00:01:%02x", i), PrivateIP: netip.AddrFrom4(ip), IPv6: []netip.Addr{netip.AddrFrom16(ip6)}})
	}
	return dataplane.Network{VPC: g.vpc, Snapshot: netmap.Snapshot{VPCs: []*model.VPC{g.vpc}, Subnets: g.subnets, ENIs: enis}}
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// vary gives the interfaces random groups (one to three of five), the groups random rules,
// the prefix list random entries, and each subnet the default ACL or a random one.
func (g *gen) vary(base dataplane.Network) dataplane.Network {
	rng := g.rng
	n := base
	groupIDs := []string{"sg-0", "sg-1", "sg-2", "sg-3", "sg-4"}
	var enis []*model.NetworkInterface
	for _, e := range base.Snapshot.ENIs {
		c := e.Clone()
		c.Groups = nil
		for _, i := range rng.Perm(5)[:1+rng.IntN(3)] {
			c.Groups = append(c.Groups, groupIDs[i])
		}
		enis = append(enis, c)
	}
	pl := &model.PrefixList{ID: "pl-1", MaxEntries: 5, IPv6: rng.IntN(3) == 0}
	for range rng.IntN(3) {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: g.cidr(enis, pl.IPv6)})
	}
	var groups []*model.Group
	for _, id := range groupIDs {
		grp := &model.Group{ID: id, VpcID: g.vpc.ID}
		for range rng.IntN(8) {
			grp.Ingress = append(grp.Ingress, g.rule(enis, groupIDs))
		}
		if rng.IntN(2) == 0 {
			grp.Egress = []model.Rule{rule("-1", -1, -1, cidr("0.0.0.0/0"))}
			if rng.IntN(2) == 0 {
				grp.Egress = append(grp.Egress, rule("-1", -1, -1, cidr("::/0")))
			}
		} else {
			for range rng.IntN(4) {
				grp.Egress = append(grp.Egress, g.rule(enis, groupIDs))
			}
		}
		groups = append(groups, grp)
	}
	def := &model.NACL{ID: "acl-default", VpcID: g.vpc.ID, Default: true, Entries: []model.NACLEntry{
		{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 101, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("::/0")},
		{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32768, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")},
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 101, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("::/0")},
		{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32768, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")},
	}}
	acls := []*model.NACL{def}
	for i, sn := range g.subnets {
		if rng.IntN(10) < 6 {
			def.Assocs = append(def.Assocs, model.NACLAssoc{ID: fmt.Sprintf("aclassoc-%d", i), SubnetID: sn.ID})
			continue
		}
		acl := &model.NACL{ID: fmt.Sprintf("acl-%d", i), VpcID: g.vpc.ID, Assocs: []model.NACLAssoc{{ID: fmt.Sprintf("aclassoc-%d", i), SubnetID: sn.ID}}}
		for _, egress := range []bool{false, true} {
			for _, num := range rng.Perm(30)[:1+rng.IntN(5)] {
				acl.Entries = append(acl.Entries, g.entry(100+num*10, egress))
			}
			acl.Entries = append(acl.Entries,
				model.NACLEntry{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
				model.NACLEntry{RuleNumber: 32768, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")})
		}
		acls = append(acls, acl)
	}
	n.Snapshot = netmap.Snapshot{VPCs: base.Snapshot.VPCs, Subnets: base.Snapshot.Subnets, ENIs: enis, Groups: groups,
		PrefixLists: []*model.PrefixList{pl}, NACLs: acls}
	return n
}

// cidr is a random IPv4 or IPv6 block: everything, the VPC's, a subnet's, one that covers
// part of the VPC, or one interface's address.
func (g *gen) cidr(enis []*model.NetworkInterface, v6 bool) netip.Prefix {
	switch g.rng.IntN(5) {
	case 0:
		if v6 {
			return netip.MustParsePrefix("::/0")
		}
		return netip.MustParsePrefix("0.0.0.0/0")
	case 1:
		if v6 {
			return g.vpc.IPv6CIDR
		}
		return g.vpc.CIDR
	case 2:
		if v6 {
			return pick(g.rng, g.subnets...).IPv6CIDR
		}
		return pick(g.rng, g.subnets...).CIDR
	case 3:
		if v6 {
			return netip.MustParsePrefix("2001:db8:50::/63") // subnet 1 and the VPC's first /64
		}
		return netip.MustParsePrefix("10.50.0.0/23") // subnet 1 and half the VPC's low end
	}
	e := pick(g.rng, enis...)
	if v6 {
		return netip.PrefixFrom(e.IPv6[0], 128)
	}
	return netip.PrefixFrom(e.PrivateIP, 32)
}

func (g *gen) portRange() (int32, int32) {
	switch g.rng.IntN(4) {
	case 0:
		return 0, 65535
	case 1:
		return 1, 1024
	case 2:
		return 8000, 8100
	}
	p := int32(pick(g.rng, g.ports...))
	return p, p
}

// rule is a random rule; a third of its CIDRs are IPv6. An ICMP rule is, now and then, of the
// other family's ICMP (ICMPv6 for an IPv4 CIDR): such a rule admits nothing.
func (g *gen) rule(enis []*model.NetworkInterface, groups []string) model.Rule {
	var r model.Rule
	v6 := g.rng.IntN(3) == 0
	switch g.rng.IntN(5) {
	case 0, 1:
		r.Protocol = "tcp"
		r.FromPort, r.ToPort = g.portRange()
	case 2:
		r.Protocol = "udp"
		r.FromPort, r.ToPort = g.portRange()
	case 3:
		if v6 != (g.rng.IntN(8) == 0) {
			r.Protocol = "icmpv6"
			tc := pick(g.rng, [2]int32{128, -1}, [2]int32{-1, -1}, [2]int32{128, 0}, [2]int32{129, -1}, [2]int32{1, 4})
			r.FromPort, r.ToPort = tc[0], tc[1]
			break
		}
		r.Protocol = "icmp"
		tc := pick(g.rng, [2]int32{8, -1}, [2]int32{-1, -1}, [2]int32{8, 0}, [2]int32{0, -1}, [2]int32{3, 4})
		r.FromPort, r.ToPort = tc[0], tc[1]
	default:
		r.Protocol, r.FromPort, r.ToPort = "-1", -1, -1
	}
	switch g.rng.IntN(6) {
	case 0:
		r.Peer = model.Peer{GroupID: pick(g.rng, groups...)}
	case 1:
		r.Peer = model.Peer{PrefixListID: "pl-1"}
	default:
		r.Peer = model.Peer{CIDR: g.cidr(enis, v6)}
	}
	return r
}

// entry is a random ACL entry; a third are for IPv6.
func (g *gen) entry(num int, egress bool) model.NACLEntry {
	e := model.NACLEntry{RuleNumber: num, Egress: egress, Allow: g.rng.IntN(10) < 7,
		CIDR: pick(g.rng, netip.MustParsePrefix("0.0.0.0/0"), g.vpc.CIDR, g.subnets[0].CIDR, g.subnets[1].CIDR, g.subnets[2].CIDR)}
	v6 := g.rng.IntN(3) == 0
	if v6 {
		e.CIDR = pick(g.rng, netip.MustParsePrefix("::/0"), g.vpc.IPv6CIDR, g.subnets[0].IPv6CIDR, g.subnets[1].IPv6CIDR, g.subnets[2].IPv6CIDR)
	}
	switch g.rng.IntN(4) {
	case 0:
		e.Protocol = "6"
	case 1:
		e.Protocol = "17"
	case 2:
		if v6 {
			e.Protocol, e.HasICMP = "58", true
			tc := pick(g.rng, [2]int32{-1, -1}, [2]int32{128, -1}, [2]int32{129, 0})
			e.ICMPType, e.ICMPCode = tc[0], tc[1]
			return e
		}
		e.Protocol, e.HasICMP = "1", true
		tc := pick(g.rng, [2]int32{-1, -1}, [2]int32{8, -1}, [2]int32{0, 0})
		e.ICMPType, e.ICMPCode = tc[0], tc[1]
		return e
	default:
		e.Protocol = "-1"
		return e
	}
	e.HasPorts = true
	switch g.rng.IntN(4) {
	case 0:
		e.FromPort, e.ToPort = 0, 65535
	case 1:
		e.FromPort, e.ToPort = 1024, 65535
	case 2:
		e.FromPort, e.ToPort = 20000, 29999 // the test's client ports
	default:
		p := int32(pick(g.rng, g.ports...))
		e.FromPort, e.ToPort = p, p
	}
	return e
}

// flow is one exchange: a first packet and its reply, over IPv4 or IPv6.
type flow struct {
	src, dst *model.NetworkInterface
	v6       bool
	proto    uint8
	sport    int
	dport    int
}

// addrs are the flow's source and destination addresses.
func (f flow) addrs() (src, dst netip.Addr) {
	if f.v6 {
		return f.src.IPv6[0], f.dst.IPv6[0]
	}
	return f.src.PrivateIP, f.dst.PrivateIP
}

func (f flow) String() string {
	name := map[uint8]string{model.ProtoNumTCP: "tcp", model.ProtoNumUDP: "udp", model.ProtoNumICMP: "icmp echo", model.ProtoNumICMPv6: "icmpv6 echo"}[f.proto]
	src, dst := f.addrs()
	return fmt.Sprintf("%s %s(%s):%d → %s(%s):%d", name, f.src.ID, src, f.sport, f.dst.ID, dst, f.dport)
}

func (g *gen) flows(n dataplane.Network, count int, port *int) []flow {
	enis := n.Snapshot.ENIs
	var out []flow
	for range count {
		i := g.rng.IntN(len(enis))
		j := (i + 1 + g.rng.IntN(len(enis)-1)) % len(enis)
		*port++
		f := flow{src: enis[i], dst: enis[j], v6: g.rng.IntN(3) == 0, proto: pick(g.rng, uint8(model.ProtoNumTCP), model.ProtoNumTCP, model.ProtoNumUDP, model.ProtoNumICMP),
			sport: *port, dport: pick(g.rng, g.ports...)}
		if f.v6 && f.proto == model.ProtoNumICMP {
			f.proto = model.ProtoNumICMPv6
		}
		out = append(out, f)
	}
	return out
}

// exchange is the oracle: a packet of the flow and its reply, through AWS's connection
// tracking (which remembers the flow for the next exchange).
func (f flow) exchange(ct *policy.Conntrack) bool {
	src, dst := f.addrs()
	first := policy.Flow{Src: src, Dst: dst, Proto: f.proto, SrcPort: uint16(f.sport), DstPort: uint16(f.dport)}
	reply := policy.Flow{Src: dst, Dst: src, Proto: f.proto, SrcPort: uint16(f.dport), DstPort: uint16(f.sport)}
	switch f.proto {
	case model.ProtoNumICMP:
		first = policy.Flow{Src: src, Dst: dst, Proto: f.proto, ICMPType: 8}
		reply = policy.Flow{Src: dst, Dst: src, Proto: f.proto, ICMPType: 0}
	case model.ProtoNumICMPv6:
		first = policy.Flow{Src: src, Dst: dst, Proto: f.proto, ICMPType: 128}
		reply = policy.Flow{Src: dst, Dst: src, Proto: f.proto, ICMPType: 129}
	}
	a, b := policy.Endpoint{ENI: f.src.ID}, policy.Endpoint{ENI: f.dst.ID}
	return ct.Packet(a, b, first) == policy.Admitted && ct.Packet(b, a, reply) == policy.Admitted
}

// send makes the exchange with real packets; a TCP connection is returned open.
func (f flow) send(ns map[string]string, timeout time.Duration) (*netlab.Conn, error) {
	_, dst := f.addrs()
	to := netip.AddrPortFrom(dst, uint16(f.dport))
	switch f.proto {
	case model.ProtoNumTCP:
		c, err := netlab.DialTCPFrom(ns[f.src.ID], f.sport, to, timeout)
		if err != nil {
			return nil, err
		}
		return c, c.Echo(timeout)
	case model.ProtoNumUDP:
		u, err := netlab.DialUDP(ns[f.src.ID], to, f.sport)
		if err != nil {
			return nil, err
		}
		defer u.Close()
		return nil, u.Echo(timeout)
	}
	return nil, netlab.PingID(ns[f.src.ID], dst, uint16(f.sport), timeout)
}
