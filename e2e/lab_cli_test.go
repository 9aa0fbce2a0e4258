package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/image"
)

// TestLabCLI runs the documented commands: `stockade lab list` shows every instance with its
// addresses, namespace, image, type, limits and state, and `stockade lab exec` runs a command
// inside one, with the command's output and exit status.
func TestLabCLI(t *testing.T) {
	e := newLabEnv(t)
	vpc, def, six := e.vpc6("10.15.0.0/16")
	sn := e.subnet6(vpc, "10.15.1.0/24", six, 1)
	dual := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def}, Ipv6AddressCount: aws.Int32(1),
		InstanceType: types.InstanceTypeT3Micro}) // m1.small, the default, has no IPv6
	plain := e.launch(sn, def)
	vpcs := must[*ec2.DescribeVpcsOutput](t)(e.c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{VpcIds: []string{vpc}}))
	account := *vpcs.Vpcs[0].OwnerId
	lab := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"lab", "--data-dir", e.s.dataDir}, args...)...).CombinedOutput()
		return string(out), err
	}

	// The command sees the instance's own interface and addresses.
	out, err := lab("exec", dual.ID, "--", "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, dual.IP.String()+"/") || !strings.Contains(out, dual.IP6.String()+"/128") {
		t.Errorf("lab exec ip addr: %v\n%s", err, out)
	}
	// Its exit status is the command's.
	_, err = lab("exec", plain.ID, "--", "sh", "-c", "exit 7")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("lab exec exit status: %v, want 7", err)
	}
	// lab exec waited for both sandboxes to boot: both are running.
	out, err = lab("list")
	if err != nil {
		t.Fatalf("lab list: %v\n%s", err, out)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	for _, c := range []struct {
		in           instance
		ipv6         string
		itype, limit string
	}{
		{dual, dual.IP6.String(), "t3.micro", "1024MiB/2vcpu/1024procs/1024MiB-disk"},
		{plain, "-", "m1.small", "1740MiB/1vcpu/512procs/1024MiB-disk"},
	} {
		want := []string{c.in.ID, account, vpc, c.in.IP.String(), c.ipv6, c.in.NS, image.DefaultID, c.itype, c.limit, "running"}
		if got := rows[c.in.ID]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("lab list row of %s: %q, want %q\n%s", c.in.ID, got, want, out)
		}
	}

	// An instance that is not in the lab is an error that says what to do.
	out, err = lab("exec", "i-0123456789abcdef0", "--", "true")
	if err == nil || !strings.Contains(out, "not a running lab instance") {
		t.Errorf("lab exec of an unknown instance: %v\n%s", err, out)
	}
}
