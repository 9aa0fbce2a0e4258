package ec2api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/events/eventsapi"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// authzAPI is an API server with IAM enforcement on, one account (root) and its IAM service.
type authzAPI struct {
	*testAPI
	iam  *iam.Service
	root *client
	// The trail, as trailAPI has it: settle waits for the handlers and flushes the Recorder.
	recorder *trail.Recorder
	inflight sync.RWMutex

	mu  sync.Mutex
	now time.Time
}

func (a *authzAPI) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func newAuthzAPI(t *testing.T) *authzAPI {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := control.Open(ctx, st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := &authzAPI{now: time.Now()}
	az, err := authz.New(ctx, st, accounts, a.clock)
	if err != nil {
		t.Fatal(err)
	}
	if a.iam, err = iam.Open(ctx, st, az.IAMConfig()); err != nil {
		t.Fatal(err)
	}
	az.Bind(a.iam)
	var lookup *trail.Lookup
	a.recorder, lookup = openTrail(t, st, filepath.Join(t.TempDir(), "trail-log"))
	cfg := DefaultConfig()
	cfg.Log, cfg.Authorizer, cfg.Recorder, cfg.Lookup = discardLogger(), az, a.recorder, lookup
	bus, err := events.Open(ctx, st, events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Events = eventsapi.New(bus)
	api := New(cfg, svc, accounts, NewMetrics(prometheus.NewRegistry()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.RLock()
		defer a.inflight.RUnlock()
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.testAPI = &testAPI{t: t, srv: srv, accounts: accounts, svc: svc}
	a.root = a.newAccount("root")
	a.root.region = "eu-west-1"
	return a
}

// user makes an IAM user in root's account with one inline policy and returns its client.
func (a *authzAPI) user(name, path, policy string) *client {
	a.t.Helper()
	ctx, acct := context.Background(), a.root.acct.ID
	if _, err := a.iam.CreateUser(ctx, acct, iam.CreateUserInput{Name: name, Path: path}); err != nil {
		a.t.Fatal(err)
	}
	if err := a.iam.PutPolicy(ctx, acct, iam.UserEntity, name, "p", policy); err != nil {
		a.t.Fatal(err)
	}
	k, err := a.iam.CreateAccessKey(ctx, acct, name)
	if err != nil {
		a.t.Fatal(err)
	}
	return &client{api: a.testAPI, acct: auth.Account{ID: acct, AccessKeyID: k.ID, SecretAccessKey: k.Secret}, region: "eu-west-1"}
}

func (a *authzAPI) group(vpc, name, tagKey, tagValue string) string {
	a.t.Helper()
	return field(a.root.ok("CreateSecurityGroup", "GroupName", name, "GroupDescription", name, "VpcId", vpc,
		"TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", tagKey,
		"TagSpecification.1.Tag.1.Value", tagValue), "groupId")
}

const devIngress = `{"Version":"2012-10-17","Statement":[
 {"Sid":"DevIngressFromCorp","Effect":"Allow","Action":"ec2:AuthorizeSecurityGroupIngress",
  "Resource":"arn:aws:ec2:*:%A%:security-group/*",
  "Condition":{"StringEquals":{"aws:ResourceTag/env":"dev"},"IpAddress":{"aws:SourceIp":"%NET%"}}},
 {"Sid":"Read","Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`

// TestAuthorizationOracle is §8.1 over the wire (the test client's address is 127.0.0.1, so
// the corporate network of the policy is 127.0.0.0/8 where the spec has 10.0.0.0/8).
func TestAuthorizationOracle(t *testing.T) {
	a := newAuthzAPI(t)
	acct := a.root.acct.ID
	vpc := field(a.root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sgA, sgC := a.group(vpc, "a", "env", "dev"), a.group(vpc, "c", "env", "prod")
	sgD, sgE := a.group(vpc, "d", "ENV", "dev"), a.group(vpc, "e", "env", "Dev")
	policy := strings.NewReplacer("%A%", acct, "%NET%", "127.0.0.0/8").Replace(devIngress)
	alice := a.user("alice", "/ops/", policy)
	perm := func(port string) []string {
		return []string{"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", port,
			"IpPermissions.1.ToPort", port, "IpPermissions.1.IpRanges.1.CidrIp", "192.0.2.0/24"}
	}
	authorize := func(c *client, group, port string, extra ...string) response {
		return c.call("AuthorizeSecurityGroupIngress", append(append([]string{"GroupId", group}, perm(port)...), extra...)...)
	}
	ingress := func(group string) int {
		return len(xmlFields(a.root.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", group), "securityGroupRuleId"))
	}
	denied := "because no identity-based policy allows the ec2:AuthorizeSecurityGroupIngress action"
	tests := []struct {
		name, group, port string
		extra             []string
		code              string
	}{
		{"#1 env=dev from corp", sgA, "443", nil, ""},
		{"#3 env=prod", sgC, "443", nil, "UnauthorizedOperation"},
		{"#4 tag key ENV", sgD, "443", nil, ""},
		{"#5 tag value Dev", sgE, "443", nil, "UnauthorizedOperation"},
		{"#6 with a rule tag", sgA, "444", []string{"TagSpecification.1.ResourceType", "security-group-rule",
			"TagSpecification.1.Tag.1.Key", "k", "TagSpecification.1.Tag.1.Value", "v"}, "UnauthorizedOperation"},
		{"#8 dry run", sgA, "445", []string{"DryRun", "true"}, "DryRunOperation"},
	}
	for _, tt := range tests {
		before := ingress(tt.group)
		r := authorize(alice, tt.group, tt.port, tt.extra...)
		if r.Code != tt.code {
			t.Errorf("%s: %d %q, want %q: %s", tt.name, r.Status, r.Code, tt.code, r.Body)
			continue
		}
		created := ingress(tt.group) - before
		if (tt.code == "") != (created == 1) {
			t.Errorf("%s: %d rules created", tt.name, created)
		}
		if tt.code == "UnauthorizedOperation" {
			msg := field(r.Body, "Message")
			want := "You are not authorized to perform this operation. User: arn:aws:iam::" + acct + ":user/ops/alice is not authorized to perform: ec2:"
			if r.Status != 403 || !strings.HasPrefix(msg, want) || !strings.Contains(msg, ". Encoded authorization failure message: ") {
				t.Errorf("%s: %d %q", tt.name, r.Status, msg)
			}
			if tt.extra == nil && !strings.Contains(msg, "on resource: arn:aws:ec2:eu-west-1:"+acct+":security-group/"+tt.group+" "+denied) {
				t.Errorf("%s: message %q", tt.name, msg)
			}
		}
	}
	// #7: reads are allowed by the Describe* statement; other writes are not.
	alice.ok("DescribeSecurityGroups")
	alice.fails("UnauthorizedOperation", "DeleteSecurityGroup", "GroupId", sgA)
	alice.fails("UnauthorizedOperation", "CreateVpc", "CidrBlock", "10.1.0.0/16")
	// Variants of §8.1: the action's case does not matter; a resource pattern on the group ID
	// keeps #1 allowed and denies #4; the MFA deny idiom denies long-term keys, reads too.
	put := func(doc string) {
		t.Helper()
		if err := a.iam.PutPolicy(context.Background(), acct, iam.UserEntity, "alice", "p",
			strings.NewReplacer("%A%", acct, "%NET%", "127.0.0.0/8").Replace(doc)); err != nil {
			t.Fatal(err)
		}
	}
	put(strings.Replace(devIngress, `"ec2:AuthorizeSecurityGroupIngress"`, `"EC2:authorizesecuritygroupingress"`, 1))
	if r := authorize(alice, sgA, "450"); r.Code != "" {
		t.Errorf("action in another case: %q", r.Code)
	}
	put(strings.Replace(devIngress, `security-group/*`, `security-group/`+sgA[:7]+`*`, 1))
	if r := authorize(alice, sgA, "451"); r.Code != "" {
		t.Errorf("resource prefix, sg a: %q", r.Code)
	}
	if r := authorize(alice, sgD, "451"); r.Code != "UnauthorizedOperation" {
		t.Errorf("resource prefix, sg d: %q", r.Code)
	}
	put(strings.Replace(devIngress, `]}`, `,{"Effect":"Deny","Action":"ec2:*","Resource":"*",`+
		`"Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`, 1))
	r := authorize(alice, sgA, "452")
	if msg := field(r.Body, "Message"); r.Code != "UnauthorizedOperation" || !strings.Contains(msg, " with an explicit deny in an identity-based policy. Encoded") {
		t.Errorf("MFA deny: %q %q", r.Code, msg)
	}
	alice.fails("UnauthorizedOperation", "DescribeSecurityGroups")

	// From outside the policy's network the same call is denied.
	if err := a.iam.PutPolicy(context.Background(), acct, iam.UserEntity, "alice", "p",
		strings.NewReplacer("%A%", acct, "%NET%", "10.0.0.0/8").Replace(devIngress)); err != nil {
		t.Fatal(err)
	}
	if r := authorize(alice, sgA, "447"); r.Code != "UnauthorizedOperation" {
		t.Errorf("from 127.0.0.1 with 10.0.0.0/8: %q", r.Code)
	}
}

// TestRoleSessionOnEC2: a role session signs EC2 calls with its token and gets the role's
// permissions; without the token it is AuthFailure; once expired, RequestExpired.
func TestRoleSessionOnEC2(t *testing.T) {
	a := newAuthzAPI(t)
	acct := a.root.acct.ID
	vpc := field(a.root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sg := a.group(vpc, "web", "env", "prod")
	alice := a.user("alice", "/ops/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`)
	alice.fails("UnauthorizedOperation", "AuthorizeSecurityGroupIngress", "GroupId", sg, "IpProtocol", "tcp", "FromPort", "22", "ToPort", "22", "CidrIp", "10.0.0.0/8")

	sess := a.sgAdminSession(alice, "/", "alice")
	sess.ok("AuthorizeSecurityGroupIngress", "GroupId", sg, "IpProtocol", "tcp", "FromPort", "22", "ToPort", "22", "CidrIp", "10.0.0.0/8")
	sess.fails("UnauthorizedOperation", "CreateVpc", "CidrBlock", "10.1.0.0/16")
	// The STS endpoint of the EC2 API names the session.
	stsc := *sess
	stsc.service = "sts"
	body := stsc.ok("GetCallerIdentity")
	if field(body, "Arn") != "arn:aws:sts::"+acct+":assumed-role/sg-admin/alice" || !strings.HasSuffix(field(body, "UserId"), ":alice") {
		t.Errorf("GetCallerIdentity: %s", body)
	}

	noToken := *sess
	noToken.token = ""
	if r := noToken.call("DescribeVpcs"); r.Status != 401 || r.Code != "AuthFailure" {
		t.Errorf("without token: %d %q", r.Status, r.Code)
	}
	a.mu.Lock()
	a.now = a.now.Add(2 * time.Hour)
	a.mu.Unlock()
	sess.fails("RequestExpired", "DescribeVpcs")
}

// TestCreateTagsOnCreate: a create call with TagSpecification needs ec2:CreateTags on the new
// resource too, with ec2:CreateAction naming the call (the Service Authorization Reference's
// tag-on-create rule); without tags it does not.
func TestCreateTagsOnCreate(t *testing.T) {
	a := newAuthzAPI(t)
	acct := a.root.acct.ID
	vpc := field(a.root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	base := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"*"}%EXTRA%]}`
	bob := a.user("bob", "/", strings.Replace(base, "%EXTRA%", "", 1))
	create := func(name string, tagged bool) response {
		p := []string{"GroupName", name, "GroupDescription", name, "VpcId", vpc}
		if tagged {
			p = append(p, "TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", "env",
				"TagSpecification.1.Tag.1.Value", "dev")
		}
		return bob.call("CreateSecurityGroup", p...)
	}
	if r := create("plain", false); r.Code != "" {
		t.Errorf("untagged: %s", r.Body)
	}
	r := create("tagged", true)
	if msg := field(r.Body, "Message"); r.Code != "UnauthorizedOperation" || !strings.Contains(msg, "perform: ec2:CreateTags on resource: arn:aws:ec2:eu-west-1:"+acct+":security-group/") {
		t.Errorf("tagged without CreateTags: %q %q", r.Code, msg)
	}
	if n := len(xmlFields(a.root.ok("DescribeSecurityGroups", "Filter.1.Name", "group-name", "Filter.1.Value.1", "tagged"), "groupId")); n != 0 {
		t.Errorf("a denied create made %d groups", n)
	}
	for _, tt := range []struct{ action, code string }{{"RunInstances", "UnauthorizedOperation"}, {"CreateSecurityGroup", ""}} {
		if err := a.iam.PutPolicy(context.Background(), acct, iam.UserEntity, "bob", "p", strings.Replace(base, "%EXTRA%",
			`,{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEquals":{"ec2:CreateAction":"`+tt.action+`"}}}`, 1)); err != nil {
			t.Fatal(err)
		}
		if r := create("tagged-"+tt.action, true); r.Code != tt.code {
			t.Errorf("CreateTags on %s: %q, want %q: %s", tt.action, r.Code, tt.code, r.Body)
		}
	}
}

// TestTrailNamesThePrincipal: the trail records who made each call — an IAM user's denied
// rule change and the same change made through an assumed role — with the userIdentity of
// trail-iam.md §1.2 (§8.2's last step).
func TestTrailNamesThePrincipal(t *testing.T) {
	a := newAuthzAPI(t)
	ctx, acct := context.Background(), a.root.acct.ID
	vpc := field(a.root.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sg := a.group(vpc, "web", "env", "prod")
	alice := a.user("alice", "/ops/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`)
	rule := []string{"GroupId", sg, "IpProtocol", "tcp", "FromPort", "22", "ToPort", "22", "CidrIp", "10.0.0.0/8"}
	alice.fails("UnauthorizedOperation", "AuthorizeSecurityGroupIngress", rule...)
	sess := a.sgAdminSession(alice, "/admin/", "alice-ops")
	sess.ok("AuthorizeSecurityGroupIngress", rule...)

	a.inflight.Lock()
	a.inflight.Unlock()
	a.recorder.Flush(ctx)
	status, events, raw := a.root.lookup(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"AuthorizeSecurityGroupIngress"}]}`)
	if status != 200 || len(events) != 2 {
		t.Fatalf("LookupEvents: %d, %d events: %s", status, len(events), raw)
	}
	type who struct{ Type, ARN, UserName, ErrorCode, Issuer string }
	var gotWho []who
	for _, e := range events {
		id, _ := e.record["userIdentity"].(map[string]any)
		w := who{Type: fmt.Sprint(id["type"]), ARN: fmt.Sprint(id["arn"]), UserName: fmt.Sprint(id["userName"])}
		if code, ok := e.record["errorCode"].(string); ok {
			w.ErrorCode = code
		}
		if sc, ok := id["sessionContext"].(map[string]any); ok {
			if is, ok := sc["sessionIssuer"].(map[string]any); ok {
				w.Issuer = fmt.Sprint(is["arn"])
			}
		}
		gotWho = append(gotWho, w)
	}
	// Newest first, but the two calls fall in the same second (eventTime's resolution).
	slices.SortFunc(gotWho, func(x, y who) int { return strings.Compare(x.Type, y.Type) })
	want := []who{
		{Type: "AssumedRole", ARN: "arn:aws:sts::" + acct + ":assumed-role/sg-admin/alice-ops", UserName: "<nil>", Issuer: "arn:aws:iam::" + acct + ":role/admin/sg-admin"},
		{Type: "IAMUser", ARN: "arn:aws:iam::" + acct + ":user/ops/alice", UserName: "alice", ErrorCode: "Client.UnauthorizedOperation"},
	}
	if diff := cmp.Diff(want, gotWho); diff != "" {
		t.Errorf("identities (-want +got):\n%s", diff)
	}
}

// sgAdminSession makes the role sg-admin (at path, trusted by alice, allowed every
// security-group action) and returns the client of a session alice assumes in it (§8.2).
func (a *authzAPI) sgAdminSession(alice *client, path, session string) *client {
	t := a.t
	t.Helper()
	ctx, acct := context.Background(), a.root.acct.ID
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/ops/alice"},"Action":"sts:AssumeRole"}]}`
	if _, err := a.iam.CreateRole(ctx, acct, iam.CreateRoleInput{Name: "sg-admin", Path: path, TrustPolicy: trust}); err != nil {
		t.Fatal(err)
	}
	if err := a.iam.PutPolicy(ctx, acct, iam.RoleEntity, "sg-admin", "rules",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*SecurityGroup*","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	caller, _, err := a.iam.Lookup(alice.acct.AccessKeyID, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.iam.AssumeRole(ctx, caller, iam.AssumeRoleInput{RoleARN: "arn:aws:iam::" + acct + ":role" + path + "sg-admin", SessionName: session})
	if err != nil {
		t.Fatal(err)
	}
	cr := got.Credentials
	return &client{api: a.testAPI, acct: auth.Account{ID: acct, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey},
		region: "eu-west-1", token: cr.SessionToken}
}
