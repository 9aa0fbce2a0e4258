package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSeedsScenarioWithAWSCLI is the README's IAM walk-through with the real AWS CLI (§6.7,
// §8.2): a user who may only read and assume a role cannot change rules; the role can; the
// user assumes it and changes a rule with the session's credentials; the trail shows the
// refused attempt and the session's change, each with its userIdentity.
func TestSeedsScenarioWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	creds := filepath.Join(s.dataDir, "credentials")
	root := awsCLI{t, s, creds, "default"}
	var id struct{ Account, Arn string }
	root.ok(&id, "sts", "get-caller-identity")
	if id.Arn != "arn:aws:iam::"+id.Account+":root" {
		t.Fatalf("root identity: %+v", id)
	}
	acct := id.Account

	// The administrator (root) sets up the group, the user, the role.
	root.ok(nil, "iam", "create-group", "--group-name", "ops")
	root.ok(nil, "iam", "put-group-policy", "--group-name", "ops", "--policy-name", "read-and-assume", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},`+
			`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::`+acct+`:role/sg-admin"}]}`)
	root.ok(nil, "iam", "create-user", "--user-name", "alice", "--path", "/ops/")
	root.ok(nil, "iam", "add-user-to-group", "--group-name", "ops", "--user-name", "alice")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	root.ok(&key, "iam", "create-access-key", "--user-name", "alice")
	root.ok(nil, "iam", "create-role", "--role-name", "sg-admin", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},`+
			`"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::`+acct+`:user/ops/*"}}}]}`)
	root.ok(nil, "iam", "put-role-policy", "--role-name", "sg-admin", "--policy-name", "change-rules", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:AuthorizeSecurityGroup*","ec2:RevokeSecurityGroup*",`+
			`"ec2:ModifySecurityGroupRules","ec2:Describe*"],"Resource":"*"}]}`)
	var role struct {
		Role struct{ AssumeRolePolicyDocument map[string]any }
	}
	root.ok(&role, "iam", "get-role", "--role-name", "sg-admin")
	if role.Role.AssumeRolePolicyDocument["Version"] != "2012-10-17" { // the CLI decoded IAM's URL-encoded document
		t.Errorf("get-role: %+v", role.Role)
	}
	var vpc struct{ Vpc struct{ VpcId string } }
	root.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var sg struct{ GroupId string }
	root.ok(&sg, "ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", "web", "--description", "web tier")

	addProfile := func(name, akid, secret, token string) {
		f, err := os.OpenFile(creds, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p := "\n[" + name + "]\naws_access_key_id = " + akid + "\naws_secret_access_key = " + secret + "\n"
		if token != "" {
			p += "aws_session_token = " + token + "\n"
		}
		if _, err := f.WriteString(p); err != nil {
			t.Fatal(err)
		}
	}
	addProfile("ops-alice", key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, "")
	alice := awsCLI{t, s, creds, "ops-alice"}

	// alice reads, but cannot change rules.
	alice.ok(nil, "ec2", "describe-security-groups", "--group-ids", sg.GroupId)
	open22 := []string{"ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "10.20.0.0/16"}
	_, errOut, err := alice.run(open22...)
	if err == nil || !strings.Contains(errOut, "(UnauthorizedOperation)") ||
		!strings.Contains(errOut, "User: arn:aws:iam::"+acct+":user/ops/alice is not authorized to perform: ec2:AuthorizeSecurityGroupIngress") {
		t.Fatalf("alice authorizes: %v %s", err, errOut)
	}
	alice.fails("AccessDenied", "iam", "create-user", "--user-name", "mallory")
	// The account's root opens the encoded message: what was asked, by whom, on what.
	_, blob, _ := strings.Cut(strings.TrimSpace(errOut), "Encoded authorization failure message: ")
	var decoded struct{ DecodedMessage string }
	root.ok(&decoded, "sts", "decode-authorization-message", "--encoded-message", blob)
	if !strings.Contains(decoded.DecodedMessage, `"action":"ec2:AuthorizeSecurityGroupIngress"`) ||
		!strings.Contains(decoded.DecodedMessage, "user/ops/alice") || !strings.Contains(decoded.DecodedMessage, sg.GroupId) {
		t.Errorf("decoded: %s", decoded.DecodedMessage)
	}

	// alice assumes the role and changes the rule with the session.
	var assumed struct {
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		AssumedRoleUser struct{ Arn string }
	}
	alice.ok(&assumed, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+acct+":role/sg-admin", "--role-session-name", "alice")
	if !strings.HasPrefix(assumed.Credentials.AccessKeyId, "ASIA") || assumed.AssumedRoleUser.Arn != "arn:aws:sts::"+acct+":assumed-role/sg-admin/alice" {
		t.Fatalf("assume-role: %+v", assumed)
	}
	addProfile("sg-admin", assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken)
	session := awsCLI{t, s, creds, "sg-admin"}
	session.ok(&id, "sts", "get-caller-identity")
	if id.Arn != assumed.AssumedRoleUser.Arn {
		t.Errorf("session identity: %+v", id)
	}
	session.ok(nil, open22...)
	session.fails("UnauthorizedOperation", "ec2", "delete-security-group", "--group-id", sg.GroupId)
	var rules struct {
		SecurityGroupRules []struct {
			FromPort int
			CidrIpv4 string
		}
	}
	root.ok(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+sg.GroupId)
	found := false
	for _, r := range rules.SecurityGroupRules {
		found = found || (r.FromPort == 22 && r.CidrIpv4 == "10.20.0.0/16")
	}
	if !found {
		t.Errorf("the session's rule is not there: %+v", rules)
	}

	// The trail shows both attempts at the rule: alice's refused one and the session's.
	var trail struct {
		Events []struct{ Username, CloudTrailEvent string }
	}
	root.ok(&trail, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=AuthorizeSecurityGroupIngress")
	var who []string
	for _, e := range trail.Events {
		var r struct {
			UserIdentity struct {
				Type, Arn      string
				SessionContext struct{ SessionIssuer struct{ Arn string } }
			}
			ErrorCode string
		}
		if err := json.Unmarshal([]byte(e.CloudTrailEvent), &r); err != nil {
			t.Fatal(err)
		}
		who = append(who, strings.Join([]string{e.Username, r.UserIdentity.Type, r.UserIdentity.Arn,
			r.UserIdentity.SessionContext.SessionIssuer.Arn, r.ErrorCode}, " "))
	}
	want := []string{
		"alice AssumedRole " + assumed.AssumedRoleUser.Arn + " arn:aws:iam::" + acct + ":role/sg-admin ",
		"alice IAMUser arn:aws:iam::" + acct + ":user/ops/alice  Client.UnauthorizedOperation",
	}
	// Newest first — but eventTime has whole seconds, and LookupEvents orders the records of
	// one second by eventID (random): three quick CLI calls apart, the two can share one.
	slices.Sort(want)
	slices.Sort(who)
	if diff := cmp.Diff(want, who); diff != "" {
		t.Errorf("the trail of the rule changes (-want +got):\n%s", diff)
	}

	// After a restart the users, policies and the session are all still there.
	s.stop(t, syscall.SIGTERM)
	s2 := startServer(t, s.dataDir)
	alice.s, session.s = s2, s2
	alice.fails("UnauthorizedOperation", "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId,
		"--protocol", "tcp", "--port", "23", "--cidr", "10.20.0.0/16")
	session.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "23", "--cidr", "10.20.0.0/16")
}
