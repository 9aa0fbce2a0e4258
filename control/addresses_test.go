package control

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

var addrOtherTenant = Tenant{Account: "777788889999", Region: "us-east-1"}

// addrState is what the address tests check for "nothing changed".
type addrState struct {
	Revision  int64
	Addresses []*model.Address
	NATs      []*model.NATGateway
	ENIs      []*model.NetworkInterface
}

func (e *eniEnv) addrState() addrState {
	e.t.Helper()
	var s addrState
	e.view(func(v View) { s.Addresses, s.NATs, s.ENIs = v.Addresses(), v.NATGateways(), v.ENIs() })
	s.Revision = e.s.Revision()
	return s
}

func (e *eniEnv) allocate(t Tenant) *model.Address {
	e.t.Helper()
	return eniOK[*model.Address](e.t)(e.s.AllocateAddress(e.ctx, t, AllocateAddressInput{}))
}

// defaultSubnet returns the default VPC's subnet in us-east-1a (MapPublicIpOnLaunch on).
func (e *eniEnv) defaultSubnet() *model.Subnet {
	e.t.Helper()
	var out *model.Subnet
	e.view(func(v View) {
		for _, sn := range v.Subnets() {
			if sn.DefaultForAz && sn.AZ == "us-east-1a" {
				out = sn
			}
		}
	})
	if out == nil || !out.MapPublicIP {
		e.t.Fatalf("default subnet %+v: want one with MapPublicIpOnLaunch", out)
	}
	return out
}

func (e *eniEnv) launchIn(subnetID string, public *bool) (*model.Instance, *model.NetworkInterface) {
	e.t.Helper()
	in := RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1}
	if public != nil {
		in.Interfaces = []RunInterface{{DeviceIndex: 0, SubnetID: subnetID, AssociatePublicIP: public}}
	} else {
		in.SubnetID = subnetID
	}
	r := eniOK[*Reservation](e.t)(e.s.RunInstances(e.ctx, eniTenant, in))
	inst := r.Instances[0]
	return inst, e.eni(inst.InterfaceIDs[0])
}

func TestAllocateAddressPoolAndQuota(t *testing.T) {
	e := newENITestService(t, nil)
	var got []netip.Addr
	for range 5 {
		a := e.allocate(eniTenant)
		if a.Domain != "vpc" || a.OwnerID != eniTenant.Account || !model.ValidID(model.PrefixAllocation, a.AllocationID) {
			t.Errorf("address %+v", a)
		}
		got = append(got, a.PublicIP)
	}
	// The lowest free addresses of 198.18.0.0/15, after the network and internet-side ones.
	want := []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.4"),
		netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("198.18.0.6")}
	if diff := cmp.Diff(want, got, eniCmpOpts); diff != "" {
		t.Fatalf("addresses (-want +got):\n%s", diff)
	}
	before := e.addrState()
	_, _, err := e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "maximum number of addresses")
	if diff := cmp.Diff(before, e.addrState(), eniCmpOpts); diff != "" {
		t.Errorf("a refused allocation changed the state:\n%s", diff)
	}
	// Another account's addresses never collide with these, and survive a restart.
	other := e.allocate(addrOtherTenant)
	if other.PublicIP != netip.MustParseAddr("198.18.0.7") {
		t.Errorf("other account got %s", other.PublicIP)
	}
	e.reopen()
	if again := e.allocate(addrOtherTenant); again.PublicIP != netip.MustParseAddr("198.18.0.8") {
		t.Errorf("after a restart the pool handed out %s, want 198.18.0.8", again.PublicIP)
	}
	// A released address is reusable, and a restart knows it is free.
	first := lookup(e, func(v View) (*model.Address, error) { return v.Address(before.Addresses[0].AllocationID) })
	if _, err := e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: first.AllocationID}}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if a := e.allocate(eniTenant); a.PublicIP != first.PublicIP {
		t.Errorf("after release and restart got %s, want the released %s", a.PublicIP, first.PublicIP)
	}
}

func TestAllocateAddressErrors(t *testing.T) {
	e := newENITestService(t, nil)
	held := e.allocate(addrOtherTenant)
	runErrorCases(t, e, []errCase[AllocateAddressInput]{
		{"standard domain", AllocateAddressInput{Domain: "standard"}, "InvalidParameterValue", "standard"},
		{"bad domain", AllocateAddressInput{Domain: "x"}, "InvalidParameterValue", "domain"},
		{"byoip pool", AllocateAddressInput{PublicIPv4Pool: "ipv4pool-ec2-0123"}, "InvalidParameterValue", "publicIpv4Pool"},
		{"border group", AllocateAddressInput{NetworkBorderGroup: "eu-west-1"}, "InvalidParameterValue", "networkBorderGroup"},
		{"bad address", AllocateAddressInput{Address: "x"}, "InvalidParameterValue", "address"},
		{"address of another account", AllocateAddressInput{Address: held.PublicIP.String()}, "InvalidAddress.NotFound", held.PublicIP.String()},
		{"address outside the pool", AllocateAddressInput{Address: "8.8.8.8"}, "InvalidAddress.NotFound", "8.8.8.8"},
		{"dry run", AllocateAddressInput{DryRun: true}, "DryRunOperation", ""},
	}, e.s.AllocateAddress)
	if a := e.allocate(eniTenant); a.PublicIP != netip.MustParseAddr("198.18.0.3") {
		t.Errorf("after a dry run the pool handed out %s, want 198.18.0.3 (the dry run's address back)", a.PublicIP)
	}
	a := eniOK[*model.Address](t)(e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{Address: "198.18.0.9"}))
	if a.PublicIP != netip.MustParseAddr("198.18.0.9") {
		t.Errorf("asked for 198.18.0.9, got %s", a.PublicIP)
	}
}

func TestPoolExhaustion(t *testing.T) {
	e := newENITestService(t, func(c *Config) {
		c.PublicPool = netip.MustParsePrefix("203.0.113.0/29") // .2 to .6: five addresses
		c.Quotas.ElasticIPs = 10
	})
	for range 5 {
		e.allocate(eniTenant)
	}
	before := e.addrState()
	_, _, err := e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{})
	eniCheckErr(t, err, "InsufficientAddressCapacity", "203.0.113.0/29")
	_, _, err = e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		Interfaces: []RunInterface{{DeviceIndex: 0, SubnetID: e.sn.ID, AssociatePublicIP: new(true)}}})
	eniCheckErr(t, err, "InsufficientAddressCapacity", "")
	if diff := cmp.Diff(before, e.addrState(), eniCmpOpts); diff != "" {
		t.Errorf("a refused allocation changed the state:\n%s", diff)
	}
}

// TestPublicAddressesPerAccount: one account cannot empty the pool that every account draws
// from — its public addresses, in all its regions, are bounded; a refusal changes nothing; a
// released address counts no more (also after a restart); other accounts still get theirs.
func TestPublicAddressesPerAccount(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.PublicIPsPerAccount = 3 })
	west := Tenant{Account: eniTenant.Account, Region: "us-west-2"}
	e.allocate(eniTenant)
	e.allocate(eniTenant)
	last := e.allocate(west) // the same account in another region: the third
	before := e.addrState()
	_, _, err := e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "for this account (3, in all regions)")
	_, _, err = e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		Interfaces: []RunInterface{{DeviceIndex: 0, SubnetID: e.sn.ID, AssociatePublicIP: new(true)}}})
	eniCheckErr(t, err, "AddressLimitExceeded", "")
	if diff := cmp.Diff(before, e.addrState(), eniCmpOpts); diff != "" {
		t.Errorf("a refused allocation changed the state:\n%s", diff)
	}
	e.allocate(addrOtherTenant) // another account is not held back
	if _, err := e.s.ReleaseAddress(e.ctx, west, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: last.AllocationID}}); err != nil {
		t.Fatal(err)
	}
	e.reopen() // the count is rebuilt from the store
	e.allocate(eniTenant)
	_, _, err = e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "")
}

// TestReleaseIsNotVisibleBeforeCommit: a release that is rolled back (a dry run) must not have
// let another account take the address.
func TestReleaseRollbackKeepsAddress(t *testing.T) {
	e := newENITestService(t, nil)
	a := e.allocate(eniTenant)
	_, err := e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}, DryRun: true})
	eniCheckErr(t, err, "DryRunOperation", "")
	if b := e.allocate(addrOtherTenant); b.PublicIP == a.PublicIP {
		t.Fatalf("another account got %s, still held", b.PublicIP)
	}
}

func TestPublicAddressOnLaunch(t *testing.T) {
	e := newENITestService(t, nil)
	def := e.defaultSubnet()
	inst, eni := e.launchIn(def.ID, nil)
	if !eni.PublicIP.IsValid() || !DefaultPublicPool.Contains(eni.PublicIP) || !eni.PublicOnLaunch {
		t.Fatalf("default subnet: interface %+v has no public address", eni)
	}
	_, priv := e.launchIn(e.sn.ID, nil)
	if priv.PublicIP.IsValid() {
		t.Errorf("subnet without MapPublicIpOnLaunch gave %s", priv.PublicIP)
	}
	_, asked := e.launchIn(e.sn.ID, new(true))
	if !asked.PublicIP.IsValid() {
		t.Errorf("AssociatePublicIpAddress true gave no address")
	}
	_, refused := e.launchIn(def.ID, new(false))
	if refused.PublicIP.IsValid() {
		t.Errorf("AssociatePublicIpAddress false still gave %s", refused.PublicIP)
	}
	// MapPublicIpOnLaunch set on a subnet applies to the next launches.
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: e.sn.ID, MapPublicIPOnLaunch: new(true)}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if sn := lookup(e, func(v View) (*model.Subnet, error) { return v.Subnet(e.sn.ID) }); !sn.MapPublicIP {
		t.Errorf("MapPublicIpOnLaunch lost across a restart")
	}
	if _, mapped := e.launchIn(e.sn.ID, nil); !mapped.PublicIP.IsValid() {
		t.Errorf("subnet with MapPublicIpOnLaunch gave no address")
	}
	if got := e.eni(eni.ID).PublicIP; got != eni.PublicIP {
		t.Errorf("after a restart the public address is %s, want %s", got, eni.PublicIP)
	}
	// Terminating returns it to the pool.
	if _, _, err := e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: []string{inst.ID}}); err != nil {
		t.Fatal(err)
	}
	if a := e.allocate(addrOtherTenant); a.PublicIP != eni.PublicIP {
		t.Errorf("after terminate the pool handed out %s, want the instance's %s", a.PublicIP, eni.PublicIP)
	}
}

func TestRunInstancesPublicAddressErrors(t *testing.T) {
	e := newENITestService(t, nil)
	base := RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1}
	with := func(ifs ...RunInterface) RunInput { in := base; in.Interfaces = ifs; return in }
	runErrorCases(t, e, []errCase[RunInput]{
		{"not device 0", with(RunInterface{DeviceIndex: 0, SubnetID: e.sn.ID}, RunInterface{DeviceIndex: 1, SubnetID: e.sn.ID, AssociatePublicIP: new(true)}),
			"InvalidParameterCombination", "DeviceIndex 0"},
		{"several interfaces", with(RunInterface{DeviceIndex: 0, SubnetID: e.sn.ID, AssociatePublicIP: new(true)}, RunInterface{DeviceIndex: 1, SubnetID: e.sn.ID}),
			"InvalidParameterCombination", "multiple network interfaces"},
	}, e.s.RunInstances)
}

func TestModifySubnetErrors(t *testing.T) {
	e := newENITestService(t, nil)
	runErrorCases(t, e, []errCase[ModifySubnetInput]{
		{"no subnet", ModifySubnetInput{MapPublicIPOnLaunch: new(true)}, "MissingParameter", "SubnetId"},
		{"no attribute", ModifySubnetInput{SubnetID: e.sn.ID}, "InvalidParameterCombination", "attribute"},
		{"unknown subnet", ModifySubnetInput{SubnetID: "subnet-0123456789abcdef0", MapPublicIPOnLaunch: new(true)}, "InvalidSubnetID.NotFound", ""},
		{"dry run", ModifySubnetInput{SubnetID: e.sn.ID, MapPublicIPOnLaunch: new(true), DryRun: true}, "DryRunOperation", ""},
	}, noOutput(e.s.ModifySubnet))
}

func TestAssociateAddress(t *testing.T) {
	e := newENITestService(t, nil)
	def := e.defaultSubnet()
	inst, eni := e.launchIn(def.ID, nil)
	launchIP := eni.PublicIP
	a := e.allocate(eniTenant)
	assoc := eniOK[string](t)(e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}, InstanceID: inst.ID}))
	if !model.ValidID(model.PrefixEIPAssoc, assoc) {
		t.Fatalf("association ID %q", assoc)
	}
	e.reopen()
	got := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) })
	if got.AssociationID != assoc || got.ENIID != eni.ID || got.PrivateIP != eni.PrivateIP {
		t.Errorf("after association and restart: %+v", got)
	}
	if n := e.eni(eni.ID); n.PublicIP.IsValid() {
		t.Errorf("the Elastic IP did not replace the launch address: %s", n.PublicIP)
	}
	// The launch address went back to the pool.
	if o := e.allocate(addrOtherTenant); o.PublicIP != launchIP {
		t.Errorf("pool handed out %s, want the replaced %s", o.PublicIP, launchIP)
	}

	// Errors, each changing nothing.
	b := e.allocate(eniTenant)
	_, other := e.launchIn(def.ID, new(false))
	_, custom := e.launchIn(e.sn.ID, nil)
	held := e.allocate(addrOtherTenant)
	ref := func(id string) AddressRef { return AddressRef{AllocationID: id} }
	runErrorCases(t, e, []errCase[AssociateAddressInput]{
		{"no target", AssociateAddressInput{AddressRef: ref(b.AllocationID)}, "InvalidParameterCombination", ""},
		{"no address", AssociateAddressInput{ENIID: other.ID}, "MissingParameter", "AllocationId"},
		{"malformed allocation", AssociateAddressInput{AddressRef: ref("eipalloc-x"), ENIID: other.ID}, "InvalidAllocationID.Malformed", "eipalloc-x"},
		{"unknown allocation", AssociateAddressInput{AddressRef: ref("eipalloc-0123456789abcdef0"), ENIID: other.ID}, "InvalidAllocationID.NotFound", ""},
		{"another account's address", AssociateAddressInput{AddressRef: AddressRef{PublicIP: held.PublicIP.String()}, ENIID: other.ID}, "AuthFailure", ""},
		{"unknown interface", AssociateAddressInput{AddressRef: ref(b.AllocationID), ENIID: "eni-0123456789abcdef0"}, "InvalidNetworkInterfaceID.NotFound", ""},
		{"foreign private address", AssociateAddressInput{AddressRef: ref(b.AllocationID), ENIID: other.ID, PrivateIP: "10.0.1.200"}, "InvalidParameterValue", "10.0.1.200"},
		{"no internet gateway", AssociateAddressInput{AddressRef: ref(b.AllocationID), ENIID: custom.ID}, "Gateway.NotAttached", e.vpc.ID},
		{"already associated", AssociateAddressInput{AddressRef: ref(a.AllocationID), ENIID: other.ID}, "Resource.AlreadyAssociated", assoc},
		{"dry run", AssociateAddressInput{AddressRef: ref(b.AllocationID), ENIID: other.ID, DryRun: true}, "DryRunOperation", ""},
	}, e.s.AssociateAddress)
	_, err := e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: ref(a.AllocationID)})
	eniCheckErr(t, err, "InvalidIPAddress.InUse", a.PublicIP.String())
	_, err = e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: AddressRef{PublicIP: held.PublicIP.String()}})
	eniCheckErr(t, err, "AuthFailure", "")
	_, err = e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: ref("eipalloc-0123456789abcdef0")})
	eniCheckErr(t, err, "InvalidAllocationID.NotFound", "")

	// Reassociation moves it; the interface it left gets a new launch address.
	assoc2 := eniOK[string](t)(e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: ref(a.AllocationID), ENIID: other.ID, AllowReassociation: true}))
	if n := e.eni(eni.ID); !n.PublicIP.IsValid() {
		t.Errorf("the interface the Elastic IP left has no public address")
	}
	if _, err := e.s.DisassociateAddress(e.ctx, eniTenant, DisassociateAddressInput{AssociationID: assoc}); err == nil || eniCode(err) != "InvalidAssociationID.NotFound" {
		t.Errorf("old association: %v", err)
	}
	if _, err := e.s.DisassociateAddress(e.ctx, eniTenant, DisassociateAddressInput{AssociationID: assoc2}); err != nil {
		t.Fatal(err)
	}
	if got := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) }); got.Associated() {
		t.Errorf("still associated: %+v", got)
	}
	if n := e.eni(other.ID); n.PublicIP.IsValid() {
		t.Errorf("an interface launched without a public address got %s", n.PublicIP)
	}
	if _, err := e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: ref(a.AllocationID)}); err != nil {
		t.Fatal(err)
	}
}

func TestTerminateDisassociatesElasticIP(t *testing.T) {
	e := newENITestService(t, nil)
	inst, eni := e.launchIn(e.defaultSubnet().ID, nil)
	a := e.allocate(eniTenant)
	eniOK[string](t)(e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}, ENIID: eni.ID}))
	if _, _, err := e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: []string{inst.ID}}); err != nil {
		t.Fatal(err)
	}
	got := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) })
	if got.Associated() || got.PublicIP != a.PublicIP {
		t.Errorf("after terminate: %+v, want allocated and not associated", got)
	}
}

func TestNATGateways(t *testing.T) {
	e := newENITestService(t, nil)
	priv := eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private"}))
	if priv.State != "pending" || !model.ValidID(model.PrefixNATGateway, priv.ID) || priv.VpcID != e.vpc.ID {
		t.Errorf("reply %+v", priv)
	}
	e.reopen()
	g := lookup(e, func(v View) (*model.NATGateway, error) { return v.NATGateway(priv.ID) })
	if g.State != "available" || !e.sn.CIDR.Contains(g.PrivateIP) {
		t.Errorf("stored %+v", g)
	}
	nic := e.eni(g.ENIID)
	if !nic.RequesterManaged || nic.InterfaceType != "nat_gateway" || len(nic.Groups) != 0 || nic.PrivateIP != g.PrivateIP {
		t.Errorf("gateway interface %+v", nic)
	}
	_, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: nic.ID})
	eniCheckErr(t, err, "InvalidParameterValue", nic.ID)
	lookup(e, func(v View) (*model.NATGateway, error) { return v.NATGatewayForRoute(priv.ID, e.vpc.ID) })
	e.view(func(v View) {
		if _, err := v.NATGatewayForRoute(priv.ID, e.otherVPC.ID); err == nil {
			t.Errorf("route check accepted a gateway of another VPC")
		}
	})

	// Public, in a VPC without an internet gateway: failed, as AWS reports it.
	a := e.allocate(eniTenant)
	failed := eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: e.sn.ID, AllocationID: a.AllocationID}))
	if failed.State != "failed" || failed.FailureCode != "Gateway.NotAttached" || failed.ENIID != "" {
		t.Errorf("public gateway without internet gateway: %+v", failed)
	}
	// Public, in the default VPC: the Elastic IP is the gateway's.
	pub := eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: e.defaultSubnet().ID, AllocationID: a.AllocationID,
		Tags: model.Tags{"Name": "nat"}}))
	if pub.State != "pending" || pub.PublicIP != a.PublicIP || pub.AllocationID != a.AllocationID {
		t.Fatalf("public gateway %+v", pub)
	}
	addr := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) })
	if addr.ENIID != pub.ENIID || addr.AssociationID != pub.AssociationID {
		t.Errorf("Elastic IP %+v not on the gateway's interface", addr)
	}
	_, err = e.s.DisassociateAddress(e.ctx, eniTenant, DisassociateAddressInput{AssociationID: addr.AssociationID})
	eniCheckErr(t, err, "OperationNotPermitted", "NAT gateway")
	_, err = e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}})
	eniCheckErr(t, err, "InvalidIPAddress.InUse", "")

	// Delete: deleted, interface gone, Elastic IP still allocated; visible for an hour.
	if _, err := e.s.DeleteNATGateway(e.ctx, eniTenant, IDInput{ID: pub.ID}); err != nil {
		t.Fatal(err)
	}
	g = lookup(e, func(v View) (*model.NATGateway, error) { return v.NATGateway(pub.ID) })
	if g.State != "deleted" || g.DeleteTime.IsZero() {
		t.Errorf("deleted gateway %+v", g)
	}
	e.view(func(v View) {
		if _, err := v.ENI(g.ENIID); g.ENIID != "" || err == nil {
			t.Errorf("the gateway's interface survived it")
		}
	})
	if addr := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) }); addr.Associated() {
		t.Errorf("Elastic IP still associated: %+v", addr)
	}
	_, err = e.s.DeleteNATGateway(e.ctx, eniTenant, IDInput{ID: pub.ID})
	eniCheckErr(t, err, "NatGatewayNotFound", pub.ID)
	e.clock.Advance(model.NATGatewayVisibleFor + time.Minute)
	e.allocate(eniTenant) // any write purges
	e.reopen()
	_, err = e.s.DeleteNATGateway(e.ctx, eniTenant, IDInput{ID: pub.ID})
	eniCheckErr(t, err, "NatGatewayNotFound", pub.ID)
	var ids []string
	e.view(func(v View) {
		for _, g := range v.NATGateways() {
			ids = append(ids, g.ID)
		}
	})
	if diff := cmp.Diff([]string{priv.ID}, ids); diff != "" {
		t.Errorf("gateways after an hour (-want +got):\n%s", diff)
	}
}

func TestCreateNATGatewayErrors(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.NATGatewaysPerAZ = 1 })
	a := e.allocate(eniTenant)
	runErrorCases(t, e, []errCase[CreateNATGatewayInput]{
		{"no subnet", CreateNATGatewayInput{ConnectivityType: "private"}, "MissingParameter", "SubnetId"},
		{"bad type", CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "x"}, "InvalidParameterValue", "connectivityType"},
		{"public without address", CreateNATGatewayInput{SubnetID: e.sn.ID}, "MissingParameter", "AllocationId"},
		{"private with address", CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private", AllocationID: a.AllocationID}, "InvalidParameterCombination", ""},
		{"unknown subnet", CreateNATGatewayInput{SubnetID: "subnet-0123456789abcdef0", ConnectivityType: "private"}, "InvalidSubnetID.NotFound", ""},
		{"unknown allocation", CreateNATGatewayInput{SubnetID: e.sn.ID, AllocationID: "eipalloc-0123456789abcdef0"}, "InvalidAllocationID.NotFound", ""},
		{"address outside subnet", CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private", PrivateIP: "10.9.9.9"}, "InvalidParameterValue", "10.9.9.9"},
		{"dry run", CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private", DryRun: true}, "DryRunOperation", ""},
	}, e.s.CreateNATGateway)
	eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private"}))
	runErrorCases(t, e, []errCase[CreateNATGatewayInput]{
		{"quota", CreateNATGatewayInput{SubnetID: e.small.ID, ConnectivityType: "private"}, "NatGatewayLimitExceeded", ""},
	}, e.s.CreateNATGateway)
	runErrorCases(t, e, []errCase[IDInput]{
		{"malformed", IDInput{ID: "nat-x"}, "NatGatewayMalformed", "nat-x"},
		{"unknown", IDInput{ID: "nat-0123456789abcdef0"}, "NatGatewayNotFound", "nat-0123456789abcdef0"},
	}, noOutput(e.s.DeleteNATGateway))
}
