package e2e

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/netlab"
)

// TestAgentKilled (spec B10, tests 3 and 5 in part): three hosts with an agent each; web
// admits tcp/8080 from web, and instance A (web) runs on one host, B (web) and C (other) on
// the two others. A's agent is killed with SIGKILL, so it cleans nothing up and says nothing:
//
//   - A keeps its rules: B reaches A and A reaches B across hosts as before, C is still
//     refused at A.
//   - A's host goes down once its lease (3 s) runs out.
//   - A new interface on that host while its agent is dead stays closed. "A new interface on
//     that host" is what an EC2 user makes with CreateNetworkInterface and
//     AttachNetworkInterface to instance A: the API accepts it (EC2 attaches to a running
//     instance whatever its host's health), and nothing on the dead host changes — no eth1 in
//     A, and B, a member of the interface's group, cannot reach its address.
//   - What changed to A's interfaces while its agent is dead is undone only by A's host, and is
//     probed from there, from the operator's attachment of A's router (web admits it): before
//     the kill A has a secondary address on its primary interface and an interface X (web) at
//     eth1; while dead, the secondary is unassigned and X detached (the new interface takes
//     its device index, an instance type of two interfaces), and both still pass there.
//   - Restarted with the same --host and data directory, the agent catches up: the new
//     interface is A's eth1, B reaches its address, C still does not, and the host is up
//     again; X's address and the unassigned one no longer pass, while A's primary does (the
//     adopted instance is rewired from what its namespace holds, host.Host.adopt). While it
//     restarts, C (whom nothing admits) is probed throughout and never gets through.
func TestAgentKilled(t *testing.T) {
	b := newAgentBed(t)
	cx := ctx(t)
	web, _, ids, addrs, ns, hosts := b.trio()
	const a, bb, c = 0, 1, 2
	steady := func() {
		t.Helper()
		b.probe(ns[bb], addrs[a], 8080, true)
		b.probe(ns[a], addrs[bb], 8080, true)
		b.probe(ns[c], addrs[a], 8080, false)
	}
	steady()

	dead := hosts[a]
	// The operator ("My IP") reaches web's members on 8080 through their own host's router only.
	b.allowCIDR(web, 8080, netlab.OperatorAddr.String()+"/32")
	op := b.tb.Host(dead).Names.Operator(b.vpc)
	primary := b.primaryENI(ids[a])
	assigned, err := b.c.AssignPrivateIpAddresses(cx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(primary),
		SecondaryPrivateIpAddressCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	secondary := netip.MustParseAddr(aws.ToString(assigned.AssignedPrivateIpAddresses[0].PrivateIpAddress))
	x, xAddr, xAttachment := b.attachNew(ids[a], web, 1)
	waitFor(t, 30*time.Second, "the operator of A's host to reach A's secondary address and X", func() bool {
		return netlab.TCP(op, netip.AddrPortFrom(secondary, 8080), netlab.Timeout(true)) == nil &&
			netlab.TCP(op, netip.AddrPortFrom(xAddr, 8080), netlab.Timeout(true)) == nil
	})

	agent := b.agents[dead]
	if err := agent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	agent.Wait()
	steady()
	b.waitState(dead, cluster.Down, 30*time.Second)
	steady()

	// While the agent is dead: X is detached, the new interface (in web) attached to A at X's
	// device index, and then the secondary address unassigned (before, the new interface
	// would be given the address it freed).
	if _, err := b.c.DetachNetworkInterface(cx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(xAttachment)}); err != nil {
		t.Fatalf("detach %s: %v", x, err)
	}
	_, eniAddr, _ := b.attachNew(ids[a], web, 1)
	if _, err := b.c.UnassignPrivateIpAddresses(cx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(primary),
		PrivateIpAddresses: []string{secondary.String()}}); err != nil {
		t.Fatal(err)
	}
	// The live hosts take the new address into web's member set (their routers send it on to
	// the dead host); once B's host has, the dead one has had the change as long.
	waitFor(t, 30*time.Second, "the new address a member of web on B's host", func() bool {
		return b.hasMember(hosts[bb], web, eniAddr)
	})
	if b.hasMember(dead, web, eniAddr) {
		t.Errorf("the dead host %s took the new address into web's set", dead)
	}
	b.probe(ns[bb], eniAddr, 8080, false)
	// Nothing changed on the dead host: what went still passes there.
	b.probe(op, secondary, 8080, true)
	b.probe(op, xAddr, 8080, true)
	steady()

	b.startAgent(dead)
	waitFor(t, 60*time.Second, "the restarted agent to enforce the new interface", func() bool {
		// Nothing that the groups refuse passes at any moment of the restart.
		if netlab.TCP(ns[c], netip.AddrPortFrom(addrs[a], 8080), netlab.Timeout(false)) == nil {
			t.Fatalf("%s reached %s during the restart of %s's agent", ids[c], ids[a], dead)
		}
		return netlab.TCP(ns[bb], netip.AddrPortFrom(eniAddr, 8080), netlab.Timeout(true)) == nil
	})
	if !hasDevice(t, ns[a], "eth1") {
		t.Errorf("no eth1 in %s after the restart", ns[a])
	}
	// The same rewiring unplugged X and readdresses A's primary interface right after it
	// attached the new one: once the unassigned address is refused, all of it is done.
	waitFor(t, 30*time.Second, "the unassigned address refused on A's host", func() bool {
		return netlab.TCP(op, netip.AddrPortFrom(secondary, 8080), netlab.Timeout(false)) != nil
	})
	b.probe(op, xAddr, 8080, false)
	b.probe(op, secondary, 8080, false)
	b.probe(op, addrs[a], 8080, true)
	b.probe(op, eniAddr, 8080, true)
	b.probe(ns[c], eniAddr, 8080, false)
	steady()
	b.waitState(dead, cluster.Up, 30*time.Second)
}

// attachNew creates an interface in group in an instance's subnet and attaches it to the
// instance at device, returning its ID, address and attachment.
func (b *agentBed) attachNew(instance, group string, device int32) (eni string, addr netip.Addr, attachment string) {
	b.t.Helper()
	cx := ctx(b.t)
	sn, err := b.c.DescribeInstances(cx, &ec2.DescribeInstancesInput{InstanceIds: []string{instance}})
	if err != nil {
		b.t.Fatal(err)
	}
	made, err := b.c.CreateNetworkInterface(cx, &ec2.CreateNetworkInterfaceInput{
		SubnetId: sn.Reservations[0].Instances[0].SubnetId, Groups: []string{group}})
	if err != nil {
		b.t.Fatal(err)
	}
	eni = aws.ToString(made.NetworkInterface.NetworkInterfaceId)
	at, err := b.c.AttachNetworkInterface(cx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni),
		InstanceId: aws.String(instance), DeviceIndex: aws.Int32(device)})
	if err != nil {
		b.t.Fatal(err)
	}
	return eni, netip.MustParseAddr(aws.ToString(made.NetworkInterface.PrivateIpAddress)), aws.ToString(at.AttachmentId)
}

// TestAgentPartitioned (spec B10, test 3): as TestAgentKilled's setup, but A's agent keeps
// running and is cut off from etcd (its forwarder closes every connection and refuses new
// ones). While cut:
//
//   - it keeps enforcing what it has: B ↔ A pass, C → A is refused;
//   - changes made through the API are not applied on A's host, which fails closed for an
//     added member: C joins web, and the live hosts admit C at B at once, but A's host does
//     not (C → A stays refused). A member removed meanwhile stays admitted there (B leaves
//     web: B → A still passes) — the documented asymmetry of staleness;
//   - A's host shows down once its lease runs out.
//
// Healed, the agent catches up: C reaches A, B no longer does, and the host is up again. The
// time from the heal until C reaches A is logged (BenchmarkAgentResync measures it). In
// "compacted", etcd's history is compacted past the agent's revision during the cut, as an
// operator's --auto-compaction does: the resumed watch ends with ErrCompacted, and the agent
// relists rather than missing the changes.
func TestAgentPartitioned(t *testing.T) {
	for _, compact := range []bool{false, true} {
		name := "resumed"
		if compact {
			name = "compacted"
		}
		t.Run(name, func(t *testing.T) { testAgentPartitioned(t, compact) })
	}
}

func testAgentPartitioned(t *testing.T, compact bool) {
	b := newAgentBed(t)
	web, other, ids, addrs, ns, hosts := b.trio()
	const a, bb, c = 0, 1, 2
	b.probe(ns[bb], addrs[a], 8080, true)
	b.probe(ns[c], addrs[a], 8080, false)

	cut := hosts[a]
	b.proxies[cut].Cut()
	b.probe(ns[bb], addrs[a], 8080, true)
	b.probe(ns[a], addrs[bb], 8080, true)
	b.probe(ns[c], addrs[a], 8080, false)

	b.setGroups(ids[c], web)
	waitFor(t, 30*time.Second, "C admitted at B by B's live host", func() bool {
		return netlab.TCP(ns[c], netip.AddrPortFrom(addrs[bb], 8080), netlab.Timeout(true)) == nil
	})
	b.setGroups(ids[bb], other)
	waitFor(t, 30*time.Second, "B no longer admitted at C by C's live host", func() bool {
		return netlab.TCP(ns[bb], netip.AddrPortFrom(addrs[c], 8080), netlab.Timeout(false)) != nil
	})
	b.waitState(cut, cluster.Down, 30*time.Second)
	if !b.agentRunning(cut) {
		t.Fatalf("the agent of %s exited while cut off", cut)
	}
	b.probe(ns[c], addrs[a], 8080, false) // fails closed for the member added elsewhere
	b.probe(ns[bb], addrs[a], 8080, true) // and open for the one removed elsewhere
	b.probe(ns[a], addrs[c], 8080, true)  // A's own egress is unchanged, C's host admits web
	if compact {
		b.compact()
	}

	b.proxies[cut].Heal()
	healed := time.Now()
	waitFor(t, 60*time.Second, "the healed agent to admit C at A", func() bool {
		return netlab.TCP(ns[c], netip.AddrPortFrom(addrs[a], 8080), netlab.Timeout(true)) == nil
	})
	t.Logf("host %s enforced the change made during the cut %v after the heal", cut, time.Since(healed).Round(time.Millisecond))
	b.probe(ns[bb], addrs[a], 8080, false)
	b.waitState(cut, cluster.Up, 30*time.Second)
}

// agentRunning reports whether a host's agent process is still alive.
func (b *agentBed) agentRunning(name string) bool {
	cmd := b.agents[name]
	return cmd.ProcessState == nil && cmd.Process.Signal(syscall.Signal(0)) == nil
}

// compact compacts etcd's history up to its current revision (and waits for the compaction to
// be applied), so that a watch that resumes from an older revision is told it was compacted.
func (b *agentBed) compact() {
	b.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(b.endpoints, ","), DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx(b.t), "compact-probe")
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := cli.Compact(ctx(b.t), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		b.t.Fatal(err)
	}
}
