package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/audit"
)

// The fix of every audit finding that has one, run through the real AWS CLI: each test of
// this file plants, on a live server, configurations that raise the checks of one family,
// audits (`stockade audit --json`), runs each planted finding's Fix as the shell would — the
// lines as printed, `aws ec2 …` reaching the server through AWS_ENDPOINT_URL, the shell
// variables a line sets ($SG) used by the next — and audits again after each: the finding is
// gone and no new finding of its check appeared. Advice lines ("# …") are not run; a
// placeholder "<name>" (audit.Placeholder) is replaced with a value the test picks, as the
// operator would; nothing else is changed.

// auditLive is an audited account on a running server, with the AWS CLI to change it.
type auditLive struct {
	t *testing.T
	s *server
	a awsCLI
	// offline audits an AWS CLI export of the account (`stockade audit --snapshot`), with
	// every optional file, instead of the server's state: the alert rules are known then.
	offline bool
}

func newAuditLive(t *testing.T) *auditLive {
	cliTest(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed: the fixes are shell lines")
	}
	s := startServer(t, "")
	return &auditLive{t: t, s: s, a: awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}}
}

// audit runs `stockade audit --json` against the server's administrator account.
func (l *auditLive) audit(args ...string) []audit.Finding {
	l.t.Helper()
	from := []string{"--data-dir", l.s.dataDir}
	if l.offline {
		dir := l.t.TempDir()
		exportSnapshot(l.a, dir, "describe-flow-logs", "describe-launch-templates")
		for name, args := range map[string][]string{
			"describe-launch-template-versions.json": {"ec2", "describe-launch-template-versions", "--versions", "$Latest", "$Default"},
			"list-rules.json":                        {"events", "list-rules"},
		} {
			out, errOut, err := l.a.run(args...)
			if err != nil {
				l.t.Fatalf("%v: %v %s", args, err, errOut)
			}
			os.WriteFile(filepath.Join(dir, name), []byte(out), 0o600)
		}
		from = []string{"--snapshot", dir}
	}
	out, err := exec.Command(binary, slices.Concat([]string{"audit", "--json", "--region", "us-east-1"}, from, args)...).Output()
	if err != nil {
		l.t.Fatalf("audit: %v %s", err, out)
	}
	var r audit.Report
	if err := json.Unmarshal(out, &r); err != nil {
		l.t.Fatalf("%v\n%s", err, out)
	}
	return r.Findings
}

// shellEnv is the environment the fixes run in: the AWS CLI reaches the test's server with
// its credentials, as the README's `export AWS_ENDPOINT_URL=…` does.
func (l *auditLive) shellEnv() []string {
	return append(os.Environ(), "AWS_ENDPOINT_URL="+l.s.endpoint, "AWS_SHARED_CREDENTIALS_FILE="+l.a.creds,
		"AWS_PROFILE="+l.a.profile, "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=")
}

// command is a fix line the shell runs: an AWS CLI call, or one whose output a variable keeps.
var command = regexp.MustCompile(`^(aws |[A-Z_]+=\$\(aws )`)

// runFix runs the command lines of f's Fix in one shell, in order, stopping at the first that
// fails; fill gives the value of each placeholder the lines hold.
func (l *auditLive) runFix(f audit.Finding, fill map[string]string) {
	l.t.Helper()
	var script []string
	for _, line := range f.Fix {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !command.MatchString(line) {
			l.t.Fatalf("%s %s: fix line is neither advice nor an AWS CLI command: %s", f.Check, f.Resource, line)
		}
		for _, p := range audit.Placeholders(line) {
			if strings.Count(line[:strings.Index(line, p)], "'")%2 == 0 {
				l.t.Errorf("%s %s: placeholder %s is not quoted for the shell: %s", f.Check, f.Resource, p, line)
			}
			v, ok := fill[p]
			if !ok {
				l.t.Fatalf("%s %s: no value for placeholder %s in %s", f.Check, f.Resource, p, line)
			}
			line = strings.ReplaceAll(line, p, v)
		}
		script = append(script, line)
	}
	if len(script) == 0 {
		l.t.Fatalf("%s %s: no command in the fix: %q", f.Check, f.Resource, f.Fix)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Env = l.shellEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("%s %s: the fix failed: %v\n%s\n%s", f.Check, f.Resource, err, strings.Join(script, "\n"), out)
	}
}

// planted is a finding a test set up: check on resource.
type planted struct{ check, resource string }

// fixAll finds each planted finding in a live audit, runs its fix, and audits again: the
// finding is gone, and every finding of its check was there before the fix (the fix raised
// no new one). It returns the last audit's findings.
func (l *auditLive) fixAll(plants []planted, fill map[string]string) []audit.Finding {
	l.t.Helper()
	before := l.audit()
	for _, p := range plants {
		i := slices.IndexFunc(before, func(f audit.Finding) bool { return f.Check == p.check && f.Resource == p.resource })
		if i < 0 {
			l.t.Fatalf("planted %s on %s: not found in\n%s", p.check, p.resource, findingList(before))
		}
		l.runFix(before[i], fill)
		after := l.audit()
		for _, f := range after {
			if f.Check != p.check {
				continue
			}
			if f.Resource == p.resource {
				l.t.Errorf("%s on %s: still there after its fix %q: %s", p.check, p.resource, before[i].Fix, f.Why)
			} else if !slices.ContainsFunc(before, func(b audit.Finding) bool { return b.Key() == f.Key() }) {
				l.t.Errorf("%s on %s: its fix raised a new %s finding on %s: %s", p.check, p.resource, f.Check, f.Resource, f.Why)
			}
		}
		before = after
	}
	return before
}

func findingList(fs []audit.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Check + " " + f.Resource + " " + strings.Join(f.Rules, ",") + "\n")
	}
	return b.String()
}

// The helpers that plant: a VPC, a subnet, a group with ingress rules, an interface.

func (l *auditLive) vpc(cidr string) string {
	var v struct{ Vpc struct{ VpcId string } }
	l.a.ok(&v, "ec2", "create-vpc", "--cidr-block", cidr)
	return v.Vpc.VpcId
}

func (l *auditLive) subnet(vpc, cidr string) string {
	var s struct{ Subnet struct{ SubnetId string } }
	l.a.ok(&s, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr)
	return s.Subnet.SubnetId
}

func (l *auditLive) group(vpc, name string) string {
	var g struct{ GroupId string }
	l.a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc, "--group-name", name, "--description", name+" tier")
	return g.GroupId
}

// ingress adds the rules of an authorize-security-group-ingress call's arguments.
func (l *auditLive) ingress(group string, args ...string) {
	l.a.ok(nil, append([]string{"ec2", "authorize-security-group-ingress", "--group-id", group}, args...)...)
}

func (l *auditLive) eni(subnet string, groups ...string) string {
	var n struct {
		NetworkInterface struct{ NetworkInterfaceId string }
	}
	args := []string{"ec2", "create-network-interface", "--subnet-id", subnet}
	if len(groups) > 0 {
		args = append(append(args, "--groups"), groups...)
	}
	l.a.ok(&n, args...)
	return n.NetworkInterface.NetworkInterfaceId
}

// TestAuditFixSGA: every SGA check with an exact fix, each planted on a group of its own (no
// interface carries them: the checks judge such groups too, one severity lower, and each AWS
// CLI call costs the test a second).
func TestAuditFixSGA(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	var plants []planted
	plant := func(check string, rules ...[]string) string {
		g := l.group(vpc, strings.ToLower(check))
		for _, r := range rules {
			l.ingress(g, r...)
		}
		plants = append(plants, planted{check, g})
		return g
	}
	world := func(proto, port string) []string {
		return []string{"--protocol", proto, "--port", port, "--cidr", "0.0.0.0/0"}
	}
	plant("SGA-001", []string{"--protocol", "-1", "--cidr", "0.0.0.0/0"})
	plant("SGA-002", world("tcp", "22"))
	plant("SGA-003", []string{"--ip-permissions", "IpProtocol=tcp,FromPort=3389,ToPort=3389,Ipv6Ranges=[{CidrIpv6=::/0}]"})
	plant("SGA-004", world("tcp", "6443"))
	plant("SGA-005", world("tcp", "3306"))
	plant("SGA-006", world("tcp", "23"))
	plant("SGA-007", world("tcp", "80-8080")) // the fix keeps 80 and 443 open
	plant("SGA-008", []string{"--protocol", "tcp", "--port", "443", "--cidr", "8.0.0.0/8"})
	plant("SGA-009", []string{"--protocol", "tcp", "--port", "443", "--cidr", "8.8.8.8/32"})
	plant("SGA-010", []string{"--protocol", "tcp", "--port", "443", "--cidr", "96.127.1.0/24"})
	plant("SGA-011", world("icmp", "-1")) // the fix keeps path MTU discovery
	plant("SGA-012", []string{"--protocol", "tcp", "--port", "1000-2000", "--cidr", "192.168.0.0/24"})
	self := plant("SGA-013")
	l.ingress(self, "--protocol", "-1", "--source-group", self)

	// SGA-014 and SGA-015 judge CIDRs by the interfaces inside them: a VPC of their own.
	vpc2 := l.vpc("10.1.0.0/16")
	appSub := l.subnet(vpc2, "10.1.2.0/24")
	app := l.group(vpc2, "app")
	l.eni(appSub, app)
	l.eni(appSub, app)
	for check, cidr := range map[string]string{"SGA-014": "10.1.0.0/16", "SGA-015": "10.1.2.0/24"} {
		g := l.group(vpc2, strings.ToLower(check))
		l.ingress(g, "--protocol", "tcp", "--port", "5432", "--cidr", cidr)
		plants = append(plants, planted{check, g})
	}
	slices.SortFunc(plants, func(a, b planted) int { return strings.Compare(a.check, b.check) })
	l.fixAll(plants, nil)
}

// TestAuditFixSGE: the egress checks. A new group's own egress rule (everything to
// 0.0.0.0/0) is SGE-001's finding.
func TestAuditFixSGE(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	open := l.group(vpc, "open")
	broad := l.group(vpc, "broad")
	l.a.ok(nil, "ec2", "revoke-security-group-egress", "--group-id", broad, "--protocol", "-1", "--cidr", "0.0.0.0/0")
	l.a.ok(nil, "ec2", "authorize-security-group-egress", "--group-id", broad, "--protocol", "tcp", "--port", "443", "--cidr", "8.0.0.0/8")
	l.fixAll([]planted{{"SGE-001", open}, {"SGE-002", broad}}, nil)
}

// TestAuditFixSGH: the hygiene checks with an exact fix. SGH-013 (a rule naming a group
// that no longer exists) cannot be planted: the server, as EC2, refuses to delete a group
// another group's rule names, and peered VPCs are not modelled.
func TestAuditFixSGH(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	sub := l.subnet(vpc, "10.0.1.0/24")
	var def struct{ SecurityGroups []struct{ GroupId string } }
	l.a.ok(&def, "ec2", "describe-security-groups", "--filters", "Name=vpc-id,Values="+vpc, "Name=group-name,Values=default")
	l.eni(sub) // an interface created without groups carries the default group

	spare := l.group(vpc, "spare")

	// A wizard group with an SSH rule, a reference to itself, a member and a referrer.
	var wiz struct{ GroupId string }
	l.a.ok(&wiz, "ec2", "create-security-group", "--vpc-id", vpc, "--group-name", "launch-wizard-1",
		"--description", "launch-wizard-1 created 2026-12-01T10:00:00.000Z")
	l.ingress(wiz.GroupId, "--ip-permissions",
		`IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=203.0.113.0/24,Description=office SSH}]`)
	l.ingress(wiz.GroupId, "--protocol", "tcp", "--port", "9000", "--source-group", wiz.GroupId)
	l.eni(sub, wiz.GroupId)
	referrer := l.group(vpc, "referrer")
	l.ingress(referrer, "--protocol", "tcp", "--port", "8080", "--source-group", wiz.GroupId)

	undescribed := l.group(vpc, "undescribed")
	l.ingress(undescribed, "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/16")

	// Two groups with the same rules, each on an interface: the later copy is the finding.
	dupA, dupB := l.group(vpc, "dup-a"), l.group(vpc, "dup-b")
	for _, g := range []string{dupA, dupB} {
		l.ingress(g, "--ip-permissions", `IpProtocol=tcp,FromPort=7070,ToPort=7070,IpRanges=[{CidrIp=10.9.0.0/16,Description=batch}]`)
		l.eni(sub, g)
	}
	redundant := l.group(vpc, "redundant")
	l.ingress(redundant, "--ip-permissions", `IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8,Description=all},{CidrIp=10.1.0.0/16,Description=inside}]`)

	found := l.audit()
	dup := dupB
	if slices.ContainsFunc(found, func(f audit.Finding) bool { return f.Check == "SGH-010" && f.Resource == dupA }) {
		dup = dupA
	}
	l.fixAll([]planted{
		{"SGH-001", def.SecurityGroups[0].GroupId},
		{"SGH-002", def.SecurityGroups[0].GroupId},
		{"SGH-003", spare},
		{"SGH-004", wiz.GroupId},
		{"SGH-006", undescribed},
		{"SGH-007", referrer},
		{"SGH-010", dup},
		{"SGH-012", redundant},
	}, map[string]string{"<why: ticket and owner>": "TICKET-42 owned by the web team", "<owner>": "web team"})
}

// TestAuditFixNACL: the network-ACL checks, each on an ACL (or subnet) of its own.
func TestAuditFixNACL(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	acl := func() string {
		var a struct{ NetworkAcl struct{ NetworkAclId string } }
		l.a.ok(&a, "ec2", "create-network-acl", "--vpc-id", vpc)
		return a.NetworkAcl.NetworkAclId
	}
	entry := func(acl, dir, number, proto, cidr, action string, ports ...string) {
		args := []string{"ec2", "create-network-acl-entry", "--network-acl-id", acl, dir, "--rule-number", number,
			"--protocol", proto, "--cidr-block", cidr, "--rule-action", action}
		if len(ports) > 0 {
			args = append(args, "--port-range", "From="+ports[0]+",To="+ports[1])
		}
		l.a.ok(nil, args...)
	}
	associate := func(acl, cidr string) string {
		sub := l.subnet(vpc, cidr)
		var acls struct {
			NetworkAcls []struct {
				Associations []struct{ NetworkAclAssociationId, SubnetId string }
			}
		}
		l.a.ok(&acls, "ec2", "describe-network-acls", "--filters", "Name=association.subnet-id,Values="+sub)
		for _, as := range acls.NetworkAcls[0].Associations {
			if as.SubnetId == sub {
				l.a.ok(nil, "ec2", "replace-network-acl-association", "--association-id", as.NetworkAclAssociationId, "--network-acl-id", acl)
			}
		}
		return sub
	}
	admin := acl() // every TCP port from the internet: SSH and RDP too
	entry(admin, "--ingress", "100", "6", "0.0.0.0/0", "allow", "0", "65535")
	associate(admin, "10.0.1.0/24")
	all := acl()
	entry(all, "--ingress", "100", "-1", "0.0.0.0/0", "allow")
	associate(all, "10.0.2.0/24")
	allOut := acl()
	entry(allOut, "--egress", "100", "-1", "0.0.0.0/0", "allow")
	associate(allOut, "10.0.3.0/24")
	unused := acl()
	noReplies := acl() // HTTPS in, nothing out
	entry(noReplies, "--ingress", "100", "6", "0.0.0.0/0", "allow", "443", "443")
	associate(noReplies, "10.0.4.0/24")
	shadow := acl()
	entry(shadow, "--ingress", "100", "-1", "10.0.0.0/8", "allow")
	entry(shadow, "--ingress", "200", "6", "10.1.0.0/16", "allow", "443", "443")
	associate(shadow, "10.0.5.0/24")
	onDefault := l.subnet(vpc, "10.0.6.0/24")
	reviewed := acl() // where the operator moves the subnet on the default ACL

	l.fixAll([]planted{
		{"NACL-001", admin},
		{"NACL-002", all},
		{"NACL-003", allOut},
		{"NACL-004", unused},
		{"NACL-005", onDefault},
		{"NACL-006", noReplies},
		{"NACL-007", shadow},
		{"NACL-008", admin},
	}, map[string]string{"<reviewed-acl-id>": reviewed, "<owner>": "network team"})
}

// TestAuditFixEXP: an interface the internet reaches on SSH (EXP-001) and one it reaches on a
// port nobody authorized (EXP-002), both public through an internet gateway.
func TestAuditFixEXP(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	sub := l.subnet(vpc, "10.0.1.0/24")
	ssh, dev := l.group(vpc, "ssh"), l.group(vpc, "dev")
	l.ingress(ssh, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	l.ingress(dev, "--protocol", "tcp", "--port", "8100-8200", "--cidr", "0.0.0.0/0")
	sshENI, devENI := l.eni(sub, ssh), l.eni(sub, dev)
	makePublic(l.a, vpc, sshENI)
	var eip struct{ AllocationId string }
	l.a.ok(&eip, "ec2", "allocate-address")
	l.a.ok(nil, "ec2", "associate-address", "--allocation-id", eip.AllocationId, "--network-interface-id", devENI)
	l.fixAll([]planted{{"EXP-001", sshENI}, {"EXP-002", devENI}}, nil)
}

// TestAuditFixMON004: a VPC without flow logs; its fix creates one that records everything.
func TestAuditFixMON004(t *testing.T) {
	l := newAuditLive(t)
	vpc := l.vpc("10.0.0.0/16")
	l.subnet(vpc, "10.0.1.0/24")
	l.fixAll([]planted{{"MON-004", vpc}}, nil)
}

// TestAuditFixMON001: with no alert rule, MON-001 and MON-002 are found in an export that
// holds the EventBridge rules; their fixes put a rule and a target (an API destination the
// operator names for <target-arn>), and the next export's audit finds both covered.
func TestAuditFixMON001(t *testing.T) {
	l := newAuditLive(t)
	l.offline = true
	l.a.ok(nil, "events", "create-connection", "--name", "hook", "--authorization-type", "API_KEY",
		"--auth-parameters", `{"ApiKeyAuthParameters":{"ApiKeyName":"X-Api-Key","ApiKeyValue":"s3cret"}}`)
	var conn struct{ ConnectionArn string }
	l.a.ok(&conn, "events", "describe-connection", "--name", "hook")
	var dest struct{ ApiDestinationArn string }
	l.a.ok(&dest, "events", "create-api-destination", "--cli-input-json",
		`{"Name":"hook","ConnectionArn":"`+conn.ConnectionArn+`","InvocationEndpoint":"http://127.0.0.1:9/alerts","HttpMethod":"POST"}`)
	var id struct{ Account string }
	l.a.ok(&id, "sts", "get-caller-identity")
	l.fixAll([]planted{{"MON-001", id.Account}, {"MON-002", id.Account}}, map[string]string{"<target-arn>": dest.ApiDestinationArn})
}
