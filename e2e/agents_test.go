package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/cluster"
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
// hosts' routers; an agent cut off from etcd (stopped, so its host's lease runs out) leaves
// the host down in `stockade hosts`, and its instance keeps the rules it had.
func TestAgentsAcrossHosts(t *testing.T) {
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	prefix := "g" + hex.EncodeToString(b) // the testbed's namespaces and every lab prefix start with it
	cx := ctx(t)
	tb, err := netlab.NewTestbed(cx, prefix, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	etcdSrv := etcdtest.Start(t)
	endpoints := strings.Join(etcdSrv.Endpoints, ",")
	s := startServer(t, "", "--etcd-endpoints", endpoints)
	agents := map[string]*exec.Cmd{}
	for _, h := range tb.Hosts {
		agents[h.Name] = startAgent(t, endpoints, h)
	}
	st, err := etcd.Open(cx, etcd.Options{Endpoints: etcdSrv.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, 60*time.Second, "three hosts up", func() bool {
		hs, err := cluster.Statuses(cx, st, time.Now())
		up := 0
		for _, h := range hs {
			if h.State == cluster.Up {
				up++
			}
		}
		return err == nil && up == 3
	})

	c := ec2Client(s, s.akid, s.secret)
	vpc, err := c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpc.Vpcs) != 1 {
		t.Fatalf("default VPC: %v %v", vpc, err)
	}
	group := func(name string) string {
		g, err := c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(g.GroupId)
	}
	web, other := group("web"), group("other")
	if _, err := c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(web)}}}}}); err != nil {
		t.Fatal(err)
	}
	run := func(g string) (id string, addr netip.Addr) {
		out, err := c.RunInstances(cx, &ec2.RunInstancesInput{ImageId: aws.String(image.DefaultID), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{g}})
		if err != nil {
			t.Fatal(err)
		}
		in := out.Instances[0]
		return aws.ToString(in.InstanceId), netip.MustParseAddr(aws.ToString(in.PrivateIpAddress))
	}
	ids, addrs := make([]string, 3), make([]netip.Addr, 3)
	ids[0], addrs[0] = run(web)
	ids[1], addrs[1] = run(web)
	ids[2], addrs[2] = run(other)

	// Each instance runs on one host, and each host runs one: find where by the namespaces.
	ns := make([]string, 3)
	waitFor(t, 90*time.Second, "each instance running on one host", func() bool {
		seen := map[string]bool{}
		for i, id := range ids {
			ns[i] = ""
			for _, h := range tb.Hosts {
				if n := h.Names.Instance(id); nsExists(n) {
					if ns[i] != "" {
						t.Fatalf("%s runs on two hosts", id)
					}
					ns[i] = n
					seen[h.Name] = true
				}
			}
			if ns[i] == "" {
				return false
			}
		}
		if len(seen) != 3 {
			t.Fatalf("three instances on %d hosts, want one each", len(seen))
		}
		return true
	})
	for i := range ids {
		srv, err := netlab.Serve(ns[i], 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	probe := func(from, to int, pass bool) {
		t.Helper()
		err := netlab.TCP(ns[from], netip.AddrPortFrom(addrs[to], 8080), netlab.Timeout(pass))
		if (err == nil) != pass {
			t.Errorf("%s → %s tcp/8080: err=%v, want pass=%v", ids[from], ids[to], err, pass)
		}
	}
	waitFor(t, 30*time.Second, "web to web across hosts", func() bool {
		return netlab.TCP(ns[0], netip.AddrPortFrom(addrs[1], 8080), netlab.Timeout(true)) == nil
	})
	probe(1, 0, true)  // web members, each on its own host
	probe(2, 0, false) // other is no member of web
	probe(0, 2, false) // other admits nothing

	// The third instance joins web: the other hosts' member sets follow.
	eni, err := c.DescribeInstances(cx, &ec2.DescribeInstancesInput{InstanceIds: []string{ids[2]}})
	if err != nil {
		t.Fatal(err)
	}
	eniID := eni.Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId
	if _, err := c.ModifyNetworkInterfaceAttribute(cx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: eniID, Groups: []string{web}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the new member admitted on another host", func() bool {
		return netlab.TCP(ns[2], netip.AddrPortFrom(addrs[0], 8080), netlab.Timeout(true)) == nil
	})

	// An agent stops (SIGTERM; --keep-lab leaves its lab): its host goes down once its lease
	// runs out, and its instance still reaches, and is reached, as before.
	stopped := ""
	for _, h := range tb.Hosts {
		if strings.HasPrefix(ns[0], h.Names.Prefix+"-") {
			stopped = h.Name
		}
	}
	a := agents[stopped]
	a.Process.Signal(syscall.SIGTERM)
	a.Wait()
	waitFor(t, 30*time.Second, "host "+stopped+" down", func() bool {
		hs, err := cluster.Statuses(cx, st, time.Now())
		for _, h := range hs {
			if h.Name == stopped {
				return err == nil && h.State == cluster.Down
			}
		}
		return false
	})
	out, err := exec.Command(binary, "hosts", "--etcd-endpoints", endpoints).CombinedOutput()
	if err != nil || !strings.Contains(string(out), stopped) || !strings.Contains(string(out), "down") {
		t.Errorf("stockade hosts: %v\n%s", err, out)
	}
	probe(1, 0, true)
	probe(0, 1, true)
	probe(0, 2, true)
}

// startAgent runs `stockade agent` for one simulated host, its lab kept when it stops (the
// test's testbed removes every namespace of its prefix), and stops it when the test ends.
func startAgent(t *testing.T, endpoints string, h netlab.SimHost) *exec.Cmd {
	t.Helper()
	var stderr syncbuf.Buffer
	cmd := exec.Command(binary, "agent", "--etcd-endpoints", endpoints, "--host", h.Name, "--zone", "us-east-1a",
		"--vcpus", "2", "--memory", "2048", "--underlay", h.Underlay.String(), "--underlay-netns", h.Namespace,
		"--lab-prefix", h.Names.Prefix, "--keep-lab", "--heartbeat", "1s", "--lease", "3s", "--resync", "2s",
		"--data-dir", filepath.Join(t.TempDir(), "agent"))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netlab.Dir, name))
	return err == nil
}
