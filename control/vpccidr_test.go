package control

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/model"
)

func (e *eniEnv) vpcOf(id string) *model.VPC {
	e.t.Helper()
	return lookup(e, func(v View) (*model.VPC, error) { return v.VPC(id) })
}

// TestAssociateVPCCIDRRules checks AWS's rules for secondary IPv4 blocks: size, overlap,
// ranges compatible with the primary block, the quota; every refusal changes nothing.
func TestAssociateVPCCIDRRules(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.CIDRBlocksPerVPC = 3 })
	assoc := func(cidr string) error {
		_, _, err := e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, CIDR: cidr})
		return err
	}
	for _, tt := range []struct{ name, cidr, code string }{
		{"too large", "10.1.0.0/15", "InvalidVpc.Range"},
		{"too small", "10.1.0.0/29", "InvalidVpc.Range"},
		{"overlaps primary", "10.0.128.0/17", "InvalidVpc.Range"},
		{"other private range", "192.168.0.0/16", "InvalidVpc.Range"},
		{"172.16/12 with a 10/8 primary", "172.20.0.0/16", "InvalidVpc.Range"},
		{"198.19/16 with a 10/8 primary", "198.19.0.0/16", "InvalidVpc.Range"},
		{"loopback", "127.0.0.0/16", "InvalidVpc.Range"},
		{"not a cidr", "10.1.0.0", "InvalidParameterValue"},
		{"ipv6 as ipv4", "fd00::/56", "InvalidParameterValue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.vpcOf(e.vpc.ID)
			if got := code(assoc(tt.cidr)); got != tt.code {
				t.Fatalf("%s: got %s, want %s", tt.cidr, got, tt.code)
			}
			if diff := cmp.Diff(before.Blocks(), e.vpcOf(e.vpc.ID).Blocks(), routeCmp); diff != "" {
				t.Errorf("blocks changed by a refusal:\n%s", diff)
			}
		})
	}
	// The table's exceptions inside a range, and what stays allowed next to them.
	v172 := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "172.20.0.0/16"}))
	v101 := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.1.0.0/16"}))
	for _, tt := range []struct{ vpc, cidr, code string }{
		{v172.ID, "172.31.0.0/16", "InvalidVpc.Range"},
		{v172.ID, "10.0.0.0/16", "InvalidVpc.Range"},
		{v101.ID, "10.0.0.0/16", "InvalidVpc.Range"},
		{v172.ID, "172.21.0.0/16", ""},
		{v101.ID, "10.2.0.0/16", ""},
	} {
		_, _, err := e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: tt.vpc, CIDR: tt.cidr})
		if got := code(err); (tt.code == "" && err != nil) || (tt.code != "" && got != tt.code) {
			t.Errorf("%s on %s: %v, want %q", tt.cidr, tt.vpc, err, tt.code)
		}
	}
	if got := code(func() error {
		_, _, err := e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: "vpc-0123456789abcdef0", CIDR: "10.1.0.0/16"})
		return err
	}()); got != "InvalidVpcID.NotFound" {
		t.Errorf("unknown VPC: %s", got)
	}
	// Another 10/8 block and a publicly routable one (or 100.64/10) are allowed; the third
	// secondary reaches the quota of 3 (the primary counts).
	if err := assoc("10.1.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if err := assoc("100.64.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if got := code(assoc("203.0.113.0/24")); got != "CidrLimitExceeded" {
		t.Errorf("fourth block: %s", got)
	}
	v := e.vpcOf(e.vpc.ID)
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}
	var got []netip.Prefix
	for _, b := range v.Blocks() {
		got = append(got, b.CIDR)
	}
	if diff := cmp.Diff(want, got, routeCmp); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	// Every route table of the VPC has a local route per block.
	if diff := cmp.Diff([]model.Route{local("10.0.0.0/16"), local("10.1.0.0/16"), local("100.64.0.0/16")}, e.mainTable(e.vpc.ID).Routes, routeCmp); diff != "" {
		t.Errorf("main table routes (-want +got):\n%s", diff)
	}
	// A table created afterwards is born with them too.
	rt := eniOK[*model.RouteTable](t)(e.s.CreateRouteTable(e.ctx, eniTenant, CreateRouteTableInput{VpcID: e.vpc.ID}))
	if diff := cmp.Diff([]model.Route{local("10.0.0.0/16"), local("10.1.0.0/16"), local("100.64.0.0/16")}, rt.Routes, routeCmp); diff != "" {
		t.Errorf("new table routes (-want +got):\n%s", diff)
	}
}

// TestVPCCIDRLifecycle associates a secondary block and an IPv6 block, puts subnets in them,
// checks that a block in use and the primary block cannot go, and that everything survives
// a restart.
func TestVPCCIDRLifecycle(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.IPv6BlocksPerVPC = 2 })
	sec := eniOK[VPCCIDRAssociation](t)(e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, CIDR: "10.1.0.0/16"}))
	v6 := eniOK[VPCCIDRAssociation](t)(e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, IPv6: true}))
	if !v6.IPv6 || v6.CIDR.Bits() != 56 || !v6.CIDR.Addr().Is6() {
		t.Fatalf("IPv6 association %+v", v6)
	}
	v6b := eniOK[VPCCIDRAssociation](t)(e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, IPv6: true}))
	if v6b.CIDR == v6.CIDR || v6b.CIDR.Bits() != 56 {
		t.Errorf("second IPv6 block %+v", v6b)
	}
	if _, _, err := e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, IPv6: true}); code(err) != "CidrLimitExceeded" {
		t.Errorf("third IPv6 block: %v", err)
	}
	// A subnet may take its /64 from either IPv6 block.
	eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.200.0/24",
		IPv6CIDR: netip.PrefixFrom(v6b.CIDR.Addr(), 64).String()}))
	// The default NACL, untouched, gains rule 101 and the IPv6 catch-all in both directions.
	var acl *model.NACL
	e.view(func(v View) { acl = v.tn.defaultNACL(e.vpc.ID) })
	n101 := 0
	for _, en := range acl.Entries {
		if en.RuleNumber == 101 && en.Allow || en.RuleNumber == model.NACLDenyAllIPv6 {
			n101++
		}
	}
	if n101 != 4 {
		t.Errorf("default NACL after IPv6: %+v", acl.Entries)
	}
	// The default group gains its egress to ::/0, once.
	g := lookup(e, func(v View) (*model.Group, error) { return v.Group(e.vpc.DefaultGroupID) })
	n6 := 0
	for _, r := range g.Egress {
		if r.Peer.CIDR == allIPv6 && r.Protocol == model.ProtoAll {
			n6++
		}
	}
	if n6 != 1 || len(g.Egress) != 2 {
		t.Errorf("default group egress after IPv6: %+v", g.Egress)
	}
	sn := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.1.3.0/24",
		IPv6CIDR: netip.PrefixFrom(v6.CIDR.Addr(), 64).String()}))
	if _, _, err := e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.2.0.0/24"}); code(err) != "InvalidSubnet.Range" {
		t.Errorf("subnet outside every block: %v", err)
	}
	for _, id := range []string{sec.AssocID, v6.AssocID} {
		if _, _, err := e.s.DisassociateVPCCIDR(e.ctx, eniTenant, id, false); code(err) != "InvalidCidrBlock.InUse" {
			t.Errorf("disassociate %s in use: %v", id, err)
		}
	}
	if _, _, err := e.s.DisassociateVPCCIDR(e.ctx, eniTenant, e.vpc.CIDRAssocID, false); code(err) != "OperationNotPermitted" {
		t.Errorf("disassociate primary: %v", err)
	}
	if _, _, err := e.s.DisassociateVPCCIDR(e.ctx, eniTenant, "vpc-cidr-assoc-0123456789abcdef0", false); code(err) != "InvalidVpcCidrBlockAssociationID.NotFound" {
		t.Errorf("disassociate unknown: %v", err)
	}
	e.reopen()
	v := e.vpcOf(e.vpc.ID)
	if len(v.Secondary) != 1 || v.Secondary[0].AssocID != sec.AssocID || v.IPv6CIDR != v6.CIDR {
		t.Fatalf("after restart: %+v", v)
	}
	if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: sn.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.DisassociateVPCCIDR(e.ctx, eniTenant, sec.AssocID, true); code(err) != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	got := eniOK[VPCCIDRAssociation](t)(e.s.DisassociateVPCCIDR(e.ctx, eniTenant, sec.AssocID, false))
	if got.CIDR != sec.CIDR || got.VpcID != e.vpc.ID {
		t.Errorf("disassociated %+v", got)
	}
	if len(v.IPv6Secondary) != 1 || v.IPv6Secondary[0].AssocID != v6b.AssocID {
		t.Errorf("second IPv6 block after restart: %+v", v.IPv6Secondary)
	}
	// The first IPv6 block goes: the second takes its place.
	eniOK[VPCCIDRAssociation](t)(e.s.DisassociateVPCCIDR(e.ctx, eniTenant, v6.AssocID, false))
	if v := e.vpcOf(e.vpc.ID); v.IPv6CIDR != v6b.CIDR || v.IPv6CIDRAssocID != v6b.AssocID || len(v.IPv6Secondary) != 0 {
		t.Errorf("after the first IPv6 block went: %+v", v)
	}
	for _, sn := range mustViewOf(t, e.s, eniTenant, func(v View) []*model.Subnet { return v.Subnets() }) {
		if sn.CIDR.String() == "10.0.200.0/24" {
			if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: sn.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	eniOK[VPCCIDRAssociation](t)(e.s.DisassociateVPCCIDR(e.ctx, eniTenant, v6b.AssocID, false))
	e.reopen()
	v = e.vpcOf(e.vpc.ID)
	if len(v.Secondary) != 0 || v.IPv6CIDR.IsValid() || len(v.IPv6Secondary) != 0 {
		t.Errorf("after disassociation and restart: %+v", v)
	}
	if diff := cmp.Diff([]model.Route{local("10.0.0.0/16")}, e.mainTable(e.vpc.ID).Routes, routeCmp); diff != "" {
		t.Errorf("local routes after disassociation (-want +got):\n%s", diff)
	}
}

// TestVPCAttributes checks the attributes' defaults (DNS hostnames on only in the default
// VPC), one attribute per call, and persistence.
func TestVPCAttributes(t *testing.T) {
	e := newENITestService(t, nil)
	var dflt *model.VPC
	e.view(func(v View) { dflt = v.DefaultVPC() })
	if v := e.vpcOf(e.vpc.ID); v.DNSSupportOff || v.DNSHostnames || v.NAUsageMetrics {
		t.Errorf("new VPC attributes %+v", v)
	}
	if !dflt.DNSHostnames || dflt.DNSSupportOff {
		t.Errorf("default VPC attributes %+v", dflt)
	}
	yes, no := true, false
	rev := e.s.Revision()
	if _, err := e.s.ModifyVPCAttribute(e.ctx, eniTenant, ModifyVPCAttributeInput{VpcID: e.vpc.ID, DNSSupport: &no, DNSHostnames: &yes}); code(err) != "InvalidParameterCombination" {
		t.Errorf("two attributes: %v", err)
	}
	if _, err := e.s.ModifyVPCAttribute(e.ctx, eniTenant, ModifyVPCAttributeInput{VpcID: e.vpc.ID}); code(err) != "InvalidParameterCombination" {
		t.Errorf("no attribute: %v", err)
	}
	if _, err := e.s.ModifyVPCAttribute(e.ctx, eniTenant, ModifyVPCAttributeInput{VpcID: "vpc-0123456789abcdef0", DNSHostnames: &yes}); code(err) != "InvalidVpcID.NotFound" {
		t.Errorf("unknown VPC: %v", err)
	}
	if e.s.Revision() != rev {
		t.Errorf("refusals wrote")
	}
	for _, in := range []ModifyVPCAttributeInput{{DNSSupport: &no}, {DNSHostnames: &yes}, {NAUsageMetrics: &yes}} {
		in.VpcID = e.vpc.ID
		if _, err := e.s.ModifyVPCAttribute(e.ctx, eniTenant, in); err != nil {
			t.Fatal(err)
		}
	}
	e.reopen()
	if v := e.vpcOf(e.vpc.ID); !v.DNSSupportOff || !v.DNSHostnames || !v.NAUsageMetrics {
		t.Errorf("after restart %+v", v)
	}
}

// TestMetadataListsEveryBlock: an instance's metadata (vpc-ipv4-cidr-blocks) lists its VPC's
// secondary blocks after the primary one, and the IPv6 block once associated.
func TestMetadataListsEveryBlock(t *testing.T) {
	e := newENITestService(t, nil)
	eniOK[VPCCIDRAssociation](t)(e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, CIDR: "100.64.0.0/16"}))
	v6 := eniOK[VPCCIDRAssociation](t)(e.s.AssociateVPCCIDR(e.ctx, eniTenant, AssociateVPCCIDRInput{VpcID: e.vpc.ID, IPv6: true}))
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, Interfaces: []RunInterface{{DeviceIndex: 0, SubnetID: e.sn.ID}}}).Instances[0]
	md, ok := e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID)
	if !ok {
		t.Fatal("no metadata")
	}
	ni := md.Interfaces[0]
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}
	if diff := cmp.Diff(want, ni.VpcCIDRs, routeCmp); diff != "" || len(ni.VpcIPv6CIDRs) != 1 || ni.VpcIPv6CIDRs[0] != v6.CIDR {
		t.Errorf("VPC blocks in metadata (-want +got):\n%s\nIPv6 %v", diff, ni.VpcIPv6CIDRs)
	}
}
