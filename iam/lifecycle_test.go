package iam

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLifecycle builds the §6.7 set-up, checks what every read returns, survives a store
// reopen with the same answers, and takes it all down again in AWS's required order.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	s := e.s
	u := must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: "alice", Path: "/ops/", Tags: []Tag{{"team", "net"}}}))
	if !strings.HasPrefix(u.ID, "AIDA") || len(u.ID) != 21 {
		t.Errorf("user ID %q: want AIDA and 21 characters", u.ID)
	}
	if got := UserARN(accountA, u); got != "arn:aws:iam::111122223333:user/ops/alice" {
		t.Errorf("ARN %s", got)
	}
	k := must[AccessKey](t)(s.CreateAccessKey(ctx, accountA, "alice"))
	if !strings.HasPrefix(k.ID, "AKIA") || len(k.ID) != 20 || len(k.Secret) != 40 || k.Status() != "Active" {
		t.Errorf("access key %+v", k)
	}
	g := must[Group](t)(s.CreateGroup(ctx, accountA, "ops", "/"))
	if !strings.HasPrefix(g.ID, "AGPA") {
		t.Errorf("group ID %s", g.ID)
	}
	ok(t, s.AddUserToGroup(ctx, accountA, "ops", "alice"))
	ok(t, s.PutPolicy(ctx, accountA, GroupEntity, "ops", "read", doc))
	r := must[Role](t)(s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc, Description: "rules"}))
	if !strings.HasPrefix(r.ID, "AROA") || r.MaxSession != 3600 {
		t.Errorf("role %+v", r)
	}
	p := must[Policy](t)(s.CreatePolicy(ctx, accountA, CreatePolicyInput{Name: "sg-write", Path: "/sec/", Document: doc}))
	if !strings.HasPrefix(p.ID, "ANPA") || p.ARN != "arn:aws:iam::111122223333:policy/sec/sg-write" || p.DefaultVersion != "v1" {
		t.Errorf("policy %+v", p)
	}
	v2doc := strings.Replace(doc, "Describe*", "*", 1)
	v2 := must[PolicyVersion](t)(s.CreatePolicyVersion(ctx, accountA, p.ARN, v2doc, true))
	if v2.ID != "v2" {
		t.Errorf("version %s", v2.ID)
	}
	ok(t, s.AttachPolicy(ctx, accountA, RoleEntity, "sg-admin", p.ARN))
	ok(t, s.AttachPolicy(ctx, accountA, UserEntity, "alice", AWSPolicyPrefix+"/AmazonEC2ReadOnlyAccess"))
	ok(t, s.PutPolicy(ctx, accountA, RoleEntity, "sg-admin", "extra", doc))

	check := func(t *testing.T) {
		t.Helper()
		got := must[Policy](t)(s.GetPolicy(ctx, accountA, p.ARN))
		if got.Attachments != 1 || got.DefaultVersion != "v2" {
			t.Errorf("policy after reopen: attachments %d default %s", got.Attachments, got.DefaultVersion)
		}
		_, members := must2[Group, []User](t)(s.GetGroup(ctx, accountA, "ops"))
		if len(members) != 1 || members[0].Name != "alice" {
			t.Errorf("members %v", members)
		}
		keys, _ := must2[[]AccessKey, string](t)(s.ListAccessKeys(ctx, accountA, "alice", Page{}))
		if diff := cmp.Diff([]AccessKey{k}, keys); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		d := must[string](t)(s.GetInlinePolicy(ctx, accountA, GroupEntity, "ops", "read"))
		if d != doc {
			t.Errorf("inline document not kept as submitted: %q", d)
		}
		att, _ := must2[[]AttachedPolicy, string](t)(s.ListAttachedPolicies(ctx, accountA, RoleEntity, "sg-admin", "", Page{}))
		if diff := cmp.Diff([]AttachedPolicy{{"sg-write", p.ARN}}, att); diff != "" {
			t.Errorf("attached (-want +got):\n%s", diff)
		}
		pv, isDefault, err := s.GetPolicyVersion(ctx, accountA, p.ARN, "v2")
		if err != nil || !isDefault || pv.Document != v2doc {
			t.Errorf("GetPolicyVersion: %v %v %v", pv, isDefault, err)
		}
		set, err := s.Policies(userPrincipal(accountA, &u, k.ID))
		ok(t, err)
		if len(set.Identity) != 2 { // the group's inline and the AWS-managed read-only policy
			t.Errorf("alice's policies %v", set.Identity)
		}
		pr, secret, err := s.Lookup(k.ID, "")
		if err != nil || secret != k.Secret || pr.ARN != "arn:aws:iam::111122223333:user/ops/alice" || pr.UserID != u.ID {
			t.Errorf("Lookup: %+v %v", pr, err)
		}
	}
	check(t)
	e.reopen()
	s = e.s
	check(t)

	// The same names in another account are independent, and its lists are empty.
	if users, _, _ := s.ListUsers(ctx, accountB, "", Page{}); len(users) != 0 {
		t.Errorf("account B sees %v", users)
	}
	ub := must[User](t)(s.CreateUser(ctx, accountB, CreateUserInput{Name: "alice"}))
	if ub.ID == u.ID {
		t.Error("account B's alice has account A's ID")
	}
	if err := s.DeleteAccessKey(ctx, accountB, "alice", k.ID); code(err) != "NoSuchEntity: The Access Key with id "+k.ID+" cannot be found" {
		t.Errorf("account B deleting A's key: %v", err)
	}

	// Take it down in order.
	ok(t, s.UpdateAccessKey(ctx, accountA, "alice", k.ID, "Inactive"))
	if _, _, err := s.Lookup(k.ID, ""); code(err) != "InvalidClientTokenId: The security token included in the request is invalid." {
		t.Errorf("inactive key: %v", err)
	}
	ok(t, s.DeleteAccessKey(ctx, accountA, "alice", k.ID))
	ok(t, s.RemoveUserFromGroup(ctx, accountA, "ops", "alice"))
	ok(t, s.DetachPolicy(ctx, accountA, UserEntity, "alice", AWSPolicyPrefix+"/AmazonEC2ReadOnlyAccess"))
	ok(t, s.DeleteUser(ctx, accountA, "alice"))
	ok(t, s.DeleteInlinePolicy(ctx, accountA, GroupEntity, "ops", "read"))
	ok(t, s.DeleteGroup(ctx, accountA, "ops"))
	if err := s.DeletePolicy(ctx, accountA, p.ARN); code(err) != "DeleteConflict: Cannot delete a policy attached to entities." {
		t.Errorf("delete attached: %v", err)
	}
	ok(t, s.DetachPolicy(ctx, accountA, RoleEntity, "sg-admin", p.ARN))
	if err := s.DeletePolicy(ctx, accountA, p.ARN); !strings.HasPrefix(code(err), "DeleteConflict: This policy has more than one version.") {
		t.Errorf("delete with versions: %v", err)
	}
	ok(t, s.DeletePolicyVersion(ctx, accountA, p.ARN, "v1"))
	ok(t, s.DeletePolicy(ctx, accountA, p.ARN))
	if err := s.DeleteRole(ctx, accountA, "sg-admin"); code(err) != "DeleteConflict: Cannot delete entity, must delete policies first." {
		t.Errorf("delete role with inline: %v", err)
	}
	ok(t, s.DeleteInlinePolicy(ctx, accountA, RoleEntity, "sg-admin", "extra"))
	ok(t, s.DeleteRole(ctx, accountA, "sg-admin"))
	e.reopen()
	if e.snapshot(accountA) != newEnv(t).snapshot(accountA) {
		t.Errorf("account A is not empty after taking everything down:\n%s", e.snapshot(accountA))
	}
	// A re-created user gets a new ID.
	again := must[User](t)(e.s.CreateUser(ctx, accountA, CreateUserInput{Name: "alice"}))
	if again.ID == u.ID {
		t.Error("re-created user kept its ID")
	}
}

func must2[A, B any](t *testing.T) func(a A, b B, err error) (A, B) {
	return func(a A, b B, err error) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// TestListPaging pages users by MaxItems and Marker, and filters by path prefix.
func TestListPaging(t *testing.T) {
	s := newEnv(t).s
	for _, n := range []string{"c", "a", "B", "d"} {
		must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: n, Path: map[bool]string{true: "/x/", false: "/"}[n == "d"]}))
	}
	var got []string
	marker := ""
	for {
		users, next, err := s.ListUsers(ctx, accountA, "", Page{Marker: marker, MaxItems: 3})
		ok(t, err)
		for _, u := range users {
			got = append(got, u.Name)
		}
		got = append(got, "|")
		if next == "" {
			break
		}
		marker = next
	}
	if diff := cmp.Diff([]string{"a", "B", "c", "|", "d", "|"}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	users, _, _ := s.ListUsers(ctx, accountA, "/x/", Page{})
	if len(users) != 1 || users[0].Name != "d" {
		t.Errorf("path prefix: %v", users)
	}
}
