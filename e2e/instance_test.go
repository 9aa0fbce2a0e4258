package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// consoleUntil polls an instance's console output until it contains want (or 20 s pass) and
// returns it.
func (e *labEnv) consoleUntil(id, want string) string {
	e.t.Helper()
	var out string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		co := must[*ec2.GetConsoleOutputOutput](e.t)(e.c.GetConsoleOutput(ctx(e.t), &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)}))
		if out = unb64(e.t, aws.ToString(co.Output)); strings.Contains(out, want) {
			return out
		}
	}
	e.t.Fatalf("console of %s never showed %q:\n%s\nserver log:\n%s", id, want, out, e.s.stderr.String())
	return ""
}

// labExec runs `stockade lab exec` with stdin and returns its combined output.
func (e *labEnv) labExec(stdin, id string, argv ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"lab", "--data-dir", e.s.dataDir, "exec", id, "--"}, argv...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestInstanceFirstBootAndMetadata launches an instance with a key pair and a #cloud-config
// that reads the metadata service with and without a token, as tutorials' user data does, and
// checks what it found; then that tokens can be required, that the launch key stays after the
// key pair is deleted, and that another instance sees only its own metadata.
func TestInstanceFirstBootAndMetadata(t *testing.T) {
	e := newLabEnv(t)
	vpc, def := e.vpc("10.41.0.0/16")
	sn := e.subnet(vpc, "10.41.1.0/24")
	key := must[*ec2.CreateKeyPairOutput](t)(e.c.CreateKeyPair(ctx(t), &ec2.CreateKeyPairInput{KeyName: aws.String("imds"), KeyType: types.KeyTypeEd25519}))
	userData := `#cloud-config
write_files:
  - path: /etc/greeting
    content: hello from cloud-config
    permissions: '0600'
packages: [nginx]
runcmd:
  - |
    TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
    echo "v2-id $(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)"
  - echo "v1-ip $(curl -s http://169.254.169.254/latest/meta-data/local-ipv4)"
  - [sh, -c, 'echo "key $(curl -s http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key | cut -d" " -f1)"']
  - echo "groups $(curl -s http://169.254.169.254/latest/meta-data/security-groups)"
  - echo "az $(curl -s http://169.254.169.254/latest/meta-data/placement/availability-zone)"
  - echo "greeting $(cat /etc/greeting) $(stat -c %a /etc/greeting)"
`
	in := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		KeyName: aws.String("imds"), UserData: aws.String(b64(userData))})
	out := e.consoleUntil(in.ID, "user data finished")
	for _, want := range []string{
		"v2-id " + in.ID, "v1-ip " + in.IP.String(), "key ssh-ed25519", "groups default", "az us-east-1a",
		"greeting hello from cloud-config 600", "[stockade] cloud-config packages are not installed in a lab instance: nginx",
		"user data finished with status 0", "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	// Tokens required: a GET without one is 401 (what makes SDKs fetch a token), with one 200.
	must[*ec2.ModifyInstanceMetadataOptionsOutput](t)(e.c.ModifyInstanceMetadataOptions(ctx(t), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(in.ID), HttpTokens: types.HttpTokensStateRequired}))
	got, err := e.labExec("", in.ID, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://169.254.169.254/latest/meta-data/instance-id")
	if err != nil || got != "401" {
		t.Errorf("GET without a token when tokens are required: %q, %v; want 401", got, err)
	}
	// The launch key stays the instance's after the key pair is deleted.
	must[*ec2.DeleteKeyPairOutput](t)(e.c.DeleteKeyPair(ctx(t), &ec2.DeleteKeyPairInput{KeyName: aws.String("imds")}))
	got, err = e.labExec("", in.ID, "sh", "-c", `T=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 5"); curl -s -H "X-aws-ec2-metadata-token: $T" http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key`)
	if err != nil || !strings.HasPrefix(got, "ssh-ed25519 ") || !strings.Contains(*key.KeyFingerprint, "") {
		t.Errorf("launch key after DeleteKeyPair: %q, %v", got, err)
	}
	// Another instance reaches only its own metadata at the same address.
	other := e.launch(sn, def)
	if got, err := e.labExec("", other.ID, "curl", "-s", "http://169.254.169.254/latest/meta-data/instance-id"); err != nil || got != other.ID {
		t.Errorf("the other instance's metadata: %q, %v; want its own ID %s", got, err, other.ID)
	}
}

// TestSSHThroughGroups: an instance launched with a key pair accepts SSH as ec2-user with that
// key, from a bastion in its VPC whose traffic crosses the VPC router, while a rule allows
// tcp/22 from the bastion's group, and not once the rule is revoked; root is told whom to log
// in as, with cloud-init's status 142; sessions run inside the sandbox.
func TestSSHThroughGroups(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("no sshd on this host (apt-get install openssh-server)")
	}
	e := newLabEnv(t)
	vpc, def := e.vpc("10.42.0.0/16")
	sn := e.subnet(vpc, "10.42.1.0/24")
	bastionSG, targetSG := e.group(vpc), e.group(vpc)
	e.allowOut(bastionSG, perm("tcp", 22, 22, "10.42.0.0/16"))
	ssh22 := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(bastionSG)}}}
	e.allowIn(targetSG, ssh22)
	key := must[*ec2.CreateKeyPairOutput](t)(e.c.CreateKeyPair(ctx(t), &ec2.CreateKeyPairInput{KeyName: aws.String("lab")}))
	target := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{targetSG}, KeyName: aws.String("lab")})
	bastion := e.launch(sn, bastionSG, def)
	e.consoleUntil(target.ID, "Server listening on") // sshd -e logs to the console
	if out, err := e.labExec(*key.KeyMaterial, bastion.ID, "sh", "-c", "umask 077; cat > /root/lab.pem"); err != nil {
		t.Fatalf("copy the key to the bastion: %v\n%s", err, out)
	}
	ssh := func(user, command string) (string, error) {
		return e.labExec("", bastion.ID, "ssh", "-i", "/root/lab.pem", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", user+"@"+target.IP.String(), command)
	}
	out, err := ssh("ec2-user", "id -un; hostname; cat /proc/1/cmdline | tr '\\0' ' '")
	if err != nil || !strings.HasPrefix(out, "ec2-user\nip-10-42-1-") || !strings.Contains(out, "bwrap") {
		t.Fatalf("ssh ec2-user@target from the bastion: %v\n%s\ntarget console:\n%s", err, out, e.consoleUntil(target.ID, "booting"))
	}
	out, err = ssh("root", "id")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 142 || !strings.Contains(out, `Please login as the user "ec2-user" rather than the user "root".`) {
		t.Errorf("ssh root@target: %v\n%s", err, out)
	}
	// From the host: `stockade lab ssh` through the VPC's operator attachment, which a rule
	// must admit like any address outside the VPC; and with --from, through the bastion.
	keyFile := filepath.Join(t.TempDir(), "lab.pem")
	if err := os.WriteFile(keyFile, []byte(*key.KeyMaterial), 0o600); err != nil {
		t.Fatal(err)
	}
	labSSH := func(args ...string) (string, error) {
		args = append([]string{"lab", "--data-dir", e.s.dataDir, "ssh", target.ID, "-i", keyFile, "--connect-timeout", "2s"}, args...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := labSSH("--", "hostname"); err == nil {
		t.Errorf("lab ssh connected without a rule admitting the operator:\n%s", out)
	}
	e.allowIn(targetSG, perm("tcp", 22, 22, "100.64.0.2/32"))
	e.enforced()
	if out, err := labSSH("--", "hostname"); err != nil || !strings.HasPrefix(out, "ip-10-42-1-") {
		t.Errorf("lab ssh with a rule admitting the operator: %v\n%s", err, out)
	}
	if out, err := labSSH("--from", bastion.ID, "--", "id", "-un"); err != nil || out != "ec2-user\n" {
		t.Errorf("lab ssh --from the bastion: %v\n%s", err, out)
	}
	must[*ec2.RevokeSecurityGroupIngressOutput](t)(e.c.RevokeSecurityGroupIngress(ctx(t), &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(targetSG), IpPermissions: []types.IpPermission{ssh22}}))
	e.enforced()
	if out, err := ssh("ec2-user", "true"); err == nil {
		t.Errorf("ssh after the rule was revoked connected:\n%s", out)
	}
}

// TestMetadataHopLimit: the token response travels with the instance's hop limit as its IP
// TTL, so a namespace behind the instance (a container it forwards and masquerades for) gets
// no token with the default limit of 1 and gets one with 2; the instance itself gets one with 1.
func TestMetadataHopLimit(t *testing.T) {
	e := newLabEnv(t)
	vpc, def := e.vpc("10.45.0.0/16")
	sn := e.subnet(vpc, "10.45.1.0/24")
	in := e.launch(sn, def)
	nested, inner, outer := e.prefix+"-nested", e.prefix+"nh0", e.prefix+"nh1"
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", nested).Run() })
	run := func(ns string, argv ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
		if ns == "" {
			cmd = exec.Command(argv[0], argv[1:]...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	run("", "ip", "netns", "add", nested)
	run("", "ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
	run("", "ip", "link", "set", outer, "netns", in.NS)
	run("", "ip", "link", "set", inner, "netns", nested)
	run(in.NS, "ip", "addr", "add", "192.168.77.1/30", "dev", outer)
	run(in.NS, "ip", "link", "set", outer, "up")
	run(in.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	run(in.NS, "nft", "add table ip stk_nested; add chain ip stk_nested post { type nat hook postrouting priority 100; }; add rule ip stk_nested post oifname eth0 masquerade")
	run(nested, "ip", "addr", "add", "192.168.77.2/30", "dev", inner)
	run(nested, "ip", "link", "set", inner, "up")
	run(nested, "ip", "route", "add", "default", "via", "192.168.77.1")
	token := func(ns string) string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-m", "2", "-X", "PUT",
			"http://169.254.169.254/latest/api/token", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60").Output()
		return string(out)
	}
	if token(in.NS) == "" {
		t.Fatal("the instance itself got no token with hop limit 1")
	}
	if tok := token(nested); tok != "" {
		t.Errorf("a namespace behind the instance got a token with hop limit 1: %q", tok)
	}
	must[*ec2.ModifyInstanceMetadataOptionsOutput](t)(e.c.ModifyInstanceMetadataOptions(ctx(t), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(in.ID), HttpPutResponseHopLimit: aws.Int32(2)}))
	if token(nested) == "" {
		t.Error("a namespace behind the instance got no token with hop limit 2")
	}
}
