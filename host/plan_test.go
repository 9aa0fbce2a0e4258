package host_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// TestPlan: which instances and routers a revision wants, and how each is wired.
func TestPlan(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	vpc1 := &model.VPC{ID: "vpc-1", CIDR: p("10.0.0.0/16"), VNI: 77}
	vpc2 := &model.VPC{ID: "vpc-2", CIDR: p("10.1.0.0/16"), VNI: 78}
	sn1 := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24")}
	sn2 := &model.Subnet{ID: "subnet-2", VpcID: "vpc-1", CIDR: p("10.0.2.0/24")}
	eni := func(id, subnet, ip string, dev int) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, VpcID: "vpc-1", SubnetID: subnet, PrivateIP: a(ip), MAC: "02:00:00:00:00:01", SourceDestCheck: true,
			Attachment: &model.Attachment{DeviceIndex: dev}}
	}
	e1 := eni("eni-1", "subnet-1", "10.0.1.4", 0)
	e1.SecondaryIPs = []netip.Addr{a("10.0.1.5"), a("2001:db8::9")}
	e1.IPv6 = []netip.Addr{a("2001:db8::4")}
	e1b := eni("eni-1b", "subnet-2", "10.0.2.4", 1)
	eGone := eni("eni-x", "subnet-gone", "10.0.3.4", 2) // its subnet is missing: left out
	e2 := eni("eni-2", "subnet-gone", "10.0.3.5", 0)
	e3 := eni("eni-3", "subnet-1", "10.0.1.6", 0)
	net := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "eu-west-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc1, vpc2}, Subnets: []*model.Subnet{sn1, sn2},
			ENIs: []*model.NetworkInterface{e1, e1b, eGone, e2, e3}},
		Instances: []*model.Instance{
			{ID: "i-1", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-1", "eni-1b", "eni-x"}, UserData: []byte("echo hi"), InstanceType: "t3.nano"},
			{ID: "i-2", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-2"}}, // primary's subnet missing
			{ID: "i-3", VpcID: "vpc-1", State: model.StateStopped, InterfaceIDs: []string{"eni-3"}},
			{ID: "i-4", VpcID: "vpc-2", State: model.StateRunning}, // no interface
		}}
	names := netlab.Names{Prefix: "p"}
	i1 := host.Instance{
		LabInstance: netmap.LabInstance{ID: "i-1", Account: "111122223333", Region: "eu-west-1", VpcID: "vpc-1", ENI: "eni-1",
			Address: "10.0.1.4", IPv6: []string{"2001:db8::4"}, Namespace: "p-i-1", Router: "p-vpc-1",
			Operator: "p-op-vpc-1", Links: []string{names.Link("eni-1"), names.Link("eni-1b")}},
		Interfaces: []netlab.Interface{
			{Namespace: "p-i-1", Link: names.Link("eni-1"), MAC: "02:00:00:00:00:01", Addr: a("10.0.1.4"), Subnet: p("10.0.1.0/24"),
				Secondary: []netip.Addr{a("10.0.1.5")}, IPv6: []netip.Addr{a("2001:db8::4")}},
			{Namespace: "p-i-1", Link: names.Link("eni-1b"), MAC: "02:00:00:00:00:01", Addr: a("10.0.2.4"), Subnet: p("10.0.2.0/24"), DeviceIndex: 1},
		},
		UserData:     []byte("echo hi"),
		InstanceType: "t3.nano", // sets its limits
	}
	for _, tc := range []struct {
		name string
		nets []netmap.Network
		want host.Desired
	}{
		{"nothing", nil, host.Desired{Rev: 7, Routers: map[string]host.Router{}, Instances: map[string]*host.Instance{}, Stopped: map[string]bool{}}},
		{"one running instance wanted, router of its VPC only", []netmap.Network{net}, host.Desired{Rev: 7,
			Routers: map[string]host.Router{"vpc-1": {VPC: "vpc-1", Namespace: "p-vpc-1",
				Operator: netlab.Operator{Namespace: "p-op-vpc-1", Link: "p-op"},
				Ruleset: dataplane.Render(dataplane.Network{VPC: vpc1, Snapshot: net.Snapshot, Link: names.Link,
					Operator: dataplane.Operator{Link: "p-op", Addr: a("100.64.0.2"), Addr6: a("fd64:ec2::2")}})}},
			Instances: map[string]*host.Instance{"i-1": &i1}, Stopped: map[string]bool{"i-3": true}}}, // i-3 keeps its files
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := host.Plan(7, tc.nets, names, &host.Cache{})
			opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
				cmp.Transformer("text", func(r *dataplane.Ruleset) string { return r.Text() })}
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanCacheMatchesFresh: with a Cache, each revision plans exactly what it plans without
// one, as an instance's interfaces and their subnets change under the same instance object;
// an interface that changes only in what the plan does not read (its groups) leaves the
// instances the same.
func TestPlanCacheMatchesFresh(t *testing.T) {
	p := netip.MustParsePrefix
	vpc := &model.VPC{ID: "vpc-1", CIDR: p("10.0.0.0/16")}
	sn := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24")}
	sn2 := &model.Subnet{ID: "subnet-2", VpcID: "vpc-1", CIDR: p("10.0.2.0/24")}
	e1 := &model.NetworkInterface{ID: "eni-1", VpcID: "vpc-1", SubnetID: "subnet-1", PrivateIP: netip.MustParseAddr("10.0.1.4"),
		Attachment: &model.Attachment{}}
	e2 := &model.NetworkInterface{ID: "eni-2", VpcID: "vpc-1", SubnetID: "subnet-2", PrivateIP: netip.MustParseAddr("10.0.2.4"),
		Attachment: &model.Attachment{DeviceIndex: 1}}
	in := &model.Instance{ID: "i-1", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-1", "eni-2"}}
	net := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "eu-west-1"},
		Snapshot:  netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{sn}, ENIs: []*model.NetworkInterface{e1, e2}},
		Instances: []*model.Instance{in}}
	secondary := e1.Clone()
	secondary.SecondaryIPs = []netip.Addr{netip.MustParseAddr("10.0.1.9")}
	wider := *sn
	wider.CIDR = p("10.0.0.0/20")
	regrouped := e2.Clone()
	regrouped.Groups = []string{"sg-2"}
	// Each step changes the network; same is whether the instances' plans stay what they
	// were, which tells the host that it need not look at its instances.
	steps := []struct {
		change func(n *netmap.Network)
		same   bool
	}{
		{func(n *netmap.Network) {}, false},                                                     // the first plan
		{func(n *netmap.Network) { n.ENIs = []*model.NetworkInterface{secondary, e2} }, false},  // an address more
		{func(n *netmap.Network) { n.Subnets = []*model.Subnet{sn, sn2} }, false},               // the second interface's subnet appears
		{func(n *netmap.Network) { n.Subnets = []*model.Subnet{&wider, sn2} }, false},           // a subnet changes
		{func(n *netmap.Network) { n.ENIs = []*model.NetworkInterface{secondary} }, false},      // the second interface goes
		{func(n *netmap.Network) { n.ENIs = []*model.NetworkInterface{e1, e2.Clone()} }, false}, // and comes back
		{func(n *netmap.Network) { n.ENIs = []*model.NetworkInterface{e1, regrouped} }, true},   // it changes groups only
	}
	names := netlab.Names{Prefix: "p"}
	var c host.Cache
	for i, step := range steps {
		step.change(&net)
		got := host.Plan(int64(i), []netmap.Network{net}, names, &c)
		want := host.Plan(int64(i), []netmap.Network{net}, names, nil)
		if diff := cmp.Diff(want.Instances, got.Instances, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
			t.Errorf("step %d: cached plan differs (-fresh +cached):\n%s", i, diff)
		}
		if got.SameInstances != step.same {
			t.Errorf("step %d: SameInstances %v, want %v", i, got.SameInstances, step.same)
		}
		// A plan without a cache never knows.
		if want.SameInstances {
			t.Errorf("step %d: SameInstances true without a cache", i)
		}
		if again := host.Plan(int64(i), []netmap.Network{net}, names, &c); !again.SameInstances {
			t.Errorf("step %d planned again: SameInstances false", i)
		}
	}
}

// TestPlanPlaced: on one host of several, only the instances placed on it run there; the
// router of a VPC with running instances elsewhere gets its VXLAN device, one peer per other
// host with those instances' addresses, an underlay segment, and a ruleset in which remote
// interfaces have no chains; a VPC with no local instance has no router; the device and
// the segment carry the VNI stored with the VPC; and with no placement the plan is the
// single host's, unchanged. (TestSpanningHosts covers a VPC stored without a VNI.)
func TestPlanPlaced(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	vpc1 := &model.VPC{ID: "vpc-1", CIDR: p("10.0.0.0/16"), VNI: 77}
	vpc2 := &model.VPC{ID: "vpc-2", CIDR: p("10.1.0.0/16"), VNI: 78}
	sn1 := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24")}
	sn2 := &model.Subnet{ID: "subnet-2", VpcID: "vpc-2", CIDR: p("10.1.1.0/24")}
	eni := func(id, vpc, subnet, ip string) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, VpcID: vpc, SubnetID: subnet, PrivateIP: a(ip), MAC: "02:00:00:00:00:01",
			Attachment: &model.Attachment{}}
	}
	e1, e2, e3, e4 := eni("eni-1", "vpc-1", "subnet-1", "10.0.1.4"), eni("eni-2", "vpc-1", "subnet-1", "10.0.1.5"),
		eni("eni-3", "vpc-1", "subnet-1", "10.0.1.6"), eni("eni-4", "vpc-2", "subnet-2", "10.1.1.4")
	e2.IPv6 = []netip.Addr{a("2001:db8::5")}
	net := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "eu-west-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc1, vpc2}, Subnets: []*model.Subnet{sn1, sn2},
			ENIs: []*model.NetworkInterface{e1, e2, e3, e4}},
		Instances: []*model.Instance{
			{ID: "i-1", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-1"}}, // here
			{ID: "i-2", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-2"}}, // on h2
			{ID: "i-3", VpcID: "vpc-1", State: model.StateStopped, InterfaceIDs: []string{"eni-3"}}, // on h3, stopped: no peer
			{ID: "i-4", VpcID: "vpc-2", State: model.StateRunning, InterfaceIDs: []string{"eni-4"}}, // on h2: no router here
		}}
	names := netlab.Names{Prefix: "p"}
	place := host.Placement{Self: "h1", Namespace: "p-host",
		Underlay: map[string]netip.Addr{"h1": a("192.0.2.1"), "h2": a("192.0.2.2"), "h3": a("192.0.2.3")},
		Of:       map[string]string{"eni-1": "h1", "eni-2": "h2", "eni-3": "h3", "eni-4": "h2"}}
	got := host.PlanPlaced(7, []netmap.Network{net}, names, &host.Cache{}, place)

	if _, ok := got.Instances["i-1"]; !ok || len(got.Instances) != 1 {
		t.Errorf("instances here: %v, want i-1 only", slices.Sorted(maps.Keys(got.Instances)))
	}
	if mtu := got.Instances["i-1"].Interfaces[0].MTU; mtu != netlab.InstanceMTU {
		t.Errorf("instance MTU %d, want %d", mtu, netlab.InstanceMTU)
	}
	if _, ok := got.Routers["vpc-2"]; ok || len(got.Routers) != 1 {
		t.Errorf("routers: %v, want vpc-1 only", slices.Sorted(maps.Keys(got.Routers)))
	}
	r := got.Routers["vpc-1"]
	opts := cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})
	wantOverlay := &netlab.Overlay{Host: "p-host", Link: names.Overlay("vpc-1"), VNI: 77, Local: a("192.0.2.1"),
		MAC: netlab.OverlayMAC("h1", "vpc-1"), MTU: netlab.InstanceMTU}
	if diff := cmp.Diff(wantOverlay, r.Overlay, opts); diff != "" {
		t.Errorf("overlay (-want +got):\n%s", diff)
	}
	wantPeers := []netlab.Peer{{Underlay: a("192.0.2.2"), MAC: netlab.OverlayMAC("h2", "vpc-1"), Addrs: []netip.Addr{a("10.0.1.5"), a("2001:db8::5")}}}
	if diff := cmp.Diff(wantPeers, r.Peers, opts); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	wantSeg := []dataplane.Segment{{VNI: 77, Peers: []dataplane.SegmentPeer{{Underlay: a("192.0.2.2"), Addrs: []netip.Addr{a("10.0.1.5"), a("2001:db8::5")}}}}}
	if diff := cmp.Diff(wantSeg, got.Underlay, opts); diff != "" {
		t.Errorf("underlay (-want +got):\n%s", diff)
	}
	// Only the local interface has checks here; the overlay link stands for the others.
	for _, c := range []struct {
		link string
		want bool
	}{{names.Link("eni-1"), true}, {names.Link("eni-2"), false}, {names.Link("eni-3"), false}, {"overlay_in", true}} {
		dispatch := r.Ruleset.Object("in_dispatch").Lines
		if got := slices.ContainsFunc(dispatch, func(l string) bool { return strings.Contains(l, c.link) }); got != c.want {
			t.Errorf("in_dispatch has %s: %v, want %v\n%s", c.link, got, c.want, strings.Join(dispatch, "\n"))
		}
	}

	// No placement: exactly the single host's plan.
	single, placed := host.Plan(7, []netmap.Network{net}, names, nil), host.PlanPlaced(7, []netmap.Network{net}, names, nil, host.Placement{})
	if diff := cmp.Diff(single, placed, opts, cmp.Transformer("text", func(r *dataplane.Ruleset) string { return r.Text() })); diff != "" {
		t.Errorf("zero placement differs from Plan (-Plan +PlanPlaced):\n%s", diff)
	}
	if len(single.Instances) != 3 || single.Instances["i-1"].Interfaces[0].MTU != 0 {
		t.Errorf("single host: %d instances, MTU %d; want 3 and the kernel's default", len(single.Instances), single.Instances["i-1"].Interfaces[0].MTU)
	}
}

// TestPlanFromLastWalkMatchesFresh: a long run of random changes — the ones planned from the
// last walk (groups joined, addresses added, public addresses, the source/destination check,
// nothing at all) among ones that need another walk (an instance stopped or started, a subnet
// added) — plans every step as a plan without a cache does: the instances, and every router's
// routing and ruleset.
func TestPlanFromLastWalkMatchesFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := netip.MustParsePrefix
	net := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "eu-west-1"}}
	net.VPCs = []*model.VPC{{ID: "vpc-1", CIDR: p("10.0.0.0/16")}}
	net.Subnets = []*model.Subnet{{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24")}}
	net.Groups = []*model.Group{{ID: "sg-1", VpcID: "vpc-1"}, {ID: "sg-2", VpcID: "vpc-1",
		Ingress: []model.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: model.Peer{GroupID: "sg-1"}}}}}
	net.IGWs = []*model.InternetGateway{{ID: "igw-1", VpcID: "vpc-1"}}
	net.RouteTables = []*model.RouteTable{{ID: "rtb-main", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-m", Main: true}},
		Routes: []model.Route{{Dest: p("10.0.0.0/16"), Target: model.RouteTarget{Local: true}}, {Dest: p("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}}}}}
	for i := range 30 {
		id := fmt.Sprintf("%02d", i)
		ids := []string{"eni-" + id}
		net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni-" + id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"},
			SourceDestCheck: true, PrivateIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)}), Attachment: &model.Attachment{InstanceID: "i-" + id}})
		if i%3 == 0 {
			ids = append(ids, "eni-x"+id)
			net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni-x" + id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-2"},
				SourceDestCheck: true, PrivateIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(100 + i)}), Attachment: &model.Attachment{InstanceID: "i-" + id, DeviceIndex: 1}})
		}
		net.Instances = append(net.Instances, &model.Instance{ID: "i-" + id, VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: ids})
	}
	slices.SortFunc(net.ENIs, func(a, b *model.NetworkInterface) int { return strings.Compare(a.ID, b.ID) })
	eni := func(n *netmap.Network, change func(e *model.NetworkInterface)) {
		n.ENIs = slices.Clone(n.ENIs)
		k := rng.IntN(len(n.ENIs))
		e := n.ENIs[k].Clone()
		change(e)
		n.ENIs[k] = e
	}
	changes := []func(n *netmap.Network){
		func(n *netmap.Network) {}, // nothing (a rule elsewhere)
		func(n *netmap.Network) {
			eni(n, func(e *model.NetworkInterface) { e.Groups = []string{[]string{"sg-1", "sg-2"}[rng.IntN(2)]} })
		},
		func(n *netmap.Network) {
			eni(n, func(e *model.NetworkInterface) {
				e.SecondaryIPs = append(slices.Clone(e.SecondaryIPs), netip.AddrFrom4([4]byte{10, 0, 1, byte(200 + rng.IntN(50))}))
			})
		},
		func(n *netmap.Network) {
			eni(n, func(e *model.NetworkInterface) {
				e.PublicIP = netip.AddrFrom4([4]byte{198, 18, 0, byte(rng.IntN(250))})
			})
		},
		func(n *netmap.Network) {
			eni(n, func(e *model.NetworkInterface) { e.SourceDestCheck = !e.SourceDestCheck })
		},
		func(n *netmap.Network) { // an instance stops or starts: another walk
			n.Instances = slices.Clone(n.Instances)
			k := rng.IntN(len(n.Instances))
			in := *n.Instances[k]
			in.State = map[model.InstanceState]model.InstanceState{model.StateRunning: model.StateStopped, model.StateStopped: model.StateRunning}[in.State]
			n.Instances[k] = &in
		},
		func(n *netmap.Network) { // a subnet comes: another walk
			n.Subnets = append(slices.Clone(n.Subnets), &model.Subnet{ID: fmt.Sprint("subnet-z", len(n.Subnets)), VpcID: "vpc-1",
				CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(100 + len(n.Subnets)), 0}), 24)})
		},
	}
	names := netlab.Names{Prefix: "p"}
	var c host.Cache
	// Route table numbers are the cache's to give (a fresh plan takes a hash).
	opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.IgnoreFields(host.Router{}, "Ruleset"),
		cmpopts.IgnoreFields(netlab.RouteTable{}, "Table")}
	for step := range 300 {
		weights := []int{1, 4, 2, 1, 1, 1, 0}
		if step%50 == 49 {
			weights[6] = 1
		}
		k := pick(rng, weights)
		changes[k](&net)
		got := host.Plan(int64(step), []netmap.Network{net}, names, &c)
		want := host.Plan(int64(step), []netmap.Network{net}, names, nil)
		if diff := cmp.Diff(want.Instances, got.Instances, opts); diff != "" {
			t.Fatalf("step %d (change %d): instances differ (-fresh +cached):\n%s", step, k, diff)
		}
		if diff := cmp.Diff(want.Routers, got.Routers, opts); diff != "" {
			t.Fatalf("step %d (change %d): routers differ (-fresh +cached):\n%s", step, k, diff)
		}
		for vpc, r := range want.Routers {
			if r.Ruleset.Text() != got.Routers[vpc].Ruleset.Text() {
				t.Fatalf("step %d (change %d): %s's ruleset differs", step, k, vpc)
			}
		}
		if diff := cmp.Diff(want.Stopped, got.Stopped); diff != "" {
			t.Fatalf("step %d (change %d): stopped differ (-fresh +cached):\n%s", step, k, diff)
		}
	}
	if n := host.Replans(&c); n < 150 {
		t.Errorf("%d of 300 plans from the last walk, want most", n)
	}
}

// pick returns an index drawn with the weights given.
func pick(rng *rand.Rand, weights []int) int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	r := rng.IntN(sum)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}
