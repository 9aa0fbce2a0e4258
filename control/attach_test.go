package control

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// The environment (eniEnv, newENITestService) is in eni_test.go.

func (e *eniEnv) attach(in AttachENIInput) *model.Attachment {
	e.t.Helper()
	return eniOK[*model.Attachment](e.t)(e.s.AttachENI(e.ctx, eniTenant, in))
}

func TestAttachENIErrors(t *testing.T) {
	e := newENITestService(t, nil)
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, InstanceType: "t3.micro"}).Instances[0] // 2 interfaces
	primary := inst.InterfaceIDs[0]
	free := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	otherZone := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.7.0/24", Zone: "us-east-1b"}))
	zoneENI := e.createENI(CreateENIInput{SubnetID: otherZone.ID})
	vpcENI := e.createENI(CreateENIInput{SubnetID: e.otherSn.ID})
	crowded := e.createENI(CreateENIInput{SubnetID: e.sn.ID, SecondaryCount: 2}) // 3 IPv4 > t3.micro's 2
	gone := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0]
	e.terminate(gone.ID)
	in := func(f func(*AttachENIInput)) AttachENIInput {
		a := AttachENIInput{ENIID: free.ID, InstanceID: inst.ID, DeviceIndex: 1}
		f(&a)
		return a
	}
	runErrorCases(t, e, []errCase[AttachENIInput]{
		{"no interface", in(func(a *AttachENIInput) { a.ENIID = "" }), "MissingParameter", "NetworkInterfaceId"},
		{"no instance", in(func(a *AttachENIInput) { a.InstanceID = "" }), "MissingParameter", "InstanceId"},
		{"negative index", in(func(a *AttachENIInput) { a.DeviceIndex = -1 }), "InvalidParameterValue", "deviceIndex"},
		{"second card", in(func(a *AttachENIInput) { a.NetworkCardIndex = 1 }), "InvalidParameterValue", "networkCardIndex"},
		{"malformed interface", in(func(a *AttachENIInput) { a.ENIID = "eni-xyz" }), "InvalidNetworkInterfaceID.Malformed", "eni-xyz"},
		{"unknown interface", in(func(a *AttachENIInput) { a.ENIID = "eni-0123456789abcdef0" }), "InvalidNetworkInterfaceID.NotFound", "eni-0123456789abcdef0"},
		{"unknown instance", in(func(a *AttachENIInput) { a.InstanceID = "i-0123456789abcdef0" }), "InvalidInstanceID.NotFound", "i-0123456789abcdef0"},
		{"terminated instance", in(func(a *AttachENIInput) { a.InstanceID = gone.ID }), "IncorrectInstanceState", gone.ID},
		{"interface in use", in(func(a *AttachENIInput) { a.ENIID = primary }), "InvalidNetworkInterface.InUse", primary},
		{"device 0 taken", in(func(a *AttachENIInput) { a.DeviceIndex = 0 }), "InvalidParameterValue", "device index '0'"},
		{"other zone", in(func(a *AttachENIInput) { a.ENIID = zoneENI.ID }), "InvalidParameterValue", "same availability zone"},
		{"other VPC", in(func(a *AttachENIInput) { a.ENIID = vpcENI.ID }), "InvalidParameterValue", "different VPCs"},
		{"too many addresses for the type", in(func(a *AttachENIInput) { a.ENIID = crowded.ID }), "PrivateIpAddressLimitExceeded", "will exceed limit"},
		{"dry run", in(func(a *AttachENIInput) { a.DryRun = true }), "DryRunOperation", ""},
	}, e.s.AttachENI)

	// t3.micro takes two interfaces: a third is refused, whatever the index.
	e.attach(AttachENIInput{ENIID: free.ID, InstanceID: inst.ID, DeviceIndex: 1})
	third := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	runErrorCases(t, e, []errCase[AttachENIInput]{
		{"device 1 taken", AttachENIInput{ENIID: third.ID, InstanceID: inst.ID, DeviceIndex: 1}, "InvalidParameterValue", "device index '1'"},
		{"over the type's interfaces", AttachENIInput{ENIID: third.ID, InstanceID: inst.ID, DeviceIndex: 2}, "AttachmentLimitExceeded", "t3.micro"},
	}, e.s.AttachENI)
}

func TestAttachDetachENI(t *testing.T) {
	e := newENITestService(t, nil)
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, InstanceType: "m5.large"}).Instances[0]
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.db.ID}})
	a := e.attach(AttachENIInput{ENIID: n.ID, InstanceID: inst.ID, DeviceIndex: 2})
	if !model.ValidID(model.PrefixAttachment, a.ID) || a.InstanceID != inst.ID || a.DeviceIndex != 2 || a.DeleteOnTermination || !a.AttachTime.Equal(e.clock.Now()) {
		t.Fatalf("attachment %+v", a)
	}
	// The attachment survives a restart: the interface in use, the instance listing it after
	// its primary.
	e.reopen()
	if got := e.eni(n.ID); got.Status() != "in-use" || got.Attachment.ID != a.ID {
		t.Fatalf("after restart: %+v", got.Attachment)
	}
	if got := e.instance(inst.ID).InterfaceIDs; len(got) != 2 || got[0] != inst.InterfaceIDs[0] || got[1] != n.ID {
		t.Fatalf("instance interfaces %v", got)
	}

	// The primary cannot be detached; an unknown attachment is not found; a dry run changes nothing.
	primary := e.eni(inst.InterfaceIDs[0]).Attachment.ID
	runErrorCases(t, e, []errCase[DetachENIInput]{
		{"no attachment", DetachENIInput{}, "MissingParameter", "AttachmentId"},
		{"primary", DetachENIInput{AttachmentID: primary}, "OperationNotPermitted", "device index 0"},
		{"unknown", DetachENIInput{AttachmentID: "eni-attach-0123456789abcdef0"}, "InvalidAttachmentID.NotFound", "eni-attach-0123456789abcdef0"},
		{"dry run", DetachENIInput{AttachmentID: a.ID, DryRun: true}, "DryRunOperation", ""},
	}, noOutput(e.s.DetachENI))

	eniOK[struct{}](t)(noOutput(e.s.DetachENI)(e.ctx, eniTenant, DetachENIInput{AttachmentID: a.ID, Force: true}))
	e.reopen()
	if got := e.eni(n.ID); got.Attachment != nil || got.Status() != "available" || !slices.Equal(got.Groups, []string{e.db.ID}) || got.PrivateIP != n.PrivateIP {
		t.Fatalf("after detach: %+v", got)
	}
	if got := e.instance(inst.ID).InterfaceIDs; !slices.Equal(got, inst.InterfaceIDs) {
		t.Fatalf("instance interfaces after detach %v", got)
	}
	// The attachment is gone for good: detaching it again is not found; attaching again
	// makes a new one.
	_, err := e.s.DetachENI(e.ctx, eniTenant, DetachENIInput{AttachmentID: a.ID})
	eniCheckErr(t, err, "InvalidAttachmentID.NotFound", a.ID)
	if b := e.attach(AttachENIInput{ENIID: n.ID, InstanceID: inst.ID, DeviceIndex: 1}); b.ID == a.ID {
		t.Fatalf("re-attachment kept the old ID %s", b.ID)
	}
}

// DeleteOnTermination decides what a terminate does with an attached interface: a hot-attached
// one is kept (false, EC2's default after launch) unless the attribute is set.
func TestENIDeleteOnTermination(t *testing.T) {
	e := newENITestService(t, nil)
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, InstanceType: "m5.large"}).Instances[0]
	keep := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	drop := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	e.attach(AttachENIInput{ENIID: keep.ID, InstanceID: inst.ID, DeviceIndex: 1})
	da := e.attach(AttachENIInput{ENIID: drop.ID, InstanceID: inst.ID, DeviceIndex: 2})
	yes := true
	runErrorCases(t, e, []errCase[ModifyENIInput]{
		{"no attachment ID", ModifyENIInput{ID: drop.ID, DeleteOnTermination: &yes}, "MissingParameter", "Attachment.AttachmentId"},
		{"another interface's attachment", ModifyENIInput{ID: keep.ID, DeleteOnTermination: &yes, AttachmentID: da.ID}, "InvalidAttachmentID.NotFound", da.ID},
	}, noOutput(e.s.ModifyENI))
	eniOK[struct{}](t)(noOutput(e.s.ModifyENI)(e.ctx, eniTenant, ModifyENIInput{ID: drop.ID, DeleteOnTermination: &yes, AttachmentID: da.ID}))
	e.reopen()
	if !e.eni(drop.ID).Attachment.DeleteOnTermination || e.eni(keep.ID).Attachment.DeleteOnTermination {
		t.Fatal("DeleteOnTermination not stored")
	}
	e.terminate(inst.ID)
	e.reopen()
	if got := e.eni(keep.ID); got.Attachment != nil {
		t.Errorf("kept interface still attached: %+v", got.Attachment)
	}
	e.view(func(v View) {
		if _, err := v.ENI(drop.ID); err == nil {
			t.Errorf("interface with DeleteOnTermination survived the terminate")
		}
		if _, err := v.ENI(inst.InterfaceIDs[0]); err == nil {
			t.Errorf("primary interface survived the terminate")
		}
	})
}

func TestAssignPrivateIPs(t *testing.T) {
	e := newENITestService(t, nil)
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.small.ID, InstanceType: "t3.small"}).Instances[0] // 4 IPv4 per interface
	n := e.eni(inst.InterfaceIDs[0])                                                                               // 10.0.2.4
	other := e.createENI(CreateENIInput{SubnetID: e.small.ID, SecondaryCount: 1})                                  // .5, .6
	at := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	runErrorCases(t, e, []errCase[AssignPrivateIPsInput]{
		{"no interface", AssignPrivateIPsInput{Count: 1}, "MissingParameter", "NetworkInterfaceId"},
		{"nothing asked", AssignPrivateIPsInput{ENIID: n.ID}, "MissingParameter", "secondaryPrivateIpAddressCount"},
		{"both", AssignPrivateIPsInput{ENIID: n.ID, Count: 1, Addrs: []string{"10.0.2.9"}}, "InvalidParameterCombination", ""},
		{"negative", AssignPrivateIPsInput{ENIID: n.ID, Count: -1}, "InvalidParameterValue", "secondaryPrivateIpAddressCount"},
		{"over the type's limit", AssignPrivateIPsInput{ENIID: n.ID, Count: 4}, "PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit."},
		{"not IPv4", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"fd00::1"}}, "InvalidParameterValue", "fd00::1"},
		{"outside the subnet", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.1.9"}}, "InvalidParameterValue", "10.0.1.9"},
		{"reserved", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.2"}}, "InvalidParameterValue", "10.0.2.2"},
		{"twice", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.9", "10.0.2.9"}}, "InvalidParameterValue", "more than once"},
		{"own primary", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.4"}}, "InvalidIPAddress.InUse", "10.0.2.4"},
		{"another's, no reassignment", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.6"}}, "InvalidIPAddress.InUse", "10.0.2.6"},
		{"another's primary", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.5"}, AllowReassignment: true}, "InvalidIPAddress.InUse", "10.0.2.5"},
		{"unknown interface", AssignPrivateIPsInput{ENIID: "eni-0123456789abcdef0", Count: 1}, "InvalidNetworkInterfaceID.NotFound", ""},
		{"dry run", AssignPrivateIPsInput{ENIID: n.ID, Count: 1, DryRun: true}, "DryRunOperation", ""},
	}, e.s.AssignPrivateIPs)

	// By number: the lowest free; by address; and one moved from another interface.
	got := eniOK[[]netip.Addr](t)(e.s.AssignPrivateIPs(e.ctx, eniTenant, AssignPrivateIPsInput{ENIID: n.ID, Count: 1}))
	if !slices.Equal(got, []netip.Addr{at("10.0.2.7")}) {
		t.Fatalf("by count: %v", got)
	}
	g := eniOK[*model.InternetGateway](t)(e.s.CreateInternetGateway(e.ctx, eniTenant, CreateInternetGatewayInput{}))
	eniOK[struct{}](t)(noOutput(e.s.AttachInternetGateway)(e.ctx, eniTenant, IGWInput{GatewayID: g.ID, VpcID: e.vpc.ID}))
	eip := e.allocate(eniTenant)
	eniOK[string](t)(e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: AddressRef{AllocationID: eip.AllocationID}, ENIID: other.ID, PrivateIP: "10.0.2.6"}))
	got = eniOK[[]netip.Addr](t)(e.s.AssignPrivateIPs(e.ctx, eniTenant, AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.6"}, AllowReassignment: true}))
	if !slices.Equal(got, []netip.Addr{at("10.0.2.6")}) {
		t.Fatalf("reassigned: %v", got)
	}
	e.reopen()
	if got := e.eni(n.ID).SecondaryIPs; !slices.Equal(got, []netip.Addr{at("10.0.2.7"), at("10.0.2.6")}) {
		t.Fatalf("after restart: %v", got)
	}
	if got := e.eni(other.ID).SecondaryIPs; len(got) != 0 {
		t.Fatalf("the other interface kept the reassigned address: %v", got)
	}
	if got := lookup(e, func(v View) (*model.Address, error) { return v.Address(eip.AllocationID) }); got.ENIID != n.ID || got.PrivateIP != at("10.0.2.6") || got.AssociationID == "" {
		t.Fatalf("the Elastic IP on the reassigned address did not move with it: %+v", got)
	}

	runErrorCases(t, e, []errCase[UnassignPrivateIPsInput]{
		{"nothing", UnassignPrivateIPsInput{ENIID: n.ID}, "MissingParameter", "PrivateIpAddress"},
		{"primary", UnassignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.4"}}, "InvalidParameterValue", n.ID},
		{"not its own", UnassignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.7", "10.0.2.5"}}, "InvalidParameterValue", n.ID},
		{"malformed", UnassignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"ten"}}, "InvalidParameterValue", "ten"},
	}, noOutput(e.s.UnassignPrivateIPs))
	eniOK[struct{}](t)(noOutput(e.s.UnassignPrivateIPs)(e.ctx, eniTenant, UnassignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.7"}}))
	e.reopen()
	if got := e.eni(n.ID).SecondaryIPs; !slices.Equal(got, []netip.Addr{at("10.0.2.6")}) {
		t.Fatalf("after unassign: %v", got)
	}
	// The freed address is the lowest free again.
	if got := e.createENI(CreateENIInput{SubnetID: e.small.ID}); got.PrivateIP != at("10.0.2.7") {
		t.Fatalf("freed address not reused: %v", got.PrivateIP)
	}
	// Unassigning the address with the Elastic IP disassociates it.
	eniOK[struct{}](t)(noOutput(e.s.UnassignPrivateIPs)(e.ctx, eniTenant, UnassignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.0.2.6"}}))
	if got := lookup(e, func(v View) (*model.Address, error) { return v.Address(eip.AllocationID) }); got.ENIID != "" || got.AssociationID != "" {
		t.Fatalf("the Elastic IP stayed associated with an unassigned address: %+v", got)
	}
}

func TestAssignIPv6(t *testing.T) {
	e := newENITestService(t, nil)
	_, sn := eniIPv6Net(e)
	at := sn.AddrAt6
	n := e.createENI(CreateENIInput{SubnetID: sn.ID})
	e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 1}) // takes at(4)
	v4only := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: sn.ID, InstanceType: "t3.micro"}).Instances[0] // 2 IPv6 per interface
	runErrorCases(t, e, []errCase[AssignIPv6Input]{
		{"nothing asked", AssignIPv6Input{ENIID: n.ID}, "MissingParameter", "ipv6AddressCount"},
		{"both", AssignIPv6Input{ENIID: n.ID, Count: 1, Addrs: []string{at(9).String()}}, "InvalidParameterCombination", ""},
		{"taken", AssignIPv6Input{ENIID: n.ID, Addrs: []string{at(4).String()}}, "InvalidIPAddress.InUse", at(4).String()},
		{"outside the subnet", AssignIPv6Input{ENIID: n.ID, Addrs: []string{"2001:db8::1"}}, "InvalidParameterValue", "2001:db8::1"},
		{"not IPv6", AssignIPv6Input{ENIID: n.ID, Addrs: []string{"10.6.1.9"}}, "InvalidParameterValue", "10.6.1.9"},
		{"IPv4-only subnet", AssignIPv6Input{ENIID: v4only.ID, Count: 1}, "InvalidParameterValue", "no IPv6 CIDR"},
		{"over the type's limit", AssignIPv6Input{ENIID: inst.InterfaceIDs[0], Count: 3}, "InvalidParameterValue", "limit of 2"},
		{"dry run", AssignIPv6Input{ENIID: n.ID, Count: 1, DryRun: true}, "DryRunOperation", ""},
	}, e.s.AssignIPv6)
	got := eniOK[[]netip.Addr](t)(e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: n.ID, Count: 2}))
	if want := []netip.Addr{at(5), at(6)}; !slices.Equal(got, want) {
		t.Fatalf("by count: %v, want %v", got, want)
	}
	got = eniOK[[]netip.Addr](t)(e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: n.ID, Addrs: []string{at(20).String()}}))
	if !slices.Equal(got, []netip.Addr{at(20)}) {
		t.Fatalf("by address: %v", got)
	}
	e.reopen()
	if got := e.eni(n.ID).IPv6; !slices.Equal(got, []netip.Addr{at(5), at(6), at(20)}) {
		t.Fatalf("after restart: %v", got)
	}
	runErrorCases(t, e, []errCase[UnassignIPv6Input]{
		{"nothing", UnassignIPv6Input{ENIID: n.ID}, "MissingParameter", "Ipv6Addresses"},
		{"not its own", UnassignIPv6Input{ENIID: n.ID, Addrs: []string{at(5).String(), at(4).String()}}, "InvalidParameterValue", n.ID},
		{"malformed", UnassignIPv6Input{ENIID: n.ID, Addrs: []string{"10.0.0.1"}}, "InvalidParameterValue", "10.0.0.1"},
	}, e.s.UnassignIPv6)
	got = eniOK[[]netip.Addr](t)(e.s.UnassignIPv6(e.ctx, eniTenant, UnassignIPv6Input{ENIID: n.ID, Addrs: []string{at(5).String()}}))
	if !slices.Equal(got, []netip.Addr{at(5)}) {
		t.Fatalf("unassigned %v", got)
	}
	e.reopen()
	if got := e.eni(n.ID).IPv6; !slices.Equal(got, []netip.Addr{at(6), at(20)}) {
		t.Fatalf("after unassign: %v", got)
	}
}

// TestRunInstancesInterfaceLimit: a launch with more interfaces than its instance type allows
// is refused as an attachment beyond it is, and creates nothing.
func TestRunInstancesInterfaceLimit(t *testing.T) {
	e := newENITestService(t, nil)
	ifaces := func(n int) []RunInterface {
		var out []RunInterface
		for i := range n {
			out = append(out, RunInterface{DeviceIndex: i, SubnetID: e.sn.ID})
		}
		return out
	}
	before := e.snapshot()
	// No type given: EC2's default, m1.small, takes two.
	_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{MinCount: 1, MaxCount: 1, ImageID: image.DefaultID, Interfaces: ifaces(3)})
	eniCheckErr(t, err, "AttachmentLimitExceeded", "Interface count 3 exceeds the limit for m1.small")
	e.checkUnchanged(before)
	r := e.run(RunInput{MinCount: 1, MaxCount: 1, InstanceType: "t3.medium", Interfaces: ifaces(3)})
	if got := len(e.instance(r.Instances[0].ID).InterfaceIDs); got != 3 {
		t.Errorf("t3.medium launched with %d interfaces, want 3", got)
	}
}
