package host_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// TestKernelInternetAcrossHosts: three host reconcilers on a testbed whose hosts share one
// internet namespace, and a VPC with an internet gateway and a NAT gateway spread over them
// (docs/cross-host.md, "Internet and NAT gateways").
//
//   - h1: i-4 (public subnet, 198.18.0.4, sg-web) and the NAT gateway nat-1 (198.18.0.99);
//   - h2: i-5 (public, 198.18.0.5, sg-web) and i-7 (private subnet, routed to nat-1, sg-priv);
//   - h3: i-6 (public, 198.18.0.6, sg-priv) and i-8 (private, sg-priv).
//
// The internet reaches i-4 and i-5 at their public addresses (sg-web admits TCP 8080 from
// anywhere) and they reach it as those addresses, each translated by its own host's router;
// i-7 and i-8 reach it as the NAT gateway's address through h1's router, and the replies come
// back. Refused: the internet to i-6 (sg-priv admits nothing); i-8 to the internet once sg-priv
// allows no egress; i-7 once the private route table's route to nat-1 is gone.
func TestKernelInternetAcrossHosts(t *testing.T) {
	ctx := context.Background()
	tb := testbed(t, "z", 3)
	all := []model.Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}
	src := newSource()
	src.commit(func(n *netmap.Network) {
		vpc := n.VPCs[0]
		n.Groups = []*model.Group{
			{ID: "sg-web", VpcID: "vpc-1", Egress: all,
				Ingress: []model.Rule{{Protocol: "tcp", FromPort: 8080, ToPort: 8080, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}},
			{ID: "sg-priv", VpcID: "vpc-1", Egress: all},
		}
		n.Subnets = append(n.Subnets, &model.Subnet{ID: "subnet-2", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.2.0/24")})
		n.IGWs = []*model.InternetGateway{{ID: "igw-1", VpcID: vpc.ID}}
		n.RouteTables = []*model.RouteTable{
			{ID: "rtb-main", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-m", Main: true}},
				Routes: []model.Route{{Dest: vpc.CIDR, Target: model.RouteTarget{Local: true}},
					{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}}}},
			{ID: "rtb-priv", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-p", SubnetID: "subnet-2"}},
				Routes: []model.Route{{Dest: vpc.CIDR, Target: model.RouteTarget{Local: true}},
					{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: "nat-1"}}}},
		}
		n.ENIs = append(n.ENIs, &model.NetworkInterface{ID: "eni-nat", VpcID: "vpc-1", SubnetID: "subnet-1",
			PrivateIP: netip.MustParseAddr("10.0.1.99"), RequesterManaged: true, InterfaceType: "nat_gateway"})
		n.Addresses = []*model.Address{{AllocationID: "eipalloc-nat", PublicIP: netip.MustParseAddr("198.18.0.99"),
			AssociationID: "eipassoc-nat", ENIID: "eni-nat", PrivateIP: netip.MustParseAddr("10.0.1.99")}}
		n.NATGateways = []*model.NATGateway{{ID: "nat-1", VpcID: "vpc-1", SubnetID: "subnet-1", ConnectivityType: model.NATPublic,
			State: model.NATAvailable, ENIID: "eni-nat", PrivateIP: netip.MustParseAddr("10.0.1.99"), AllocationID: "eipalloc-nat",
			PublicIP: netip.MustParseAddr("198.18.0.99")}}
		for _, x := range []struct {
			n      byte
			subnet string
			group  string
			public bool
		}{{4, "subnet-1", "sg-web", true}, {5, "subnet-1", "sg-web", true}, {6, "subnet-1", "sg-priv", true},
			{7, "subnet-2", "sg-priv", false}, {8, "subnet-2", "sg-priv", false}} {
			id := "-" + string(rune('0'+x.n))
			third := byte(1)
			if x.subnet == "subnet-2" {
				third = 2
			}
			e := &model.NetworkInterface{ID: "eni" + id, VpcID: "vpc-1", SubnetID: x.subnet, Groups: []string{x.group}, SourceDestCheck: true,
				PrivateIP: netip.AddrFrom4([4]byte{10, 0, third, x.n}), Attachment: &model.Attachment{InstanceID: "i" + id}}
			if x.public {
				e.PublicIP = netip.AddrFrom4([4]byte{198, 18, 0, x.n})
			}
			n.ENIs = append(n.ENIs, e)
			n.Instances = append(n.Instances, &model.Instance{ID: "i" + id, VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{"eni" + id}})
		}
	})
	of := map[string]string{"eni-4": "h1", "eni-nat": "h1", "eni-5": "h2", "eni-7": "h2", "eni-6": "h3", "eni-8": "h3"}
	on := map[string]string{"i-4": "h1", "i-5": "h2", "i-7": "h2", "i-6": "h3", "i-8": "h3"}
	hosts := map[string]*host.Host{}
	for _, sh := range tb.Hosts {
		h, err := host.New(src, host.Config{Kernel: dataplane.NFT{NSDir: netlab.Dir}, Namespaces: netlab.Host{}, Names: sh.Names,
			Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
			Placement: func([]netmap.Network) host.Placement {
				return host.Placement{Self: sh.Name, Namespace: sh.Namespace, Underlay: tb.Underlays(), Of: of, Internet: tb.Internet()}
			}})
		if err != nil {
			t.Fatal(err)
		}
		hosts[sh.Name] = h
		t.Cleanup(func() { _ = h.Close(context.Background(), false) })
	}
	reconcile := func() {
		t.Helper()
		for _, sh := range tb.Hosts {
			if err := hosts[sh.Name].Reconcile(ctx); err != nil {
				t.Fatalf("%s: %v", sh.Name, err)
			}
		}
	}
	reconcile()
	for name, want := range map[string][]string{"h1": {"i-4"}, "h2": {"i-5", "i-7"}, "h3": {"i-6", "i-8"}} {
		var got []string
		for _, in := range hosts[name].Instances() {
			got = append(got, in.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s runs %v, want %v", name, got, want)
		}
	}
	inst := func(id string) string { return tb.Host(on[id]).Names.Instance(id) }
	for _, id := range []string{"i-4", "i-5", "i-6"} {
		srv, err := netlab.Serve(inst(id), 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	who := netip.AddrPortFrom(netlab.InternetHost, 9000)
	ws, err := netlab.ServeWho(tb.Internet(), who)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// The internet opens connections to public addresses, each routed to its own host.
	for _, c := range []struct {
		to   string
		pass bool
	}{{"198.18.0.4", true}, {"198.18.0.5", true}, {"198.18.0.6", false}} {
		err := netlab.TCP(tb.Internet(), netip.AddrPortFrom(netip.MustParseAddr(c.to), 8080), netlab.Timeout(c.pass))
		if (err == nil) != c.pass {
			t.Errorf("internet → %s tcp/8080: err=%v, want pass=%v", c.to, err, c.pass)
		}
	}
	// Instances reach the internet as their public addresses, or as the NAT gateway's.
	outbound := func(id string, want netip.Addr) {
		t.Helper()
		pass := want.IsValid()
		got, err := netlab.SeenAs(inst(id), who, netlab.Timeout(pass))
		if (err == nil) != pass || got != want {
			t.Errorf("%s (%s) → internet: seen as %v (err=%v), want %v", id, on[id], got, err, want)
		}
	}
	outbound("i-4", netip.MustParseAddr("198.18.0.4"))
	outbound("i-5", netip.MustParseAddr("198.18.0.5"))
	outbound("i-7", netip.MustParseAddr("198.18.0.99"))
	outbound("i-8", netip.MustParseAddr("198.18.0.99"))

	privEgress := func(rules []model.Rule) {
		src.commit(func(n *netmap.Network) {
			g := *n.Groups[1]
			g.Egress = rules
			n.Groups = []*model.Group{n.Groups[0], &g}
		})
		reconcile()
	}
	// sg-priv allows no egress: i-8 (and i-7) no longer get out; i-4 still does.
	privEgress(nil)
	outbound("i-8", netip.Addr{})
	outbound("i-4", netip.MustParseAddr("198.18.0.4"))
	// Egress back: through the NAT gateway again.
	privEgress(all)
	outbound("i-8", netip.MustParseAddr("198.18.0.99"))

	// The NAT route gone: the private subnet has no way out.
	src.commit(func(n *netmap.Network) {
		rt := *n.RouteTables[1]
		rt.Routes = rt.Routes[:1]
		n.RouteTables = []*model.RouteTable{n.RouteTables[0], &rt}
	})
	reconcile()
	outbound("i-7", netip.Addr{})
	outbound("i-8", netip.Addr{})
}
