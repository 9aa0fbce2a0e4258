package control

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// eniIPv6Net is a VPC with an IPv6 block and a dual-stack subnet in it, in e's tenant.
func eniIPv6Net(e *eniEnv) (*model.VPC, *model.Subnet) {
	e.t.Helper()
	vpc := eniOK[*model.VPC](e.t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.6.0.0/16", IPv6: true}))
	six := netip.PrefixFrom(vpc.IPv6CIDR.Addr(), 64)
	sn := eniOK[*model.Subnet](e.t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.6.1.0/24", IPv6CIDR: six.String(), Zone: "us-east-1a"}))
	return vpc, sn
}

func TestENIIPv6Addresses(t *testing.T) {
	e := newENITestService(t, nil)
	_, sn := eniIPv6Net(e)
	at := func(i uint64) netip.Addr { return sn.AddrAt6(i) }

	// By number: the lowest free addresses after the four reserved ones.
	a := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 2})
	if want := []netip.Addr{at(4), at(5)}; !slices.Equal(a.IPv6, want) {
		t.Fatalf("IPv6 by count: %v, want %v", a.IPv6, want)
	}
	// By address, then by number around it.
	b := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6: []string{at(7).String()}})
	c := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 2})
	if want := []netip.Addr{at(6), at(8)}; !slices.Equal(c.IPv6, want) {
		t.Fatalf("IPv6 by count around a taken address: %v, want %v", c.IPv6, want)
	}
	// Stored, and every address in the interface's address list (what the policy engine sees).
	e.reopen()
	if got := e.eni(b.ID); !slices.Equal(got.IPv6, []netip.Addr{at(7)}) || !slices.Contains(got.Addrs(), at(7)) {
		t.Fatalf("after a restart: %+v", got)
	}
	// An IPv4-only subnet's interfaces have none unless asked.
	if n := e.createENI(CreateENIInput{SubnetID: e.sn.ID}); len(n.IPv6) != 0 {
		t.Fatalf("IPv6 on an IPv4-only subnet: %v", n.IPv6)
	}
	// Deleting an interface frees its addresses.
	if _, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: a.ID}); err != nil {
		t.Fatal(err)
	}
	if d := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 1}); !slices.Equal(d.IPv6, []netip.Addr{at(4)}) {
		t.Fatalf("after a delete: %v, want %v", d.IPv6, at(4))
	}
}

func TestENIIPv6Errors(t *testing.T) {
	e := newENITestService(t, nil)
	vpc, sn := eniIPv6Net(e)
	taken := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 1}).IPv6[0]
	at := func(i uint64) string { return sn.AddrAt6(i).String() }
	last := netip.PrefixFrom(vpc.IPv6CIDR.Addr(), 64).Addr().As16()
	for i := 8; i < 16; i++ {
		last[i] = 0xff
	}
	tests := []errCase[CreateENIInput]{
		{"subnet without IPv6", CreateENIInput{SubnetID: e.sn.ID, IPv6Count: 1}, "InvalidParameterValue", "has no IPv6 CIDR block"},
		{"both count and addresses", CreateENIInput{SubnetID: sn.ID, IPv6Count: 1, IPv6: []string{at(9)}}, "InvalidParameterCombination", "either"},
		{"negative count", CreateENIInput{SubnetID: sn.ID, IPv6Count: -1}, "InvalidParameterValue", "ipv6AddressCount"},
		{"too many", CreateENIInput{SubnetID: sn.ID, IPv6Count: 51}, "InvalidParameterValue", "at most 50"},
		{"in use", CreateENIInput{SubnetID: sn.ID, IPv6: []string{taken.String()}}, "InvalidIPAddress.InUse", taken.String()},
		{"given twice", CreateENIInput{SubnetID: sn.ID, IPv6: []string{at(9), at(9)}}, "InvalidIPAddress.InUse", at(9)},
		{"reserved", CreateENIInput{SubnetID: sn.ID, IPv6: []string{at(1)}}, "InvalidParameterValue", at(1)},
		{"last of the block", CreateENIInput{SubnetID: sn.ID, IPv6: []string{netip.AddrFrom16(last).String()}}, "InvalidParameterValue", "reserves"},
		{"outside the subnet", CreateENIInput{SubnetID: sn.ID, IPv6: []string{"2001:db8::10"}}, "InvalidParameterValue", "2001:db8::10"},
		{"an IPv4 address", CreateENIInput{SubnetID: sn.ID, IPv6: []string{"10.6.1.9"}}, "InvalidParameterValue", "must be an IPv6 address"},
		{"not an address", CreateENIInput{SubnetID: sn.ID, IPv6: []string{"fd00::zz"}}, "InvalidParameterValue", "fd00::zz"},
	}
	runErrorCases(t, e, tests, e.s.CreateENI)
}

// TestRunInstancesIPv6 gives launched instances IPv6 addresses, at the top level (one
// instance or a count each) and per interface.
func TestRunInstancesIPv6(t *testing.T) {
	e := newENITestService(t, nil)
	_, sn := eniIPv6Net(e)
	run := func(in RunInput) (*Reservation, error) {
		// m1.small, EC2's default type, has no IPv6 (TestLaunchChecksTypeLimits).
		in.ImageID, in.MinCount, in.InstanceType = image.DefaultID, 1, "m5.large"
		if in.MaxCount == 0 {
			in.MaxCount = 1
		}
		r, _, err := e.s.RunInstances(e.ctx, eniTenant, in)
		return r, err
	}
	r, err := run(RunInput{SubnetID: sn.ID, IPv6Count: 1, MaxCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inst := range r.Instances {
		got = append(got, fmt.Sprint(r.ENIs[inst.InterfaceIDs[0]].IPv6))
	}
	if want := []string{fmt.Sprint([]netip.Addr{sn.AddrAt6(4)}), fmt.Sprint([]netip.Addr{sn.AddrAt6(5)}), fmt.Sprint([]netip.Addr{sn.AddrAt6(6)})}; !slices.Equal(got, want) {
		t.Fatalf("three instances with one IPv6 address each: %v, want %v", got, want)
	}
	r, err = run(RunInput{Interfaces: []RunInterface{{SubnetID: sn.ID, IPv6: []string{sn.AddrAt6(100).String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.ENIs[r.Instances[0].InterfaceIDs[0]]; !slices.Equal(n.IPv6, []netip.Addr{sn.AddrAt6(100)}) {
		t.Fatalf("per-interface IPv6 address: %v", n.IPv6)
	}
	before := e.snapshot()
	_, err = run(RunInput{SubnetID: sn.ID, IPv6: []string{sn.AddrAt6(200).String()}, MaxCount: 2})
	eniCheckErr(t, err, "InvalidParameterCombination", "one instance")
	_, err = run(RunInput{SubnetID: e.sn.ID, IPv6Count: 1})
	eniCheckErr(t, err, "InvalidParameterValue", "has no IPv6 CIDR block")
	e.checkUnchanged(before)
}
