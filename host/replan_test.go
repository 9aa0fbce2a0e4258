package host_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// replanNet is a network for TestPlanFromLastWalkMatchesFreshWithRoutes: ten instances, some
// with a second interface, an IPv6 subnet, an Elastic IP, and routes to the internet, to an
// interface (IPv4 and IPv6) and to an instance.
func replanNet(acct string, vpcN int) netmap.Network {
	p := netip.MustParsePrefix
	vpc := fmt.Sprintf("vpc-%d", vpcN)
	net := netmap.Network{Tenant: netmap.Tenant{Account: acct, Region: "eu-west-1"}}
	net.VPCs = []*model.VPC{{ID: vpc, CIDR: p(fmt.Sprintf("10.%d.0.0/16", vpcN))}}
	net.Subnets = []*model.Subnet{{ID: "subnet-" + acct, VpcID: vpc, CIDR: p(fmt.Sprintf("10.%d.1.0/24", vpcN)), IPv6CIDR: p(fmt.Sprintf("2600:%d::/64", vpcN))}}
	net.Groups = []*model.Group{{ID: "sg-1" + acct, VpcID: vpc}, {ID: "sg-2" + acct, VpcID: vpc}}
	net.IGWs = []*model.InternetGateway{{ID: "igw-" + acct, VpcID: vpc}}
	net.RouteTables = []*model.RouteTable{{ID: "rtb-" + acct, VpcID: vpc, Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-m", Main: true}},
		Routes: []model.Route{{Dest: p(fmt.Sprintf("10.%d.0.0/16", vpcN)), Target: model.RouteTarget{Local: true}},
			{Dest: p("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-" + acct}},
			{Dest: p("192.168.0.0/16"), Target: model.RouteTarget{NetworkInterfaceID: fmt.Sprintf("eni-%d-00", vpcN)}},
			{Dest: p("2001:db8::/32"), Target: model.RouteTarget{NetworkInterfaceID: fmt.Sprintf("eni-%d-03", vpcN)}},
			{Dest: p("172.16.0.0/16"), Target: model.RouteTarget{NetworkInterfaceID: fmt.Sprintf("eni-%d-06", vpcN), InstanceID: fmt.Sprintf("i-%d-06", vpcN)}},
		}}}
	for i := range 10 {
		id := fmt.Sprintf("%d-%02d", vpcN, i)
		ids := []string{"eni-" + id}
		net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni-" + id, VpcID: vpc, SubnetID: net.Subnets[0].ID, Groups: []string{"sg-1" + acct},
			SourceDestCheck: true, PrivateIP: netip.AddrFrom4([4]byte{10, byte(vpcN), 1, byte(10 + i)}), Attachment: &model.Attachment{InstanceID: "i-" + id}})
		if i%3 == 0 {
			ids = append(ids, "eni-x"+id)
			net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni-x" + id, VpcID: vpc, SubnetID: net.Subnets[0].ID, Groups: []string{"sg-2" + acct},
				SourceDestCheck: true, PrivateIP: netip.AddrFrom4([4]byte{10, byte(vpcN), 1, byte(100 + i)}), Attachment: &model.Attachment{InstanceID: "i-" + id, DeviceIndex: 1}})
		}
		net.Instances = append(net.Instances, &model.Instance{ID: "i-" + id, VpcID: vpc, State: model.StateRunning, InterfaceIDs: ids})
	}
	net.Addresses = []*model.Address{{AllocationID: "eipalloc-" + acct, PublicIP: netip.AddrFrom4([4]byte{198, 51, 100, byte(vpcN)})}}
	return net
}

// TestPlanFromLastWalkMatchesFreshWithRoutes is TestPlanFromLastWalkMatchesFresh over two
// networks with routes to interfaces and instances, IPv6 and an Elastic IP, and with several
// hosts on every other seed: a change is a membership change, an address (IPv6, public,
// secondary), the source/destination check, two interfaces at once, the Elastic IP moved,
// an instance stopped or started, a secondary interface detached, a route changed, or a
// network gone for a step. The plan from the last walk must be the fresh plan each time.
func TestPlanFromLastWalkMatchesFreshWithRoutes(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 99))
		nets := []netmap.Network{replanNet("111", 1), replanNet("222", 2)}
		eni := func(n *netmap.Network, k int, change func(e *model.NetworkInterface)) {
			n.ENIs = slices.Clone(n.ENIs)
			e := n.ENIs[k].Clone()
			change(e)
			n.ENIs[k] = e
		}
		rnd := func(n *netmap.Network) int { return rng.IntN(len(n.ENIs)) }
		changes := []func(n *netmap.Network){
			func(n *netmap.Network) {},
			func(n *netmap.Network) {
				eni(n, rnd(n), func(e *model.NetworkInterface) {
					e.Groups = []string{e.Groups[0][:4] + []string{"1", "2"}[rng.IntN(2)] + n.Tenant.Account}
				})
			},
			func(n *netmap.Network) {
				eni(n, rnd(n), func(e *model.NetworkInterface) {
					e.IPv6 = append(slices.Clone(e.IPv6), netip.MustParseAddr(fmt.Sprintf("2600:%s::%x", e.VpcID[4:], rng.IntN(1000)+1)))
				})
			},
			func(n *netmap.Network) {
				eni(n, rnd(n), func(e *model.NetworkInterface) {
					e.PublicIP = netip.AddrFrom4([4]byte{198, 18, 0, byte(rng.IntN(250))})
				})
			},
			func(n *netmap.Network) {
				eni(n, rnd(n), func(e *model.NetworkInterface) { e.SourceDestCheck = !e.SourceDestCheck })
			},
			func(n *netmap.Network) { // two ENIs at once
				eni(n, rnd(n), func(e *model.NetworkInterface) {
					e.SecondaryIPs = append(e.SecondaryIPs, netip.AddrFrom4([4]byte{10, 9, 9, byte(rng.IntN(250))}))
				})
				eni(n, rnd(n), func(e *model.NetworkInterface) { e.MAC = fmt.Sprint(rng.IntN(1000)) })
			},
			func(n *netmap.Network) { // EIP association flip
				n.Addresses = slices.Clone(n.Addresses)
				a := n.Addresses[0].Clone()
				if a.Associated() {
					a.AssociationID, a.ENIID, a.PrivateIP = "", "", netip.Addr{}
				} else {
					e := n.ENIs[rnd(n)]
					a.AssociationID, a.ENIID, a.PrivateIP = "eipassoc-1", e.ID, e.PrivateIP
				}
				n.Addresses[0] = a
			},
			func(n *netmap.Network) { // instance stop/start
				n.Instances = slices.Clone(n.Instances)
				k := rng.IntN(len(n.Instances))
				in := *n.Instances[k]
				in.State = map[model.InstanceState]model.InstanceState{model.StateRunning: model.StateStopped, model.StateStopped: model.StateRunning}[in.State]
				n.Instances[k] = &in
			},
			func(n *netmap.Network) { // a secondary ENI's attachment dropped/restored without the instance changing
				eni(n, rnd(n), func(e *model.NetworkInterface) {
					if e.Attachment != nil && e.Attachment.DeviceIndex > 0 {
						e.Attachment = nil
					} else if e.Attachment == nil {
						e.Attachment = &model.Attachment{DeviceIndex: 1}
					}
				})
			},
			func(n *netmap.Network) { // route table changed
				n.RouteTables = slices.Clone(n.RouteTables)
				rt := *n.RouteTables[0]
				rt.Routes = slices.Clone(rt.Routes)
				rt.Routes[1].Dest = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(rng.IntN(200)), 0, 0, 0}), 8)
				n.RouteTables[0] = &rt
			},
		}
		names := netlab.Names{Prefix: "p"}
		var c host.Cache
		opts := cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.IgnoreFields(host.Router{}, "Ruleset"),
			cmpopts.IgnoreFields(netlab.RouteTable{}, "Table")}
		for step := range 200 {
			k := rng.IntN(len(changes))
			which := rng.IntN(len(nets))
			changes[k](&nets[which])
			cur := slices.Clone(nets)
			if rng.IntN(20) == 0 {
				cur = cur[:1] // a network goes for a step
			}
			var place host.Placement
			if seed%2 == 1 {
				place = host.Placement{Self: "h1", Namespace: "u", Underlay: map[string]netip.Addr{"h1": netip.MustParseAddr("192.0.2.1"), "h2": netip.MustParseAddr("192.0.2.2")},
					Of: map[string]string{"eni-1-01": "h2", "eni-2-04": []string{"h1", "h2"}[rng.IntN(2)]}}
			}
			got := host.PlanPlaced(int64(step), cur, names, &c, place)
			want := host.PlanPlaced(int64(step), cur, names, nil, place)
			if diff := cmp.Diff(want.Underlay, got.Underlay, opts); diff != "" {
				t.Fatalf("underlay: %s", diff)
			}
			if diff := cmp.Diff(want.Instances, got.Instances, opts); diff != "" {
				t.Fatalf("seed %d step %d (change %d): instances differ (-fresh +cached):\n%s", seed, step, k, diff)
			}
			if diff := cmp.Diff(want.Routers, got.Routers, opts); diff != "" {
				t.Fatalf("seed %d step %d (change %d): routers differ (-fresh +cached):\n%s", seed, step, k, diff)
			}
			for vpc, r := range want.Routers {
				if r.Ruleset.Text() != got.Routers[vpc].Ruleset.Text() {
					t.Fatalf("seed %d step %d (change %d): %s's ruleset differs", seed, step, k, vpc)
				}
			}
			if diff := cmp.Diff(want.Stopped, got.Stopped); diff != "" {
				t.Fatalf("seed %d step %d (change %d): stopped differ:\n%s", seed, step, k, diff)
			}
		}
		t.Logf("seed %d: %d replans", seed, host.Replans(&c))
	}
}
