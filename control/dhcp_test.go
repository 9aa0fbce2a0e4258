package control

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// TestDhcpOptions: every VPC starts with the region's default set; a set can be created,
// associated (or "default" for none), is kept across a restart, and cannot be deleted while
// a VPC uses it.
func TestDhcpOptions(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.DhcpOptionSets = 2 })
	var sets []*model.DhcpOptions
	var dflt *model.VPC
	e.view(func(v View) { sets, dflt = v.DhcpOptionSets(), v.DefaultVPC() })
	if len(sets) != 1 || !sets[0].Default || dflt.DhcpOptionsID != sets[0].ID || e.vpcOf(e.vpc.ID).DhcpOptionsID != sets[0].ID {
		t.Fatalf("default set %+v; default VPC uses %s, vpc %s", sets, dflt.DhcpOptionsID, e.vpcOf(e.vpc.ID).DhcpOptionsID)
	}
	want := []model.DhcpConfig{{Key: "domain-name", Values: []string{"ec2.internal"}}, {Key: "domain-name-servers", Values: []string{"AmazonProvidedDNS"}}}
	if diff := cmp.Diff(want, sets[0].Config); diff != "" {
		t.Errorf("default set (-want +got):\n%s", diff)
	}
	rev := e.s.Revision()
	for _, tt := range []struct {
		name string
		cfg  []model.DhcpConfig
		code string
	}{
		{"none", nil, "MissingParameter"},
		{"unknown key", []model.DhcpConfig{{Key: "routers", Values: []string{"10.0.0.1"}}}, "InvalidParameterValue"},
		{"five servers", []model.DhcpConfig{{Key: "ntp-servers", Values: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}}}, "InvalidParameterValue"},
		{"bad server", []model.DhcpConfig{{Key: "domain-name-servers", Values: []string{"dns.example"}}}, "InvalidParameterValue"},
		{"node type 3", []model.DhcpConfig{{Key: "netbios-node-type", Values: []string{"3"}}}, "InvalidParameterValue"},
		{"lease too short", []model.DhcpConfig{{Key: "ipv6-address-preferred-lease-time", Values: []string{"100"}}}, "InvalidParameterValue"},
		{"twice", []model.DhcpConfig{{Key: "domain-name", Values: []string{"a"}}, {Key: "domain-name", Values: []string{"b"}}}, "InvalidParameterValue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := e.s.CreateDhcpOptions(e.ctx, eniTenant, CreateDhcpOptionsInput{Config: tt.cfg}); code(err) != tt.code {
				t.Errorf("got %v, want %s", err, tt.code)
			}
		})
	}
	if e.s.Revision() != rev {
		t.Errorf("refusals wrote")
	}
	d := eniOK[*model.DhcpOptions](t)(e.s.CreateDhcpOptions(e.ctx, eniTenant, CreateDhcpOptionsInput{Config: []model.DhcpConfig{
		{Key: "netbios-node-type", Values: []string{"2"}}, {Key: "domain-name-servers", Values: []string{"10.2.5.1", "10.2.5.2"}}}}))
	if d.Config[0].Key != "domain-name-servers" {
		t.Errorf("options not sorted by key: %+v", d.Config)
	}
	if _, _, err := e.s.CreateDhcpOptions(e.ctx, eniTenant, CreateDhcpOptionsInput{Config: []model.DhcpConfig{{Key: "domain-name", Values: []string{"x"}}}}); code(err) != "DhcpOptionsLimitExceeded" {
		t.Errorf("third set: %v", err)
	}
	assoc := func(dopt, vpc string) error {
		_, err := e.s.AssociateDhcpOptions(e.ctx, eniTenant, AssociateDhcpOptionsInput{DhcpOptionsID: dopt, VpcID: vpc})
		return err
	}
	if err := assoc(d.ID, e.vpc.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dopt, vpc, code string }{
		{"dopt-0123456789abcdef0", e.vpc.ID, "InvalidDhcpOptionID.NotFound"},
		{"opts", e.vpc.ID, "InvalidDhcpOptionsId.Malformed"},
		{d.ID, "vpc-0123456789abcdef0", "InvalidVpcID.NotFound"},
	} {
		if got := code(assoc(tt.dopt, tt.vpc)); got != tt.code {
			t.Errorf("associate %s with %s: %s, want %s", tt.dopt, tt.vpc, got, tt.code)
		}
	}
	if _, err := e.s.DeleteDhcpOptions(e.ctx, eniTenant, IDInput{ID: d.ID}); code(err) != "DependencyViolation" {
		t.Errorf("delete in use: %v", err)
	}
	e.reopen()
	if got := e.vpcOf(e.vpc.ID).DhcpOptionsID; got != d.ID {
		t.Errorf("after restart the VPC uses %s", got)
	}
	if err := assoc("default", e.vpc.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.vpcOf(e.vpc.ID).DhcpOptionsID; got != "default" {
		t.Errorf("after associating default: %s", got)
	}
	if _, err := e.s.DeleteDhcpOptions(e.ctx, eniTenant, IDInput{ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	e.view(func(v View) { sets = v.DhcpOptionSets() })
	if len(sets) != 1 || !sets[0].Default {
		t.Errorf("after delete and restart: %+v", sets)
	}
}

// TestCreateDefaultVPC: refused while a default VPC exists; after it is deleted, the same
// default VPC (172.31.0.0/16, a /20 default subnet per zone, an internet gateway) comes back,
// with the default DHCP set made anew if that was deleted too, and stays after a restart.
func TestCreateDefaultVPC(t *testing.T) {
	e := newENITestService(t, nil)
	if _, _, err := e.s.CreateDefaultVPC(e.ctx, eniTenant, false); code(err) != "DefaultVpcAlreadyExists" {
		t.Fatalf("with a default VPC: %v", err)
	}
	var dflt *model.VPC
	e.view(func(v View) { dflt = v.DefaultVPC() })
	for _, sn := range mustViewOf(t, e.s, eniTenant, func(v View) []*model.Subnet { return v.Subnets() }) {
		if sn.VpcID == dflt.ID {
			if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: sn.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dropDefaultIGW(t, e.s, eniTenant)
	if _, err := e.s.DeleteVPC(e.ctx, eniTenant, IDInput{ID: dflt.ID}); err != nil {
		t.Fatal(err)
	}
	// The default DHCP set is free now that the VPC using it is gone, except for e.vpc's.
	if _, err := e.s.AssociateDhcpOptions(e.ctx, eniTenant, AssociateDhcpOptionsInput{DhcpOptionsID: "default", VpcID: e.vpc.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AssociateDhcpOptions(e.ctx, eniTenant, AssociateDhcpOptionsInput{DhcpOptionsID: "default", VpcID: e.otherVPC.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DeleteDhcpOptions(e.ctx, eniTenant, IDInput{ID: dflt.DhcpOptionsID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.CreateDefaultVPC(e.ctx, eniTenant, true); code(err) != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	vpc := eniOK[*model.VPC](t)(e.s.CreateDefaultVPC(e.ctx, eniTenant, false))
	e.reopen()
	var subnets []string
	var igw bool
	var sets []*model.DhcpOptions
	e.view(func(v View) {
		for _, sn := range v.Subnets() {
			if sn.VpcID == vpc.ID && sn.DefaultForAz && sn.CIDR.Bits() == 20 {
				subnets = append(subnets, sn.CIDR.String())
			}
		}
		for _, g := range v.InternetGateways() {
			igw = igw || g.VpcID == vpc.ID
		}
		sets = v.DhcpOptionSets()
	})
	slices.Sort(subnets)
	if diff := cmp.Diff([]string{"172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"}, subnets); diff != "" || !igw {
		t.Errorf("default subnets (-want +got):\n%s\ninternet gateway: %v", diff, igw)
	}
	got := e.vpcOf(vpc.ID)
	if !got.IsDefault || got.CIDR.String() != "172.31.0.0/16" || len(sets) != 1 || !sets[0].Default || got.DhcpOptionsID != sets[0].ID {
		t.Errorf("default VPC %+v, sets %+v", got, sets)
	}
}

// TestDhcpSetsForOldStores: VPCs stored before option sets existed name a set the store does
// not hold; after a restart they use the region's default set, which the next write makes
// durable with the same ID.
func TestDhcpSetsForOldStores(t *testing.T) {
	e := newENITestService(t, nil)
	var sets []*model.DhcpOptions
	e.view(func(v View) { sets = v.DhcpOptionSets() })
	old := sets[0].ID
	// What an old store holds: the VPCs without their set.
	if _, err := e.st.Submit(e.ctx, nil, []store.Op{{Key: storeKey(eniTenant, kindDhcp, old), Delete: true}}).Wait(); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	e.view(func(v View) { sets = v.DhcpOptionSets() })
	if len(sets) != 1 || !sets[0].Default || sets[0].ID == old {
		t.Fatalf("sets after restart: %+v", sets)
	}
	fresh := sets[0].ID
	for _, id := range []string{e.vpc.ID, e.otherVPC.ID} {
		if got := e.vpcOf(id).DhcpOptionsID; got != fresh {
			t.Errorf("VPC %s uses %s, want the default set %s", id, got, fresh)
		}
	}
	if _, _, err := e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.3.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	e.view(func(v View) { sets = v.DhcpOptionSets() })
	if len(sets) != 1 || sets[0].ID != fresh || e.vpcOf(e.vpc.ID).DhcpOptionsID != fresh {
		t.Errorf("after a write and a restart: %+v, VPC uses %s", sets, e.vpcOf(e.vpc.ID).DhcpOptionsID)
	}
}
