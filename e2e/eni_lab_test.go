package e2e

import (
	"net"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// TestLabHotAttachENI drives a root server with the AWS SDK: an interface attached to a running
// lab instance appears in it as eth1 with its own address, and packets to that address are
// judged by the interface's own groups (not the instance's primary interface's); a secondary
// address assigned to it is reachable under the same groups and is a member of them where a
// rule references one; unassigning it and detaching the interface take them away. Source
// checks with SourceDestCheck off are TestLabInternetAppliance's.
func TestLabHotAttachENI(t *testing.T) {
	e := newLabEnv(t)
	c := e.c
	vpc, _ := e.vpc("10.41.0.0/16")
	sn := e.subnet(vpc, "10.41.1.0/24")
	client, app, other, db := e.group(vpc), e.group(vpc), e.group(vpc), e.group(vpc)
	e.allowIn(app, perm("tcp", 8080, 8080, client))
	e.allowIn(db, perm("tcp", 5432, 5432, app))
	a := e.launch(sn, client)
	b := e.launch(sn, other)
	d := e.launch(sn, db)
	e.serve(b, 8080, 9090)
	e.serve(d, 5432)

	eni := must[*ec2.CreateNetworkInterfaceOutput](t)(c.CreateNetworkInterface(ctx(t), &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(sn), Groups: []string{app}})).NetworkInterface
	eip := instance{ID: b.ID, ENI: *eni.NetworkInterfaceId, IP: netip.MustParseAddr(*eni.PrivateIpAddress), NS: b.NS}
	att := must[*ec2.AttachNetworkInterfaceOutput](t)(c.AttachNetworkInterface(ctx(t), &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, InstanceId: aws.String(b.ID), DeviceIndex: aws.Int32(1)}))
	e.enforced()
	if !hasDevice(t, b.NS, "eth1") {
		t.Fatalf("no eth1 in %s after the attachment", b.NS)
	}
	e.expectTCP(a, eip, 8080, true)  // the interface's group admits the client group
	e.expectTCP(a, eip, 9090, false) // and nothing else
	e.expectTCP(a, b, 8080, false)   // the primary's group admits nothing
	e.expectTCP(b, d, 5432, false)   // from the primary (other): not a member of app

	// A secondary address: reachable under the interface's groups, and a member of app, so
	// that what it sends to d is admitted by db's rule referencing app.
	sec := must[*ec2.AssignPrivateIpAddressesOutput](t)(c.AssignPrivateIpAddresses(ctx(t), &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, SecondaryPrivateIpAddressCount: aws.Int32(1)}))
	second := eip
	second.IP = netip.MustParseAddr(*sec.AssignedPrivateIpAddresses[0].PrivateIpAddress)
	e.enforced()
	e.expectTCP(a, second, 8080, true)
	e.expectTCP(a, second, 9090, false)
	if err := netlab.TCPFromAddr(b.NS, second.IP, netip.AddrPortFrom(d.IP, 5432), netlab.PassTimeout); err != nil {
		t.Errorf("from the secondary address %s to a group referencing app: %v", second.IP, err)
	}
	if err := netlab.TCPFromAddr(b.NS, eip.IP, netip.AddrPortFrom(d.IP, 5432), netlab.PassTimeout); err != nil {
		t.Errorf("from the interface's primary address %s to a group referencing app: %v", eip.IP, err)
	}

	// The groups of the attached interface change: its addresses follow at once.
	must[*ec2.ModifyNetworkInterfaceAttributeOutput](t)(c.ModifyNetworkInterfaceAttribute(ctx(t), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, Groups: []string{other}}))
	e.enforced()
	e.expectTCP(a, eip, 8080, false)
	e.expectTCP(a, second, 8080, false)
	must[*ec2.ModifyNetworkInterfaceAttributeOutput](t)(c.ModifyNetworkInterfaceAttribute(ctx(t), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, Groups: []string{app}}))
	e.enforced()
	e.expectTCP(a, second, 8080, true)

	// Unassigned, the address is gone from the instance and from app.
	must[*ec2.UnassignPrivateIpAddressesOutput](t)(c.UnassignPrivateIpAddresses(ctx(t), &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, PrivateIpAddresses: []string{second.IP.String()}}))
	e.enforced()
	e.expectTCP(a, second, 8080, false)
	e.expectTCP(a, eip, 8080, true)

	// Detached, eth1 is gone with its address; the primary is untouched.
	must[*ec2.DetachNetworkInterfaceOutput](t)(c.DetachNetworkInterface(ctx(t), &ec2.DetachNetworkInterfaceInput{AttachmentId: att.AttachmentId}))
	e.enforced()
	if hasDevice(t, b.NS, "eth1") {
		t.Errorf("eth1 still in %s after the detachment", b.NS)
	}
	e.expectTCP(a, eip, 8080, false)
	e.allowIn(other, perm("tcp", 9090, 9090, client))
	e.enforced()
	e.expectTCP(a, b, 9090, true)
	got := must[*ec2.DescribeNetworkInterfacesOutput](t)(c.DescribeNetworkInterfaces(ctx(t), &ec2.DescribeNetworkInterfacesInput{
		NetworkInterfaceIds: []string{*eni.NetworkInterfaceId}})).NetworkInterfaces[0]
	if got.Status != types.NetworkInterfaceStatusAvailable || got.Attachment != nil {
		t.Errorf("after detach: status %s, attachment %+v", got.Status, got.Attachment)
	}
}

// hasDevice reports whether a network device exists in a namespace.
func hasDevice(t *testing.T, ns, name string) bool {
	t.Helper()
	found := false
	if err := netlab.Do(ns, func() error {
		_, err := net.InterfaceByName(name)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestLabHotAttachENIIPv6: an IPv6 address assigned to an interface attached to a running
// instance is reachable under that interface's groups (whose rule references the client's
// group, so the client's IPv6 address is a member), and not once unassigned.
func TestLabHotAttachENIIPv6(t *testing.T) {
	e := newLabEnv(t)
	c := e.c
	vpc, _, six := e.vpc6("10.42.0.0/16")
	sn := e.subnet6(vpc, "10.42.1.0/24", six, 1)
	client, app, other := e.group(vpc), e.group(vpc), e.group(vpc)
	e.allowIn(app, perm("tcp", 8080, 8080, client))
	// Not "-1 to ::/0": whether a custom group starts with that is spec §2.4's business.
	e.allowOut(client, perm("tcp", 8080, 8080, "::/0"))
	launch6 := func(groups ...string) instance {
		return e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: groups, Ipv6AddressCount: aws.Int32(1),
			InstanceType: types.InstanceTypeT3Micro}) // m1.small, the default, has no IPv6
	}
	a, b := launch6(client), launch6(other)
	e.serve(b, 8080)
	eni := must[*ec2.CreateNetworkInterfaceOutput](t)(c.CreateNetworkInterface(ctx(t), &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(sn), Groups: []string{app}})).NetworkInterface
	must[*ec2.AttachNetworkInterfaceOutput](t)(c.AttachNetworkInterface(ctx(t), &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, InstanceId: aws.String(b.ID), DeviceIndex: aws.Int32(1)}))
	got := must[*ec2.AssignIpv6AddressesOutput](t)(c.AssignIpv6Addresses(ctx(t), &ec2.AssignIpv6AddressesInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6AddressCount: aws.Int32(1)}))
	e.enforced()
	x := instance{ID: b.ID, IP: netip.MustParseAddr(got.AssignedIpv6Addresses[0]), NS: b.NS}
	if !six.Contains(x.IP) {
		t.Fatalf("assigned %s, outside %s", x.IP, six)
	}
	e.expectTCP(a.v6(), x, 8080, true)
	e.expectTCP(a.v6(), b.v6(), 8080, false) // the primary's group admits nothing
	must[*ec2.UnassignIpv6AddressesOutput](t)(c.UnassignIpv6Addresses(ctx(t), &ec2.UnassignIpv6AddressesInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6Addresses: []string{x.IP.String()}}))
	e.enforced()
	e.expectTCP(a.v6(), x, 8080, false)
}
