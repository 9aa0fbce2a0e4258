package host_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// TestPlanInternetAcrossHosts: routedNet with web (and the NAT gateway) placed on h1 and app
// on h2, the hosts sharing one internet namespace. Each host's router translates and
// publishes only what is on its host; h2 sends the private subnet's route to nat-1 over the
// overlay to the gateway's private address, peers with h1 for it, and admits the internet's
// replies from it; a host holding only the NAT gateway gets the VPC's router without any
// instance, and a host with neither gets none.
func TestPlanInternetAcrossHosts(t *testing.T) {
	n := routedNet()
	eq := cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})
	under := map[string]netip.Addr{"h1": addr("192.0.2.1"), "h2": addr("192.0.2.2"), "h3": addr("192.0.2.3")}
	plan := func(self string, of map[string]string) host.Desired {
		names := netlab.Names{Prefix: "p" + self}
		return host.PlanPlaced(1, []netmap.Network{n}, names, nil,
			host.Placement{Self: self, Namespace: self + "-host", Underlay: under, Of: of, Internet: "shared"})
	}
	of := map[string]string{"eni-web": "h1", "eni-nat": "h1", "eni-app": "h2"}
	natRoute := func(d host.Desired) netlab.Route {
		for _, tb := range d.Routers["vpc-1"].Routing.Tables {
			if len(tb.Subnets) > 0 && tb.Subnets[0] == pfx("10.0.2.0/24") {
				for _, r := range tb.Routes {
					if r.Dst == pfx("0.0.0.0/0") {
						return r
					}
				}
			}
		}
		t.Fatal("no route 0.0.0.0/0 in the private subnet's table")
		return netlab.Route{}
	}

	h1, h2 := plan("h1", of), plan("h2", of)
	for _, c := range []struct {
		host     string
		d        host.Desired
		public   map[netip.Addr]netip.Addr
		nat      []dataplane.NATGateway
		routes   []netip.Prefix
		natRoute netlab.Route
		replies  bool
		outside  []dataplane.SegmentPeer
	}{
		{"h1", h1, map[netip.Addr]netip.Addr{addr("198.18.0.2"): addr("10.0.1.10")},
			[]dataplane.NATGateway{{Public: addr("198.18.0.4"), Subnets: []netip.Prefix{pfx("10.0.2.0/24")}}},
			[]netip.Prefix{pfx("198.18.0.2/32"), pfx("198.18.0.4/32")},
			netlab.Route{Dst: pfx("0.0.0.0/0"), Target: netlab.TargetNAT}, false,
			[]dataplane.SegmentPeer{{Underlay: addr("192.0.2.2"), Addrs: []netip.Addr{addr("10.0.1.20")}}}},
		{"h2", h2, map[netip.Addr]netip.Addr{addr("198.18.0.3"): addr("10.0.1.20")}, nil,
			[]netip.Prefix{pfx("198.18.0.3/32")},
			netlab.Route{Dst: pfx("0.0.0.0/0"), Target: netlab.TargetInterface, Link: netlab.Names{Prefix: "ph2"}.Overlay("vpc-1"), Via: addr("10.0.1.99")}, true,
			[]dataplane.SegmentPeer{{Underlay: addr("192.0.2.1"), Addrs: []netip.Addr{addr("10.0.1.10"), addr("10.0.1.99")}, Outside: true}}},
	} {
		r, ok := c.d.Routers["vpc-1"]
		if !ok {
			t.Fatalf("%s: no router", c.host)
		}
		if r.Routing.Uplink == nil || r.Routing.Uplink.Internet != "shared" {
			t.Errorf("%s: uplink %+v, want one to the shared internet", c.host, r.Routing.Uplink)
		}
		if diff := cmp.Diff(c.public, r.Routing.Internet.Public, eq); diff != "" {
			t.Errorf("%s: translations (-want +got):\n%s", c.host, diff)
		}
		if diff := cmp.Diff(c.nat, r.Routing.Internet.NAT, eq); diff != "" {
			t.Errorf("%s: NAT gateways (-want +got):\n%s", c.host, diff)
		}
		if diff := cmp.Diff(c.routes, r.Routing.Public, eq); diff != "" {
			t.Errorf("%s: published (-want +got):\n%s", c.host, diff)
		}
		if diff := cmp.Diff(c.natRoute, natRoute(c.d), eq); diff != "" {
			t.Errorf("%s: the private subnet's default route (-want +got):\n%s", c.host, diff)
		}
		if len(c.d.Underlay) != 1 {
			t.Fatalf("%s: underlay segments %+v", c.host, c.d.Underlay)
		}
		if diff := cmp.Diff(c.outside, c.d.Underlay[0].Peers, eq); diff != "" {
			t.Errorf("%s: segment peers (-want +got):\n%s", c.host, diff)
		}
		fwd := r.Ruleset.Object("forward")
		var got bool
		for _, l := range fwd.Lines {
			got = got || l == `iifname "`+r.Overlay.Link+`" ip saddr != @internet_inside4 ct direction != reply drop`
		}
		if got != c.replies {
			t.Errorf("%s: admits replies from the overlay: %v, want %v", c.host, got, c.replies)
		}
	}

	// The NAT gateway alone on h3: h3 has the VPC's router (no instance), h1 routes to h3.
	moved := map[string]string{"eni-web": "h1", "eni-nat": "h3", "eni-app": "h2"}
	h3 := plan("h3", moved)
	if _, ok := h3.Routers["vpc-1"]; !ok || len(h3.Instances) != 0 {
		t.Errorf("h3 with only the NAT gateway: routers %v, instances %v", h3.Routers, h3.Instances)
	}
	if diff := cmp.Diff([]netip.Prefix{pfx("198.18.0.4/32")}, h3.Routers["vpc-1"].Routing.Public, eq); diff != "" {
		t.Errorf("h3 publishes (-want +got):\n%s", diff)
	}
	if got := natRoute(plan("h1", moved)); got.Target != netlab.TargetInterface || got.Via != addr("10.0.1.99") {
		t.Errorf("h1's route to the NAT gateway on h3: %+v", got)
	}
	if d := plan("h3", map[string]string{"eni-web": "h1", "eni-nat": "h1", "eni-app": "h2"}); len(d.Routers) != 0 {
		t.Errorf("h3 with nothing of the VPC has routers %v", d.Routers)
	}
}
