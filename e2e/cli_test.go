package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/image"
)

// awsCLI runs the AWS CLI against s with the given credentials file and profile.
type awsCLI struct {
	t       testing.TB
	s       *server
	creds   string
	profile string
}

func (a awsCLI) run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command("aws", append([]string{"--endpoint-url", a.s.endpoint, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+a.creds, "AWS_PROFILE="+a.profile,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// ok runs a command that must succeed and decodes its JSON output into v (when non-nil).
func (a awsCLI) ok(v any, args ...string) {
	a.t.Helper()
	out, errOut, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			a.t.Fatalf("aws %s: output %q: %v", strings.Join(args, " "), out, err)
		}
	}
}

// fails runs a command that must fail with the EC2 error code on stderr.
func (a awsCLI) fails(code string, args ...string) {
	a.t.Helper()
	_, errOut, err := a.run(args...)
	if err == nil || !strings.Contains(errOut, "("+code+")") {
		a.t.Fatalf("aws %s: err %v, stderr %q; want %s", strings.Join(args, " "), err, errOut, code)
	}
}

func needCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("AWS CLI not installed (apt-get install awscli); .ci/run installs it")
	}
}

// cliTest starts a test that drives its own servers with the AWS CLI and touches nothing of
// the kernel's (no --enforce, no lab): it runs in parallel with the others of its kind, since
// each has its own port and data directory, and most of its time is the CLI's start-up.
func cliTest(t *testing.T) {
	needCLI(t)
	t.Parallel()
}

// TestQuickStartWithAWSCLI runs the README's quick start with the real AWS CLI.
func TestQuickStartWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var id struct{ Account string }
	a.ok(&id, "sts", "get-caller-identity")
	if len(id.Account) != 12 {
		t.Fatalf("account %q", id.Account)
	}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var sn struct{ Subnet struct{ SubnetId string } }
	a.ok(&sn, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.1.0/24")
	group := func(name string) string {
		var g struct{ GroupId string }
		a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", name, "--description", name+" tier")
		return g.GroupId
	}
	web, app, db := group("web"), group("app"), group("db")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", web, "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"0.0.0.0/0","Description":"HTTPS"}]},{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"203.0.113.0/24"}]}]`)
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", app, "--protocol", "tcp", "--port", "8080", "--source-group", web)
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", db, "--protocol", "tcp", "--port", "3306", "--source-group", app)
	a.fails("InvalidPermission.Duplicate", "ec2", "authorize-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")

	var sgs struct {
		SecurityGroups []struct {
			GroupName     string
			IpPermissions []struct {
				FromPort         int
				IpRanges         []struct{ CidrIp, Description string }
				UserIdGroupPairs []struct{ GroupId string }
			}
		}
	}
	a.ok(&sgs, "ec2", "describe-security-groups", "--group-ids", web, db)
	for _, g := range sgs.SecurityGroups {
		switch g.GroupName {
		case "web":
			if len(g.IpPermissions) != 3 {
				t.Errorf("web: %+v", g.IpPermissions)
			}
		case "db":
			if len(g.IpPermissions) != 1 || g.IpPermissions[0].UserIdGroupPairs[0].GroupId != app {
				t.Errorf("db: %+v", g.IpPermissions)
			}
		}
	}
	var rules struct {
		SecurityGroupRules []struct {
			SecurityGroupRuleId string
			IsEgress            bool
			FromPort            int
		}
	}
	a.ok(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+web)
	if len(rules.SecurityGroupRules) != 4 {
		t.Errorf("web rules: %+v", rules)
	}
	a.ok(nil, "ec2", "revoke-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "22", "--cidr", "203.0.113.0/24")
	a.fails("InvalidPermission.NotFound", "ec2", "revoke-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "22", "--cidr", "203.0.113.0/24")
	a.fails("DependencyViolation", "ec2", "delete-security-group", "--group-id", app)
	a.fails("DryRunOperation", "ec2", "delete-security-group", "--group-id", db, "--dry-run")

	// The CLI's own pagination (--max-items / --page-size) over describe calls.
	var page struct {
		SecurityGroups []struct{ GroupId string }
		NextToken      string
	}
	a.ok(&page, "ec2", "describe-security-groups", "--page-size", "5", "--max-items", "2")
	if len(page.SecurityGroups) != 2 || page.NextToken == "" {
		t.Errorf("--max-items 2: %+v", page)
	}
	var run struct {
		Instances []struct{ InstanceId, PrivateIpAddress string }
	}
	a.ok(&run, "ec2", "run-instances", "--image-id", image.DefaultID, "--subnet-id", sn.Subnet.SubnetId, "--security-group-ids", web, "--count", "2")
	if len(run.Instances) != 2 {
		t.Fatalf("run-instances: %+v", run)
	}
	a.fails("DependencyViolation", "ec2", "delete-security-group", "--group-id", web)
	a.ok(nil, "ec2", "terminate-instances", "--instance-ids", run.Instances[0].InstanceId, run.Instances[1].InstanceId)
	var key string
	a.ok(&key, "ec2", "create-key-pair", "--key-name", "deploy", "--query", "KeyMaterial")
	if !strings.Contains(key, "BEGIN RSA PRIVATE KEY") {
		t.Errorf("key material %.40q", key)
	}
}

// TestAccountsAreIsolated adds an account with `stockade account create` while the server runs.
func TestAccountsAreIsolated(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	out, err := exec.Command(binary, "account", "create", "bob", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v %s", err, out)
	}
	credFile := filepath.Join(t.TempDir(), "bob")
	os.WriteFile(credFile, out, 0o600)
	bakid, _ := parseCredentials(t, bufio.NewScanner(strings.NewReader(string(out))), "bob")
	// STOCKADE_DATA_DIR points account (like every subcommand) at the server.
	lc := exec.Command(binary, "account", "list")
	lc.Env = append(os.Environ(), "STOCKADE_DATA_DIR="+s.dataDir)
	list, err := lc.CombinedOutput()
	if err != nil || !strings.Contains(string(list), "bob") || !strings.Contains(string(list), "admin") || !strings.Contains(string(list), bakid) {
		t.Fatalf("account list: %v %s", err, list)
	}
	alice := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	bob := awsCLI{t, s, credFile, "bob"}
	var g struct{ GroupId string }
	alice.ok(&g, "ec2", "create-security-group", "--group-name", "private", "--description", "alice only")
	bob.fails("InvalidGroup.NotFound", "ec2", "describe-security-groups", "--group-ids", g.GroupId)
	bob.fails("InvalidGroup.NotFound", "ec2", "delete-security-group", "--group-id", g.GroupId)
	bob.fails("InvalidGroup.NotFound", "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--protocol", "-1", "--cidr", "0.0.0.0/0")
	var bobs struct {
		SecurityGroups []struct{ GroupId, OwnerId string }
	}
	bob.ok(&bobs, "ec2", "describe-security-groups")
	for _, sg := range bobs.SecurityGroups {
		if sg.GroupId == g.GroupId || sg.OwnerId == "" {
			t.Errorf("bob sees %+v", sg)
		}
	}
	if out, err := exec.Command(binary, "account", "create", "bob", "--data-dir", s.dataDir).CombinedOutput(); err == nil {
		t.Errorf("duplicate account name accepted: %s", out)
	}
	// Accounts made through the admin socket are in the server's log.
	if log := s.stderr.String(); !strings.Contains(log, "created account") || !strings.Contains(log, "name=bob") {
		t.Errorf("account creation not logged:\n%s", log)
	}
}
