package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/image"
)

// TestPlacementAndDedicatedHostsSDK drives placement and tenancy through the AWS SDK on a
// server whose hosts were registered through its admin socket (POST /v1/hosts, what an agent
// does on etcd; the test process cannot reach the server's store). Two accounts: a dedicated
// instance of the administrator's takes a host of its own, the other account's launches fill
// every other host and never that one, and then fail with InsufficientInstanceCapacity; a
// Dedicated Host is allocated in another zone, an instance launched onto it by HostId, both
// shown by DescribeHosts and DescribeInstances, and the host cannot be released while it runs
// something. `stockade hosts --json` shows the same.
func TestPlacementAndDedicatedHostsSDK(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, "")
	admin := adminapi.Dial(s.dataDir)
	for _, h := range []cluster.Host{
		{Name: "node-1", Zone: "us-east-1a", VCPUs: 4, MemoryMiB: 8192},
		{Name: "node-2", Zone: "us-east-1a", VCPUs: 4, MemoryMiB: 8192},
		{Name: "node-3", Zone: "us-east-1a", VCPUs: 6, MemoryMiB: 8192},
		{Name: "node-b", Zone: "us-east-1b", VCPUs: 8, MemoryMiB: 16384},
	} {
		h.Lease = time.Hour
		if err := admin.RegisterHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(binary, "account", "create", "bob", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v %s", err, out)
	}
	bakid, bsecret := parseCredentials(t, bufio.NewScanner(strings.NewReader(string(out))), "bob")
	alice, bob := ec2Client(s, s.akid, s.secret), ec2Client(s, bakid, bsecret)

	subnet := func(c *ec2.Client, zone string) string {
		vpc := must[*ec2.CreateVpcOutput](t)(c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")}))
		sn := must[*ec2.CreateSubnetOutput](t)(c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId,
			CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String(zone)}))
		return *sn.Subnet.SubnetId
	}
	run := func(c *ec2.Client, sn string, max int32, p *types.Placement) (*ec2.RunInstancesOutput, error) {
		return c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image.DefaultID), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(max), SubnetId: aws.String(sn), Placement: p})
	}
	aliceSn, bobSn := subnet(alice, "us-east-1a"), subnet(bob, "us-east-1a")

	// Bob's first instance goes to node-3 (most free); alice's dedicated one must then avoid
	// it, and takes node-1 (node-1 and node-2 tie; by name).
	must[*ec2.RunInstancesOutput](t)(run(bob, bobSn, 1, nil))
	ded := must[*ec2.RunInstancesOutput](t)(run(alice, aliceSn, 1, &types.Placement{Tenancy: types.TenancyDedicated})).Instances[0]
	if ded.Placement.Tenancy != types.TenancyDedicated || ded.Placement.HostId != nil {
		t.Errorf("dedicated instance's placement: %+v", ded.Placement)
	}
	// Bob fills what is left to him: node-2 (4 vCPUs) and node-3 (4 left): four t3.micro (2
	// vCPUs each). Were node-1 open to him, its 2 free vCPUs would take a fifth.
	fill := must[*ec2.RunInstancesOutput](t)(run(bob, bobSn, 10, nil))
	if len(fill.Instances) != 4 {
		t.Errorf("bob launched %d, want 4: node-1 is alice's alone", len(fill.Instances))
	}
	_, err = run(bob, bobSn, 1, nil)
	if code, status := apiError(t, err); code != "InsufficientInstanceCapacity" || status != 500 {
		t.Errorf("bob on full hosts: %s %d", code, status)
	}
	hosts := hostsJSON(t, s)
	if h := hosts["node-1"]; h.Dedicated != aliceAccount(t, alice) || h.Used.Instances != 1 {
		t.Errorf("node-1 should be alice's alone: %+v", h)
	}
	if h := hosts["node-2"]; h.Dedicated != "" || h.Used.Instances != 2 || h.Used.VCPUs != 4 || h.State != cluster.Up {
		t.Errorf("node-2: %+v", h)
	}

	// A Dedicated Host in us-east-1b, an instance on it by HostId.
	alloc := must[*ec2.AllocateHostsOutput](t)(alice.AllocateHosts(ctx, &ec2.AllocateHostsInput{AvailabilityZone: aws.String("us-east-1b"),
		InstanceType: aws.String("t3.micro"), Quantity: aws.Int32(1), AutoPlacement: types.AutoPlacementOff}))
	if len(alloc.HostIds) != 1 || !strings.HasPrefix(alloc.HostIds[0], "h-") || len(alloc.HostIds[0]) != 19 {
		t.Fatalf("AllocateHosts: %v", alloc.HostIds)
	}
	hid := alloc.HostIds[0]
	_, err = bob.AllocateHosts(ctx, &ec2.AllocateHostsInput{AvailabilityZone: aws.String("us-east-1b"), InstanceType: aws.String("t3.micro"), Quantity: aws.Int32(1)})
	wantCode(t, err, "InsufficientHostCapacity")
	aliceSnB := subnet(alice, "us-east-1b")
	onHost := must[*ec2.RunInstancesOutput](t)(run(alice, aliceSnB, 1, &types.Placement{HostId: aws.String(hid), Affinity: aws.String("host")})).Instances[0]
	desc := must[*ec2.DescribeInstancesOutput](t)(alice.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*onHost.InstanceId}}))
	p := desc.Reservations[0].Instances[0].Placement
	if p.Tenancy != types.TenancyHost || aws.ToString(p.HostId) != hid || aws.ToString(p.Affinity) != "host" || aws.ToString(p.AvailabilityZone) != "us-east-1b" {
		t.Errorf("placement: tenancy %s host %s affinity %s zone %s", p.Tenancy, aws.ToString(p.HostId), aws.ToString(p.Affinity), aws.ToString(p.AvailabilityZone))
	}
	// Bob cannot launch in us-east-1b: its only host is alice's Dedicated Host.
	bobSnB := subnet(bob, "us-east-1b")
	_, err = run(bob, bobSnB, 1, nil)
	wantCode(t, err, "InsufficientInstanceCapacity")

	dh := must[*ec2.DescribeHostsOutput](t)(alice.DescribeHosts(ctx, &ec2.DescribeHostsInput{HostIds: []string{hid}})).Hosts
	if len(dh) != 1 {
		t.Fatalf("DescribeHosts: %+v", dh)
	}
	h := dh[0]
	if h.State != types.AllocationStateAvailable || h.AutoPlacement != types.AutoPlacementOff || aws.ToString(h.AvailabilityZone) != "us-east-1b" ||
		len(h.Instances) != 1 || aws.ToString(h.Instances[0].InstanceId) != *onHost.InstanceId ||
		aws.ToInt32(h.AvailableCapacity.AvailableVCpus) != 6 || aws.ToInt32(h.HostProperties.TotalVCpus) != 8 {
		t.Errorf("DescribeHosts: %+v instances %+v capacity %+v", h, h.Instances, h.AvailableCapacity)
	}
	rel := must[*ec2.ReleaseHostsOutput](t)(alice.ReleaseHosts(ctx, &ec2.ReleaseHostsInput{HostIds: []string{hid}}))
	if len(rel.Successful) != 0 || len(rel.Unsuccessful) != 1 || !strings.Contains(aws.ToString(rel.Unsuccessful[0].Error.Code), "Occupied") {
		t.Errorf("release of an occupied host: %+v", rel)
	}
	must[*ec2.TerminateInstancesOutput](t)(alice.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*onHost.InstanceId}}))
	rel = must[*ec2.ReleaseHostsOutput](t)(alice.ReleaseHosts(ctx, &ec2.ReleaseHostsInput{HostIds: []string{hid}}))
	if len(rel.Successful) != 1 || rel.Successful[0] != hid {
		t.Errorf("release of the emptied host: %+v", rel)
	}
	// Released, node-b takes anyone's instances again.
	must[*ec2.RunInstancesOutput](t)(run(bob, bobSnB, 1, nil))
	if h := hostsJSON(t, s)["node-b"]; h.Used.Instances != 1 || h.Dedicated != "" {
		t.Errorf("node-b after release: %+v", h)
	}
}

// hostsJSON runs `stockade hosts --json` against s, by host name.
func hostsJSON(t *testing.T, s *server) map[string]cluster.Status {
	t.Helper()
	out, err := exec.Command(binary, "hosts", "--data-dir", s.dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("stockade hosts: %v %s", err, out)
	}
	var list []cluster.Status
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := map[string]cluster.Status{}
	for _, h := range list {
		m[h.Name] = h
	}
	return m
}

func aliceAccount(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out := must[*ec2.DescribeSecurityGroupsOutput](t)(c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{}))
	return aws.ToString(out.SecurityGroups[0].OwnerId)
}
