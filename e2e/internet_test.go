package e2e

// Issue 12 on real packets, through the API: the lab's internet namespace, public addresses,
// internet and NAT gateways, route tables, appliance routes and blackholes.

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// internet is the lab's internet namespace.
func (e *labEnv) internet() string { return netlab.Names{Prefix: e.prefix}.Internet() }

// gateway creates an internet gateway and attaches it to vpc.
func (e *labEnv) gateway(vpc string) string {
	e.t.Helper()
	g := must[*ec2.CreateInternetGatewayOutput](e.t)(e.c.CreateInternetGateway(ctx(e.t), &ec2.CreateInternetGatewayInput{}))
	must[*ec2.AttachInternetGatewayOutput](e.t)(e.c.AttachInternetGateway(ctx(e.t), &ec2.AttachInternetGatewayInput{
		InternetGatewayId: g.InternetGateway.InternetGatewayId, VpcId: aws.String(vpc)}))
	return *g.InternetGateway.InternetGatewayId
}

// mainTable is the main route table of vpc.
func (e *labEnv) mainTable(vpc string) string {
	e.t.Helper()
	out := must[*ec2.DescribeRouteTablesOutput](e.t)(e.c.DescribeRouteTables(ctx(e.t), &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("association.main"), Values: []string{"true"}}}}))
	return *out.RouteTables[0].RouteTableId
}

// table creates a route table for subnet.
func (e *labEnv) table(vpc, subnet string) string {
	e.t.Helper()
	rt := must[*ec2.CreateRouteTableOutput](e.t)(e.c.CreateRouteTable(ctx(e.t), &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)}))
	must[*ec2.AssociateRouteTableOutput](e.t)(e.c.AssociateRouteTable(ctx(e.t), &ec2.AssociateRouteTableInput{
		RouteTableId: rt.RouteTable.RouteTableId, SubnetId: aws.String(subnet)}))
	return *rt.RouteTable.RouteTableId
}

// route creates (or, replace, replaces) the default route of a table.
func (e *labEnv) route(table string, replace bool, target func(*ec2.CreateRouteInput)) {
	e.t.Helper()
	in := &ec2.CreateRouteInput{RouteTableId: aws.String(table), DestinationCidrBlock: aws.String("0.0.0.0/0")}
	target(in)
	if !replace {
		must[*ec2.CreateRouteOutput](e.t)(e.c.CreateRoute(ctx(e.t), in))
		return
	}
	must[*ec2.ReplaceRouteOutput](e.t)(e.c.ReplaceRoute(ctx(e.t), &ec2.ReplaceRouteInput{RouteTableId: in.RouteTableId,
		DestinationCidrBlock: in.DestinationCidrBlock, GatewayId: in.GatewayId, NatGatewayId: in.NatGatewayId, NetworkInterfaceId: in.NetworkInterfaceId}))
}

func (e *labEnv) deleteRoute(table string) {
	e.t.Helper()
	must[*ec2.DeleteRouteOutput](e.t)(e.c.DeleteRoute(ctx(e.t), &ec2.DeleteRouteInput{RouteTableId: aws.String(table), DestinationCidrBlock: aws.String("0.0.0.0/0")}))
}

// publicIP is an instance's public address as DescribeInstances shows it.
func (e *labEnv) publicIP(id string) netip.Addr {
	e.t.Helper()
	out := must[*ec2.DescribeInstancesOutput](e.t)(e.c.DescribeInstances(ctx(e.t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))
	ip := out.Reservations[0].Instances[0].PublicIpAddress
	if ip == nil {
		return netip.Addr{}
	}
	return netip.MustParseAddr(*ip)
}

// natGateway creates a public NAT gateway in subnet and waits until it is available; it
// returns its ID and public address.
func (e *labEnv) natGateway(subnet string) (string, netip.Addr) {
	e.t.Helper()
	eip := must[*ec2.AllocateAddressOutput](e.t)(e.c.AllocateAddress(ctx(e.t), &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
	g := must[*ec2.CreateNatGatewayOutput](e.t)(e.c.CreateNatGateway(ctx(e.t), &ec2.CreateNatGatewayInput{SubnetId: aws.String(subnet), AllocationId: eip.AllocationId}))
	id := *g.NatGateway.NatGatewayId
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := must[*ec2.DescribeNatGatewaysOutput](e.t)(e.c.DescribeNatGateways(ctx(e.t), &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}}))
		if out.NatGateways[0].State == types.NatGatewayStateAvailable {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("NAT gateway %s still %s", id, out.NatGateways[0].State)
		}
	}
	// Its state changed without a write of ours: a describe after it is enforced once the
	// newest revision is.
	e.touch()
	return id, netip.MustParseAddr(*eip.PublicIp)
}

// touch makes a harmless write, so that waiting for its revision waits for everything before it.
func (e *labEnv) touch() {
	e.t.Helper()
	must[*ec2.CreateTagsOutput](e.t)(e.c.CreateTags(ctx(e.t), &ec2.CreateTagsInput{Resources: []string{e.anyVPC()},
		Tags: []types.Tag{{Key: aws.String("touched"), Value: aws.String(time.Now().String())}}}))
	e.enforced()
}

func (e *labEnv) anyVPC() string {
	out := must[*ec2.DescribeVpcsOutput](e.t)(e.c.DescribeVpcs(ctx(e.t), &ec2.DescribeVpcsInput{}))
	return *out.Vpcs[0].VpcId
}

// whoServer answers every TCP connection to the internet host's port 9000 with the address it
// came from.
func whoServer(t testing.TB, ns string) {
	t.Helper()
	var ln net.Listener
	if err := netlab.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(netlab.InternetHost, 9000).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
}

// seenAs connects from ns to the who-server and returns the address it saw.
func seenAs(ns string, timeout time.Duration) (string, error) {
	c, err := netlab.DialFrom(ns, "tcp", netip.AddrPortFrom(netlab.InternetHost, 9000).String(), timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

func (e *labEnv) expectSeenAs(from instance, want netip.Addr) {
	e.t.Helper()
	got, err := seenAs(from.NS, netlab.Timeout(want.IsValid()))
	switch {
	case !want.IsValid() && err == nil:
		e.t.Errorf("%s reached the internet (seen as %s), want no way out", from.ID, got)
	case want.IsValid() && (err != nil || got != want.String()):
		e.t.Errorf("%s → internet: seen as %q (%v), want %s", from.ID, got, err, want)
	}
}

func (e *labEnv) expectFromInternet(to netip.Addr, port int, want bool) {
	e.t.Helper()
	err := netlab.TCP(e.internet(), netip.AddrPortFrom(to, uint16(port)), netlab.Timeout(want))
	if (err == nil) != want {
		e.t.Errorf("internet → %s:%d: err=%v, want reachable=%v", to, port, err, want)
	}
}

// TestLabInternetPublic: from the internet host, a public instance (MapPublicIpOnLaunch) is
// reached on its public address only while its group allows it and its subnet routes to the
// attached gateway; it goes out with its public address; an Elastic IP takes over.
func TestLabInternetPublic(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.0.0.0/16")
	sn := e.subnet(vpc, "10.0.1.0/24")
	g := e.group(vpc)
	web80 := perm("tcp", 8080, 8080, "0.0.0.0/0")
	e.allowIn(g, web80)
	must[*ec2.ModifySubnetAttributeOutput](t)(e.c.ModifySubnetAttribute(ctx(t), &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(sn),
		MapPublicIpOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	igw := e.gateway(vpc)
	web := e.launch(sn, g)
	e.serve(web, 8080)
	pub := e.publicIP(web.ID)
	if !pub.IsValid() {
		t.Fatal("no public address on launch")
	}
	whoServer(t, e.internet())
	rtb := e.mainTable(vpc)
	e.expectFromInternet(pub, 8080, false) // no route to the gateway yet
	e.expectSeenAs(web, netip.Addr{})

	e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	e.enforced()
	e.expectFromInternet(pub, 8080, true)
	e.expectFromInternet(web.IP, 8080, false) // never its private address
	e.expectSeenAs(web, pub)

	e.revokeIn(g, web80)
	e.enforced()
	e.expectFromInternet(pub, 8080, false)
	e.allowIn(g, web80)
	e.enforced()
	e.expectFromInternet(pub, 8080, true)

	e.deleteRoute(rtb)
	e.enforced()
	e.expectFromInternet(pub, 8080, false)
	e.expectSeenAs(web, netip.Addr{})
	e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	e.enforced()

	// An Elastic IP replaces the launch-time address; releasing it takes it off the internet.
	eip := must[*ec2.AllocateAddressOutput](t)(e.c.AllocateAddress(ctx(t), &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
	must[*ec2.AssociateAddressOutput](t)(e.c.AssociateAddress(ctx(t), &ec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: aws.String(web.ID)}))
	e.enforced()
	elastic := netip.MustParseAddr(*eip.PublicIp)
	e.expectFromInternet(elastic, 8080, true)
	e.expectFromInternet(pub, 8080, false)
	e.expectSeenAs(web, elastic)
}

// TestLabInternetNAT: a private instance reaches an internet server through a NAT gateway,
// which sees the NAT gateway's address; the internet reaches neither it nor anything through
// the NAT gateway's address; a blackhole route (the NAT gateway deleted) drops.
func TestLabInternetNAT(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.0.0.0/16")
	public := e.subnet(vpc, "10.0.1.0/24")
	private := e.subnet(vpc, "10.0.2.0/24")
	g := e.group(vpc)
	e.allowIn(g, perm("tcp", 8080, 8080, "0.0.0.0/0"))
	igw := e.gateway(vpc)
	e.route(e.mainTable(vpc), false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	nat, natIP := e.natGateway(public)
	rtb := e.table(vpc, private)
	db := e.launch(private, g)
	e.serve(db, 8080)
	whoServer(t, e.internet())
	e.expectSeenAs(db, netip.Addr{}) // no route

	e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.NatGatewayId = aws.String(nat) })
	e.enforced()
	e.expectSeenAs(db, natIP)
	e.expectFromInternet(natIP, 8080, false)
	e.expectFromInternet(db.IP, 8080, false)

	must[*ec2.DeleteNatGatewayOutput](t)(e.c.DeleteNatGateway(ctx(t), &ec2.DeleteNatGatewayInput{NatGatewayId: aws.String(nat)}))
	e.enforced()
	rts := must[*ec2.DescribeRouteTablesOutput](t)(e.c.DescribeRouteTables(ctx(t), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rtb}}))
	for _, r := range rts.RouteTables[0].Routes {
		if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" && r.State != types.RouteStateBlackhole {
			t.Errorf("route to a deleted NAT gateway is %s, want blackhole", r.State)
		}
	}
	e.expectSeenAs(db, netip.Addr{})
}

// TestLabInternetSameCIDR: two accounts with the same VPC CIDR and an instance at the same
// private address both reach the internet, each with its own public address.
func TestLabInternetSameCIDR(t *testing.T) {
	e := newLabEnv(t)
	out, err := exec.Command(binary, "account", "create", "bob", "--data-dir", e.s.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v %s", err, out)
	}
	akid, secret := parseCredentials(t, bufio.NewScanner(strings.NewReader(string(out))), "bob")
	bob := &labEnv{t: t, s: e.s, prefix: e.prefix}
	bob.c = ec2.NewFromConfig(sdkConfig(akid, secret), func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(e.s.endpoint)
		o.APIOptions = append(o.APIOptions, bob.recordRevision)
	})
	whoServer(t, e.internet0())
	var seen []netip.Addr
	for _, a := range []*labEnv{e, bob} {
		vpc, _ := a.vpc("10.0.0.0/16")
		sn := a.subnet(vpc, "10.0.1.0/24")
		g := a.group(vpc)
		igw := a.gateway(vpc)
		a.route(a.mainTable(vpc), false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
		in := a.launchWith(&ec2.RunInstancesInput{SecurityGroupIds: []string{g}, PrivateIpAddress: aws.String("10.0.1.10"),
			NetworkInterfaces: nil, SubnetId: aws.String(sn)})
		eip := must[*ec2.AllocateAddressOutput](t)(a.c.AllocateAddress(ctx(t), &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
		must[*ec2.AssociateAddressOutput](t)(a.c.AssociateAddress(ctx(t), &ec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: aws.String(in.ID)}))
		a.enforced()
		pub := netip.MustParseAddr(*eip.PublicIp)
		a.expectSeenAs(in, pub)
		seen = append(seen, pub)
	}
	if seen[0] == seen[1] {
		t.Errorf("both accounts went out as %s", seen[0])
	}
}

// internet0 makes sure the internet namespace exists before any VPC has a gateway, for a
// server started before the first (the host makes it with the first uplink).
func (e *labEnv) internet0() string {
	e.t.Helper()
	if _, err := netlab.CreateInternet(ctx(e.t), e.internet()); err != nil {
		e.t.Fatal(err)
	}
	return e.internet()
}

// TestLabInternetAppliance: a private subnet's default route through an appliance instance
// whose source/destination check is off (ModifyNetworkInterfaceAttribute): the appliance
// forwards and masquerades, and the internet sees its public address.
func TestLabInternetAppliance(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.0.0.0/16")
	public := e.subnet(vpc, "10.0.1.0/24")
	private := e.subnet(vpc, "10.0.2.0/24")
	g := e.group(vpc)
	e.allowIn(g, perm("-1", 0, 0, "10.0.2.0/24"))
	igw := e.gateway(vpc)
	e.route(e.mainTable(vpc), false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
	app := e.launchWith(&ec2.RunInstancesInput{NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0),
		SubnetId: aws.String(public), Groups: []string{g}, AssociatePublicIpAddress: aws.Bool(true)}}})
	db := e.launch(private, g)
	whoServer(t, e.internet())
	for _, argv := range [][]string{{"sysctl", "-qw", "net.ipv4.ip_forward=1"}, {"sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"},
		{"nft", "add table ip natinst; add chain ip natinst post { type nat hook postrouting priority srcnat; }; add rule ip natinst post ip saddr 10.0.2.0/24 masquerade"}} {
		if out, err := netlab.Command(ctx(t), app.NS, argv...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", argv, err, out)
		}
	}
	rtb := e.table(vpc, private)
	e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.NetworkInterfaceId = aws.String(app.ENI) })
	e.enforced()
	e.expectSeenAs(db, netip.Addr{}) // the source/destination check drops what it forwards

	must[*ec2.ModifyNetworkInterfaceAttributeOutput](t)(e.c.ModifyNetworkInterfaceAttribute(ctx(t), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(app.ENI), SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}))
	e.enforced()
	e.expectSeenAs(db, e.publicIP(app.ID))
}
