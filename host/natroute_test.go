package host_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
)

// TestNATLeg: a route to a NAT gateway carries only what the NAT gateway's own subnet sends
// to the internet gateway (policy/route.go, EC2); the rest of its addresses are blackholes.
func TestNATLeg(t *testing.T) {
	for _, c := range []struct {
		name  string
		main  []model.Route // rtb-main's routes besides local (subnet-pub, the NAT gateway's)
		want  []netlab.Route
		split bool // the rest of the route's addresses are blackholes of their own
	}{
		{"the NAT gateway's subnet routes everything to the internet gateway: the route as it is",
			[]model.Route{{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}}},
			[]netlab.Route{{Dst: pfx("0.0.0.0/0"), Target: netlab.TargetNAT}}, false},
		{"the NAT gateway's subnet routes back to the NAT gateway: a blackhole",
			[]model.Route{{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: "nat-1"}}},
			[]netlab.Route{{Dst: pfx("0.0.0.0/0"), Target: netlab.TargetBlackhole}}, false},
		{"the NAT gateway's subnet has no route: a blackhole", nil,
			[]netlab.Route{{Dst: pfx("0.0.0.0/0"), Target: netlab.TargetBlackhole}}, false},
		{"the NAT gateway's subnet routes one block to the internet gateway: that block only",
			[]model.Route{{Dest: pfx("203.0.113.0/24"), Target: model.RouteTarget{GatewayID: "igw-1"}}},
			// The blackholes cover the rest of the route's addresses (not the VPC's, not the
			// appliance route's 192.0.2.0/24): only the NAT routes are listed here.
			[]netlab.Route{{Dst: pfx("203.0.113.0/24"), Target: netlab.TargetNAT}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := routedNet()
			for i, rt := range n.RouteTables {
				if rt.ID == "rtb-main" {
					m := rt.Clone()
					m.Routes = append(m.Routes[:1:1], c.main...)
					n.RouteTables[i] = m
				}
			}
			rt := host.PlanRouting(n, "vpc-1", netlab.Names{Prefix: "p"})
			var got []netlab.Route
			var drops []netip.Prefix
			for _, tb := range rt.Tables {
				if len(tb.Subnets) == 1 && tb.Subnets[0] == pfx("10.0.2.0/24") {
					for _, r := range tb.Routes {
						switch {
						case r.Target == netlab.TargetNAT, r.Target == netlab.TargetBlackhole && (len(c.want) == 1 && c.want[0].Target == r.Target):
							got = append(got, r)
						case r.Target == netlab.TargetBlackhole:
							drops = append(drops, r.Dst)
						}
					}
				}
			}
			if d := cmp.Diff(c.want, got, cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); d != "" {
				t.Errorf("rtb-priv's routes to the NAT gateway (-want +got):\n%s", d)
			}
			covered := func(a netip.Addr) bool {
				for _, p := range drops {
					if p.Contains(a) {
						return true
					}
				}
				return false
			}
			if c.split != (len(drops) > 0) || c.split && (!covered(addr("198.51.100.1")) || covered(addr("203.0.113.1")) || covered(addr("10.0.2.1")) || covered(addr("192.0.2.1"))) {
				t.Errorf("blackholes %v: want 198.51.100.1 dropped and neither 203.0.113.1, 10.0.2.1 nor 192.0.2.1", drops)
			}
		})
	}
}
