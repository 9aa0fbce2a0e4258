package control

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

func (e *eniEnv) routeTables() []*model.RouteTable {
	var out []*model.RouteTable
	e.view(func(v View) { out = v.RouteTables() })
	return out
}

func (e *eniEnv) mainTable(vpcID string) *model.RouteTable {
	e.t.Helper()
	for _, rt := range e.routeTables() {
		if rt.VpcID == vpcID && rt.IsMain() {
			return rt
		}
	}
	e.t.Fatalf("VPC %s has no main route table", vpcID)
	return nil
}

// routeCmp compares network values by value.
var routeCmp = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func local(p string) model.Route {
	return model.Route{Dest: netip.MustParsePrefix(p), Target: model.RouteTarget{Local: true}, Origin: model.OriginCreateRouteTable}
}

// TestMainRouteTables checks that every VPC is born with its main table and local routes,
// and the default VPC with an attached internet gateway and a default route to it.
func TestMainRouteTables(t *testing.T) {
	e := newENITestService(t, nil)
	v6 := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.5.0.0/16", IPv6: true}))
	rt := e.mainTable(v6.ID)
	want := []model.Route{local("10.5.0.0/16"), local(v6.IPv6CIDR.String())}
	if diff := cmp.Diff(want, rt.Routes, routeCmp); diff != "" {
		t.Errorf("local routes (-want +got):\n%s", diff)
	}
	if len(rt.Assocs) != 1 || !rt.Assocs[0].Main || !strings.HasPrefix(rt.Assocs[0].ID, "rtbassoc-") {
		t.Errorf("main association %+v", rt.Assocs)
	}
	if got := e.mainTable(e.vpc.ID).Routes; len(got) != 1 {
		t.Errorf("IPv4-only VPC routes %+v", got)
	}

	var dflt *model.VPC
	var igws []*model.InternetGateway
	var snTable *model.RouteTable
	e.view(func(v View) {
		dflt, igws = v.DefaultVPC(), v.InternetGateways()
		for _, sn := range v.Subnets() {
			if sn.VpcID == dflt.ID {
				snTable = v.SubnetRouteTable(sn)
			}
		}
	})
	if len(igws) != 1 || igws[0].VpcID != dflt.ID {
		t.Fatalf("default VPC gateways %+v", igws)
	}
	want = []model.Route{local("172.31.0.0/16"), {Dest: allIPv4, Target: model.RouteTarget{GatewayID: igws[0].ID}, Origin: model.OriginCreateRouteTable}}
	if diff := cmp.Diff(want, e.mainTable(dflt.ID).Routes, routeCmp); diff != "" {
		t.Errorf("default VPC routes (-want +got):\n%s", diff)
	}
	if snTable == nil || snTable.ID != e.mainTable(dflt.ID).ID {
		t.Errorf("a default subnet uses %v, not the main table", snTable)
	}
}

// TestRouteErrors checks every refusal's code and that a refused call changes nothing.
func TestRouteErrors(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.RoutesPerTable = 2; c.Quotas.RouteTablesPerVPC = 3 })
	ctx, s := e.ctx, e.s
	rt := eniOK[*model.RouteTable](t)(s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: e.vpc.ID}))
	other := e.mainTable(e.otherVPC.ID)
	igw := eniOK[*model.InternetGateway](t)(s.CreateInternetGateway(ctx, eniTenant, CreateInternetGatewayInput{}))
	eni := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	otherENI := e.createENI(CreateENIInput{SubnetID: e.otherSn.ID})
	eigw := eniOK[*model.EgressOnlyIGW](t)(s.CreateEgressOnlyIGW(ctx, eniTenant, CreateEgressOnlyIGWInput{VpcID: e.vpc.ID}))
	if _, err := s.CreateRoute(ctx, eniTenant, RouteInput{RouteTableID: rt.ID, DestCIDR: "192.168.0.0/16", NetworkInterfaceID: eni.ID}); err != nil {
		t.Fatal(err)
	}
	route := func(in RouteInput) RouteInput {
		if in.RouteTableID == "" {
			in.RouteTableID = rt.ID
		}
		return in
	}
	tests := []struct {
		name, code string
		call       func() error
	}{
		{"no table", "MissingParameter", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID})
			return err
		}},
		{"unknown table", "InvalidRouteTableID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{RouteTableID: "rtb-0123456789abcdef0", DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"malformed table", "InvalidRouteTableId.Malformed", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{RouteTableID: "rtb-xyz", DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"no destination", "MissingParameter", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"two destinations", "InvalidParameterCombination", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", DestIPv6CIDR: "::/0", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"bad cidr", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0/8", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"ipv6 in the ipv4 field", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "::/0", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"no target", "MissingParameter", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8"}))
			return err
		}},
		{"two targets", "InvalidParameterCombination", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID, GatewayID: igw.ID}))
			return err
		}},
		{"unsupported target", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", Unsupported: []string{"TransitGatewayId"}}))
			return err
		}},
		{"detached gateway", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", GatewayID: igw.ID}))
			return err
		}},
		{"unknown gateway", "InvalidInternetGatewayID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", GatewayID: "igw-0123456789abcdef0"}))
			return err
		}},
		{"virtual private gateway", "InvalidGatewayID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", GatewayID: "vgw-0123456789abcdef0"}))
			return err
		}},
		{"egress-only for ipv4", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", EgressOnlyIGWID: eigw.ID}))
			return err
		}},
		{"egress-only of another vpc", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{RouteTableID: other.ID, DestIPv6CIDR: "::/0", EgressOnlyIGWID: eigw.ID}))
			return err
		}},
		{"unknown egress-only", "InvalidEgressOnlyInternetGatewayId.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestIPv6CIDR: "::/0", EgressOnlyIGWID: "eigw-0123456789abcdef0"}))
			return err
		}},
		{"unknown nat gateway", "InvalidNatGatewayID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NatGatewayID: "nat-0123456789abcdef0"}))
			return err
		}},
		{"malformed nat gateway", "InvalidNatGatewayID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NatGatewayID: "igw-0123456789abcdef0"}))
			return err
		}},
		{"interface of another vpc", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: otherENI.ID}))
			return err
		}},
		{"unknown interface", "InvalidNetworkInterfaceID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: "eni-0123456789abcdef0"}))
			return err
		}},
		{"unknown instance", "InvalidInstanceID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", InstanceID: "i-0123456789abcdef0"}))
			return err
		}},
		{"unknown prefix list", "InvalidPrefixListID.NotFound", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestPrefixList: "pl-0123456789abcdef0", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"route exists", "RouteAlreadyExists", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "192.168.0.0/16", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"local route exists", "RouteAlreadyExists", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "10.0.0.0/16", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"replace missing", "InvalidRoute.NotFound", func() error {
			_, err := s.ReplaceRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"replace local", "InvalidParameterValue", func() error {
			_, err := s.ReplaceRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "10.0.0.0/16", NetworkInterfaceID: eni.ID}))
			return err
		}},
		{"make a route local", "InvalidParameterValue", func() error {
			_, err := s.ReplaceRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "192.168.0.0/16", LocalTarget: true}))
			return err
		}},
		{"create a local route", "InvalidParameterValue", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", GatewayID: "local"}))
			return err
		}},
		{"delete missing", "InvalidRoute.NotFound", func() error {
			_, err := s.DeleteRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8"}))
			return err
		}},
		{"delete local", "InvalidParameterValue", func() error {
			_, err := s.DeleteRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "10.0.0.0/16"}))
			return err
		}},
		{"delete main table", "DependencyViolation", func() error {
			_, err := s.DeleteRouteTable(ctx, eniTenant, IDInput{ID: e.mainTable(e.vpc.ID).ID})
			return err
		}},
		{"table of unknown vpc", "InvalidVpcID.NotFound", func() error {
			_, _, err := s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: "vpc-0123456789abcdef0"})
			return err
		}},
		{"associate across vpcs", "InvalidParameterValue", func() error {
			_, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: other.ID, SubnetID: e.sn.ID})
			return err
		}},
		{"associate nothing", "MissingParameter", func() error {
			_, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID})
			return err
		}},
		{"associate both", "InvalidParameterCombination", func() error {
			_, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: e.sn.ID, GatewayID: igw.ID})
			return err
		}},
		{"associate detached gateway", "InvalidParameterValue", func() error {
			_, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID, GatewayID: igw.ID})
			return err
		}},
		{"disassociate main", "InvalidParameterValue", func() error {
			_, err := s.DisassociateRouteTable(ctx, eniTenant, IDInput{ID: e.mainTable(e.vpc.ID).Assocs[0].ID})
			return err
		}},
		{"disassociate unknown", "InvalidAssociationID.NotFound", func() error {
			_, err := s.DisassociateRouteTable(ctx, eniTenant, IDInput{ID: "rtbassoc-0123456789abcdef0"})
			return err
		}},
		{"replace main association across vpcs", "InvalidParameterValue", func() error {
			_, _, err := s.ReplaceRouteTableAssociation(ctx, eniTenant, ReplaceRouteTableAssociationInput{AssociationID: e.mainTable(e.vpc.ID).Assocs[0].ID, RouteTableID: other.ID})
			return err
		}},
		{"dry run", "DryRunOperation", func() error {
			_, err := s.CreateRoute(ctx, eniTenant, route(RouteInput{DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID, DryRun: true}))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.routeTables()
			if got := code(tt.call()); got != tt.code {
				t.Errorf("got %s, want %s", got, tt.code)
			}
			if diff := cmp.Diff(before, e.routeTables(), routeCmp); diff != "" {
				t.Errorf("a refused call changed the tables (-before +after):\n%s", diff)
			}
		})
	}

	// Quotas: two routes per family (local routes aside), three tables per VPC.
	if _, err := s.CreateRoute(ctx, eniTenant, RouteInput{RouteTableID: rt.ID, DestCIDR: "172.16.0.0/12", NetworkInterfaceID: eni.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, eniTenant, RouteInput{RouteTableID: rt.ID, DestCIDR: "1.0.0.0/8", NetworkInterfaceID: eni.ID}); code(err) != "RouteLimitExceeded" {
		t.Errorf("third IPv4 route: %v", err)
	}
	eniOK[*model.RouteTable](t)(s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: e.vpc.ID}))
	if _, _, err := s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: e.vpc.ID}); code(err) != "RouteTableLimitExceeded" {
		t.Errorf("fourth table: %v", err)
	}
}

// TestRoutesAndAssociations walks a table's life: routes to every kind of target, blackholes
// when targets go away, associations (the main one moved), and all of it after a restart.
func TestRoutesAndAssociations(t *testing.T) {
	e := newENITestService(t, nil)
	ctx, s := e.ctx, e.s
	igw := eniOK[*model.InternetGateway](t)(s.CreateInternetGateway(ctx, eniTenant, CreateInternetGatewayInput{Tags: model.Tags{"Name": "gw"}}))
	if _, err := s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: igw.ID, VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	rt := eniOK[*model.RouteTable](t)(s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: e.vpc.ID, Tags: model.Tags{"Name": "public"}}))
	eni := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0]
	for _, in := range []RouteInput{
		{DestCIDR: "0.0.0.0/0", GatewayID: igw.ID},
		{DestCIDR: "192.168.0.0/16", NetworkInterfaceID: eni.ID},
		{DestCIDR: "172.16.0.0/12", InstanceID: inst.ID},
	} {
		in.RouteTableID = rt.ID
		if _, err := s.CreateRoute(ctx, eniTenant, in); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
	}
	// ReplaceRoute retargets: the route to 192.168/16 now goes through the instance.
	if _, err := s.ReplaceRoute(ctx, eniTenant, RouteInput{RouteTableID: rt.ID, DestCIDR: "192.168.0.0/16", InstanceID: inst.ID}); err != nil {
		t.Fatal(err)
	}
	assoc := eniOK[string](t)(s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: e.sn.ID}))
	if _, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: e.sn.ID}); code(err) != "Resource.AlreadyAssociated" {
		t.Errorf("second association of a subnet: %v", err)
	}
	if _, err := s.DeleteRouteTable(ctx, eniTenant, IDInput{ID: rt.ID}); code(err) != "DependencyViolation" {
		t.Errorf("delete an associated table: %v", err)
	}
	// The main association moves to the custom table: the old main table may then go.
	oldMain := e.mainTable(e.vpc.ID)
	newMain := eniOK[string](t)(s.ReplaceRouteTableAssociation(ctx, eniTenant, ReplaceRouteTableAssociationInput{AssociationID: oldMain.Assocs[0].ID, RouteTableID: rt.ID}))
	if got := e.mainTable(e.vpc.ID); got.ID != rt.ID {
		t.Errorf("main table %s after the move, want %s", got.ID, rt.ID)
	}
	if _, err := s.DeleteRouteTable(ctx, eniTenant, IDInput{ID: oldMain.ID}); err != nil {
		t.Errorf("delete the former main table: %v", err)
	}

	ip := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	want := &model.RouteTable{ID: rt.ID, VpcID: e.vpc.ID, OwnerID: eniTenant.Account, Tags: model.Tags{"Name": "public"},
		Routes: []model.Route{local("10.0.0.0/16"),
			{Dest: ip("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: igw.ID}, Origin: model.OriginCreateRoute},
			{Dest: ip("192.168.0.0/16"), Target: model.RouteTarget{InstanceID: inst.ID, NetworkInterfaceID: inst.InterfaceIDs[0]}, Origin: model.OriginCreateRoute},
			{Dest: ip("172.16.0.0/12"), Target: model.RouteTarget{InstanceID: inst.ID, NetworkInterfaceID: inst.InterfaceIDs[0]}, Origin: model.OriginCreateRoute}},
		Assocs: []model.RouteTableAssoc{{ID: assoc, SubnetID: e.sn.ID}, {ID: newMain, Main: true}}}
	states := func() []string {
		var out []string
		e.view(func(v View) {
			t, err := v.RouteTable(rt.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range t.Routes {
				out = append(out, v.RouteState(t, r))
			}
		})
		return out
	}
	check := func(when string, wantStates []string) {
		t.Helper()
		got := lookup(e, func(v View) (*model.RouteTable, error) { return v.RouteTable(rt.ID) })
		if diff := cmp.Diff(want, got, routeCmp); diff != "" {
			t.Errorf("%s: table (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(wantStates, states(), routeCmp); diff != "" {
			t.Errorf("%s: states (-want +got):\n%s", when, diff)
		}
		var used *model.RouteTable
		e.view(func(v View) { used = v.SubnetRouteTable(e.sn) })
		if used == nil || used.ID != rt.ID {
			t.Errorf("%s: subnet uses %v", when, used)
		}
	}
	all := []string{"active", "active", "active", "active"}
	check("created", all)
	e.reopen()
	check("after a restart", all)

	// Targets that go away turn their routes into blackholes; putting them back revives them.
	// A stopped instance forwards nothing until it starts again.
	s = e.s
	if _, _, err := s.StopInstances(ctx, eniTenant, LifecycleInput{IDs: []string{inst.ID}}); err != nil {
		t.Fatal(err)
	}
	check("instance stopped", []string{"active", "active", "blackhole", "blackhole"})
	e.view(func(v View) {
		if !v.Snapshot().Halted[inst.ID] {
			t.Error("the analyser's snapshot does not hold the stopped instance as halted")
		}
	})
	if _, _, err := s.StartInstances(ctx, eniTenant, LifecycleInput{IDs: []string{inst.ID}}); err != nil {
		t.Fatal(err)
	}
	check("instance started", all)
	if _, err := s.DetachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: igw.ID, VpcID: e.otherVPC.ID}); code(err) != "Gateway.NotAttached" {
		t.Errorf("detach from the wrong VPC: %v", err)
	}
	if _, err := s.DetachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: igw.ID, VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	e.terminate(inst.ID)
	check("targets gone", []string{"active", "blackhole", "blackhole", "blackhole"})
	if _, err := s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: igw.ID, VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	check("gateway back", []string{"active", "active", "blackhole", "blackhole"})

	// Deleting the subnet drops its association; disassociating returns nothing to delete.
	if _, err := s.DisassociateRouteTable(ctx, eniTenant, IDInput{ID: assoc}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisassociateRouteTable(ctx, eniTenant, IDInput{ID: assoc}); code(err) != "InvalidAssociationID.NotFound" {
		t.Errorf("second disassociation: %v", err)
	}
	if _, err := s.DeleteRoute(ctx, eniTenant, RouteInput{RouteTableID: rt.ID, DestCIDR: "172.16.0.0/12"}); err != nil {
		t.Fatal(err)
	}
	want.Assocs = want.Assocs[1:]
	want.Routes = want.Routes[:3]
	check("route deleted", []string{"active", "active", "blackhole"})

	// A deleted subnet takes its explicit association with it.
	if _, _, err := s.AssociateRouteTable(ctx, eniTenant, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: e.small.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteSubnet(ctx, eniTenant, IDInput{ID: e.small.ID}); err != nil {
		t.Fatal(err)
	}
	check("subnet deleted", []string{"active", "active", "blackhole"})
}

// TestInternetGateways checks attachment rules, the dependency rules of gateways and VPCs,
// egress-only gateways and the quota.
func TestInternetGateways(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.InternetGateways = 3; c.Quotas.EgressOnlyIGWs = 1 })
	ctx, s := e.ctx, e.s
	a := eniOK[*model.InternetGateway](t)(s.CreateInternetGateway(ctx, eniTenant, CreateInternetGatewayInput{}))
	b := eniOK[*model.InternetGateway](t)(s.CreateInternetGateway(ctx, eniTenant, CreateInternetGatewayInput{}))
	// The default VPC's gateway is the third.
	if _, _, err := s.CreateInternetGateway(ctx, eniTenant, CreateInternetGatewayInput{}); code(err) != "InternetGatewayLimitExceeded" {
		t.Errorf("fourth gateway: %v", err)
	}
	if _, err := s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: a.ID, VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	eigw := eniOK[*model.EgressOnlyIGW](t)(s.CreateEgressOnlyIGW(ctx, eniTenant, CreateEgressOnlyIGWInput{VpcID: e.otherVPC.ID}))
	var before []*model.InternetGateway
	e.view(func(v View) { before = v.InternetGateways() })
	for _, tt := range []struct {
		name, code string
		err        error
	}{
		{"attached elsewhere", "Resource.AlreadyAssociated", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: a.ID, VpcID: e.otherVPC.ID}))},
		{"vpc has one", "Resource.AlreadyAssociated", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: b.ID, VpcID: e.vpc.ID}))},
		{"unknown gateway", "InvalidInternetGatewayID.NotFound", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: "igw-0123456789abcdef0", VpcID: e.vpc.ID}))},
		{"malformed gateway", "InvalidInternetGatewayId.Malformed", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: "igw-nope", VpcID: e.vpc.ID}))},
		{"unknown vpc", "InvalidVpcID.NotFound", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: b.ID, VpcID: "vpc-0123456789abcdef0"}))},
		{"missing vpc", "MissingParameter", second(s.AttachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: b.ID}))},
		{"detach detached", "Gateway.NotAttached", second(s.DetachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: b.ID, VpcID: e.vpc.ID}))},
		{"delete attached", "DependencyViolation", second(s.DeleteInternetGateway(ctx, eniTenant, IDInput{ID: a.ID}))},
		{"vpc with a gateway", "DependencyViolation", second(s.DeleteVPC(ctx, eniTenant, IDInput{ID: e.vpc.ID}))},
		{"vpc with an egress-only gateway", "DependencyViolation", second(s.DeleteVPC(ctx, eniTenant, IDInput{ID: e.otherVPC.ID}))},
		{"egress-only quota", "EgressOnlyInternetGatewayLimitExceeded", third(s.CreateEgressOnlyIGW(ctx, eniTenant, CreateEgressOnlyIGWInput{VpcID: e.vpc.ID}))},
		{"egress-only unknown", "InvalidEgressOnlyInternetGatewayId.NotFound", second(s.DeleteEgressOnlyIGW(ctx, eniTenant, IDInput{ID: "eigw-0123456789abcdef0"}))},
		{"dry run", "DryRunOperation", second(s.DetachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: a.ID, VpcID: e.vpc.ID, DryRun: true}))},
	} {
		if got := code(tt.err); got != tt.code {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.code)
		}
	}
	var after []*model.InternetGateway
	e.view(func(v View) { after = v.InternetGateways() })
	if diff := cmp.Diff(before, after, routeCmp); diff != "" {
		t.Errorf("refused calls changed the gateways (-before +after):\n%s", diff)
	}
	e.reopen()
	s = e.s
	if got := lookup(e, func(v View) (*model.InternetGateway, error) { return v.InternetGateway(a.ID) }); got.VpcID != e.vpc.ID {
		t.Errorf("attachment after a restart: %+v", got)
	}
	if _, err := s.DeleteEgressOnlyIGW(ctx, eniTenant, IDInput{ID: eigw.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DetachInternetGateway(ctx, eniTenant, IGWInput{GatewayID: a.ID, VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteInternetGateway(ctx, eniTenant, IDInput{ID: a.ID}); err != nil {
		t.Fatal(err)
	}
	// A custom route table keeps its VPC alive; the main one goes with it.
	rt := eniOK[*model.RouteTable](t)(s.CreateRouteTable(ctx, eniTenant, CreateRouteTableInput{VpcID: e.otherVPC.ID}))
	e.s.DeleteSubnet(ctx, eniTenant, IDInput{ID: e.otherSn.ID})
	e.s.DeleteGroup(ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.other.ID}})
	if _, err := s.DeleteVPC(ctx, eniTenant, IDInput{ID: e.otherVPC.ID}); code(err) != "DependencyViolation" {
		t.Errorf("VPC with a custom route table: %v", err)
	}
	if _, err := s.DeleteRouteTable(ctx, eniTenant, IDInput{ID: rt.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteVPC(ctx, eniTenant, IDInput{ID: e.otherVPC.ID}); err != nil {
		t.Fatal(err)
	}
	for _, rt := range e.routeTables() {
		if rt.VpcID == e.otherVPC.ID {
			t.Errorf("route table %s outlived its VPC", rt.ID)
		}
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// TestMainRouteTablesOfOldStores checks that VPCs stored before route tables existed get
// their main table in memory when the store is loaded (reads create nothing durable, and see
// the same IDs each time), and that the next write commits it.
func TestMainRouteTablesOfOldStores(t *testing.T) {
	e := newENITestService(t, nil)
	// Make the store look as an old one: no route tables, no internet gateways.
	kvs, _, err := e.st.List(e.ctx, resourcePrefix)
	if err != nil {
		t.Fatal(err)
	}
	var ops []store.Op
	for _, kv := range kvs {
		if _, kind, _, _ := parseKey(kv.Key); kind == kindRouteTable || kind == kindIGW {
			ops = append(ops, store.Op{Key: kv.Key, Delete: true})
		}
	}
	if len(ops) == 0 {
		t.Fatal("no route tables stored")
	}
	if _, err := e.st.Txn(e.ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	stored := func() int {
		kvs, _, err := e.st.List(context.Background(), resourcePrefix)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, kv := range kvs {
			if _, kind, _, _ := parseKey(kv.Key); kind == kindRouteTable || kind == kindIGW {
				n++
			}
		}
		return n
	}
	e.reopen()
	first := e.mainTable(e.vpc.ID)
	if again := e.mainTable(e.vpc.ID); again.ID != first.ID {
		t.Errorf("the lazy main table changed between reads: %s, %s", first.ID, again.ID)
	}
	var dflt *model.VPC
	e.view(func(v View) { dflt = v.DefaultVPC() })
	if got := e.mainTable(dflt.ID).Routes; len(got) != 2 || got[1].Target.GatewayID == "" {
		t.Errorf("the default VPC's lazy table has no route to a gateway: %+v", got)
	}
	if n := stored(); n != 0 {
		t.Fatalf("reads stored %d records", n)
	}
	// A write that fails commits nothing either.
	if _, _, err := e.s.CreateRouteTable(e.ctx, eniTenant, CreateRouteTableInput{VpcID: "vpc-0123456789abcdef0"}); err == nil {
		t.Fatal("want an error")
	}
	if n := stored(); n != 0 {
		t.Fatalf("a failed write stored %d records", n)
	}
	eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "later", Description: "x", VpcID: e.vpc.ID}))
	// Three VPCs' main tables and the default VPC's gateway.
	if n := stored(); n != 4 {
		t.Errorf("after a write %d records stored, want 4", n)
	}
	e.reopen()
	if got := e.mainTable(e.vpc.ID); got.ID != first.ID {
		t.Errorf("main table after a restart %s, want %s", got.ID, first.ID)
	}
}
