package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/model"
)

// internetWorld is a VPC with an attached internet gateway and four subnets: public (0.0.0.0/0
// and ::/0 to the gateway, the main table), private (0.0.0.0/0 to a NAT gateway in the public
// subnet), isolated (its own table, local routes only) and broken (0.0.0.0/0 to a gateway that
// is gone: a blackhole). Every group lets everything in and out, so routing alone decides.
type internetWorld struct {
	*world
	web, noPublic, eip, private, isolated, broken *model.NetworkInterface
	main, privTable                               *model.RouteTable
	nat                                           *model.NATGateway
}

func newInternetWorld() *internetWorld {
	w := &internetWorld{world: newWorld()}
	open := w.group("open", tcp(0, 65535, cidr("0.0.0.0/0")), tcp(0, 65535, cidr("::/0")), allOut(cidr("0.0.0.0/0")), allOut(cidr("::/0")))
	pub, priv := w.subnet("10.0.1.0/24", nil), w.subnet("10.0.2.0/24", nil)
	iso, broken := w.subnet("10.0.3.0/24", nil), w.subnet("10.0.4.0/24", nil)
	w.s.IGWs = []*model.InternetGateway{{ID: "igw-00000001", VpcID: w.vpc.ID}}
	local := []model.Route{{Dest: w.vpc.CIDR, Target: model.RouteTarget{Local: true}}, {Dest: w.vpc.IPv6CIDR, Target: model.RouteTarget{Local: true}}}
	table := func(id string, assoc model.RouteTableAssoc, extra ...model.Route) *model.RouteTable {
		t := &model.RouteTable{ID: id, VpcID: w.vpc.ID, Routes: append(append([]model.Route{}, local...), extra...), Assocs: []model.RouteTableAssoc{assoc}}
		w.s.RouteTables = append(w.s.RouteTables, t)
		return t
	}
	w.main = table("rtb-00000001", model.RouteTableAssoc{ID: "rtbassoc-1", Main: true},
		model.Route{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-00000001"}},
		model.Route{Dest: netip.MustParsePrefix("::/0"), Target: model.RouteTarget{GatewayID: "igw-00000001"}})
	w.nat = &model.NATGateway{ID: "nat-00000001", VpcID: w.vpc.ID, SubnetID: pub.ID, ConnectivityType: model.NATPublic,
		State: model.NATAvailable, PublicIP: netip.MustParseAddr("192.0.2.200"), PrivateIP: netip.MustParseAddr("10.0.1.200")}
	w.s.NATGateways = []*model.NATGateway{w.nat}
	w.privTable = table("rtb-00000002", model.RouteTableAssoc{ID: "rtbassoc-2", SubnetID: priv.ID},
		model.Route{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: w.nat.ID}})
	table("rtb-00000003", model.RouteTableAssoc{ID: "rtbassoc-3", SubnetID: iso.ID})
	table("rtb-00000004", model.RouteTableAssoc{ID: "rtbassoc-4", SubnetID: broken.ID},
		model.Route{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-0000dead"}})
	w.web = w.eni(pub, "10.0.1.4", open)
	w.web.PublicIP = netip.MustParseAddr("192.0.2.4")
	w.web.IPv6 = []netip.Addr{netip.MustParseAddr("fd00:1::4")}
	w.noPublic = w.eni(pub, "10.0.1.5", open)
	w.eip = w.eni(pub, "10.0.1.6", open)
	w.s.Addresses = []*model.Address{{AllocationID: "eipalloc-1", PublicIP: netip.MustParseAddr("192.0.2.6"), AssociationID: "eipassoc-1", ENIID: w.eip.ID, PrivateIP: w.eip.PrivateIP}}
	w.private = w.eni(priv, "10.0.2.4", open)
	w.isolated = w.eni(iso, "10.0.3.4", open)
	w.isolated.PublicIP = netip.MustParseAddr("192.0.2.34")
	w.broken = w.eni(broken, "10.0.4.4", open)
	w.broken.PublicIP = netip.MustParseAddr("192.0.2.44")
	return w
}

// TestInternetRouting: the internet reaches an interface only with a public address, an
// attached gateway and a route back; it leaves through the gateway with a public address or
// through an available NAT gateway; a subnet without a route and a blackhole route get nothing.
func TestInternetRouting(t *testing.T) {
	const peer = "198.51.100.7"
	type tc struct {
		name    string
		mutate  func(w *internetWorld)
		eni     func(w *internetWorld) *model.NetworkInterface
		inbound bool
		remote  string
		want    Routing // Code, Target, NATGateway, PublicIP checked
	}
	for _, tt := range []tc{
		{"public in", nil, func(w *internetWorld) *model.NetworkInterface { return w.web }, true, peer,
			Routing{Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"public out", nil, func(w *internetWorld) *model.NetworkInterface { return w.web }, false, peer,
			Routing{Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"IPv6 needs no public IPv4", nil, func(w *internetWorld) *model.NetworkInterface { return w.noPublic }, true, "2001:db8::7",
			Routing{Target: "igw-00000001"}},
		{"Elastic IP in", nil, func(w *internetWorld) *model.NetworkInterface { return w.eip }, true, peer,
			Routing{Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.6")}},
		{"no public address in", nil, func(w *internetWorld) *model.NetworkInterface { return w.noPublic }, true, peer,
			Routing{Code: CodeNoPublicIPIngress, Target: "igw-00000001"}},
		{"no public address out", nil, func(w *internetWorld) *model.NetworkInterface { return w.noPublic }, false, peer,
			Routing{Code: CodeNoPublicIPEgress, Target: "igw-00000001"}},
		{"NAT out shows its address", nil, func(w *internetWorld) *model.NetworkInterface { return w.private }, false, peer,
			Routing{Target: "nat-00000001", NATGateway: "nat-00000001", PublicIP: netip.MustParseAddr("192.0.2.200")}},
		{"nothing in through NAT", nil, func(w *internetWorld) *model.NetworkInterface { return w.private }, true, peer,
			Routing{Code: CodeNoPublicIPIngress, Target: "nat-00000001"}},
		{"NAT pending is a blackhole", func(w *internetWorld) { w.nat.State = model.NATPending },
			func(w *internetWorld) *model.NetworkInterface { return w.private }, false, peer,
			Routing{Code: CodeBadRoute, Target: "nat-00000001"}},
		{"NAT subnet without a route out", func(w *internetWorld) { w.main.Routes = w.main.Routes[:2] },
			func(w *internetWorld) *model.NetworkInterface { return w.private }, false, peer,
			Routing{Code: CodeNoRoute, Target: "nat-00000001", NATGateway: "nat-00000001", PublicIP: netip.MustParseAddr("192.0.2.200")}},
		{"subnet without a route", nil, func(w *internetWorld) *model.NetworkInterface { return w.isolated }, true, peer,
			Routing{Code: CodeNoRoute, PublicIP: netip.MustParseAddr("192.0.2.34")}},
		{"blackhole route", nil, func(w *internetWorld) *model.NetworkInterface { return w.broken }, false, peer,
			Routing{Code: CodeBadRoute, Target: "igw-0000dead", PublicIP: netip.MustParseAddr("192.0.2.44")}},
		{"detached gateway", func(w *internetWorld) { w.s.IGWs[0].VpcID = "" },
			func(w *internetWorld) *model.NetworkInterface { return w.web }, true, peer,
			Routing{Code: CodeBadRoute, Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"longest prefix: a more specific route to the NAT gateway", func(w *internetWorld) {
			w.main.Routes = append(w.main.Routes, model.Route{Dest: netip.MustParsePrefix("198.51.100.0/24"), Target: model.RouteTarget{NatGatewayID: "nat-00000001"}})
		}, func(w *internetWorld) *model.NetworkInterface { return w.web }, true, peer,
			Routing{Code: CodeNoRoute, Target: "nat-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"longest prefix: the gateway route beyond it", func(w *internetWorld) {
			w.main.Routes = append(w.main.Routes, model.Route{Dest: netip.MustParsePrefix("198.51.100.0/24"), Target: model.RouteTarget{NatGatewayID: "nat-00000001"}})
		}, func(w *internetWorld) *model.NetworkInterface { return w.web }, true, "203.0.113.1",
			Routing{Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"a VPC address stays local", nil, func(w *internetWorld) *model.NetworkInterface { return w.web }, false, "10.0.9.9",
			Routing{Code: CodeNoRoute, Target: "local", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"egress-only gateway: out only", func(w *internetWorld) {
			w.s.EgressIGWs = []*model.EgressOnlyIGW{{ID: "eigw-00000001", VpcID: w.vpc.ID}}
			w.privTable.Routes = append(w.privTable.Routes, model.Route{Dest: netip.MustParsePrefix("::/0"), Target: model.RouteTarget{EgressOnlyIGWID: "eigw-00000001"}})
		}, func(w *internetWorld) *model.NetworkInterface { return w.private }, false, "2001:db8::7",
			Routing{Target: "eigw-00000001"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newInternetWorld()
			if tt.mutate != nil {
				tt.mutate(w)
			}
			p := mustCompile(t, w.s)
			n := tt.eni(w)
			remote := netip.MustParseAddr(tt.remote)
			got, known := p.Internet(n.ID, remote, tt.inbound)
			if !known {
				t.Fatal("routing unknown")
			}
			trim := Routing{Code: got.Code, Target: got.Target, NATGateway: got.NATGateway, PublicIP: got.PublicIP}
			if diff := cmp.Diff(tt.want, trim, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("routing (-want +got):\n%s", diff)
			}
			local := n.PrivateIP
			if remote.Is6() {
				local = netip.MustParseAddr("fd00:1::99")
			}
			src, dst, f := Outside, Endpoint{ENI: n.ID}, tcpFlow(tt.remote, local.String(), 443)
			if !tt.inbound {
				src, dst, f = dst, src, tcpFlow(local.String(), tt.remote, 443)
			}
			want := Admitted
			if tt.want.Code != "" {
				want = NoRoute
			}
			if v := p.Verdict(src, dst, f); v != want || oracle(w.s, src, dst, f) != want {
				t.Errorf("Verdict %v, oracle %v, want %v", v, oracle(w.s, src, dst, f), want)
			}
			if ex := p.Explain(src, dst, f); ex.Decision != want || ex.Routing == nil || ex.Routing.Code != tt.want.Code {
				t.Errorf("Explain %v %+v, want %v %s", ex.Decision, ex.Routing, want, tt.want.Code)
			}
		})
	}
}

// TestExposureFollowsRouting: "what is exposed?" lists only interfaces the internet reaches
// through the gateway, with the public address; an interface without a public address keeps
// its IPv6 exposure only.
func TestExposureFollowsRouting(t *testing.T) {
	w := newInternetWorld()
	p := mustCompile(t, w.s)
	exp, err := p.Exposure()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range exp {
		var s string
		for _, g := range e.Grants {
			s += fmt.Sprintf("%s %s v4=%v v6=%v;", g.ProtocolName(), g.Ports(),
				g.Addrs.Contains(netip.MustParseAddr("198.51.100.7")), g.Addrs.Contains(netip.MustParseAddr("2001:db8::7")))
		}
		got[e.ENI] = e.PublicIP.String() + " " + e.Gateway + " " + s
	}
	want := map[string]string{
		w.web.ID:      "192.0.2.4 igw-00000001 tcp all v4=true v6=true;",
		w.eip.ID:      "192.0.2.6 igw-00000001 tcp all v4=true v6=true;",
		w.noPublic.ID: "invalid IP igw-00000001 tcp all v4=false v6=true;",
		w.private.ID:  "invalid IP igw-00000001 ",
		w.isolated.ID: "192.0.2.34 igw-00000001 ",
		w.broken.ID:   "192.0.2.44 igw-00000001 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exposure (-want +got):\n%s", diff)
	}
}
