package iam

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type decoder struct{}

func (decoder) Decode(account, encoded string) (string, error) {
	if encoded != "blob-"+account {
		return "", errors.New("not ours")
	}
	return `{"allowed":false}`, nil
}

// stsEnv: alice (/ops/) is trusted by name, bob only through the account, whose identity
// policies allow sts:AssumeRole only for users under /ops/.
func stsEnv(t *testing.T) (*env, Principal, Principal) {
	e := newEnv(t)
	e.cfg.Trust = fixedTrust{
		"arn:aws:iam::111122223333:user/ops/alice": TrustPrincipal,
		"arn:aws:iam::111122223333:user/bob":       TrustAccount,
		"arn:aws:iam::111122223333:user/carol":     TrustAccount,
	}
	e.cfg.IdentityAllows = func(_ context.Context, p Principal, action, resource string) bool {
		return p.UserName == "carol" && action == "sts:AssumeRole" && resource == "arn:aws:iam::111122223333:role/sg-admin"
	}
	e.cfg.Decoder = decoder{}
	e.reopen()
	var ps []Principal
	for _, u := range []CreateUserInput{{Name: "alice", Path: "/ops/"}, {Name: "bob"}, {Name: "carol"}} {
		usr := must[User](t)(e.s.CreateUser(ctx, accountA, u))
		k := must[AccessKey](t)(e.s.CreateAccessKey(ctx, accountA, u.Name))
		ps = append(ps, userPrincipal(accountA, &usr, k.ID))
	}
	must[Role](t)(e.s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc, MaxSessionDuration: 7200}))
	return e, ps[0], ps[1]
}

const roleARN = "arn:aws:iam::111122223333:role/sg-admin"

func TestAssumeRole(t *testing.T) {
	e, alice, _ := stsEnv(t)
	s := e.s
	got := must[AssumedRole](t)(s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "alice"}))
	c := got.Credentials
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || len(c.AccessKeyID) != 20 || len(c.SecretAccessKey) != 40 || c.SessionToken == "" {
		t.Errorf("credentials %+v", c)
	}
	if !c.Expiration.Equal(e.now.Add(time.Hour)) || got.ARN != "arn:aws:sts::111122223333:assumed-role/sg-admin/alice" || got.PackedPolicySize != -1 {
		t.Errorf("assumed role %+v", got)
	}
	role := must[Role](t)(s.GetRole(ctx, accountA, "sg-admin"))
	if got.AssumedRoleID != role.ID+":alice" || !role.LastUsed.Equal(e.now) {
		t.Errorf("AssumedRoleId %s, role %+v", got.AssumedRoleID, role)
	}
	p, secret, err := s.Lookup(c.AccessKeyID, c.SessionToken)
	if err != nil || secret != c.SecretAccessKey {
		t.Fatalf("Lookup: %v", err)
	}
	want := Identity{UserID: role.ID + ":alice", Account: accountA, ARN: got.ARN}
	if diff := cmp.Diff(want, GetCallerIdentity(p)); diff != "" {
		t.Errorf("GetCallerIdentity (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Identity{UserID: alice.UserID, Account: accountA, ARN: alice.ARN}, GetCallerIdentity(alice)); diff != "" {
		t.Errorf("user identity: %s", diff)
	}
	if diff := cmp.Diff(Identity{UserID: accountA, Account: accountA, ARN: "arn:aws:iam::111122223333:root"}, GetCallerIdentity(Root(accountA, "AKIAROOT"))); diff != "" {
		t.Errorf("root identity: %s", diff)
	}

	invalid := "InvalidClientTokenId: The security token included in the request is invalid."
	for name, tc := range map[string][2]string{
		"no token":           {c.AccessKeyID, ""},
		"wrong token":        {c.AccessKeyID, c.SessionToken + "x"},
		"long-term w/ token": {alice.AccessKeyID, c.SessionToken},
		"unknown key":        {"ASIAUNKNOWNUNKNOWN00", c.SessionToken},
	} {
		if _, _, err := s.Lookup(tc[0], tc[1]); code(err) != invalid {
			t.Errorf("%s: %v", name, code(err))
		}
	}

	// Session policies are kept for the evaluator's intersection, and survive a restart.
	sp := must[AssumedRole](t)(s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "alice2", Policy: doc,
		PolicyArns: []string{AWSPolicyPrefix + "/AmazonEC2ReadOnlyAccess"}, DurationSeconds: 7200}))
	if sp.PackedPolicySize < 0 {
		t.Errorf("PackedPolicySize missing with a session policy")
	}
	e.reopen()
	s = e.s
	p2, _, err := s.Lookup(sp.Credentials.AccessKeyID, sp.Credentials.SessionToken)
	ok(t, err)
	set, err := s.Policies(p2)
	ok(t, err)
	if len(set.Session) != 2 || set.Session[0] != doc {
		t.Errorf("session policies %v", set.Session)
	}

	// Role chaining is capped at an hour.
	if _, err := s.AssumeRole(ctx, p2, AssumeRoleInput{RoleARN: roleARN, SessionName: "chain", DurationSeconds: 3601}); code(err) !=
		"ValidationError: The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining." {
		t.Errorf("chaining: %v", err)
	}

	// Expiry, with no grace period.
	e.now = c.Expiration.Add(-time.Nanosecond)
	if _, _, err := s.Lookup(c.AccessKeyID, c.SessionToken); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	e.now = c.Expiration
	if _, _, err := s.Lookup(c.AccessKeyID, c.SessionToken); code(err) != "ExpiredToken: The security token included in the request is expired" {
		t.Errorf("at expiry: %v", err)
	}
	e.now = c.Expiration.Add(-time.Minute)

	// Deleting the role revokes its sessions, even once re-created with the same name.
	ok(t, s.DeleteRole(ctx, accountA, "sg-admin"))
	must[Role](t)(s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc}))
	if _, _, err := s.Lookup(sp.Credentials.AccessKeyID, sp.Credentials.SessionToken); code(err) != invalid {
		t.Errorf("session of a deleted role: %v", err)
	}

}

func TestAssumeRoleErrors(t *testing.T) {
	e, alice, bob := stsEnv(t)
	s := e.s
	carol := bob
	carol.ARN, carol.UserName = "arn:aws:iam::111122223333:user/carol", "carol"
	denied := func(p Principal, role string) string {
		return "AccessDenied: User: " + p.ARN + " is not authorized to perform: sts:AssumeRole on resource: " + role
	}
	in := func(f func(*AssumeRoleInput)) AssumeRoleInput {
		v := AssumeRoleInput{RoleARN: roleARN, SessionName: "s1"}
		f(&v)
		return v
	}
	tests := []struct {
		name   string
		caller Principal
		in     AssumeRoleInput
		want   string
	}{
		{"root", Root(accountA, "AKIAROOT"), in(func(*AssumeRoleInput) {}), "AccessDenied: Roles may not be assumed by root accounts."},
		{"account trust, identity says no", bob, in(func(*AssumeRoleInput) {}), denied(bob, roleARN)},
		{"missing role", alice, in(func(v *AssumeRoleInput) { v.RoleARN += "x" }), denied(alice, roleARN+"x")},
		{"wrong path", alice, in(func(v *AssumeRoleInput) { v.RoleARN = "arn:aws:iam::111122223333:role/x/sg-admin" }),
			denied(alice, "arn:aws:iam::111122223333:role/x/sg-admin")},
		{"other account", alice, in(func(v *AssumeRoleInput) { v.RoleARN = "arn:aws:iam::444455556666:role/sg-admin" }),
			denied(alice, "arn:aws:iam::444455556666:role/sg-admin")},
		{"over MaxSessionDuration", alice, in(func(v *AssumeRoleInput) { v.DurationSeconds = 7201 }),
			"ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{"over 12 hours", alice, in(func(v *AssumeRoleInput) { v.DurationSeconds = 43201 }),
			"ValidationError: 1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"under 15 minutes", alice, in(func(v *AssumeRoleInput) { v.DurationSeconds = 899 }),
			"ValidationError: 1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"session name", alice, in(func(v *AssumeRoleInput) { v.SessionName = "a b" }),
			`ValidationError: 1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"session name short", alice, in(func(v *AssumeRoleInput) { v.SessionName = "a" }),
			"ValidationError: 1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"bad session policy", alice, in(func(v *AssumeRoleInput) { v.Policy = `{"bad"}` }), "MalformedPolicyDocument: Syntax errors in policy."},
		{"session policy too large", alice, in(func(v *AssumeRoleInput) { v.Policy = `{"Statement":"` + strings.Repeat("x", 2100) + `"}` }),
			"PackedPolicyTooLarge: Packed policy consumes 103% of allotted space, please use smaller policy."},
		{"unknown session policy ARN", alice, in(func(v *AssumeRoleInput) { v.PolicyArns = []string{"arn:aws:iam::111122223333:policy/nope"} }),
			"NoSuchEntity: Policy arn:aws:iam::111122223333:policy/nope does not exist or is not attachable."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(accountA)
			_, err := s.AssumeRole(ctx, tc.caller, tc.in)
			if diff := cmp.Diff(tc.want, code(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if e.snapshot(accountA) != before {
				t.Error("a refused AssumeRole changed the state")
			}
		})
	}
	// Account trust with the identity policy's allow succeeds.
	if _, err := s.AssumeRole(ctx, carol, in(func(*AssumeRoleInput) {})); err != nil {
		t.Errorf("carol: %v", err)
	}
	// No Trust configured: nobody assumes anything.
	e.cfg.Trust = nil
	e.reopen()
	if _, err := e.s.AssumeRole(ctx, alice, in(func(*AssumeRoleInput) {})); code(err) != denied(alice, roleARN) {
		t.Errorf("without Trust: %v", err)
	}
}

func TestDecodeAuthorizationMessage(t *testing.T) {
	e, alice, _ := stsEnv(t)
	if got, err := e.s.DecodeAuthorizationMessage(alice, "blob-"+accountA); err != nil || got != `{"allowed":false}` {
		t.Errorf("decode: %q %v", got, err)
	}
	other := alice
	other.Account = accountB
	if _, err := e.s.DecodeAuthorizationMessage(other, "blob-"+accountA); code(err) != "InvalidAuthorizationMessageException: The message is invalid." {
		t.Errorf("other account: %v", err)
	}
}
