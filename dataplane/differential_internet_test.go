package dataplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// TestKernelDifferentialInternet is TestKernelDifferential with routing and the internet
// (issue 12): two VPCs with the same blocks, each with or without an attached internet
// gateway, a main route table and a second one for some of its subnets whose routes send the
// internet (or just the internet host) to the gateway, to a NAT gateway in subnet-1 (available
// or not), to a gateway that is gone (a blackhole) or nowhere; public addresses on some
// interfaces (given on launch or Elastic IPs), random groups and ACLs as in the other test.
// Each round, both routers are programmed from the model through the host's own conversion
// (host.PlanRouting: uplink, public addresses, route tables, translations) and the probes
// run: from each instance to the internet host, from the internet host to every public
// address (an interface's, and the NAT gateway's, which nothing may open a connection to),
// and within each VPC. Each exchange must succeed exactly when the policy engine routes the
// flow (Verdict: not NoRoute) and its connection-tracking model admits the packet and its
// reply, the public address standing for its interface, as the policy has it. IPv4 only:
// the lab's internet has no IPv6.
//
// STOCKADE_SEED=n replays one seed; STOCKADE_ROUNDS sets the number of rounds (default 6).
func TestKernelDifferentialInternet(t *testing.T) {
	l := newKernelLab(t)
	ctx := context.Background()
	seed, rounds := seedAndRounds(t, 6)
	rng := rand.New(rand.NewPCG(seed, seed^0x1e7))

	inet := l.names.Internet()
	if _, err := netlab.CreateInternet(ctx, inet); err != nil {
		t.Fatal(err)
	}
	scratch := l.names.Router("vpc-scratch")
	if _, err := netlab.CreateRouter(ctx, scratch); err != nil {
		t.Fatal(err)
	}
	vpcs := []*inetWorld{
		{g: newGenIn(rng, "vpc-1", "eni-a"), router: l.router, pool: 10},
		{g: newGenIn(rng, "vpc-2", "eni-b"), router: l.names.Router("vpc-2"), pool: 60},
	}
	ns := map[string]string{}
	for _, w := range vpcs {
		if _, err := netlab.CreateRouter(ctx, w.router); err != nil {
			t.Fatal(err)
		}
		w.base = w.g.network()
		for _, e := range w.base.Snapshot.ENIs {
			ns[e.ID] = l.names.Instance(e.ID)
			if err := netlab.Attach(ctx, w.router, netlab.Interface{Namespace: ns[e.ID], Link: l.names.Link(e.ID), MAC: e.MAC,
				Addr: e.PrivateIP, Subnet: w.g.subnetOf(e).CIDR, IPv6: e.IPv6}); err != nil {
				t.Fatal(err)
			}
			for _, p := range w.g.ports {
				srv, err := netlab.Serve(ns[e.ID], p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Close)
			}
		}
	}
	for _, p := range vpcs[0].g.ports {
		srv, err := netlab.Serve(inet, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
	}

	port := 30000
	admitted, denied := map[string]int{}, map[string]int{}
	defer func() {
		t.Logf("admitted %v, denied %v (by kind), kernel and model agreeing", admitted, denied)
	}()
	for round := range rounds {
		type probe struct {
			w    *inetWorld
			f    inetFlow
			want bool
			ct   *policy.Conntrack
		}
		var probes []probe
		for _, w := range vpcs {
			w.vary()
			w.apply(l, scratch)
			p, err := policy.Compile(w.n.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range w.flows(rng, &port) {
				ct := policy.NewConntrack(p)
				probes = append(probes, probe{w, f, f.oracle(p, ct), ct})
			}
		}
		var wg sync.WaitGroup
		results := make([]error, len(probes))
		for i, pr := range probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = pr.f.send(ns, inet, netlab.Timeout(pr.want))
			}()
		}
		wg.Wait()
		for i, pr := range probes {
			got := results[i] == nil
			if got == pr.want {
				if got {
					admitted[pr.f.kind()]++
				} else {
					denied[pr.f.kind()]++
				}
				continue
			}
			kind := "the kernel dropped a flow the model admits"
			if got {
				kind = "A FLOW THE MODEL DENIES GOT THROUGH"
			}
			p, _ := policy.Compile(pr.w.n.Snapshot)
			why := ""
			if e := pr.f.eni; e != nil && pr.f.remote.IsValid() {
				r, _ := p.Internet(e.ID, pr.f.remote, pr.f.inbound)
				b, _ := json.Marshal(r)
				why = string(b)
			}
			repro, _ := json.MarshalIndent(pr.w.n.Snapshot, "", " ")
			rt, _ := json.MarshalIndent(pr.w.rt, "", " ")
			t.Errorf("round %d: %s: %s (kernel: %v; policy routing: %s)\nreproduce with STOCKADE_SEED=%d\nnetwork: %s\nrouting: %s\nruleset:\n%s",
				round, kind, pr.f, results[i], why, seed, repro, rt, pr.w.last.Text())
			return
		}
	}
}

// inetWorld is one VPC of the test: its generator, router and the network of this round.
type inetWorld struct {
	g      *gen
	router string
	pool   int // the last byte of its first public address in 198.51.100.0/24
	base   dataplane.Network
	n      dataplane.Network
	rt     host.Routing
	// routing is what SetRoutes made last, kept across rounds as the host keeps it: each
	// round's routes are a change computed against it.
	routing netlab.Routing
	last    *dataplane.Ruleset
}

var internetNet = netip.MustParsePrefix("203.0.113.0/24") // the internet host's block

func (w *inetWorld) pub(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(w.pool + i)})
}

// vary makes this round's network: groups and ACLs as TestKernelDifferential's (some group
// rules naming the internet host's block), then the gateway, public addresses, NAT gateway
// and route tables.
func (w *inetWorld) vary() {
	g, rng, vpc := w.g, w.g.rng, w.g.vpc.ID
	n := g.vary(w.base)
	for i, grp := range n.Snapshot.Groups {
		grp = grp.Clone()
		if rng.IntN(2) == 0 {
			grp.Ingress = append(grp.Ingress, g.inetRule(n.Snapshot.ENIs))
		}
		if rng.IntN(3) == 0 {
			grp.Egress = append(grp.Egress, g.inetRule(n.Snapshot.ENIs))
		}
		n.Snapshot.Groups[i] = grp
	}
	s := &n.Snapshot
	igw := &model.InternetGateway{ID: "igw-" + vpc}
	if rng.IntN(3) != 0 {
		igw.VpcID = vpc
	}
	s.IGWs = []*model.InternetGateway{igw}
	// Public addresses: a third on launch, a third Elastic IPs on the primary address.
	for i, e := range s.ENIs {
		switch rng.IntN(3) {
		case 0:
			c := e.Clone()
			c.PublicIP = w.pub(i)
			s.ENIs[i] = c
		case 1:
			s.Addresses = append(s.Addresses, &model.Address{AllocationID: fmt.Sprintf("eipalloc-%s%d", vpc, i), PublicIP: w.pub(i),
				Domain: "vpc", AssociationID: fmt.Sprintf("eipassoc-%s%d", vpc, i), ENIID: e.ID, PrivateIP: e.PrivateIP})
		}
	}
	nat := &model.NATGateway{ID: "nat-" + vpc, SubnetID: g.subnets[0].ID, VpcID: vpc, ConnectivityType: model.NATPublic,
		State: model.NATAvailable, PublicIP: w.pub(20), PrivateIP: netip.MustParseAddr("10.50.1.5")}
	if rng.IntN(5) == 0 {
		nat.State = pick(rng, "pending", "failed", "deleted")
	}
	s.NATGateways = []*model.NATGateway{nat}
	target := func() (model.RouteTarget, bool) {
		switch rng.IntN(6) {
		case 0, 1:
			return model.RouteTarget{GatewayID: igw.ID}, true
		case 2, 3:
			return model.RouteTarget{NatGatewayID: nat.ID}, true
		case 4:
			return model.RouteTarget{GatewayID: "igw-gone"}, true // a blackhole
		}
		return model.RouteTarget{}, false
	}
	table := func(id string) *model.RouteTable {
		t := &model.RouteTable{ID: id, VpcID: vpc, Routes: []model.Route{{Dest: g.vpc.CIDR, Target: model.RouteTarget{Local: true}}}}
		for _, dst := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), internetNet, netip.PrefixFrom(netlab.InternetHost, 32)} {
			if dst.Bits() > 0 && rng.IntN(3) != 0 {
				continue // the more specific routes now and then
			}
			if tg, ok := target(); ok {
				t.Routes = append(t.Routes, model.Route{Dest: dst, Target: tg})
			}
		}
		return t
	}
	main := table("rtb-" + vpc + "-main")
	main.Assocs = []model.RouteTableAssoc{{ID: "rtbassoc-" + vpc + "-main", Main: true}}
	other := table("rtb-" + vpc + "-x")
	for i, sn := range g.subnets {
		if rng.IntN(2) == 0 {
			other.Assocs = append(other.Assocs, model.RouteTableAssoc{ID: fmt.Sprintf("rtbassoc-%s-%d", vpc, i), SubnetID: sn.ID})
		}
	}
	s.RouteTables = []*model.RouteTable{main, other}
	w.n = n
}

// inetRule is a group rule for the internet host's block.
func (g *gen) inetRule(enis []*model.NetworkInterface) model.Rule {
	r := g.rule(enis, []string{"sg-0"})
	if r.Protocol == "icmpv6" {
		r.Protocol = "icmp"
	}
	r.Peer = model.Peer{CIDR: pick(g.rng, internetNet, netip.PrefixFrom(netlab.InternetHost, 32))}
	return r
}

// apply programs the router from the model as the host does: the uplink while the gateway is
// attached, the internet's routes to the public addresses, the route tables, the ruleset (in
// place, checked against a replacement).
func (w *inetWorld) apply(l *kernelLab, scratch string) {
	t := l.t
	t.Helper()
	ctx := context.Background()
	w.rt = host.PlanRouting(netmap.Network{Snapshot: w.n.Snapshot}, w.g.vpc.ID, l.names)
	if up := w.rt.Uplink; up != nil {
		if _, err := netlab.AttachInternet(ctx, w.router, *up); err != nil {
			t.Fatal(err)
		}
		if err := netlab.SetPublic(ctx, *up, w.rt.Public); err != nil {
			t.Fatal(err)
		}
	} else if err := netlab.DetachInternet(ctx, w.router, l.names.UplinkOf(w.g.vpc.ID)); err != nil {
		t.Fatal(err)
	}
	if err := netlab.SetRoutes(ctx, w.router, w.rt.Internet.Link, w.rt.Tables, &w.routing); err != nil {
		t.Fatal(err)
	}
	w.n.Link = l.names.Link
	w.n.Internet, w.n.Unchecked = w.rt.Internet, w.rt.Unchecked
	rs := dataplane.Render(w.n)
	tx := rs.Replace()
	if w.last != nil {
		// Attaching or detaching the gateway adds or removes the translation's base chains,
		// which no in-place update does: the host replaces the table then, and so does this.
		if upd, ok := rs.Update(w.last); ok {
			tx = upd
		}
	}
	if tx != "" {
		if err := l.k.Apply(ctx, w.router, tx); err != nil {
			t.Fatalf("%v\n%s", err, tx)
		}
	}
	l.sameAsReplaceIn(w.router, scratch, rs)
	w.last = rs
	if err := netlab.EnableForwarding(ctx, w.router); err != nil {
		t.Fatal(err)
	}
}

// inetFlow is one probe: between an interface and the internet host (inbound: opened by the
// internet host, to public address pub), or, with local set, within the VPC.
type inetFlow struct {
	eni     *model.NetworkInterface
	inbound bool
	pub     netip.Addr // inbound: the address the internet host connects to
	remote  netip.Addr // the internet end (InternetHost); invalid within the VPC
	local   *flow
	proto   uint8
	sport   int
	dport   int
}

func (f inetFlow) kind() string {
	switch {
	case f.local != nil:
		return "in the VPC"
	case f.eni == nil:
		return "to the NAT gateway"
	case f.inbound:
		return "from the internet"
	}
	return "to the internet"
}

func (f inetFlow) String() string {
	if f.local != nil {
		return f.local.String()
	}
	name := map[uint8]string{model.ProtoNumTCP: "tcp", model.ProtoNumUDP: "udp", model.ProtoNumICMP: "icmp echo"}[f.proto]
	if f.eni == nil {
		return fmt.Sprintf("%s internet(%s):%d → NAT gateway(%s):%d", name, f.remote, f.sport, f.pub, f.dport)
	}
	if f.inbound {
		return fmt.Sprintf("%s internet(%s):%d → %s(%s, public %s):%d", name, f.remote, f.sport, f.eni.ID, f.eni.PrivateIP, f.pub, f.dport)
	}
	return fmt.Sprintf("%s %s(%s):%d → internet(%s):%d", name, f.eni.ID, f.eni.PrivateIP, f.sport, f.remote, f.dport)
}

// flows are this round's probes of a VPC: every interface to the internet host, the internet
// host to every public address, and some flows within the VPC.
func (w *inetWorld) flows(rng *rand.Rand, port *int) []inetFlow {
	g := w.g
	mk := func() inetFlow {
		*port++
		return inetFlow{remote: netlab.InternetHost, proto: pick(rng, uint8(model.ProtoNumTCP), model.ProtoNumTCP, model.ProtoNumUDP, model.ProtoNumICMP),
			sport: *port, dport: pick(rng, g.ports...)}
	}
	var out []inetFlow
	public := map[string]netip.Addr{}
	for _, e := range w.n.Snapshot.ENIs {
		if e.PublicIP.IsValid() {
			public[e.ID] = e.PublicIP
		}
	}
	for _, a := range w.n.Snapshot.Addresses {
		if a.Associated() {
			public[a.ENIID] = a.PublicIP
		}
	}
	for _, e := range w.n.Snapshot.ENIs {
		for range 2 {
			f := mk()
			f.eni = e
			out = append(out, f)
		}
		if pub, ok := public[e.ID]; ok {
			for range 2 {
				f := mk()
				f.eni, f.inbound, f.pub = e, true, pub
				out = append(out, f)
			}
		}
	}
	f := mk()
	f.inbound, f.pub = true, w.n.Snapshot.NATGateways[0].PublicIP
	out = append(out, f)
	for _, lf := range g.flows(w.n, 10, port) {
		if lf.proto == model.ProtoNumICMPv6 {
			continue
		}
		lf.v6 = false
		out = append(out, inetFlow{local: &lf})
	}
	return out
}

// oracle is the policy engine's answer: the routing carries the flow (the fast Verdict is
// not NoRoute) and the first packet and its reply pass the groups and ACLs.
func (f inetFlow) oracle(p *policy.Policy, ct *policy.Conntrack) bool {
	if f.local != nil {
		return f.local.exchange(ct)
	}
	if f.eni == nil {
		return false // nothing opens a connection to a NAT gateway's address
	}
	a, b := policy.Endpoint{ENI: f.eni.ID}, policy.Outside
	src, dst := f.eni.PrivateIP, f.remote
	if f.inbound {
		a, b, src, dst = b, a, dst, src
	}
	first := policy.Flow{Src: src, Dst: dst, Proto: f.proto, SrcPort: uint16(f.sport), DstPort: uint16(f.dport)}
	reply := policy.Flow{Src: dst, Dst: src, Proto: f.proto, SrcPort: uint16(f.dport), DstPort: uint16(f.sport)}
	if f.proto == model.ProtoNumICMP {
		first = policy.Flow{Src: src, Dst: dst, Proto: f.proto, ICMPType: 8}
		reply = policy.Flow{Src: dst, Dst: src, Proto: f.proto, ICMPType: 0}
	}
	if p.Verdict(a, b, first) == policy.NoRoute {
		return false
	}
	return ct.Packet(a, b, first) == policy.Admitted && ct.Packet(b, a, reply) == policy.Admitted
}

// send makes the exchange with real packets.
func (f inetFlow) send(ns map[string]string, inet string, timeout time.Duration) error {
	if f.local != nil {
		c, err := f.local.send(ns, timeout)
		if c != nil {
			c.Close()
		}
		return err
	}
	from, to := inet, f.pub
	if !f.inbound {
		from, to = ns[f.eni.ID], f.remote
	}
	dst := netip.AddrPortFrom(to, uint16(f.dport))
	switch f.proto {
	case model.ProtoNumTCP:
		c, err := netlab.DialTCPFrom(from, f.sport, dst, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Echo(timeout)
	case model.ProtoNumUDP:
		u, err := netlab.DialUDP(from, dst, f.sport)
		if err != nil {
			return err
		}
		defer u.Close()
		return u.Echo(timeout)
	}
	return netlab.PingID(from, to, uint16(f.sport), timeout)
}
