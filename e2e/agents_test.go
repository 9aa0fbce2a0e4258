package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/internal/syncbuf"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// TestAgentsAcrossHosts: an API server and three agents (`stockade agent`), one per simulated
// host of a testbed (docs/cross-host.md), share an etcd. The agents register their hosts;
// three instances of one VPC, each too large for two on a host, are placed one per host, and
// each agent runs only its own. Across hosts, through VXLAN, the instances reach each other
// exactly as their groups say; a membership change made through the API reaches the other
// hosts' routers; the internet gateway works from every host; an agent cut off from etcd
// (stopped, so its host's lease runs out) leaves the host down in `stockade hosts`, and its
// instance keeps the rules it had. A flow log of the VPC gets the records of the instances
// on the agents' hosts: each agent sends its host's to the API server (--api-endpoint), whose
// S3 bucket holds the connection's ACCEPT records of both ends, each written by its own host.
func TestAgentsAcrossHosts(t *testing.T) {
	b := newAgentBed(t)
	const bucket = "agent-flows"
	if code, out := b.s3(http.MethodPut, "/"+bucket, nil); code != http.StatusOK {
		t.Fatalf("create bucket: %d %s", code, out)
	}
	if _, err := b.c.CreateFlowLogs(ctx(t), &ec2.CreateFlowLogsInput{ResourceIds: []string{b.vpc}, ResourceType: types.FlowLogsResourceTypeVpc,
		TrafficType: types.TrafficTypeAll, LogDestinationType: types.LogDestinationTypeS3, LogDestination: aws.String("arn:aws:s3:::" + bucket)}); err != nil {
		t.Fatal(err)
	}
	web, other, ids, addrs, ns, _ := b.trio()
	probe := func(from, to int, pass bool) {
		t.Helper()
		b.probe(ns[from], addrs[to], 8080, pass)
	}
	probe(1, 0, true)  // web members, each on its own host
	probe(2, 0, false) // other is no member of web
	probe(0, 2, false) // other admits nothing

	// Instance 1's connections to instance 0: its egress records come from its host, 0's
	// ingress records from the other (default format: … srcaddr dstaddr srcport dstport
	// protocol packets bytes start end action log-status).
	enis := []string{b.primaryENI(ids[0]), b.primaryENI(ids[1])}
	waitFor(t, 60*time.Second, "ACCEPT records of 1 → 0:8080 from both hosts in s3://"+bucket, func() bool {
		seen := map[string]bool{}
		for _, l := range b.flowRecords(bucket) {
			f := strings.Fields(l)
			if len(f) == 14 && f[3] == addrs[1].String() && f[4] == addrs[0].String() && f[6] == "8080" && f[12] == "ACCEPT" && f[13] == "OK" {
				seen[f[2]] = true
			}
		}
		return seen[enis[0]] && seen[enis[1]]
	})

	// The third instance joins web: the other hosts' member sets follow.
	b.setGroups(ids[2], web)
	waitFor(t, 30*time.Second, "the new member admitted on another host", func() bool {
		return netlab.TCP(ns[2], netip.AddrPortFrom(addrs[0], 8080), netlab.Timeout(true)) == nil
	})

	// The default VPC's internet gateway works from every host: the agents link their routers
	// to the testbed's one internet namespace (--internet-netns); each instance reaches the
	// internet as its own public address, translated on its own host, and the internet reaches
	// an instance's public address only as its groups allow.
	who := netip.AddrPortFrom(netlab.InternetHost, 9000)
	ws, err := netlab.ServeWho(b.tb.Internet(), who)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	public := make([]netip.Addr, 3)
	for i, id := range ids {
		out, err := b.c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if public[i], err = netip.ParseAddr(aws.ToString(out.Reservations[0].Instances[0].PublicIpAddress)); err != nil {
			t.Fatalf("%s has no public address: %v", id, err)
		}
		waitFor(t, 30*time.Second, id+" seen on the internet as "+public[i].String(), func() bool {
			got, err := netlab.SeenAs(ns[i], who, netlab.Timeout(true))
			return err == nil && got == public[i]
		})
	}
	b.allowCIDR(other, 8080, "0.0.0.0/0")
	b.setGroups(ids[2], web, other) // the third instance joined web above; other opens it to the internet
	waitFor(t, 30*time.Second, "the internet to "+ids[2]+"'s public address", func() bool {
		return netlab.TCP(b.tb.Internet(), netip.AddrPortFrom(public[2], 8080), netlab.Timeout(true)) == nil
	})
	b.probe(b.tb.Internet(), public[0], 8080, false) // web admits its members only
	b.probe(b.tb.Internet(), public[1], 8080, false)

	// An agent stops (SIGTERM; --keep-lab leaves its lab): its host goes down once its lease
	// runs out, and its instance still reaches, and is reached, as before.
	stopped := b.hostOf(ns[0])
	a := b.agents[stopped]
	a.Process.Signal(syscall.SIGTERM)
	a.Wait()
	b.waitState(stopped, cluster.Down, 30*time.Second)
	out, err := exec.Command(binary, "hosts", "--etcd-endpoints", b.endpoints).CombinedOutput()
	if err != nil || !strings.Contains(string(out), stopped) || !strings.Contains(string(out), "down") {
		t.Errorf("stockade hosts: %v\n%s", err, out)
	}
	probe(1, 0, true)
	probe(0, 1, true)
	probe(0, 2, true)
}

// agentBed is a testbed of three simulated hosts (netlab.NewTestbed), an embedded etcd, an
// API server on it and one `stockade agent` per host. Each agent reaches etcd only through a
// loopback forwarder of its own (etcdtest.Proxy), so that a test can cut one host off from etcd
// while the API server and the other agents keep it; a healthy forwarder only copies bytes.
type agentBed struct {
	t         testing.TB
	tb        *netlab.Testbed
	endpoints string // etcd's own client URLs (the API server's, `stockade hosts`')
	s         *server
	c         *ec2.Client
	st        *etcd.Store // the test's own view of the store
	agents    map[string]*exec.Cmd
	proxies   map[string]*etcdtest.Proxy
	dirs      map[string]string // each agent's data directory, kept across restarts
	vpc       string            // the default VPC, where run launches
}

func newAgentBed(t testing.TB) *agentBed {
	t.Helper()
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	rb := make([]byte, 1)
	_, _ = rand.Read(rb)
	prefix := "g" + hex.EncodeToString(rb) // the testbed's namespaces and every lab prefix start with it
	cx := ctx(t)
	tb, err := netlab.NewTestbed(cx, prefix, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
		// The agents keep their labs (--keep-lab): their instances' processes, cgroups and
		// root filesystems go here, as `stockade testbed down` removes them.
		if cg, err := host.DetectCgroups("/sys/fs/cgroup"); err == nil {
			if err := cg.RemoveAll(prefix); err != nil {
				t.Error(err)
			}
		}
		if err := host.RemoveRoots(prefix); err != nil {
			t.Error(err)
		}
	})
	etcdSrv := etcdtest.Start(t)
	b := &agentBed{t: t, tb: tb, endpoints: strings.Join(etcdSrv.Endpoints, ","), agents: map[string]*exec.Cmd{},
		proxies: map[string]*etcdtest.Proxy{}, dirs: map[string]string{}}
	b.s = startServer(t, "", "--etcd-endpoints", b.endpoints)
	for _, h := range tb.Hosts {
		b.proxies[h.Name] = etcdtest.NewProxy(t, strings.TrimPrefix(etcdSrv.Endpoints[0], "http://"))
		b.dirs[h.Name] = filepath.Join(t.TempDir(), "agent")
		b.startAgent(h.Name)
	}
	if b.st, err = etcd.Open(cx, etcd.Options{Endpoints: etcdSrv.Endpoints}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	for _, h := range tb.Hosts {
		b.waitState(h.Name, cluster.Up, 60*time.Second)
	}
	b.c = ec2Client(b.s, b.s.akid, b.s.secret)
	vpc, err := b.c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpc.Vpcs) != 1 {
		t.Fatalf("default VPC: %v %v", vpc, err)
	}
	b.vpc = aws.ToString(vpc.Vpcs[0].VpcId)
	return b
}

// trio is the three instances of the agent tests, one per host and each listening on tcp/8080:
// web admits tcp/8080 from web; instances 0 and 1 are in web, 2 in other (which admits
// nothing). It returns once 1 reaches 0 across hosts, with the instances' IDs, addresses,
// namespaces and hosts in that order.
func (b *agentBed) trio() (web, other string, ids []string, addrs []netip.Addr, ns, hosts []string) {
	b.t.Helper()
	web, other = b.group("web"), b.group("other")
	b.allowFrom(web, 8080, web)
	ids, addrs = make([]string, 3), make([]netip.Addr, 3)
	for i, g := range []string{web, web, other} {
		ids[i], addrs[i] = b.run(g)
	}
	ns, hosts = b.spread(ids)
	for i := range ids {
		b.serve(ns[i], 8080)
	}
	waitFor(b.t, 30*time.Second, "web to web across hosts", func() bool {
		return netlab.TCP(ns[1], netip.AddrPortFrom(addrs[0], 8080), netlab.Timeout(true)) == nil
	})
	return web, other, ids, addrs, ns, hosts
}

// startAgent runs `stockade agent` for one simulated host, through the host's etcd forwarder
// and with its lab kept when it stops (the testbed removes every namespace of its prefix), and
// stops it when the test ends unless the test has.
func (b *agentBed) startAgent(name string) *exec.Cmd {
	t := b.t
	t.Helper()
	h := b.tb.Host(name)
	var stderr syncbuf.Buffer
	cmd := exec.Command(binary, "agent", "--etcd-endpoints", b.proxies[name].Endpoint(), "--host", h.Name, "--zone", "us-east-1a",
		"--vcpus", "2", "--memory", "2048", "--underlay", h.Underlay.String(), "--underlay-netns", h.Namespace, "--internet-netns", b.tb.Internet(),
		"--lab-prefix", h.Names.Prefix, "--keep-lab", "--heartbeat", "1s", "--lease", "3s", "--resync", "2s",
		"--api-endpoint", b.s.endpoint, "--credentials", filepath.Join(b.s.dataDir, "credentials"), "--flow-log-window", "2s",
		"--data-dir", b.dirs[name])
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.agents[name] = cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("agent %s:\n%s", h.Name, stderr.String())
		}
	})
	return cmd
}

// state is a host's state as `stockade hosts` would list it now ("" when not registered).
func (b *agentBed) state(name string) string {
	hs, err := cluster.Statuses(ctx(b.t), b.st, time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	for _, h := range hs {
		if h.Name == name {
			return h.State
		}
	}
	return ""
}

func (b *agentBed) waitState(name, state string, limit time.Duration) {
	b.t.Helper()
	waitFor(b.t, limit, "host "+name+" "+state, func() bool { return b.state(name) == state })
}

func (b *agentBed) group(name string) string {
	b.t.Helper()
	g, err := b.c.CreateSecurityGroup(ctx(b.t), &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name)})
	if err != nil {
		b.t.Fatal(err)
	}
	return aws.ToString(g.GroupId)
}

// allowFrom lets the members of from reach group's members on a TCP port.
func (b *agentBed) allowFrom(group string, port int32, from string) {
	b.t.Helper()
	b.allow(group, types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(from)}}})
}

// allowCIDR lets a CIDR reach a group's port.
func (b *agentBed) allowCIDR(group string, port int32, cidr string) {
	b.t.Helper()
	b.allow(group, types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}})
}

// allow authorizes one ingress permission on a group.
func (b *agentBed) allow(group string, p types.IpPermission) {
	b.t.Helper()
	if _, err := b.c.AuthorizeSecurityGroupIngress(ctx(b.t), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group),
		IpPermissions: []types.IpPermission{p}}); err != nil {
		b.t.Fatal(err)
	}
}

// run launches one t3.micro in the default VPC with group: a host of the bed (2 vCPUs) holds
// one, so that placement spreads three of them over the three hosts.
func (b *agentBed) run(group string) (id string, addr netip.Addr) {
	b.t.Helper()
	out, err := b.c.RunInstances(ctx(b.t), &ec2.RunInstancesInput{ImageId: aws.String(image.DefaultID), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{group}})
	if err != nil {
		b.t.Fatal(err)
	}
	in := out.Instances[0]
	return aws.ToString(in.InstanceId), netip.MustParseAddr(aws.ToString(in.PrivateIpAddress))
}

// primaryENI is an instance's primary network interface.
func (b *agentBed) primaryENI(id string) string {
	b.t.Helper()
	out, err := b.c.DescribeInstances(ctx(b.t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		b.t.Fatal(err)
	}
	return aws.ToString(out.Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId)
}

// setGroups replaces the groups of an instance's primary interface.
func (b *agentBed) setGroups(id string, groups ...string) {
	b.t.Helper()
	b.setENIGroups(b.primaryENI(id), groups...)
}

// setENIGroups replaces the groups of a network interface.
func (b *agentBed) setENIGroups(eni string, groups ...string) {
	b.t.Helper()
	if _, err := b.c.ModifyNetworkInterfaceAttribute(ctx(b.t), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eni), Groups: groups}); err != nil {
		b.t.Fatal(err)
	}
}

// spread waits until each instance runs on one host and each host runs one of them, and
// returns their namespaces and hosts, in the order of ids.
func (b *agentBed) spread(ids []string) (ns, hosts []string) {
	t := b.t
	t.Helper()
	ns, hosts = make([]string, len(ids)), make([]string, len(ids))
	waitFor(t, 90*time.Second, "each instance running on one host", func() bool {
		seen := map[string]bool{}
		for i, id := range ids {
			ns[i] = ""
			for _, h := range b.tb.Hosts {
				if n := h.Names.Instance(id); nsExists(n) {
					if ns[i] != "" {
						t.Fatalf("%s runs on two hosts", id)
					}
					ns[i], hosts[i] = n, h.Name
					seen[h.Name] = true
				}
			}
			if ns[i] == "" {
				return false
			}
		}
		if len(seen) != len(ids) {
			t.Fatalf("%d instances on %d hosts, want one each", len(ids), len(seen))
		}
		return true
	})
	return ns, hosts
}

// hostOf is the host whose lab holds a namespace.
func (b *agentBed) hostOf(ns string) string {
	for _, h := range b.tb.Hosts {
		if strings.HasPrefix(ns, h.Names.Prefix+"-") {
			return h.Name
		}
	}
	b.t.Fatalf("namespace %s is on no host", ns)
	return ""
}

// serve listens on a TCP port in a namespace until the test ends. The namespace may still be
// in the making when its name appears (an agent makes the file, then mounts the namespace on
// it; entering it in between fails with EINVAL), so a failure is tried again for a while.
func (b *agentBed) serve(ns string, port int) {
	b.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		srv, err := netlab.Serve(ns, port)
		if err == nil {
			b.t.Cleanup(func() { srv.Close() })
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no server in %s within 30 s: %v", ns, err)
		}
	}
}

// probe connects from a namespace to addr:port and expects it to pass or not.
func (b *agentBed) probe(from string, addr netip.Addr, port uint16, pass bool) {
	b.t.Helper()
	err := netlab.TCP(from, netip.AddrPortFrom(addr, port), netlab.Timeout(pass))
	if (err == nil) != pass {
		b.t.Errorf("%s → %s tcp/%d: err=%v, want pass=%v", from, addr, port, err, pass)
	}
}

// s3 calls the API server's S3 API as the administrator (path style), returning the status
// and the body.
func (b *agentBed) s3(method, path string, body []byte) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(ctx(b.t), method, b.s.endpoint+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	sigv4.Sign(req, body, b.s.akid, b.s.secret, "us-east-1", "s3", time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// flowRecords reads every flow-log object of a bucket through the S3 API (ListObjectsV2,
// GetObject) and returns their records, headers left out.
func (b *agentBed) flowRecords(bucket string) []string {
	b.t.Helper()
	code, out := b.s3(http.MethodGet, "/"+bucket+"?list-type=2", nil)
	if code != http.StatusOK {
		b.t.Fatalf("list s3://%s: %d %s", bucket, code, out)
	}
	var list struct {
		Contents []struct{ Key string }
	}
	if err := xml.Unmarshal(out, &list); err != nil {
		b.t.Fatal(err)
	}
	var lines []string
	for _, o := range list.Contents {
		code, obj := b.s3(http.MethodGet, "/"+bucket+"/"+o.Key, nil)
		if code != http.StatusOK {
			b.t.Fatalf("get %s: %d", o.Key, code)
		}
		zr, err := gzip.NewReader(bytes.NewReader(obj))
		if err != nil {
			b.t.Fatalf("%s: %v", o.Key, err)
		}
		text, err := io.ReadAll(zr)
		if err != nil {
			b.t.Fatalf("%s: %v", o.Key, err)
		}
		ls := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
		lines = append(lines, ls[1:]...)
	}
	return lines
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netlab.Dir, name))
	return err == nil
}

// members returns the addresses in a group's IPv4 member set in a host's router of the default
// VPC, read from the kernel over netlink: what that host enforces for the rules that reference
// the group (dataplane's set "members4_<group>" in table inet stockade). It is nil when the
// host has no such router or set, and empty (not nil) when the set has no members.
func (b *agentBed) members(host, group string) []netip.Addr {
	b.t.Helper()
	h, err := netns.GetFromPath(netlab.Path(b.tb.Host(host).Names.Router(b.vpc)))
	if err != nil {
		return nil
	}
	defer h.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		b.t.Fatal(err)
	}
	defer conn.CloseLasting()
	set, err := conn.GetSetByName(&nftables.Table{Name: "stockade", Family: nftables.TableFamilyINet},
		"members4_"+strings.ReplaceAll(group, "-", "_"))
	if err != nil {
		return nil
	}
	elems, err := conn.GetSetElements(set)
	if err != nil {
		return nil
	}
	out := []netip.Addr{}
	for _, e := range elems {
		if a, ok := netip.AddrFromSlice(e.Key); ok && !e.IntervalEnd {
			out = append(out, a)
		}
	}
	return out
}

// hasMember reports whether a host enforces addr as a member of group (members).
func (b *agentBed) hasMember(host, group string, addr netip.Addr) bool {
	return slices.Contains(b.members(host, group), addr)
}
