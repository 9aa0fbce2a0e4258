package reach

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// withInternet gives the lab VPC routing: the web subnet uses the main table (0.0.0.0/0 and
// ::/0 to the attached internet gateway) and web has a public address; the db subnet's table
// sends 0.0.0.0/0 to a NAT gateway in the web subnet, and 10.0.1.0/28 through an appliance
// interface. The second VPC has a main table with local routes only.
func withInternet(l *lab) *lab {
	l.s.IGWs = []*model.InternetGateway{{ID: "igw-0000000a", VpcID: "vpc-00000001"}}
	l.web.PublicIP = netip.MustParseAddr("192.0.2.10")
	l.s.NATGateways = []*model.NATGateway{{ID: "nat-0000000a", VpcID: "vpc-00000001", SubnetID: l.webSubnet.ID, ConnectivityType: model.NATPublic,
		State: model.NATAvailable, PublicIP: netip.MustParseAddr("192.0.2.200"), PrivateIP: netip.MustParseAddr("10.0.1.200")}}
	appliance := &model.NetworkInterface{ID: "eni-000000ff", VpcID: "vpc-00000001", SubnetID: l.webSubnet.ID, PrivateIP: netip.MustParseAddr("10.0.1.250")}
	l.s.ENIs = append(l.s.ENIs, appliance)
	local := model.Route{Dest: pfx("10.0.0.0/16"), Target: model.RouteTarget{Local: true}}
	l.s.RouteTables = []*model.RouteTable{
		{ID: "rtb-0000000a", VpcID: "vpc-00000001", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-a", Main: true}}, Routes: []model.Route{local,
			{Dest: pfx("2001:db8:1::/56"), Target: model.RouteTarget{Local: true}},
			{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-0000000a"}},
			{Dest: pfx("::/0"), Target: model.RouteTarget{GatewayID: "igw-0000000a"}}}},
		{ID: "rtb-0000000b", VpcID: "vpc-00000001", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-b", SubnetID: l.dbSubnet.ID}}, Routes: []model.Route{local,
			{Dest: pfx("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: "nat-0000000a"}},
			{Dest: pfx("10.0.1.0/28"), Target: model.RouteTarget{NetworkInterfaceID: appliance.ID}}}},
		{ID: "rtb-0000000c", VpcID: "vpc-00000002", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-c", Main: true}}, Routes: []model.Route{local}},
	}
	// db's group and ACL let it out, so that routing alone decides its internet paths.
	l.dbG.Egress = l.webG.Egress
	l.dbACL.Entries = append(l.dbACL.Entries, model.NACLEntry{RuleNumber: 200, Egress: true, Protocol: "-1", Allow: true, CIDR: pfx("0.0.0.0/0")},
		model.NACLEntry{RuleNumber: 200, Protocol: "6", HasPorts: true, FromPort: 1024, ToPort: 65535, Allow: true, CIDR: pfx("0.0.0.0/0")})
	return l
}

func TestPathRouting(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(l *lab)
		q        Question
		blockers []string
		fix      []string
		via      string // the public address the internet sees
	}{
		{"internet to public web", nil, Question{From: "198.51.100.7", To: "eni-0000000a", Protocol: "tcp", Port: 443}, nil, nil, "192.0.2.10"},
		{"db out through the NAT gateway", nil, Question{From: "eni-0000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443}, nil, nil, "192.0.2.200"},
		{"nothing in to db through the NAT gateway", nil, Question{From: "198.51.100.7", To: "eni-0000000b", Protocol: "tcp", Port: 5432},
			[]string{"IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS/", "ENI_SG_RULES_MISMATCH/ingress"}, nil, ""},
		{"no public address", func(l *lab) { l.web.PublicIP = netip.Addr{} }, Question{From: "198.51.100.7", To: "eni-0000000a", Protocol: "tcp", Port: 443},
			[]string{"IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS/"},
			[]string{"aws ec2 allocate-address --domain vpc", "aws ec2 associate-address --allocation-id <eipalloc-id> --network-interface-id eni-0000000a"}, ""},
		{"no route", func(l *lab) { l.s.RouteTables[0].Routes = l.s.RouteTables[0].Routes[:2] },
			Question{From: "eni-0000000a", To: "198.51.100.7", Protocol: "tcp", Port: 443},
			[]string{"NO_ROUTE_TO_DESTINATION/"},
			[]string{"aws ec2 create-route --route-table-id rtb-0000000a --destination-cidr-block 0.0.0.0/0 --gateway-id igw-0000000a"}, ""},
		{"no gateway", func(l *lab) { l.s.IGWs = nil; l.s.RouteTables[0].Routes = l.s.RouteTables[0].Routes[:2] },
			Question{From: "198.51.100.7", To: "eni-0000000a", Protocol: "tcp", Port: 443},
			[]string{"NO_ROUTE_TO_DESTINATION/"},
			[]string{"aws ec2 create-internet-gateway", "aws ec2 attach-internet-gateway --internet-gateway-id <igw-id> --vpc-id vpc-00000001",
				"aws ec2 create-route --route-table-id rtb-0000000a --destination-cidr-block 0.0.0.0/0 --gateway-id <igw-id>"}, ""},
		{"detached gateway: blackhole", func(l *lab) { l.s.IGWs[0].VpcID = "" },
			Question{From: "198.51.100.7", To: "eni-0000000a", Protocol: "tcp", Port: 443},
			[]string{"BAD_STATE_ROUTE/"},
			[]string{"aws ec2 attach-internet-gateway --internet-gateway-id igw-0000000a --vpc-id vpc-00000001"}, ""},
		{"NAT gateway's subnet without a route out", func(l *lab) { l.s.RouteTables[0].Routes = slices.Delete(l.s.RouteTables[0].Routes, 2, 3) },
			Question{From: "eni-0000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443},
			[]string{"NO_ROUTE_TO_DESTINATION/"},
			[]string{"aws ec2 create-route --route-table-id rtb-0000000a --destination-cidr-block 0.0.0.0/0 --gateway-id igw-0000000a"}, ""},
		{"NAT gateway deleted: blackhole", func(l *lab) { l.s.NATGateways[0].State = model.NATDeleted },
			Question{From: "eni-0000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443},
			[]string{"BAD_STATE_ROUTE/"}, []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := withInternet(newLab())
			if tt.mutate != nil {
				tt.mutate(l)
			}
			ans, err := l.analyser(t).Path(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(ans.Blockers); !slices.Equal(got, tt.blockers) {
				t.Errorf("blockers %q, want %q", got, tt.blockers)
			}
			if ans.Reachable != (len(tt.blockers) == 0) {
				t.Errorf("reachable %v with blockers %q", ans.Reachable, codes(ans.Blockers))
			}
			if tt.fix != nil && !slices.Equal(ans.Fix, tt.fix) && !(len(tt.fix) == 0 && len(ans.Fix) == 0) {
				t.Errorf("fix\n got %q\nwant %q", ans.Fix, tt.fix)
			}
			if tt.via != "" && (ans.Forward.Routing == nil || ans.Forward.Routing.PublicIP.String() != tt.via) {
				t.Errorf("routing %+v, want the internet to see %s", ans.Forward.Routing, tt.via)
			}
		})
	}
}

// TestRoutingGolden renders answers and the exposure of the routed lab as people read them.
func TestRoutingGolden(t *testing.T) {
	l := withInternet(newLab())
	a := l.analyser(t)
	var b bytes.Buffer
	for _, q := range []Question{
		{From: "198.51.100.7", To: "eni-0000000a", Protocol: "tcp", Port: 443},
		{From: "eni-0000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443},
		{From: "198.51.100.7", To: "eni-0000000b", Protocol: "tcp", Port: 5432},
		{From: "eni-0000000b", To: "10.0.1.10", Protocol: "tcp", Port: 443},
	} {
		ans, err := a.Path(q)
		if err != nil {
			t.Fatal(err)
		}
		ans.WriteText(&b)
		b.WriteString("\n")
	}
	exp, err := a.Exposure()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exp {
		e.WriteText(&b)
	}
	golden := filepath.Join("testdata", "routing.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestInsightsInternetGateway answers Network Insights paths with an internet gateway as an
// end: the gateway, the route table with its route, the NAT gateway and the ACLs and
// interfaces are the components, in order; routing blockers carry the route table, the route
// and the gateway.
func TestInsightsInternetGateway(t *testing.T) {
	type hop struct{ Component, Route string }
	hops := func(hs []model.InsightsHop) []hop {
		var out []hop
		for _, h := range hs {
			x := hop{Component: h.Component}
			if h.Route != nil {
				x.Route = h.Route.Destination + ">" + h.Route.Target + " " + h.Route.State
			}
			out = append(out, x)
		}
		return out
	}
	type expl struct{ Code, RouteTable, Route, IGW, VPC string }
	tests := []struct {
		name     string
		mutate   func(l *lab)
		q        Question
		found    bool
		fwd, ret []hop
		expl     []expl
	}{
		{"from the gateway to the public web interface", nil, Question{From: "igw-0000000a", To: "eni-0000000a", Protocol: "tcp", Port: 443}, true,
			[]hop{{Component: "igw-0000000a"}, {Component: "acl-0000000a"}, {Component: "eni-0000000a"}},
			[]hop{{Component: "eni-0000000a"}, {Component: "acl-0000000a"}, {"rtb-0000000a", "0.0.0.0/0>igw-0000000a active"}, {Component: "igw-0000000a"}}, nil},
		{"from db out through the NAT gateway to the gateway", nil, Question{From: "i-0000000b", To: "igw-0000000a", Protocol: "tcp", Port: 443}, true,
			[]hop{{Component: "eni-0000000b"}, {Component: "acl-0000000b"}, {"rtb-0000000b", "0.0.0.0/0>nat-0000000a active"}, {Component: "nat-0000000a"},
				{"rtb-0000000a", "0.0.0.0/0>igw-0000000a active"}, {Component: "igw-0000000a"}},
			[]hop{{Component: "igw-0000000a"}, {Component: "acl-0000000b"}, {Component: "eni-0000000b"}}, nil},
		{"from the gateway to db: no public address", nil, Question{From: "igw-0000000a", To: "eni-0000000b", Protocol: "tcp", Port: 5432}, false,
			[]hop{{Component: "igw-0000000a"}, {Component: "acl-0000000b"}, {Component: "eni-0000000b"}}, nil,
			[]expl{{"IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", "rtb-0000000b", "0.0.0.0/0>nat-0000000a active", "igw-0000000a", "vpc-00000001"},
				{"ENI_SG_RULES_MISMATCH", "", "", "", "vpc-00000001"}}},
		{"gateway detached: the route is a blackhole", func(l *lab) { l.s.IGWs[0].VpcID = "" },
			Question{From: "igw-0000000a", To: "eni-0000000a", Protocol: "tcp", Port: 443}, false,
			[]hop{{Component: "igw-0000000a"}, {Component: "acl-0000000a"}, {Component: "eni-0000000a"}}, nil,
			[]expl{{"BAD_STATE_ROUTE", "rtb-0000000a", "0.0.0.0/0>igw-0000000a blackhole", "igw-0000000a", "vpc-00000001"}}},
		{"another VPC's gateway", func(l *lab) {
			l.s.IGWs = append(l.s.IGWs, &model.InternetGateway{ID: "igw-0000000b", VpcID: "vpc-00000002"})
		}, Question{From: "igw-0000000b", To: "eni-0000000a", Protocol: "tcp", Port: 443}, false,
			[]hop{{Component: "igw-0000000b"}, {Component: "acl-0000000a"}, {Component: "eni-0000000a"}}, nil,
			[]expl{{"NO_ROUTE_TO_DESTINATION", "rtb-0000000a", "0.0.0.0/0>igw-0000000a active", "igw-0000000b", "vpc-00000001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := withInternet(newLab())
			l.db.Attachment = &model.Attachment{ID: "eni-attach-2", InstanceID: "i-0000000b"}
			if tt.mutate != nil {
				tt.mutate(l)
			}
			a := l.analyser(t)
			ans, err := a.Path(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			found, ex, fwd, ret := a.Insights(ans)
			var gotExpl []expl
			for _, e := range ex {
				x := expl{Code: e.Code, RouteTable: e.RouteTable, IGW: e.InternetGateway, VPC: e.VPC}
				if e.Route != nil {
					x.Route = e.Route.Destination + ">" + e.Route.Target + " " + e.Route.State
				}
				gotExpl = append(gotExpl, x)
			}
			if found != tt.found {
				t.Errorf("found %v, want %v", found, tt.found)
			}
			if d := cmp.Diff(tt.expl, gotExpl); d != "" {
				t.Errorf("explanations (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.fwd, hops(fwd)); d != "" {
				t.Errorf("forward (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.ret, hops(ret)); d != "" {
				t.Errorf("return (-want +got):\n%s", d)
			}
		})
	}
	a := withInternet(newLab()).analyser(t)
	var nf *ErrNotFound
	if _, err := a.Path(Question{From: "igw-00000fff", To: "eni-0000000a", Protocol: "tcp", Port: 443}); !errors.As(err, &nf) || nf.ID != "igw-00000fff" {
		t.Errorf("unknown gateway: %v", err)
	}
	if _, err := a.Path(Question{From: "igw-0000000a", To: "igw-0000000a", Protocol: "tcp", Port: 443}); err == nil {
		t.Error("two gateways accepted")
	}
}
