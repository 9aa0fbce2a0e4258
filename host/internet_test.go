package host_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/host/nsfake"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// routedNet is vpc-1 with a public subnet (main table: 0.0.0.0/0 to igw-1), a private one
// (rtb-priv: 0.0.0.0/0 to nat-1, 192.0.2.0/24 to the appliance eni-app), a web instance with a
// launch-time public address, an appliance with an Elastic IP and its check off, and a NAT
// gateway whose own interface and Elastic IP the internet must not translate. In IPv6 the VPC
// has fd00:1::/56, the public subnet fd00:1:0:1::/64 with "::/0" to igw-1, and the private
// table sends 2001:db8::/32 to the egress-only gateway eigw-1.
func routedNet() netmap.Network {
	vpc := &model.VPC{ID: "vpc-1", CIDR: pfx("10.0.0.0/16"), IPv6CIDR: pfx("fd00:1::/56")}
	pub := &model.Subnet{ID: "subnet-pub", VpcID: "vpc-1", CIDR: pfx("10.0.1.0/24"), IPv6CIDR: pfx("fd00:1:0:1::/64")}
	priv := &model.Subnet{ID: "subnet-priv", VpcID: "vpc-1", CIDR: pfx("10.0.2.0/24")}
	eni := func(id, subnet, ip string) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, VpcID: "vpc-1", SubnetID: subnet, PrivateIP: addr(ip), SourceDestCheck: true,
			Attachment: &model.Attachment{InstanceID: "i" + id[3:]}}
	}
	web := eni("eni-web", "subnet-pub", "10.0.1.10")
	web.PublicIP = addr("198.18.0.2")
	app := eni("eni-app", "subnet-pub", "10.0.1.20")
	app.SourceDestCheck = false
	natENI := &model.NetworkInterface{ID: "eni-nat", VpcID: "vpc-1", SubnetID: "subnet-pub", PrivateIP: addr("10.0.1.99"),
		RequesterManaged: true, InterfaceType: "nat_gateway"}
	return netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "us-east-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{pub, priv},
			ENIs:       []*model.NetworkInterface{web, app, natENI},
			IGWs:       []*model.InternetGateway{{ID: "igw-1", VpcID: "vpc-1"}, {ID: "igw-other", VpcID: "vpc-2"}},
			EgressIGWs: []*model.EgressOnlyIGW{{ID: "eigw-1", VpcID: "vpc-1"}, {ID: "eigw-other", VpcID: "vpc-2"}},
			Addresses: []*model.Address{
				{AllocationID: "eipalloc-app", PublicIP: addr("198.18.0.3"), AssociationID: "eipassoc-1", ENIID: "eni-app", PrivateIP: addr("10.0.1.20")},
				{AllocationID: "eipalloc-nat", PublicIP: addr("198.18.0.4"), AssociationID: "eipassoc-2", ENIID: "eni-nat", PrivateIP: addr("10.0.1.99")},
				{AllocationID: "eipalloc-free", PublicIP: addr("198.18.0.5")},
			},
			NATGateways: []*model.NATGateway{{ID: "nat-1", VpcID: "vpc-1", SubnetID: "subnet-pub", ConnectivityType: model.NATPublic,
				State: model.NATAvailable, ENIID: "eni-nat", PrivateIP: addr("10.0.1.99"), AllocationID: "eipalloc-nat", PublicIP: addr("198.18.0.4")}},
			RouteTables: []*model.RouteTable{
				{ID: "rtb-main", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-m", Main: true}},
					Routes: []model.Route{{Dest: pfx("10.0.0.0/16"), Target: model.RouteTarget{Local: true}},
						{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}},
						{Dest: pfx("fd00:1::/56"), Target: model.RouteTarget{Local: true}},
						{Dest: pfx("::/0"), Target: model.RouteTarget{GatewayID: "igw-1"}}}},
				{ID: "rtb-priv", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-p", SubnetID: "subnet-priv"}},
					Routes: []model.Route{{Dest: pfx("10.0.0.0/16"), Target: model.RouteTarget{Local: true}},
						{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: "nat-1"}},
						{Dest: pfx("192.0.2.0/24"), Target: model.RouteTarget{NetworkInterfaceID: "eni-app", InstanceID: "i-app"}},
						{Dest: pfx("2001:db8::/32"), Target: model.RouteTarget{EgressOnlyIGWID: "eigw-1"}}}},
				{ID: "rtb-other", VpcID: "vpc-2"},
			}},
		Instances: []*model.Instance{
			{ID: "i-web", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-web"}},
			{ID: "i-app", VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni-app"}},
		}}
}

// TestPlanRouting: what a VPC router needs from its routes, gateways and addresses, and how
// each target turns into a blackhole when it goes.
func TestPlanRouting(t *testing.T) {
	names := netlab.Names{Prefix: "p"}
	up := names.UplinkOf("vpc-1")
	local := netlab.Route{Dst: pfx("10.0.0.0/16"), Target: netlab.TargetLocal}
	toApp := netlab.Route{Dst: pfx("192.0.2.0/24"), Target: netlab.TargetInterface, Link: names.Link("eni-app"), Via: addr("10.0.1.20")}
	hole := func(dst string) netlab.Route { return netlab.Route{Dst: pfx(dst), Target: netlab.TargetBlackhole} }
	mainTable := netlab.RouteTable{Table: 1000, Subnets: []netip.Prefix{pfx("10.0.1.0/24"), pfx("fd00:1:0:1::/64")},
		Routes: []netlab.Route{local, {Dst: pfx("0.0.0.0/0"), Target: netlab.TargetGateway},
			{Dst: pfx("fd00:1::/56"), Target: netlab.TargetLocal}, {Dst: pfx("::/0"), Target: netlab.TargetGateway}}}
	privTable := netlab.RouteTable{Table: 1001, Subnets: []netip.Prefix{pfx("10.0.2.0/24")},
		Routes: []netlab.Route{local, {Dst: pfx("0.0.0.0/0"), Target: netlab.TargetNAT}, toApp,
			{Dst: pfx("2001:db8::/32"), Target: netlab.TargetEgressOnly}}}
	open6 := []dataplane.Open6{{Subnet: pfx("fd00:1:0:1::/64"), From: []netip.Prefix{pfx("::/0")}}}
	full := host.Routing{
		Uplink: &up,
		Public: []netip.Prefix{pfx("198.18.0.2/32"), pfx("198.18.0.3/32"), pfx("198.18.0.4/32"), pfx("fd00:1::/56")},
		Internet: dataplane.Internet{Link: up.Link,
			Public: map[netip.Addr]netip.Addr{addr("198.18.0.2"): addr("10.0.1.10"), addr("198.18.0.3"): addr("10.0.1.20")},
			NAT:    []dataplane.NATGateway{{Public: addr("198.18.0.4"), Subnets: []netip.Prefix{pfx("10.0.2.0/24")}}},
			Open6:  open6},
		Tables:    []netlab.RouteTable{mainTable, privTable},
		Unchecked: map[string]bool{"eni-app": true},
	}
	for _, tc := range []struct {
		name   string
		change func(n *netmap.Network)
		want   func(r *host.Routing)
	}{
		{"attached gateway, public addresses, NAT gateway, appliance", func(*netmap.Network) {}, func(*host.Routing) {}},
		{"both gateways gone: no link, no translations, their routes blackholes", func(n *netmap.Network) {
			n.IGWs = []*model.InternetGateway{{ID: "igw-1"}}
			n.EgressIGWs = nil
		}, func(r *host.Routing) {
			r.Uplink, r.Public, r.Internet = nil, nil, dataplane.Internet{}
			r.Tables[0].Routes[1], r.Tables[0].Routes[3] = hole("0.0.0.0/0"), hole("::/0")
			r.Tables[1].Routes[1], r.Tables[1].Routes[3] = hole("0.0.0.0/0"), hole("2001:db8::/32")
		}},
		{"internet gateway detached, egress-only gateway left: the link for IPv6 out only", func(n *netmap.Network) {
			n.IGWs = []*model.InternetGateway{{ID: "igw-1"}}
		}, func(r *host.Routing) {
			r.Public, r.Internet = []netip.Prefix{pfx("fd00:1::/56")}, dataplane.Internet{Link: up.Link}
			r.Tables[0].Routes[1], r.Tables[0].Routes[3] = hole("0.0.0.0/0"), hole("::/0")
			r.Tables[1].Routes[1] = hole("0.0.0.0/0") // the NAT gateway has no way out
		}},
		{"egress-only gateway deleted: its route a blackhole", func(n *netmap.Network) {
			n.EgressIGWs = n.EgressIGWs[1:]
		}, func(r *host.Routing) { r.Tables[1].Routes[3] = hole("2001:db8::/32") }},
		{"a more specific IPv6 route elsewhere: those clients cannot open connections", func(n *netmap.Network) {
			m := n.RouteTables[0].Clone()
			m.Routes = append(m.Routes, model.Route{Dest: pfx("8000::/1"), Target: model.RouteTarget{EgressOnlyIGWID: "eigw-1"}})
			n.RouteTables = []*model.RouteTable{m, n.RouteTables[1]}
		}, func(r *host.Routing) {
			r.Tables[0].Routes = append(r.Tables[0].Routes, netlab.Route{Dst: pfx("8000::/1"), Target: netlab.TargetEgressOnly})
			r.Internet.Open6 = []dataplane.Open6{{Subnet: pfx("fd00:1:0:1::/64"), From: []netip.Prefix{pfx("::/1")}}}
		}},
		{"VPC without its IPv6 block: nothing routed to it", func(n *netmap.Network) {
			v := *n.VPCs[0]
			v.IPv6CIDR = netip.Prefix{}
			n.VPCs = []*model.VPC{&v}
		}, func(r *host.Routing) { r.Public = r.Public[:3] }},
		{"a second IPv6 block of the VPC is public too", func(n *netmap.Network) {
			v := *n.VPCs[0]
			v.IPv6Secondary = []model.CIDRBlock{{CIDR: pfx("fd00:2::/56"), AssocID: "vpc-cidr-assoc-2"}}
			n.VPCs = []*model.VPC{&v}
		}, func(r *host.Routing) { r.Public = append(r.Public, pfx("fd00:2::/56")) }},
		{"NAT gateway deleted: its route a blackhole, its subnet untranslated", func(n *netmap.Network) {
			n.NATGateways = []*model.NATGateway{{ID: "nat-1", VpcID: "vpc-1", ConnectivityType: model.NATPublic, State: model.NATDeleted}}
			n.Addresses = n.Addresses[:1]
		}, func(r *host.Routing) {
			r.Public = append(r.Public[:2:2], r.Public[3])
			r.Internet.NAT = nil
			r.Tables[1].Routes[1] = hole("0.0.0.0/0")
		}},
		{"appliance terminated: its instance route a blackhole", func(n *netmap.Network) {
			in := *n.Instances[1]
			in.State = model.StateTerminated
			n.Instances = []*model.Instance{n.Instances[0], &in}
		}, func(r *host.Routing) { r.Tables[1].Routes[2] = hole("192.0.2.0/24") }},
		{"appliance stopped: its instance route a blackhole until it starts", func(n *netmap.Network) {
			in := *n.Instances[1]
			in.State = model.StateStopped
			n.Instances = []*model.Instance{n.Instances[0], &in}
		}, func(r *host.Routing) { r.Tables[1].Routes[2] = hole("192.0.2.0/24") }},
		{"source/destination check back on", func(n *netmap.Network) {
			app := n.ENIs[1].Clone()
			app.SourceDestCheck = true
			n.ENIs = []*model.NetworkInterface{n.ENIs[0], app, n.ENIs[2]}
		}, func(r *host.Routing) { r.Unchecked = nil }},
		{"subnet association removed: the subnet uses the main table", func(n *netmap.Network) {
			priv := n.RouteTables[1].Clone()
			priv.Assocs = nil
			n.RouteTables = []*model.RouteTable{n.RouteTables[0], priv}
		}, func(r *host.Routing) {
			r.Tables[0].Subnets = []netip.Prefix{pfx("10.0.1.0/24"), pfx("10.0.2.0/24"), pfx("fd00:1:0:1::/64")}
			r.Tables[1].Subnets = nil
			r.Internet.NAT[0].Subnets = nil
		}},
		{"prefix-list destination: one route per entry", func(n *netmap.Network) {
			n.PrefixLists = []*model.PrefixList{{ID: "pl-1", Entries: []model.PLEntry{{CIDR: pfx("192.0.2.0/25")}, {CIDR: pfx("192.0.2.128/25")}}}}
			m := n.RouteTables[0].Clone()
			m.Routes = append(m.Routes, model.Route{DestPrefixList: "pl-1", Target: model.RouteTarget{GatewayID: "igw-1"}})
			n.RouteTables = []*model.RouteTable{m, n.RouteTables[1]}
		}, func(r *host.Routing) {
			r.Tables[0].Routes = append(r.Tables[0].Routes, netlab.Route{Dst: pfx("192.0.2.0/25"), Target: netlab.TargetGateway},
				netlab.Route{Dst: pfx("192.0.2.128/25"), Target: netlab.TargetGateway})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := routedNet()
			tc.change(&n)
			want := full
			want.Tables = []netlab.RouteTable{mainTable, privTable}
			for i := range want.Tables {
				want.Tables[i].Routes = append([]netlab.Route(nil), want.Tables[i].Routes...)
			}
			want.Public = append([]netip.Prefix(nil), full.Public...)
			want.Internet.Open6 = open6
			want.Internet.NAT = []dataplane.NATGateway{{Public: addr("198.18.0.4"), Subnets: []netip.Prefix{pfx("10.0.2.0/24")}}}
			tc.want(&want)
			d := host.Plan(1, []netmap.Network{n}, names, &host.Cache{})
			opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, d.Routers["vpc-1"].Routing, opts); diff != "" {
				t.Errorf("routing (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRouteTableNumbers: a route table keeps its kernel table while it exists; a new one takes
// the lowest free number, never one another table of the router holds.
func TestRouteTableNumbers(t *testing.T) {
	names := netlab.Names{Prefix: "p"}
	var c host.Cache
	n := routedNet()
	numbers := func() map[string]int {
		d := host.Plan(1, []netmap.Network{n}, names, &c)
		out := map[string]int{}
		for _, tb := range d.Routers["vpc-1"].Routing.Tables {
			for _, sn := range tb.Subnets {
				out[sn.String()] = tb.Table
			}
		}
		return out
	}
	if diff := cmp.Diff(map[string]int{"10.0.1.0/24": 1000, "10.0.2.0/24": 1001, "fd00:1:0:1::/64": 1000}, numbers()); diff != "" {
		t.Errorf("first numbers (-want +got):\n%s", diff)
	}
	// rtb-main goes (in a real VPC another table would become main): rtb-priv keeps 1001, and
	// a new table associated with the public subnet takes the free 1000.
	third := &model.RouteTable{ID: "rtb-new", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{SubnetID: "subnet-pub"}}}
	n.RouteTables = []*model.RouteTable{n.RouteTables[1], third}
	if diff := cmp.Diff(map[string]int{"10.0.1.0/24": 1000, "10.0.2.0/24": 1001, "fd00:1:0:1::/64": 1000}, numbers()); diff != "" {
		t.Errorf("after a table went and another came (-want +got):\n%s", diff)
	}
	fourth := &model.RouteTable{ID: "rtb-4", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{SubnetID: "subnet-x"}}}
	n.RouteTables = append(n.RouteTables, fourth)
	n.Subnets = append(n.Subnets, &model.Subnet{ID: "subnet-x", VpcID: "vpc-1", CIDR: pfx("10.0.3.0/24")})
	if got := numbers()["10.0.3.0/24"]; got != 1002 {
		t.Errorf("a third table got %d, want 1002", got)
	}
}

// TestPlanRoutingCached: a cached plan's routing is the one a fresh plan computes, through
// changes of every kind of object it is made from.
func TestPlanRoutingCached(t *testing.T) {
	names := netlab.Names{Prefix: "p"}
	var c host.Cache
	n := routedNet()
	steps := []func(n *netmap.Network){
		func(*netmap.Network) {},
		func(n *netmap.Network) { n.IGWs = []*model.InternetGateway{{ID: "igw-1"}} },
		func(n *netmap.Network) { n.IGWs = []*model.InternetGateway{{ID: "igw-1", VpcID: "vpc-1"}} },
		func(n *netmap.Network) { n.Addresses = n.Addresses[1:] },
		func(n *netmap.Network) {
			web := n.ENIs[0].Clone()
			web.PublicIP = netip.Addr{}
			n.ENIs = []*model.NetworkInterface{web, n.ENIs[1], n.ENIs[2]}
		},
		func(n *netmap.Network) {
			g := n.NATGateways[0].Clone()
			g.State = model.NATDeleted
			n.NATGateways = []*model.NATGateway{g}
		},
		func(n *netmap.Network) {
			m := n.RouteTables[0].Clone()
			m.Routes = m.Routes[:1]
			n.RouteTables = []*model.RouteTable{m, n.RouteTables[1]}
		},
	}
	opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
	for i, step := range steps {
		step(&n)
		got := host.Plan(int64(i), []netmap.Network{n}, names, &c).Routers["vpc-1"]
		want := host.Plan(int64(i), []netmap.Network{n}, names, &host.Cache{}).Routers["vpc-1"]
		if diff := cmp.Diff(want.Routing, got.Routing, opts); diff != "" {
			t.Errorf("step %d: cached routing differs (-fresh +cached):\n%s", i, diff)
		}
		if got.Ruleset.Text() != want.Ruleset.Text() {
			t.Errorf("step %d: cached ruleset differs", i)
		}
	}
}

// gateway attaches igw-1 to vpc-1 with a main route table sending 0.0.0.0/0 to it, and gives
// eni-N the public address 198.18.0.N.
func (s *source) gateway(attached bool, public ...int) int64 {
	return s.commit(func(net *netmap.Network) {
		vpc := ""
		if attached {
			vpc = "vpc-1"
		}
		net.IGWs = []*model.InternetGateway{{ID: "igw-1", VpcID: vpc}}
		net.RouteTables = []*model.RouteTable{{ID: "rtb-main", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{Main: true}},
			Routes: []model.Route{{Dest: pfx("10.0.0.0/16"), Target: model.RouteTarget{Local: true}},
				{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}}}}}
		for i, e := range net.ENIs {
			c := e.Clone()
			c.PublicIP = netip.Addr{}
			for _, n := range public {
				if e.ID == "eni-"+string(rune('0'+n)) {
					c.PublicIP = netip.AddrFrom4([4]byte{198, 18, 0, byte(n)})
				}
			}
			net.ENIs[i] = c
		}
	})
}

// TestInternetLink: attaching the gateway links the router to the internet namespace, routes
// the instance's public address to it and sends the subnet's default route over it; an
// association changes the public addresses alone; detaching removes the link and turns the
// route into a blackhole; Close removes the internet namespace unless told to keep the lab.
func TestInternetLink(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newEnv(t, nil, nil)
		e.src.launch(1, "")
		e.src.launch(2, "")
		e.src.gateway(true, 1)
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
		peer := names.InternetPeer("vpc-1")
		inet := func(want ...string) {
			t.Helper()
			if diff := cmp.Diff(want, e.ns.Internet(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("internet (-want +got):\n%s", diff)
			}
		}
		inet("internet t-internet", "uplink t-vpc-1>"+peer+" public=198.18.0.1")
		routes := func(want netlab.Target) {
			t.Helper()
			tbs := e.ns.Routes("t-vpc-1")
			if len(tbs) != 1 || len(tbs[0].Routes) != 2 || tbs[0].Routes[1].Target != want {
				t.Errorf("route tables %+v, want the default route to %v", tbs, want)
			}
		}
		routes(netlab.TargetGateway)
		txs := len(e.k.Transactions("t-vpc-1"))
		e.src.gateway(true, 1, 2)
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
		inet("internet t-internet", "uplink t-vpc-1>"+peer+" public=198.18.0.1,198.18.0.2")
		if got := len(e.k.Transactions("t-vpc-1")); got != txs+1 {
			t.Errorf("an association made %d transactions, want 1", got-txs)
		}
		e.src.gateway(false, 1, 2)
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
		inet("internet t-internet")
		routes(netlab.TargetBlackhole)
		e.src.gateway(true, 1)
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
		inet("internet t-internet", "uplink t-vpc-1>"+peer+" public=198.18.0.1")
		if err := e.h.Close(context.Background(), keep); err != nil {
			t.Fatal(err)
		}
		if keep {
			inet("internet t-internet", "uplink t-vpc-1>"+peer+" public=198.18.0.1")
		} else {
			inet()
		}
	}
}

// TestInternetFailsClosed: a router whose internet link cannot be made gets neither routes
// nor forwarding; once the link can be made, everything follows.
func TestInternetFailsClosed(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.ns.Fail("internet", "t-vpc-1", nsfake.ErrFake)
	e.src.launch(1, "")
	e.src.gateway(true, 1)
	if err := e.reconcile(); err == nil {
		t.Fatal("reconcile succeeded without the internet link")
	}
	e.dump("router t-vpc-1 forwarding=off links=")
	if tbs := e.ns.Routes("t-vpc-1"); tbs != nil {
		t.Errorf("routes set without the link: %+v", tbs)
	}
	e.ns.Fail("internet", "t-vpc-1", nil)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24", "router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1")
}

// TestInternetSwept: a leftover internet namespace goes when no router needs it; an adopted
// router's leftover link goes when its gateway was detached while the server was down.
func TestInternetSwept(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.ns.Add("t-vpc-1", true)
	if _, err := e.ns.EnsureInternet(context.Background(), "t-vpc-1", names.UplinkOf("vpc-1")); err != nil {
		t.Fatal(err)
	}
	e.src.launch(1, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if got := e.ns.Internet(); len(got) != 0 {
		t.Errorf("left over: %q", got)
	}
}
