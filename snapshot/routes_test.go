package snapshot

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
	"github.com/stockade/stockade/reach"
)

var addrCmp = cmp.Options{cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

// TestLoadRouting reads testdata/valid's routing: a private main table (NAT gateway,
// egress-only gateway, a gateway endpoint's prefix-list route), a public table for the web
// subnet (internet gateway, a transit gateway route kept as a non-internet target), the
// gateways, the Elastic IPs (EC2-Classic's skipped), the NAT gateways and the interfaces'
// public addresses and instances.
func TestLoadRouting(t *testing.T) {
	s, err := Load("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	const vpc = "vpc-0a1b2c3d4e5f60718"
	p := netip.MustParsePrefix
	local4 := model.Route{Dest: p("10.0.0.0/16"), Target: model.RouteTarget{Local: true}, Origin: "CreateRouteTable"}
	local6 := model.Route{Dest: p("2600:1f18:1234:5600::/56"), Target: model.RouteTarget{Local: true}, Origin: "CreateRouteTable"}
	wantTables := []*model.RouteTable{
		{ID: "rtb-0000000000000000a", VpcID: vpc, OwnerID: "123456789012", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-0000000000000000a", Main: true}},
			Routes: []model.Route{local4, local6,
				{Dest: p("0.0.0.0/0"), Target: model.RouteTarget{NatGatewayID: "nat-0000000000000000a"}, Origin: "CreateRoute"},
				{Dest: p("::/0"), Target: model.RouteTarget{EgressOnlyIGWID: "eigw-0000000000000000a"}, Origin: "CreateRoute"},
				{DestPrefixList: "pl-63a5400a", Target: model.RouteTarget{GatewayID: "vpce-0000000000000000a"}, Origin: "CreateRoute"}}},
		{ID: "rtb-0000000000000000b", VpcID: vpc, OwnerID: "123456789012", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-0000000000000000b", SubnetID: "subnet-0000000000000000a"}},
			Routes: []model.Route{local4, local6,
				{Dest: p("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-0000000000000000a"}, Origin: "CreateRoute"},
				{Dest: p("::/0"), Target: model.RouteTarget{GatewayID: "igw-0000000000000000a"}, Origin: "CreateRoute"},
				{Dest: p("172.16.0.0/12"), Target: model.RouteTarget{GatewayID: "tgw-0000000000000000a"}, Origin: "CreateRoute"}}},
	}
	if d := cmp.Diff(wantTables, s.RouteTables, addrCmp); d != "" {
		t.Errorf("route tables (-want +got):\n%s", d)
	}
	wantIGWs := []*model.InternetGateway{{ID: "igw-0000000000000000a", OwnerID: "123456789012", VpcID: vpc}, {ID: "igw-0000000000000000b", OwnerID: "123456789012"}}
	if d := cmp.Diff(wantIGWs, s.IGWs); d != "" {
		t.Errorf("internet gateways (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*model.EgressOnlyIGW{{ID: "eigw-0000000000000000a", VpcID: vpc}}, s.EgressIGWs); d != "" {
		t.Errorf("egress-only internet gateways (-want +got):\n%s", d)
	}
	a := netip.MustParseAddr
	wantAddrs := []*model.Address{
		{AllocationID: "eipalloc-0000000000000000a", PublicIP: a("192.0.2.30"), OwnerID: "123456789012", Domain: "vpc", AssociationID: "eipassoc-0000000000000000a",
			ENIID: "eni-0000000000000000a", PrivateIP: a("10.0.1.5")},
		{AllocationID: "eipalloc-0000000000000000b", PublicIP: a("192.0.2.10"), OwnerID: "123456789012", Domain: "vpc", AssociationID: "eipassoc-0000000000000000b",
			ENIID: "eni-0000000000000000c", PrivateIP: a("10.0.1.100")},
		{AllocationID: "eipalloc-0000000000000000c", PublicIP: a("192.0.2.40"), Domain: "vpc"},
	}
	if d := cmp.Diff(wantAddrs, s.Addresses, addrCmp); d != "" {
		t.Errorf("addresses (-want +got):\n%s", d)
	}
	wantNATs := []*model.NATGateway{
		{ID: "nat-0000000000000000a", SubnetID: "subnet-0000000000000000a", VpcID: vpc, ConnectivityType: "public", State: "available",
			CreateTime: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC), ENIID: "eni-0000000000000000c", PrivateIP: a("10.0.1.100"),
			AllocationID: "eipalloc-0000000000000000b", AssociationID: "eipassoc-0000000000000000b", PublicIP: a("192.0.2.10")},
		{ID: "nat-0000000000000000b", SubnetID: "subnet-0000000000000000b", VpcID: vpc, ConnectivityType: "public", State: "deleted",
			CreateTime: time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)},
	}
	if d := cmp.Diff(wantNATs, s.NATGateways, addrCmp); d != "" {
		t.Errorf("NAT gateways (-want +got):\n%s", d)
	}
	type eni struct {
		ID, Instance string
		Device       int
		Public       string
		Type         string
		RM           bool
	}
	var got []eni
	for _, n := range s.ENIs {
		e := eni{ID: n.ID, Type: n.InterfaceType, RM: n.RequesterManaged}
		if n.PublicIP.IsValid() {
			e.Public = n.PublicIP.String()
		}
		if n.Attachment != nil {
			e.Instance, e.Device = n.Attachment.InstanceID, n.Attachment.DeviceIndex
		}
		got = append(got, e)
	}
	want := []eni{
		{ID: "eni-0000000000000000a", Instance: "i-0000000000000000a", Public: "192.0.2.4"}, // launch-time address; the Elastic IP is in Addresses
		{ID: "eni-0000000000000000b", Instance: "i-0000000000000000b"},
		{ID: "eni-0000000000000000c", Type: "nat_gateway", RM: true}, // its Elastic IP is the NAT gateway's
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("interfaces (-want +got):\n%s", d)
	}
}

// TestLoadPublicAddressFromInstance takes an instance's PublicIpAddress for its primary
// interface when the interface's file does not show it.
func TestLoadPublicAddressFromInstance(t *testing.T) {
	dir := copyValid(t)
	edit(t, dir, "describe-network-interfaces.json", func(v any) { deletePath(t, v, "NetworkInterfaces[0].Association") })
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ENIs[0].PublicIP; got != netip.MustParseAddr("192.0.2.4") {
		t.Errorf("public address %v, want the instance's 192.0.2.4", got)
	}
	// Without it in either file, the interface has none: exposure needs one.
	edit(t, dir, "describe-instances.json", func(v any) { deletePath(t, v, "Reservations[0].Instances[0].PublicIpAddress") })
	if s, err = Load(dir); err != nil || s.ENIs[0].PublicIP.IsValid() {
		t.Errorf("public address %v (%v), want none", s.ENIs[0].PublicIP, err)
	}
}

// TestReachOverSnapshot answers reachability questions over the exported account: the web
// instance is exposed through the internet gateway by its public address, the db instance
// goes out through the NAT gateway and is not reachable from the internet, and routing
// blockers carry Reachability Analyzer's codes.
func TestReachOverSnapshot(t *testing.T) {
	// web's group admits tcp 443 from anywhere; db's egress is opened so that routing alone
	// decides its way out, and its subnet's ACL lets the replies back.
	open := func(t *testing.T, dir string) {
		edit(t, dir, "describe-security-groups.json", func(v any) {
			setPath(t, v, "SecurityGroups[1].IpPermissionsEgress", []any{map[string]any{"IpProtocol": "-1", "IpRanges": []any{map[string]any{"CidrIp": "0.0.0.0/0"}}}})
		})
		edit(t, dir, "describe-network-acls.json", func(v any) {
			setPath(t, v, "NetworkAcls[0].Entries[5]", map[string]any{"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "6",
				"PortRange": map[string]any{"From": 1024, "To": 65535}, "RuleAction": "allow", "RuleNumber": 200})
		})
	}
	tests := []struct {
		name     string
		mutate   func(t *testing.T, dir string)
		q        reach.Question
		blockers []string
		route    string // the deciding route's target
		public   string // the address the internet sees
	}{
		{"internet to web through the internet gateway", nil, reach.Question{From: "198.51.100.7", To: "i-0000000000000000a", Protocol: "tcp", Port: 443},
			nil, "igw-0000000000000000a", "192.0.2.4"},
		{"db out through the NAT gateway", nil, reach.Question{From: "i-0000000000000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443},
			nil, "nat-0000000000000000a", "192.0.2.10"},
		{"nothing in to db", nil, reach.Question{From: "8.8.8.8", To: "eni-0000000000000000b", Protocol: "tcp", Port: 5432},
			[]string{policy.CodeNoPublicIPIngress, reach.CodeSGRulesMismatch}, "nat-0000000000000000a", ""},
		{"the transit gateway route takes 172.16/12 away from the internet gateway", nil,
			reach.Question{From: "172.16.0.9", To: "eni-0000000000000000a", Protocol: "tcp", Port: 443}, []string{policy.CodeBadRoute}, "tgw-0000000000000000a", "192.0.2.4"},
		{"gateway detached: the route is a blackhole", func(t *testing.T, dir string) {
			edit(t, dir, "describe-internet-gateways.json", func(v any) { setPath(t, v, "InternetGateways[0].Attachments", []any{}) })
		}, reach.Question{From: "198.51.100.7", To: "eni-0000000000000000a", Protocol: "tcp", Port: 443}, []string{policy.CodeBadRoute}, "igw-0000000000000000a", "192.0.2.4"},
		{"no public address: the gateway refuses", func(t *testing.T, dir string) {
			edit(t, dir, "describe-network-interfaces.json", func(v any) { deletePath(t, v, "NetworkInterfaces[0].Association") })
			edit(t, dir, "describe-instances.json", func(v any) { deletePath(t, v, "Reservations[0].Instances[0].PublicIpAddress") })
			edit(t, dir, "describe-addresses.json", func(v any) { deletePath(t, v, "Addresses[0].AssociationId") }) // the Elastic IP on 10.0.1.5
		}, reach.Question{From: "198.51.100.7", To: "eni-0000000000000000a", Protocol: "tcp", Port: 443}, []string{policy.CodeNoPublicIPIngress}, "igw-0000000000000000a", ""},
		{"no route to the internet", func(t *testing.T, dir string) {
			edit(t, dir, "describe-route-tables.json", func(v any) {
				setPath(t, v, "RouteTables[1].Routes", []any{map[string]any{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}})
			})
		}, reach.Question{From: "198.51.100.7", To: "eni-0000000000000000a", Protocol: "tcp", Port: 443}, []string{policy.CodeNoRoute}, "", "192.0.2.4"},
		{"the appliance that routes db out is stopped: the route is a blackhole", func(t *testing.T, dir string) {
			edit(t, dir, "describe-route-tables.json", func(v any) {
				setPath(t, v, "RouteTables[0].Routes[2]", map[string]any{"DestinationCidrBlock": "0.0.0.0/0",
					"InstanceId": "i-0000000000000000a", "NetworkInterfaceId": "eni-0000000000000000a", "State": "blackhole"})
			})
			edit(t, dir, "describe-instances.json", func(v any) {
				setPath(t, v, "Reservations[0].Instances[0].State", map[string]any{"Code": 80, "Name": "stopped"})
			})
		}, reach.Question{From: "eni-0000000000000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443}, []string{policy.CodeBadRoute}, "i-0000000000000000a", ""},
		{"NAT gateway deleted", func(t *testing.T, dir string) {
			edit(t, dir, "describe-route-tables.json", func(v any) { setPath(t, v, "RouteTables[0].Routes[2].NatGatewayId", "nat-0000000000000000b") })
		}, reach.Question{From: "eni-0000000000000000b", To: "203.0.113.5", Protocol: "tcp", Port: 443}, []string{policy.CodeBadRoute}, "nat-0000000000000000b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyValid(t)
			open(t, dir)
			if tt.mutate != nil {
				tt.mutate(t, dir)
			}
			s, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			an, err := reach.New(s)
			if err != nil {
				t.Fatal(err)
			}
			ans, err := an.Path(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, b := range ans.Blockers {
				codes = append(codes, b.Code)
			}
			if d := cmp.Diff(tt.blockers, codes); d != "" || ans.Reachable != (len(tt.blockers) == 0) {
				t.Errorf("reachable %v, blockers (-want +got):\n%s", ans.Reachable, d)
			}
			r := ans.Forward.Routing
			if r == nil {
				t.Fatal("no routing in the answer")
			}
			pub := ""
			if r.PublicIP.IsValid() {
				pub = r.PublicIP.String()
			}
			if r.Target != tt.route || pub != tt.public {
				t.Errorf("routing %+v, want target %s and public address %q", r, tt.route, tt.public)
			}
		})
	}
}
