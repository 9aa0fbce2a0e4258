package control

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// ipv6OnlyNet is an IPv6-only subnet (Ipv6Native) of a VPC with an IPv6 block, and a
// dual-stack subnet of the same VPC and zone, in e's tenant.
func ipv6OnlyNet(e *eniEnv) (native, dual *model.Subnet) {
	e.t.Helper()
	vpc, p := e.ipv6VPC()
	native = eniOK[*model.Subnet](e.t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, IPv6Native: true, IPv6CIDR: p.String(), Zone: "us-east-1a"}))
	next := p.Addr().As16()
	next[7]++
	dual = eniOK[*model.Subnet](e.t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.7.1.0/24",
		IPv6CIDR: netip.PrefixFrom(netip.AddrFrom16(next), 64).String(), Zone: "us-east-1a"}))
	return native, dual
}

// An interface in an IPv6-only subnet has no IPv4 address and, unless it asks for others, one
// IPv6 address, its primary: the lowest free one after the four AWS reserves.
func TestIPv6OnlyInterfaceAddresses(t *testing.T) {
	e := newENITestService(t, nil)
	sn, _ := ipv6OnlyNet(e)
	at := sn.AddrAt6
	for _, c := range []struct {
		name string
		in   CreateENIInput
		want []netip.Addr
	}{
		{"by default", CreateENIInput{}, []netip.Addr{at(4)}},
		{"by count", CreateENIInput{IPv6Count: 2}, []netip.Addr{at(5), at(6)}},
		{"by address", CreateENIInput{IPv6: []string{at(9).String()}}, []netip.Addr{at(9)}},
		{"the next default", CreateENIInput{}, []netip.Addr{at(7)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.SubnetID = sn.ID
			n := e.createENI(c.in)
			if n.PrivateIP.IsValid() || !n.IPv6Only() || len(n.SecondaryIPs) != 0 {
				t.Errorf("IPv4 on an IPv6-only interface: %+v", n)
			}
			if diff := cmp.Diff(c.want, n.IPv6, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("IPv6 addresses (-want +got):\n%s", diff)
			}
			if n.PrimaryAddr() != c.want[0] || !slices.Equal(n.Addrs(), c.want) {
				t.Errorf("primary %v, addresses %v", n.PrimaryAddr(), n.Addrs())
			}
		})
	}
}

// Every IPv4 parameter is refused in an IPv6-only subnet, and nothing changes.
func TestIPv6OnlyRefusesIPv4(t *testing.T) {
	e := newENITestService(t, nil)
	sn, dual := ipv6OnlyNet(e)
	runErrorCases(t, e, []errCase[CreateENIInput]{
		{"private address", CreateENIInput{SubnetID: sn.ID, PrivateIP: "10.7.0.10"}, "InvalidParameterCombination", "privateIpAddress 10.7.0.10"},
		{"secondary count", CreateENIInput{SubnetID: sn.ID, SecondaryCount: 1}, "InvalidParameterCombination", "secondaryPrivateIpAddressCount"},
	}, e.s.CreateENI)

	n := e.createENI(CreateENIInput{SubnetID: sn.ID})
	runErrorCases(t, e, []errCase[AssignPrivateIPsInput]{
		{"assign by count", AssignPrivateIPsInput{ENIID: n.ID, Count: 1}, "InvalidParameterCombination", "secondaryPrivateIpAddressCount"},
		{"assign by address", AssignPrivateIPsInput{ENIID: n.ID, Addrs: []string{"10.7.1.20"}}, "InvalidParameterCombination", "10.7.1.20"},
	}, e.s.AssignPrivateIPs)
	eip := e.allocate(eniTenant)
	runErrorCases(t, e, []errCase[AssociateAddressInput]{
		{"an Elastic IP", AssociateAddressInput{AddressRef: AddressRef{AllocationID: eip.AllocationID}, ENIID: n.ID}, "InvalidParameterCombination", "no private IPv4 address"},
	}, e.s.AssociateAddress)
	runErrorCases(t, e, []errCase[UnassignIPv6Input]{
		{"its only address", UnassignIPv6Input{ENIID: n.ID, Addrs: []string{n.PrimaryAddr().String()}}, "InvalidParameterCombination", "at least one IPv6 address"},
	}, e.s.UnassignIPv6)

	// A second IPv6 address comes and goes as on any interface; the primary stays first.
	added := eniOK[[]netip.Addr](t)(e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: n.ID, Count: 1}))
	eniOK[[]netip.Addr](t)(e.s.UnassignIPv6(e.ctx, eniTenant, UnassignIPv6Input{ENIID: n.ID, Addrs: []string{added[0].String()}}))
	if got := e.eni(n.ID); !slices.Equal(got.IPv6, n.IPv6) {
		t.Errorf("after assign and unassign: %v, want %v", got.IPv6, n.IPv6)
	}

	// Instances: only Nitro types, no public IPv4 address, no private IPv4 address.
	yes := true
	one := func(in RunInput) RunInput { in.ImageID, in.MinCount, in.MaxCount = image.DefaultID, 1, 1; return in }
	runErrorCases(t, e, []errCase[RunInput]{
		{"a Xen type", one(RunInput{SubnetID: sn.ID, InstanceType: "t2.micro"}), "InvalidParameterCombination", "Nitro"},
		{"the default type (m1.small, Xen)", one(RunInput{SubnetID: sn.ID}), "InvalidParameterCombination", "Nitro"},
		{"a private address", one(RunInput{SubnetID: sn.ID, InstanceType: "t3.micro", PrivateIP: "10.7.0.9"}), "InvalidParameterCombination", "privateIpAddress"},
		{"a public address", one(RunInput{InstanceType: "t3.micro",
			Interfaces: []RunInterface{{SubnetID: sn.ID, AssociatePublicIP: &yes}}}), "InvalidParameterCombination", "public IPv4"},
		{"a second interface with a Xen type", one(RunInput{InstanceType: "t2.small",
			Interfaces: []RunInterface{{SubnetID: dual.ID}, {SubnetID: sn.ID, DeviceIndex: 1}}}), "InvalidParameterCombination", "Nitro"},
	}, e.s.RunInstances)

	xen := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: dual.ID, InstanceType: "t2.small"}).Instances[0]
	free := e.createENI(CreateENIInput{SubnetID: sn.ID})
	runErrorCases(t, e, []errCase[AttachENIInput]{
		{"to a Xen instance", AttachENIInput{ENIID: free.ID, InstanceID: xen.ID, DeviceIndex: 1}, "InvalidParameterCombination", "Nitro"},
	}, e.s.AttachENI)
}

// An instance launched in an IPv6-only subnet: its interface has one IPv6 address and no IPv4
// one, its metadata names it by its resource-based hostname, and an interface of an IPv6-only
// subnet attaches to a Nitro instance of a dual-stack one.
func TestIPv6OnlyInstance(t *testing.T) {
	e := newENITestService(t, nil)
	sn, dual := ipv6OnlyNet(e)
	r := e.run(RunInput{MinCount: 2, MaxCount: 2, SubnetID: sn.ID, InstanceType: "t3.micro"})
	var seen []netip.Addr
	for _, inst := range r.Instances {
		n := r.ENIs[inst.InterfaceIDs[0]]
		if !n.IPv6Only() || len(n.IPv6) != 1 || slices.Contains(seen, n.IPv6[0]) || !sn.IPv6CIDR.Contains(n.IPv6[0]) {
			t.Fatalf("interface of %s: %+v", inst.ID, n)
		}
		seen = append(seen, n.IPv6[0])
	}
	inst := r.Instances[0]
	m, ok := e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID)
	if !ok {
		t.Fatal("no metadata")
	}
	if want := inst.ID + ".ec2.internal"; m.Hostname != want || m.PrivateIPv4.IsValid() || len(m.Interfaces[0].IPv4s) != 0 ||
		!slices.Equal(m.Interfaces[0].IPv6s, []netip.Addr{seen[0]}) {
		t.Errorf("metadata: hostname %q (want %q), IPv4 %v %v, IPv6 %v", m.Hostname, want, m.PrivateIPv4, m.Interfaces[0].IPv4s, m.Interfaces[0].IPv6s)
	}

	nitro := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: dual.ID, InstanceType: "t3.micro"}).Instances[0]
	extra := e.createENI(CreateENIInput{SubnetID: sn.ID})
	e.attach(AttachENIInput{ENIID: extra.ID, InstanceID: nitro.ID, DeviceIndex: 1})
	if got := e.eni(extra.ID); got.Attachment == nil || got.Attachment.InstanceID != nitro.ID {
		t.Errorf("attached: %+v", got.Attachment)
	}
}

// EnablePrimaryIpv6: the first IPv6 address is the interface's primary IPv6 address (one is
// assigned when none is asked for), it cannot be unassigned, and the option cannot be turned
// off; an interface without IPv6 addresses cannot turn it on.
func TestEnablePrimaryIPv6(t *testing.T) {
	e := newENITestService(t, nil)
	sn, dual := ipv6OnlyNet(e)
	n := e.createENI(CreateENIInput{SubnetID: dual.ID, EnablePrimaryIPv6: true})
	if !n.PrimaryIPv6 || len(n.IPv6) != 1 || !n.PrivateIP.IsValid() {
		t.Fatalf("created with EnablePrimaryIpv6: %+v", n)
	}
	two := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 2})
	eniOK[struct{}](t)(noOutput(e.s.ModifyENI)(e.ctx, eniTenant, ModifyENIInput{ID: two.ID, EnablePrimaryIPv6: ptr(true)}))
	if got := e.eni(two.ID); !got.PrimaryIPv6 {
		t.Errorf("ModifyNetworkInterfaceAttribute EnablePrimaryIpv6: %+v", got)
	}
	v4 := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	runErrorCases(t, e, []errCase[ModifyENIInput]{
		{"turned off", ModifyENIInput{ID: n.ID, EnablePrimaryIPv6: ptr(false)}, "InvalidParameterCombination", "cannot be disabled"},
		{"without IPv6", ModifyENIInput{ID: v4.ID, EnablePrimaryIPv6: ptr(true)}, "InvalidParameterCombination", "no IPv6 address"},
	}, noOutput(e.s.ModifyENI))
	runErrorCases(t, e, []errCase[UnassignIPv6Input]{
		{"the primary IPv6 address", UnassignIPv6Input{ENIID: two.ID, Addrs: []string{two.IPv6[0].String()}}, "InvalidParameterCombination", "primary IPv6 address"},
	}, e.s.UnassignIPv6)
	// The other one goes as any does.
	eniOK[[]netip.Addr](t)(e.s.UnassignIPv6(e.ctx, eniTenant, UnassignIPv6Input{ENIID: two.ID, Addrs: []string{two.IPv6[1].String()}}))

	r := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: sn.ID, InstanceType: "t3.micro", EnablePrimaryIPv6: true})
	if p := r.ENIs[r.Instances[0].InterfaceIDs[0]]; !p.PrimaryIPv6 {
		t.Errorf("RunInstances EnablePrimaryIpv6: %+v", p)
	}
}

func ptr[T any](v T) *T { return &v }
