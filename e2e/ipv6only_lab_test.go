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

// TestLabIPv6OnlySubnet: two instances in an IPv6-only subnet of a VPC with an IPv6 block
// have IPv6 addresses only (none of IPv4 in their namespaces); the server's group admits TCP
// from the client's group over IPv6 only while a rule allows it (authorized, then revoked);
// and an instance reaches its own metadata at the IPv6 endpoint [fd00:ec2::254], which
// names it by its resource-based hostname; the operator attachment reaches an instance from
// its IPv6 address once a rule admits it.
func TestLabIPv6OnlySubnet(t *testing.T) {
	e := newLabEnv(t)
	vpc, _, six := e.vpc6("10.44.0.0/16")
	b := six.Addr().As16()
	b[7] = 1
	sn := *must[*ec2.CreateSubnetOutput](t)(e.c.CreateSubnet(ctx(t), &ec2.CreateSubnetInput{VpcId: aws.String(vpc), Ipv6Native: aws.Bool(true),
		Ipv6CidrBlock: aws.String(netip.PrefixFrom(netip.AddrFrom16(b), 64).String())})).Subnet.SubnetId
	client, server := e.group(vpc), e.group(vpc)
	e.allowOut(client, perm("tcp", 8080, 8080, "::/0"))
	launch := func(group string) instance {
		return e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{group},
			InstanceType:    types.InstanceTypeT3Micro, // Nitro: m1.small, the default, is refused there
			MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpProtocolIpv6: types.InstanceMetadataProtocolStateEnabled}})
	}
	a, s := launch(client), launch(server)
	for _, i := range []instance{a, s} {
		if !i.IP.Is6() || i.IP != i.IP6 {
			t.Fatalf("%s: address %v, IPv6 %v", i.ID, i.IP, i.IP6)
		}
		if got := addrsIn(t, i.NS, "eth0"); len(got) != 1 || got[0] != i.IP {
			t.Errorf("%s: eth0 has %v, want %v only", i.ID, got, i.IP)
		}
	}

	e.serve(s, 8080)
	e.waitListening(s, 8080)
	e.expectTCP(a, s, 8080, false) // the server's group admits nothing yet
	rule := perm("tcp", 8080, 8080, client)
	e.allowIn(server, rule)
	e.enforced()
	e.expectTCP(a, s, 8080, true)
	e.revokeIn(server, rule)
	e.enforced()
	e.expectTCP(a, s, 8080, false)

	// The operator (lab connect, lab ssh) reaches it from its IPv6 address, outside the VPC,
	// once a rule admits that address.
	op, to := e.prefix+"-op-"+vpc, netip.AddrPortFrom(s.IP, 8080)
	if err := netlab.TCP(op, to, netlab.Timeout(false)); err == nil {
		t.Errorf("the operator reached %s with no rule admitting it", to)
	}
	e.allowIn(server, perm("tcp", 8080, 8080, netip.PrefixFrom(netlab.OperatorAddr6, 128).String()))
	e.enforced()
	if err := netlab.TCP(op, to, netlab.Timeout(true)); err != nil {
		t.Errorf("the operator to %s: %v", to, err)
	}

	for path, want := range map[string]string{"instance-id": a.ID, "local-hostname": a.ID + ".ec2.internal", "ipv6": a.IP.String()} {
		got, err := e.labExec("", a.ID, "curl", "-s", "-g", "--max-time", "10", "http://[fd00:ec2::254]/latest/meta-data/"+path)
		if err != nil || got != want {
			t.Errorf("metadata %s over IPv6: %q, %v; want %q", path, got, err, want)
		}
	}
}

// addrsIn lists the global addresses of a device in a namespace (link-local ones left out).
func addrsIn(t *testing.T, ns, dev string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	if err := netlab.Do(ns, func() error {
		i, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		as, err := i.Addrs()
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLinkLocalUnicast() {
				out = append(out, p.Addr())
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
