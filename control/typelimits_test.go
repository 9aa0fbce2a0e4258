package control

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// TestLaunchChecksTypeLimits: an instance type without IPv6 (m1.small, EC2's default) takes
// no IPv6 address — asked for by count or address, at the top level or per interface, given by
// the subnet's AssignIpv6AddressOnCreation, held by an existing interface, or assigned or
// attached later — and every type bounds the addresses of each interface (EC2 user guide, "IP
// addresses per network interface per instance type"). A refused call changes nothing.
func TestLaunchChecksTypeLimits(t *testing.T) {
	e := newENITestService(t, nil)
	vpc, sn := eniIPv6Net(e)
	b := vpc.IPv6CIDR.Addr().As16()
	b[7] = 1 // the VPC block's second /64
	auto := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.6.2.0/24",
		IPv6CIDR: netip.PrefixFrom(netip.AddrFrom16(b), 64).String(), Zone: "us-east-1a"}))
	if _, err := e.s.ModifySubnet(e.ctx, eniTenant, ModifySubnetInput{SubnetID: auto.ID, AssignIPv6: new(true)}); err != nil {
		t.Fatal(err)
	}
	withV6 := e.createENI(CreateENIInput{SubnetID: sn.ID, IPv6Count: 1})
	v4 := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: sn.ID, InstanceType: "m1.small"}).Instances[0]
	micro := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: sn.ID, InstanceType: "t3.micro"}).Instances[0]
	launch := func(in RunInput) error {
		in.ImageID, in.MinCount, in.MaxCount = image.DefaultID, 1, 1
		_, _, err := e.s.RunInstances(e.ctx, eniTenant, in)
		return err
	}
	const noV6 = "IPv6 addresses are not supported on m1.small"
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"count, default type", "UnsupportedOperation", noV6, func() error {
			return launch(RunInput{SubnetID: sn.ID, IPv6Count: 1})
		}},
		{"address", "UnsupportedOperation", noV6, func() error {
			return launch(RunInput{SubnetID: sn.ID, InstanceType: "m1.small", IPv6: []string{sn.AddrAt6(40).String()}})
		}},
		{"per interface", "UnsupportedOperation", noV6, func() error {
			return launch(RunInput{Interfaces: []RunInterface{{DeviceIndex: 0, SubnetID: sn.ID, IPv6Count: 1}}})
		}},
		{"subnet assigns IPv6 on creation", "UnsupportedOperation", noV6, func() error {
			return launch(RunInput{SubnetID: auto.ID})
		}},
		{"existing interface with IPv6", "UnsupportedOperation", noV6, func() error {
			return launch(RunInput{Interfaces: []RunInterface{{DeviceIndex: 0, NetworkInterfaceID: withV6.ID}}})
		}},
		{"over t3.micro's 2 IPv6 per interface", "InvalidParameterValue", "limit of 2", func() error {
			return launch(RunInput{SubnetID: sn.ID, InstanceType: "t3.micro", IPv6Count: 3})
		}},
		{"assign IPv6 on m1.small", "UnsupportedOperation", noV6, func() error {
			_, _, err := e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: v4.InterfaceIDs[0], Count: 1})
			return err
		}},
		{"assign IPv6 over the limit", "InvalidParameterValue", "limit of 2", func() error {
			_, _, err := e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: micro.InterfaceIDs[0], Count: 3})
			return err
		}},
		{"assign IPv4 over the limit", "PrivateIpAddressLimitExceeded", "", func() error {
			_, _, err := e.s.AssignPrivateIPs(e.ctx, eniTenant, AssignPrivateIPsInput{ENIID: micro.InterfaceIDs[0], Count: 2})
			return err
		}},
		{"attach an interface with IPv6 to m1.small", "UnsupportedOperation", noV6, func() error {
			_, _, err := e.s.AttachENI(e.ctx, eniTenant, AttachENIInput{ENIID: withV6.ID, InstanceID: v4.ID, DeviceIndex: 1})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			eniCheckErr(t, tc.call(), tc.code, tc.msg)
			e.checkUnchanged(before)
		})
	}

	// A stopped instance with IPv6 cannot become a type without it.
	six := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: sn.ID, InstanceType: "t3.micro", IPv6Count: 1}).Instances[0]
	e.stop(LifecycleInput{IDs: []string{six.ID}})
	before := e.snapshot()
	_, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: six.ID, InstanceType: new("m1.small")})
	eniCheckErr(t, err, "UnsupportedOperation", noV6)
	e.checkUnchanged(before)
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: six.ID, InstanceType: new("m5.large")}); err != nil {
		t.Errorf("a type with IPv6: %v", err)
	}
	// Nor can one with three interfaces become a type that takes two.
	three := e.run(RunInput{MinCount: 1, MaxCount: 1, InstanceType: "t3.small", Interfaces: []RunInterface{
		{DeviceIndex: 0, SubnetID: sn.ID}, {DeviceIndex: 1, SubnetID: sn.ID}, {DeviceIndex: 2, SubnetID: sn.ID}}}).Instances[0]
	e.stop(LifecycleInput{IDs: []string{three.ID}})
	before = e.snapshot()
	_, err = e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: three.ID, InstanceType: new("t3.micro")})
	eniCheckErr(t, err, "AttachmentLimitExceeded", "Interface count 3 exceeds the limit for t3.micro")
	e.checkUnchanged(before)
	// Within the limits, the same requests succeed.
	if err := launch(RunInput{SubnetID: auto.ID, InstanceType: "t3.micro"}); err != nil {
		t.Errorf("t3.micro in a subnet that assigns IPv6: %v", err)
	}
	if err := launch(RunInput{SubnetID: sn.ID, InstanceType: "t3.micro", IPv6Count: 2}); err != nil {
		t.Errorf("t3.micro with 2 IPv6 addresses: %v", err)
	}
}
