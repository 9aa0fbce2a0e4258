package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// world is §6.7's set-up in one account: group ops (Describe* and AssumeRole of sg-admin),
// alice in it under /ops/, bob outside it, and the role sg-admin trusted by /ops/ users.
type world struct {
	t          testing.TB
	path       string // the store's file
	st         store.Store
	tlog       *trail.Log // the trail's log, once recordTrail has made one
	now        time.Time
	a          *Authorizer
	svc        *iam.Service
	front      *Front
	root       auth.Account
	alice, bob aws.Credentials
	roleARN    string
}

const (
	opsPolicy = `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
	 {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::%A%:role/sg-admin"}]}`
	trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%A%:root"},
	 "Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::%A%:user/ops/*"}}}]}`
	adminPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[
	 "ec2:AuthorizeSecurityGroupIngress","ec2:RevokeSecurityGroupIngress","ec2:CreateSecurityGroup"],"Resource":"*"}]}`
)

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := bolt.Open(path, bolt.Options{Staged: []string{trail.OutboxPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, path: path, st: st, now: time.Now().UTC().Truncate(time.Second)}
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if w.root, err = accounts.Create(ctx, "admin", true); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return w.now }
	if w.a, err = New(ctx, st, accounts, clock); err != nil {
		t.Fatal(err)
	}
	if w.svc, err = iam.Open(ctx, st, w.a.IAMConfig()); err != nil {
		t.Fatal(err)
	}
	w.a.Bind(w.svc)
	if w.front, err = NewFront(w.a, w.svc, FrontConfig{Now: clock}); err != nil {
		t.Fatal(err)
	}
	acct := w.root.ID
	doc := func(s string) string { return strings.ReplaceAll(s, "%A%", acct) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = w.svc.CreateGroup(ctx, acct, "ops", "/")
	must(err)
	must(w.svc.PutPolicy(ctx, acct, iam.GroupEntity, "ops", "ops", doc(opsPolicy)))
	key := func(name, path string) aws.Credentials {
		_, err := w.svc.CreateUser(ctx, acct, iam.CreateUserInput{Name: name, Path: path})
		must(err)
		k, err := w.svc.CreateAccessKey(ctx, acct, name)
		must(err)
		return aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
	}
	w.alice, w.bob = key("alice", "/ops/"), key("bob", "/")
	must(w.svc.AddUserToGroup(ctx, acct, "ops", "alice"))
	must(w.svc.AddUserToGroup(ctx, acct, "ops", "bob")) // bob has the policy but not the path
	r, err := w.svc.CreateRole(ctx, acct, iam.CreateRoleInput{Name: "sg-admin", TrustPolicy: doc(trustPolicy)})
	must(err)
	must(w.svc.PutPolicy(ctx, acct, iam.RoleEntity, "sg-admin", "rules", adminPolicy))
	w.roleARN = iam.RoleARN(acct, r)
	return w
}

func (w *world) rootCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: w.root.AccessKeyID, SecretAccessKey: w.root.SecretAccessKey}
}

// call sends one signed IAM or STS call through the front and returns the status and body.
func (w *world) call(service string, c aws.Credentials, params url.Values) (int, string) {
	w.t.Helper()
	if service == "iam" {
		params.Set("Version", "2010-05-08")
	} else {
		params.Set("Version", "2011-06-15")
	}
	body := params.Encode()
	r := httptest.NewRequest("POST", "http://localhost:8787/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, r, hex.EncodeToString(sum[:]), service, "eu-west-1", w.now); err != nil {
		w.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	w.front.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String()
}

func errorOf(body string) (code, msg string) {
	var e struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	xml.Unmarshal([]byte(body), &e)
	return e.Code, e.Message
}

func (w *world) assume(c aws.Credentials, extra url.Values) aws.Credentials {
	w.t.Helper()
	p := url.Values{"Action": {"AssumeRole"}, "RoleArn": {w.roleARN}, "RoleSessionName": {"alice"}}
	for k, v := range extra {
		p[k] = v
	}
	status, body := w.call("sts", c, p)
	if status != 200 {
		w.t.Fatalf("assume-role: %d %s", status, body)
	}
	var out struct {
		C struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
		} `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.Unmarshal([]byte(body), &out); err != nil {
		w.t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: out.C.AccessKeyID, SecretAccessKey: out.C.SecretAccessKey, SessionToken: out.C.SessionToken}
}

// TestAssumeRoleFlow is §8.2 through the front: the trust policy and the caller's own
// policies decide AssumeRole, a session signs with its token, GetCallerIdentity names the
// session, IAM calls are judged by the caller's policies, expiry ends the session.
func TestAssumeRoleFlow(t *testing.T) {
	w := newWorld(t)
	acct := w.root.ID

	// bob (path /) is refused by the trust policy's condition: AWS's observed text.
	status, body := w.call("sts", w.bob, url.Values{"Action": {"AssumeRole"}, "RoleArn": {w.roleARN}, "RoleSessionName": {"bob"}})
	code, msg := errorOf(body)
	want := "User: arn:aws:iam::" + acct + ":user/bob is not authorized to perform: sts:AssumeRole on resource: " + w.roleARN
	if status != 403 || code != "AccessDenied" || msg != want {
		t.Errorf("bob: %d %s %q, want 403 AccessDenied %q", status, code, msg, want)
	}
	// Root may not assume roles.
	status, body = w.call("sts", w.rootCreds(), url.Values{"Action": {"AssumeRole"}, "RoleArn": {w.roleARN}, "RoleSessionName": {"root"}})
	if code, msg := errorOf(body); status != 403 || msg != "Roles may not be assumed by root accounts." {
		t.Errorf("root: %d %s %q", status, code, msg)
	}

	sess := w.assume(w.alice, nil)
	if !strings.HasPrefix(sess.AccessKeyID, "ASIA") {
		t.Errorf("session key %q", sess.AccessKeyID)
	}
	status, body = w.call("sts", sess, url.Values{"Action": {"GetCallerIdentity"}})
	if status != 200 || !strings.Contains(body, "<Arn>arn:aws:sts::"+acct+":assumed-role/sg-admin/alice</Arn>") || !strings.Contains(body, "<UserId>AROA") {
		t.Errorf("session identity: %d %s", status, body)
	}
	// The token is required, and only with its own key.
	noToken := sess
	noToken.SessionToken = ""
	if status, body := w.call("sts", noToken, url.Values{"Action": {"GetCallerIdentity"}}); status != 403 || !strings.Contains(body, "InvalidClientTokenId") {
		t.Errorf("session without token: %d %s", status, body)
	}
	aliceToken := w.alice
	aliceToken.SessionToken = sess.SessionToken
	if status, body := w.call("sts", aliceToken, url.Values{"Action": {"GetCallerIdentity"}}); status != 403 || !strings.Contains(body, "InvalidClientTokenId") {
		t.Errorf("long-term key with a token: %d %s", status, body)
	}

	// IAM calls: alice may not list users; root may.
	status, body = w.call("iam", w.alice, url.Values{"Action": {"ListUsers"}})
	code, msg = errorOf(body)
	want = "User: arn:aws:iam::" + acct + ":user/ops/alice is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::" + acct +
		":user/ because no identity-based policy allows the iam:ListUsers action"
	if status != 403 || code != "AccessDenied" || msg != want {
		t.Errorf("alice ListUsers: %d %s %q, want %q", status, code, msg, want)
	}
	if status, body := w.call("iam", w.rootCreds(), url.Values{"Action": {"ListUsers"}}); status != 200 || !strings.Contains(body, "<UserName>alice</UserName>") {
		t.Errorf("root ListUsers: %d %s", status, body)
	}
	// A denied write changes nothing.
	if status, _ := w.call("iam", w.alice, url.Values{"Action": {"CreateUser"}, "UserName": {"mallory"}}); status != 403 {
		t.Errorf("alice CreateUser: %d", status)
	}
	if _, err := w.svc.GetUser(context.Background(), acct, "mallory"); err == nil {
		t.Error("a denied CreateUser created the user")
	}

	// Expiry: one second past the session's hour, STS says ExpiredToken.
	w.now = w.now.Add(time.Hour + time.Second)
	if status, body := w.call("sts", sess, url.Values{"Action": {"GetCallerIdentity"}}); status != 403 || !strings.Contains(body, "<Code>ExpiredToken</Code>") {
		t.Errorf("expired session: %d %s", status, body)
	}
}

// TestDecideAndDecode: EC2 decisions for the principals of §8.2, the session policy's
// intersection, a policy change seen at once despite the cache, and a denial's sealed
// message opened by DecodeAuthorizationMessage in the same account only.
func TestDecideAndDecode(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	acct := w.root.ID
	principal := func(c aws.Credentials) iam.Principal {
		p, _, err := w.a.Resolve(c.AccessKeyID, c.SessionToken)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sg := func(id string) []iampolicy.Resource {
		return []iampolicy.Resource{{ARN: "arn:aws:ec2:eu-west-1:" + acct + ":security-group/" + id}}
	}
	decide := func(p iam.Principal, action string, res []iampolicy.Resource) (iampolicy.Decision, string) {
		t.Helper()
		d, blob, err := w.a.Decide(p, &iampolicy.Request{Action: action, Resources: res, Context: PrincipalContext(p, nil)})
		if err != nil {
			t.Fatal(err)
		}
		return d, blob
	}
	alice := principal(w.alice)
	sess := principal(w.assume(w.alice, nil))
	narrow := principal(w.assume(w.alice, url.Values{"Policy": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":"ec2:AuthorizeSecurityGroupIngress","Resource":"arn:aws:ec2:*:*:security-group/sg-0aaa00000000000a1"}]}`}}))
	root, _, err := w.a.Resolve(w.root.AccessKeyID, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      iam.Principal
		action string
		res    []iampolicy.Resource
		want   iampolicy.Reason
	}{
		{"alice describes", alice, "ec2:DescribeSecurityGroups", nil, iampolicy.Allowed},
		{"alice authorizes", alice, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0aaa00000000000a1"), iampolicy.NoIdentityAllow},
		{"session authorizes", sess, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0ccc00000000000c1"), iampolicy.Allowed},
		{"session deletes", sess, "ec2:DeleteSecurityGroup", sg("sg-0ccc00000000000c1"), iampolicy.NoIdentityAllow},
		{"narrow session, its group", narrow, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0aaa00000000000a1"), iampolicy.Allowed},
		{"narrow session, another group", narrow, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0ccc00000000000c1"), iampolicy.NoSessionAllow},
		{"root", root, "ec2:DeleteVpc", nil, iampolicy.RootAllowed},
	}
	for _, tt := range tests {
		if d, _ := decide(tt.p, tt.action, tt.res); d.Reason != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, d.Reason, tt.want)
		}
	}

	// A Deny added to the role applies to the session at once: the cache follows the policies.
	if err := w.svc.PutPolicy(ctx, acct, iam.RoleEntity, "sg-admin", "freeze",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	if d, _ := decide(sess, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0ccc00000000000c1")); d.Reason != iampolicy.ExplicitDenyIdentity {
		t.Errorf("after the deny: %v", d.Reason)
	}

	// The denial's message decodes for alice's account through STS, and says what was asked.
	_, blob := decide(alice, "ec2:AuthorizeSecurityGroupIngress", sg("sg-0aaa00000000000a1"))
	status, body := w.call("sts", w.alice, url.Values{"Action": {"DecodeAuthorizationMessage"}, "EncodedMessage": {blob}})
	if status != 403 { // alice's policies do not allow sts:DecodeAuthorizationMessage
		t.Errorf("alice decodes: %d %s", status, body)
	}
	status, body = w.call("sts", w.rootCreds(), url.Values{"Action": {"DecodeAuthorizationMessage"}, "EncodedMessage": {blob}})
	if status != 200 || !strings.Contains(body, "ec2:AuthorizeSecurityGroupIngress") || !strings.Contains(body, "security-group/sg-0aaa00000000000a1") {
		t.Errorf("root decodes: %d %s", status, body)
	}
	if _, err := (decoder{w.a}).Decode("999999999999", blob); err == nil {
		t.Error("another account decoded the message")
	}

	// The sealing key survives a restart: a new Authorizer on the same store decodes it.
	again, err := New(ctx, w.st, nil, func() time.Time { return w.now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (decoder{again}).Decode(acct, blob); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}
