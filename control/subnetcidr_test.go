package control

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

func (e *eniEnv) subnetOf(id string) *model.Subnet {
	e.t.Helper()
	return lookup(e, func(v View) (*model.Subnet, error) { return v.Subnet(id) })
}

// ipv6VPC is a VPC with an Amazon-provided /56 and the first /64 of it.
func (e *eniEnv) ipv6VPC() (*model.VPC, netip.Prefix) {
	e.t.Helper()
	v := eniOK[*model.VPC](e.t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.7.0.0/16", IPv6: true}))
	return v, netip.PrefixFrom(v.IPv6CIDR.Addr(), 64)
}

// TestSubnetAttributes: every ModifySubnetAttribute attribute, one per call, with AWS's
// defaults, the refusals, and persistence.
func TestSubnetAttributes(t *testing.T) {
	e := newENITestService(t, nil)
	yes := true
	sn := e.subnetOf(e.sn.ID)
	if sn.AssignIPv6 || sn.DNS64 || sn.DNSARecord || sn.DNSAAAARecord || sn.Hostname() != "ip-name" {
		t.Errorf("defaults %+v", sn)
	}
	rev := e.s.Revision()
	for _, tt := range []struct {
		name string
		in   ModifySubnetInput
		code string
	}{
		{"none", ModifySubnetInput{SubnetID: e.sn.ID}, "InvalidParameterCombination"},
		{"two", ModifySubnetInput{SubnetID: e.sn.ID, DNS64: &yes, DNSARecord: &yes}, "InvalidParameterCombination"},
		{"bad hostname type", ModifySubnetInput{SubnetID: e.sn.ID, HostnameType: "fqdn"}, "InvalidParameterValue"},
		{"ipv6 without a block", ModifySubnetInput{SubnetID: e.sn.ID, AssignIPv6: &yes}, "InvalidParameterValue"},
		{"unknown subnet", ModifySubnetInput{SubnetID: "subnet-0123456789abcdef0", DNS64: &yes}, "InvalidSubnetID.NotFound"},
		{"dry run", ModifySubnetInput{SubnetID: e.sn.ID, DNS64: &yes, DryRun: true}, "DryRunOperation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.s.ModifySubnet(e.ctx, eniTenant, tt.in); code(err) != tt.code {
				t.Errorf("got %v, want %s", err, tt.code)
			}
		})
	}
	if e.s.Revision() != rev {
		t.Errorf("refusals wrote")
	}
	for _, in := range []ModifySubnetInput{{DNS64: &yes}, {DNSARecord: &yes}, {DNSAAAARecord: &yes}, {HostnameType: "resource-name"}, {MapPublicIPOnLaunch: &yes}} {
		in.SubnetID = e.sn.ID
		if _, err := e.s.ModifySubnet(e.ctx, eniTenant, in); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
	}
	e.reopen()
	sn = e.subnetOf(e.sn.ID)
	if !sn.DNS64 || !sn.DNSARecord || !sn.DNSAAAARecord || sn.Hostname() != "resource-name" || !sn.MapPublicIP {
		t.Errorf("after restart %+v", sn)
	}
}

// TestIPv6NativeSubnet: an IPv6-only subnet has an IPv6 /64 and no IPv4 block, names its
// instances by resource, has no IPv4 address to give, and keeps its only block.
func TestIPv6NativeSubnet(t *testing.T) {
	e := newENITestService(t, nil)
	vpc, p := e.ipv6VPC()
	for _, in := range []CreateSubnetInput{
		{VpcID: vpc.ID, IPv6Native: true},
		{VpcID: vpc.ID, IPv6Native: true, IPv6CIDR: p.String(), CIDR: "10.7.1.0/24"},
		{VpcID: e.vpc.ID, IPv6Native: true, IPv6CIDR: p.String()},
	} {
		if _, _, err := e.s.CreateSubnet(e.ctx, eniTenant, in); err == nil {
			t.Errorf("%+v accepted", in)
		}
	}
	sn := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, IPv6Native: true, IPv6CIDR: p.String(), ZoneID: "use1-az2"}))
	if sn.CIDR.IsValid() || sn.IPv6CIDR != p || !sn.IPv6Native || sn.Hostname() != "resource-name" || sn.AZ != "us-east-1b" {
		t.Errorf("IPv6-native subnet %+v", sn)
	}
	if _, _, err := e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.7.2.0/24", IPv6CIDR: p.String()}); code(err) != "InvalidSubnet.Conflict" {
		t.Errorf("a second subnet with the same /64: %v", err)
	}
	var avail int
	e.view(func(v View) { avail = v.Available(sn) })
	if avail != 0 {
		t.Errorf("available IPv4 addresses %d", avail)
	}
	// Its interfaces have an IPv6 address and no IPv4 one (ipv6only_test.go).
	if n := e.createENI(CreateENIInput{SubnetID: sn.ID}); n.PrivateIP.IsValid() || len(n.IPv6) != 1 {
		t.Errorf("an interface of an IPv6-only subnet: %+v", n)
	}
	no := false
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: sn.ID, HostnameType: "ip-name"}); code(err) != "InvalidParameterValue" {
		t.Errorf("ip-name on an IPv6-only subnet: %v", err)
	}
	yes := true
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: sn.ID, MapPublicIPOnLaunch: &yes}); code(err) != "InvalidParameterValue" {
		t.Errorf("public IPv4 on an IPv6-only subnet: %v", err)
	}
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: sn.ID, MapPublicIPOnLaunch: &no}); err != nil {
		t.Errorf("turning public IPv4 off: %v", err)
	}
	if _, _, err := e.s.DisassociateSubnetCIDR(e.ctx, eniTenant, sn.IPv6AssocID); code(err) != "OperationNotPermitted" {
		t.Errorf("disassociating the only block: %v", err)
	}
	e.reopen()
	if got := e.subnetOf(sn.ID); got.CIDR.IsValid() || !got.IPv6Native || got.IPv6CIDR != p {
		t.Errorf("after restart %+v", got)
	}
}

// TestSubnetCIDRAssociation: an IPv6 /64 associated after creation must be inside the VPC's
// block and unused; it cannot go while an interface has an IPv6 address from it.
func TestSubnetCIDRAssociation(t *testing.T) {
	e := newENITestService(t, nil)
	vpc, p := e.ipv6VPC()
	sn := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.7.1.0/24"}))
	other := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.7.2.0/24", IPv6CIDR: p.String()}))
	next, _ := nextPrefix(p)
	rev := e.s.Revision()
	for _, tt := range []struct{ subnet, block, code string }{
		{sn.ID, p.String(), "InvalidSubnet.Conflict"},
		{sn.ID, "2001:db8::/64", "InvalidSubnet.Range"},
		{sn.ID, netip.PrefixFrom(next.Addr(), 60).String(), "InvalidSubnet.Range"},
		{sn.ID, "10.7.1.0/24", "InvalidParameterValue"},
		{other.ID, next.String(), "CidrLimitExceeded"},
		{e.sn.ID, next.String(), "InvalidSubnet.Range"}, // its VPC has no IPv6 block
		{"subnet-0123456789abcdef0", next.String(), "InvalidSubnetID.NotFound"},
	} {
		if _, _, err := e.s.AssociateSubnetCIDR(e.ctx, eniTenant, tt.subnet, tt.block); code(err) != tt.code {
			t.Errorf("associate %s with %s: %v, want %s", tt.block, tt.subnet, err, tt.code)
		}
	}
	if e.s.Revision() != rev {
		t.Errorf("refusals wrote")
	}
	a := eniOK[SubnetCIDRAssociation](t)(e.s.AssociateSubnetCIDR(e.ctx, eniTenant, sn.ID, next.String()))
	if a.CIDR != next || a.SubnetID != sn.ID || !model.ValidID(model.PrefixSubnetCidrAssoc, a.AssocID) {
		t.Errorf("association %+v", a)
	}
	n := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 1})
	if len(n.IPv6) != 1 || !next.Contains(n.IPv6[0]) {
		t.Fatalf("interface in the new block: %+v", n.IPv6)
	}
	if _, _, err := e.s.DisassociateSubnetCIDR(e.ctx, eniTenant, a.AssocID); code(err) != "InvalidCidrBlock.InUse" {
		t.Errorf("disassociate in use: %v", err)
	}
	if _, _, err := e.s.DisassociateSubnetCIDR(e.ctx, eniTenant, "subnet-cidr-assoc-0123456789abcdef0"); code(err) != "InvalidSubnetCidrBlockAssociationID.NotFound" {
		t.Errorf("disassociate unknown: %v", err)
	}
	e.reopen()
	if got := e.subnetOf(sn.ID); got.IPv6CIDR != next || got.IPv6AssocID != a.AssocID {
		t.Fatalf("after restart %+v", got)
	}
	if _, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: n.ID}); err != nil {
		t.Fatal(err)
	}
	eniOK[SubnetCIDRAssociation](t)(e.s.DisassociateSubnetCIDR(e.ctx, eniTenant, a.AssocID))
	e.reopen()
	if got := e.subnetOf(sn.ID); got.IPv6CIDR.IsValid() || got.IPv6AssocID != "" {
		t.Errorf("after disassociation %+v", got)
	}
}

// TestCreateDefaultSubnet: a /20 of the default VPC in a zone without a default subnet (its
// own slot when free), DefaultSubnetAlreadyExistsInAvailabilityZone otherwise, and
// DefaultVpcDoesNotExist without a default VPC.
func TestCreateDefaultSubnet(t *testing.T) {
	e := newENITestService(t, nil)
	create := func(in CreateDefaultSubnetInput) (*model.Subnet, error) {
		sn, _, err := e.s.CreateDefaultSubnet(e.ctx, eniTenant, in)
		return sn, err
	}
	for _, tt := range []struct {
		in   CreateDefaultSubnetInput
		code string
	}{
		{CreateDefaultSubnetInput{Zone: "us-east-1b"}, "DefaultSubnetAlreadyExistsInAvailabilityZone"},
		{CreateDefaultSubnetInput{ZoneID: "use1-az1"}, "DefaultSubnetAlreadyExistsInAvailabilityZone"},
		{CreateDefaultSubnetInput{}, "MissingParameter"},
		{CreateDefaultSubnetInput{Zone: "us-east-1b", ZoneID: "use1-az2"}, "InvalidParameterCombination"},
		{CreateDefaultSubnetInput{Zone: "us-east-1z"}, "InvalidParameterValue"},
	} {
		if _, err := create(tt.in); code(err) != tt.code {
			t.Errorf("%+v: %v, want %s", tt.in, err, tt.code)
		}
	}
	def := e.defaultSubnet() // us-east-1a's, 172.31.0.0/20
	if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: def.ID}); err != nil {
		t.Fatal(err)
	}
	// A user subnet in the zone's own slot moves the new default subnet to the first free /20.
	var dflt *model.VPC
	e.view(func(v View) { dflt = v.DefaultVPC() })
	eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: dflt.ID, CIDR: "172.31.0.0/24", Zone: "us-east-1b"}))
	if _, err := create(CreateDefaultSubnetInput{Zone: "us-east-1a", DryRun: true}); code(err) != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	sn, err := create(CreateDefaultSubnetInput{Zone: "us-east-1a"})
	if err != nil {
		t.Fatal(err)
	}
	if sn.CIDR.String() != "172.31.48.0/20" || !sn.DefaultForAz || !sn.MapPublicIP || sn.AZ != "us-east-1a" || sn.AZID != "use1-az1" {
		t.Errorf("default subnet %+v", sn)
	}
	e.reopen()
	if got := e.subnetOf(sn.ID); !got.DefaultForAz || got.CIDR != sn.CIDR {
		t.Errorf("after restart %+v", got)
	}
	// Without a default VPC.
	e2 := newENITestService(t, nil)
	for _, s := range mustViewOf(t, e2.s, eniTenant, func(v View) []*model.Subnet { return v.Subnets() }) {
		if s.DefaultForAz {
			if _, err := e2.s.DeleteSubnet(e2.ctx, eniTenant, IDInput{ID: s.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dropDefaultIGW(t, e2.s, eniTenant)
	var d2 *model.VPC
	e2.view(func(v View) { d2 = v.DefaultVPC() })
	if _, err := e2.s.DeleteVPC(e2.ctx, eniTenant, IDInput{ID: d2.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e2.s.CreateDefaultSubnet(e2.ctx, eniTenant, CreateDefaultSubnetInput{Zone: "us-east-1a"}); code(err) != "DefaultVpcDoesNotExist" {
		t.Errorf("without a default VPC: %v", err)
	}
}

// TestSubnetCIDRReservations: a reservation lies inside the subnet's block and overlaps no
// other; automatic assignment skips its addresses while an interface may still ask for one;
// it survives a restart and goes with its subnet.
func TestSubnetCIDRReservations(t *testing.T) {
	e := newENITestService(t, nil)
	create := func(cidr, typ string) (*model.SubnetCIDRReservation, error) {
		r, _, err := e.s.CreateSubnetCIDRReservation(e.ctx, eniTenant, CreateReservationInput{SubnetID: e.sn.ID, CIDR: cidr, Type: typ})
		return r, err
	}
	r, err := create("10.0.1.0/28", "explicit") // .4 to .15: the first addresses automatic assignment would give
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ cidr, typ, code string }{
		{"10.0.1.8/29", "prefix", "InvalidParameterValue"}, // overlaps
		{"10.0.2.0/28", "explicit", "InvalidParameterValue"},
		{"10.0.1.16/28", "reserved", "InvalidParameterValue"},
		{"10.0.1.16/28", "", "MissingParameter"},
		{"2001:db8::/64", "explicit", "InvalidParameterValue"}, // the subnet has no IPv6 block
		{"nonsense", "explicit", "InvalidParameterValue"},
	} {
		if _, err := create(tt.cidr, tt.typ); code(err) != tt.code {
			t.Errorf("%s %s: %v, want %s", tt.cidr, tt.typ, err, tt.code)
		}
	}
	if _, _, err := e.s.CreateSubnetCIDRReservation(e.ctx, eniTenant, CreateReservationInput{SubnetID: "subnet-0123456789abcdef0", CIDR: "10.0.1.0/28", Type: "explicit"}); code(err) != "InvalidSubnetID.NotFound" {
		t.Errorf("unknown subnet: %v", err)
	}
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID, SecondaryCount: 1})
	if r.CIDR.Contains(n.PrivateIP) || r.CIDR.Contains(n.SecondaryIPs[0]) || n.PrivateIP.String() != "10.0.1.16" {
		t.Errorf("automatic assignment gave %s and %s from reservation %s", n.PrivateIP, n.SecondaryIPs[0], r.CIDR)
	}
	asked := e.createENI(CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.5"})
	if asked.PrivateIP.String() != "10.0.1.5" {
		t.Errorf("asked-for reserved address: %s", asked.PrivateIP)
	}
	e.reopen()
	var got []*model.SubnetCIDRReservation
	e.view(func(v View) { got, _ = v.SubnetCIDRReservations(e.sn.ID) })
	if len(got) != 1 || got[0].ID != r.ID || got[0].CIDR != r.CIDR || got[0].Type != "explicit" {
		t.Fatalf("after restart %+v", got)
	}
	if _, _, err := e.s.DeleteSubnetCIDRReservation(e.ctx, eniTenant, IDInput{ID: "scr-0123456789abcdef0"}); code(err) != "InvalidSubnetCidrReservationID.NotFound" {
		t.Errorf("delete unknown: %v", err)
	}
	del := eniOK[*model.SubnetCIDRReservation](t)(e.s.DeleteSubnetCIDRReservation(e.ctx, eniTenant, IDInput{ID: r.ID}))
	if del.ID != r.ID {
		t.Errorf("deleted %+v", del)
	}
	// A reservation goes with its subnet.
	r2 := eniOK[*model.SubnetCIDRReservation](t)(e.s.CreateSubnetCIDRReservation(e.ctx, eniTenant, CreateReservationInput{SubnetID: e.small.ID, CIDR: "10.0.2.0/30", Type: "prefix"}))
	if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: e.small.ID}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if ids := e.storedIDs(kindReservation); len(ids) != 0 {
		t.Errorf("reservations left after their subnet: %v (had %s)", ids, r2.ID)
	}
}

// TestAssignIPv6OnCreation: with AssignIpv6AddressOnCreation on, a new interface gets one
// IPv6 address without asking, the lowest free one outside the subnet's IPv6 reservations.
func TestAssignIPv6OnCreation(t *testing.T) {
	e := newENITestService(t, nil)
	vpc, p := e.ipv6VPC()
	sn := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.7.1.0/24", IPv6CIDR: p.String()}))
	if n := e.createENI(CreateENIInput{SubnetID: sn.ID}); len(n.IPv6) != 0 {
		t.Errorf("IPv6 address without the attribute: %v", n.IPv6)
	}
	yes := true
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: sn.ID, AssignIPv6: &yes}); err != nil {
		t.Fatal(err)
	}
	res := netip.PrefixFrom(p.Addr(), 124) // ::0 to ::f
	eniOK[*model.SubnetCIDRReservation](t)(e.s.CreateSubnetCIDRReservation(e.ctx, eniTenant, CreateReservationInput{SubnetID: sn.ID, CIDR: res.String(), Type: "explicit"}))
	n := e.createENI(CreateENIInput{SubnetID: sn.ID})
	if len(n.IPv6) != 1 || res.Contains(n.IPv6[0]) || n.IPv6[0] != sn.AddrAt6(16) {
		t.Errorf("automatic IPv6 address %v, want %s (the first after reservation %s)", n.IPv6, sn.AddrAt6(16), res)
	}
	if n := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6: []string{sn.AddrAt6(5).String()}}); len(n.IPv6) != 1 || n.IPv6[0] != sn.AddrAt6(5) {
		t.Errorf("asked-for reserved IPv6 address: %v", n.IPv6)
	}
}
