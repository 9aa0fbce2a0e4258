package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAdmissionPolicyWithAWSCLI runs the README's admission policy with the real AWS CLI: SSH
// from the world is refused with OperationNotPermitted naming the check, with and without
// --dry-run, and changes nothing; SSH from a private range is allowed, and so is SSH from the
// world on a group the policy exempts by tag; a finding from before the policy was turned on
// does not block an unrelated rule on its group, but a second admin rule to the world does.
func TestAdmissionPolicyWithAWSCLI(t *testing.T) {
	cliTest(t)
	dataDir := t.TempDir()
	policy := filepath.Join(t.TempDir(), "admission.yaml")
	if err := os.WriteFile(policy, []byte(`# Never open remote administration to the internet.
forbid: [SGA-001, SGA-002, SGA-003]
exemptions:
  - tag: admission=exempt
    reason: bastion hosts, reviewed by the security team
`), 0o600); err != nil {
		t.Fatal(err)
	}

	// Before the policy: a group that already lets SSH in from the world.
	s := startServer(t, dataDir)
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	group := func(name string, args ...string) string {
		var g struct{ GroupId string }
		a.ok(&g, append([]string{"ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", name, "--description", name}, args...)...)
		return g.GroupId
	}
	legacy := group("legacy")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", legacy, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	s.stop(t, syscall.SIGTERM)

	s = startServer(t, dataDir, "--admission-policy", policy)
	a.s = s
	web := group("web")
	ssh := func(g, cidr string, extra ...string) []string {
		return append([]string{"ec2", "authorize-security-group-ingress", "--group-id", g, "--protocol", "tcp", "--port", "22", "--cidr", cidr}, extra...)
	}
	_, stderr, err := a.run(ssh(web, "0.0.0.0/0")...)
	if err == nil || !strings.Contains(stderr, "(OperationNotPermitted)") || !strings.Contains(stderr, "SGA-002") || !strings.Contains(stderr, web) {
		t.Fatalf("SSH from the world: err %v, stderr %q; want OperationNotPermitted naming SGA-002 and %s", err, stderr, web)
	}
	a.fails("OperationNotPermitted", ssh(web, "0.0.0.0/0", "--dry-run")...)
	a.fails("OperationNotPermitted", "ec2", "authorize-security-group-ingress", "--group-id", web,
		"--ip-permissions", "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]") // SGA-001
	var rules struct{ SecurityGroupRules []struct{ IsEgress bool } }
	a.ok(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+web)
	for _, r := range rules.SecurityGroupRules {
		if !r.IsEgress {
			t.Fatalf("a refused write left an ingress rule: %+v", rules)
		}
	}

	a.ok(nil, ssh(web, "10.0.0.0/8")...)
	bastion := group("bastion", "--tag-specifications", "ResourceType=security-group,Tags=[{Key=admission,Value=exempt}]")
	a.ok(nil, ssh(bastion, "0.0.0.0/0")...)
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", legacy, "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8")
	a.fails("OperationNotPermitted", "ec2", "authorize-security-group-ingress", "--group-id", legacy, "--protocol", "tcp", "--port", "3389", "--cidr", "0.0.0.0/0")
}
