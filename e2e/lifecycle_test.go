package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// TestStopStartRebootInLab drives a root server with the AWS SDK: a stopped lab instance runs
// nothing (its namespace is gone and its address does not answer) and keeps its private
// address; a start brings it back on the same address, answering again; a reboot gives it a
// new sandbox; DescribeInstanceStatus shows its checks passed once it has booted.
func TestStopStartRebootInLab(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.61.0.0/16")
	sn := e.subnet(vpc, "10.61.1.0/24")
	g := e.group(vpc)
	e.allowIn(g, perm("icmp", 8, -1, "10.61.0.0/16"))
	a, b := e.launch(sn, g), e.launch(sn, g)
	e.enforced()
	e.expectPing(a, b, true)

	ids := []string{b.ID}
	stop := must[*ec2.StopInstancesOutput](t)(e.c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids}))
	if got := stop.StoppingInstances[0]; got.CurrentState.Name != types.InstanceStateNameStopping || got.PreviousState.Name != types.InstanceStateNameRunning {
		t.Errorf("stop: %+v → %+v", got.PreviousState, got.CurrentState)
	}
	e.enforced()
	if netlab.Exists(b.NS) {
		t.Errorf("a stopped instance's namespace %s still exists", b.NS)
	}
	e.expectPing(a, b, false)
	desc := must[*ec2.DescribeInstancesOutput](t)(e.c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids}))
	inst := desc.Reservations[0].Instances[0]
	if inst.State.Name != types.InstanceStateNameStopped || aws.ToString(inst.PrivateIpAddress) != b.IP.String() ||
		aws.ToString(inst.NetworkInterfaces[0].NetworkInterfaceId) != b.ENI {
		t.Errorf("a stopped instance: state %s, address %s, interface %s", inst.State.Name, aws.ToString(inst.PrivateIpAddress),
			aws.ToString(inst.NetworkInterfaces[0].NetworkInterfaceId))
	}

	must[*ec2.StartInstancesOutput](t)(e.c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids}))
	e.enforced()
	if !netlab.Exists(b.NS) {
		t.Fatalf("a started instance has no namespace %s\n%s", b.NS, e.s.stderr.String())
	}
	e.expectPing(a, b, true)
	e.waitStatus(b.ID, "ok")

	must[*ec2.RebootInstancesOutput](t)(e.c.RebootInstances(ctx(t), &ec2.RebootInstancesInput{InstanceIds: ids}))
	e.enforced()
	e.expectPing(a, b, true)
	e.waitStatus(b.ID, "ok")
}

// waitStatus polls DescribeInstanceStatus (up to 30 s) until the instance's check is want.
func (e *labEnv) waitStatus(id, want string) {
	e.t.Helper()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out := must[*ec2.DescribeInstanceStatusOutput](e.t)(e.c.DescribeInstanceStatus(ctx(e.t), &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}}))
		if len(out.InstanceStatuses) == 1 {
			if got = string(out.InstanceStatuses[0].InstanceStatus.Status); got == want {
				return
			}
		}
	}
	e.t.Errorf("instance %s status %q after 30 s, want %q", id, got, want)
}
