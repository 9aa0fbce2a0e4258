package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/netlab"

	"github.com/stockade/stockade/image"
)

// labEnv is a server that enforces, with lab instances under a prefix of the test's own, and
// an SDK client that remembers the newest store revision its writes produced (the
// X-Stockade-Revision header), so that the test can wait for enforcement exactly as the
// README tells users to.
type labEnv struct {
	t      testing.TB
	s      *server
	c      *ec2.Client
	prefix string
	rev    atomic.Int64
}

// needKernel skips a test that needs the kernel tier, saying why.
func needKernel(t testing.TB) {
	t.Helper()
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
}

func labPrefix(t testing.TB) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	p := "e" + hex.EncodeToString(b)
	t.Cleanup(func() { // whatever happens to the server, leave no namespace behind
		nss, _ := netlab.List(p + "-")
		for _, ns := range nss {
			_ = netlab.Remove(context.Background(), ns)
		}
		// nor an instance's cgroups: a server killed before it removed its instances (the
		// harness waits 5 s; a thousand take longer) leaves them, and the next start that
		// would remove them has another prefix. Left, they pile up to the kernel's limit of
		// 65,535 memory cgroups, and then no instance on the machine boots.
		if cg, err := host.DetectCgroups("/sys/fs/cgroup"); err == nil {
			_ = cg.RemoveAll(p + "-")
		}
		// nor an instance's root filesystem (a server with --keep-lab leaves them mounted)
		_ = host.RemoveRoots(p + "-")
	})
	return p
}

func newLabEnv(t testing.TB, args ...string) *labEnv {
	t.Helper()
	needKernel(t)
	prefix := labPrefix(t)
	e := &labEnv{t: t, prefix: prefix}
	e.start("", args...)
	return e
}

// start runs (or re-runs) the server with the env's prefix.
func (e *labEnv) start(dataDir string, args ...string) {
	e.s = startServer(e.t, dataDir, append([]string{"--lab-prefix", e.prefix, "--resync", "500ms", "--quota", "vpcs=50"}, args...)...)
	e.c = ec2.NewFromConfig(sdkConfig(e.s.akid, e.s.secret), func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(e.s.endpoint)
		o.APIOptions = append(o.APIOptions, e.recordRevision)
	})
}

func (e *labEnv) recordRevision(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("stockade-revision",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
				if n, perr := strconv.ParseInt(resp.Header.Get("X-Stockade-Revision"), 10, 64); perr == nil {
					for old := e.rev.Load(); n > old && !e.rev.CompareAndSwap(old, n); old = e.rev.Load() {
					}
				}
			}
			return out, md, err
		}), middleware.After)
}

// enforced waits until the host enforces every write made so far.
func (e *labEnv) enforced() { e.t.Helper(); e.enforcedWithin(10 * time.Second) }

// enforcedWithin is enforced with a longer wait (up to a minute per request), for big labs.
func (e *labEnv) enforcedWithin(d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		wait := min(time.Until(deadline), time.Minute).Round(time.Second)
		if e.enforcedOnce(wait) || time.Now().After(deadline) {
			return
		}
	}
}

func (e *labEnv) enforcedOnce(wait time.Duration) bool {
	e.t.Helper()
	url := fmt.Sprintf("%s/enforced?revision=%d&timeout=%s", e.s.endpoint, e.rev.Load(), wait)
	resp, err := http.Get(url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == http.StatusGatewayTimeout && wait >= time.Minute {
		return false // a big lab: ask again
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("revision %d not enforced: %d %v\n%s", e.rev.Load(), resp.StatusCode, body, e.s.stderr.String())
	}
	return true
}

func (e *labEnv) vpc(cidr string) (vpc, defaultGroup string) {
	e.t.Helper()
	ctx := ctx(e.t)
	v := must[*ec2.CreateVpcOutput](e.t)(e.c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)}))
	g := must[*ec2.DescribeSecurityGroupsOutput](e.t)(e.c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{*v.Vpc.VpcId}}, {Name: aws.String("group-name"), Values: []string{"default"}}}}))
	return *v.Vpc.VpcId, *g.SecurityGroups[0].GroupId
}

// vpc6 is vpc with an Amazon-provided IPv6 block, which it returns too.
func (e *labEnv) vpc6(cidr string) (vpc, defaultGroup string, ipv6 netip.Prefix) {
	e.t.Helper()
	ctx := ctx(e.t)
	v := must[*ec2.CreateVpcOutput](e.t)(e.c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr), AmazonProvidedIpv6CidrBlock: aws.Bool(true)}))
	g := must[*ec2.DescribeSecurityGroupsOutput](e.t)(e.c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{*v.Vpc.VpcId}}, {Name: aws.String("group-name"), Values: []string{"default"}}}}))
	return *v.Vpc.VpcId, *g.SecurityGroups[0].GroupId, netip.MustParsePrefix(*v.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock)
}

// subnet6 is a dual-stack subnet: cidr and the VPC IPv6 block's /64 number n.
func (e *labEnv) subnet6(vpc, cidr string, ipv6 netip.Prefix, n byte) string {
	e.t.Helper()
	b := ipv6.Addr().As16()
	b[7] = n
	six := netip.PrefixFrom(netip.AddrFrom16(b), 64)
	s := must[*ec2.CreateSubnetOutput](e.t)(e.c.CreateSubnet(ctx(e.t), &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), Ipv6CidrBlock: aws.String(six.String())}))
	return *s.Subnet.SubnetId
}

func (e *labEnv) subnet(vpc, cidr string) string {
	e.t.Helper()
	s := must[*ec2.CreateSubnetOutput](e.t)(e.c.CreateSubnet(ctx(e.t), &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr)}))
	return *s.Subnet.SubnetId
}

var groupSeq atomic.Int64

func (e *labEnv) group(vpc string) string {
	e.t.Helper()
	g := must[*ec2.CreateSecurityGroupOutput](e.t)(e.c.CreateSecurityGroup(ctx(e.t), &ec2.CreateSecurityGroupInput{
		VpcId: aws.String(vpc), GroupName: aws.String(fmt.Sprintf("g%d", groupSeq.Add(1))), Description: aws.String("lab test")}))
	return *g.GroupId
}

// perm is one IpPermission: protocol, ports (ICMP type/code), and exactly one peer: a CIDR,
// an sg- group or a pl- prefix list.
func perm(proto string, from, to int32, peer string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(proto), FromPort: aws.Int32(from), ToPort: aws.Int32(to)}
	switch {
	case len(peer) > 3 && peer[:3] == "sg-":
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(peer)}}
	case len(peer) > 3 && peer[:3] == "pl-":
		p.PrefixListIds = []types.PrefixListId{{PrefixListId: aws.String(peer)}}
	case netip.MustParsePrefix(peer).Addr().Is6():
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(peer)}}
	default:
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(peer)}}
	}
	return p
}

func (e *labEnv) allowIn(group string, ps ...types.IpPermission) {
	e.t.Helper()
	must[*ec2.AuthorizeSecurityGroupIngressOutput](e.t)(e.c.AuthorizeSecurityGroupIngress(ctx(e.t), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: ps}))
}

func (e *labEnv) revokeIn(group string, ps ...types.IpPermission) {
	e.t.Helper()
	must[*ec2.RevokeSecurityGroupIngressOutput](e.t)(e.c.RevokeSecurityGroupIngress(ctx(e.t), &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: ps}))
}

func (e *labEnv) allowOut(group string, ps ...types.IpPermission) {
	e.t.Helper()
	must[*ec2.AuthorizeSecurityGroupEgressOutput](e.t)(e.c.AuthorizeSecurityGroupEgress(ctx(e.t), &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(group), IpPermissions: ps}))
}

func (e *labEnv) revokeOut(group string, ps ...types.IpPermission) {
	e.t.Helper()
	must[*ec2.RevokeSecurityGroupEgressOutput](e.t)(e.c.RevokeSecurityGroupEgress(ctx(e.t), &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(group), IpPermissions: ps}))
}

// instance is a running lab instance.
type instance struct {
	ID, ENI string
	IP      netip.Addr
	IP6     netip.Addr // its first IPv6 address, if it has one
	NS      string
}

// v6 is the instance as probes address it over IPv6.
func (i instance) v6() instance { i.IP = i.IP6; return i }

// launch runs an instance and waits until its namespace is up and filtered.
func (e *labEnv) launch(subnet string, groups ...string) instance {
	e.t.Helper()
	return e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(subnet), SecurityGroupIds: groups})
}

func (e *labEnv) launchWith(in *ec2.RunInstancesInput) instance {
	e.t.Helper()
	if in.ImageId == nil {
		in.ImageId = aws.String(image.DefaultID)
	}
	in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
	out := must[*ec2.RunInstancesOutput](e.t)(e.c.RunInstances(ctx(e.t), in))
	i := out.Instances[0]
	e.enforced()
	inst := instance{ID: *i.InstanceId, ENI: *i.NetworkInterfaces[0].NetworkInterfaceId, NS: e.prefix + "-" + *i.InstanceId}
	if six := i.NetworkInterfaces[0].Ipv6Addresses; len(six) > 0 {
		inst.IP6 = netip.MustParseAddr(*six[0].Ipv6Address)
	}
	inst.IP = inst.IP6 // in an IPv6-only subnet, where it has no IPv4 address
	if i.PrivateIpAddress != nil {
		inst.IP = netip.MustParseAddr(*i.PrivateIpAddress)
	}
	if !netlab.Exists(inst.NS) {
		e.t.Fatalf("instance %s enforced but namespace %s missing\n%s", inst.ID, inst.NS, e.s.stderr.String())
	}
	return inst
}

func (e *labEnv) setGroups(i instance, groups ...string) {
	e.t.Helper()
	must[*ec2.ModifyInstanceAttributeOutput](e.t)(e.c.ModifyInstanceAttribute(ctx(e.t), &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(i.ID), Groups: groups}))
}

// serve starts TCP and UDP echo servers in an instance on each port.
func (e *labEnv) serve(i instance, ports ...int) {
	e.t.Helper()
	for _, p := range ports {
		srv, err := netlab.Serve(i.NS, p)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(srv.Close)
	}
}

// waitListening waits (up to 20 s) until something listens on the instance's TCP port,
// probed from inside the instance itself (no router, no group on the way).
func (e *labEnv) waitListening(i instance, port int) {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if netlab.TCP(i.NS, netipPort(i.IP, uint16(port)), netlab.PassTimeout) == nil {
			return
		}
	}
	e.t.Fatalf("nothing listens on %s:%d after 20 s", i.IP, port)
}

func (e *labEnv) expectTCP(from, to instance, port int, want bool) {
	e.t.Helper()
	err := netlab.TCP(from.NS, netip.AddrPortFrom(to.IP, uint16(port)), netlab.Timeout(want))
	if (err == nil) != want {
		e.t.Errorf("tcp %s → %s:%d: got err=%v, want reachable=%v", from.IP, to.IP, port, err, want)
	}
}

func (e *labEnv) expectUDP(from, to instance, port int, want bool) {
	e.t.Helper()
	err := netlab.UDP(from.NS, netip.AddrPortFrom(to.IP, uint16(port)), netlab.Timeout(want))
	if (err == nil) != want {
		e.t.Errorf("udp %s → %s:%d: got err=%v, want reachable=%v", from.IP, to.IP, port, err, want)
	}
}

func (e *labEnv) expectPing(from, to instance, want bool) {
	e.t.Helper()
	err := netlab.Ping(from.NS, to.IP, netlab.Timeout(want))
	if (err == nil) != want {
		e.t.Errorf("ping %s → %s: got err=%v, want reachable=%v", from.IP, to.IP, err, want)
	}
}

// routerNS is the router namespace of a VPC.
func (e *labEnv) routerNS(vpc string) string { return e.prefix + "-" + vpc }

func netipPort(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func unb64(t testing.TB, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("console output is not base64: %v", err)
	}
	return string(b)
}
