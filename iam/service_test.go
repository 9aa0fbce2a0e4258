package iam

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

const (
	accountA = "111122223333"
	accountB = "444455556666"
)

// testValidate stands in for the real parser (package iampolicy): a document must mention
// "Statement"; "bad" in it is malformed.
func testValidate(doc string) error {
	if !strings.Contains(doc, "Statement") || strings.Contains(doc, "bad") {
		return errors.New("Syntax errors in policy.")
	}
	return nil
}

const doc = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}`
const trustDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`

// fixedTrust answers by the caller's ARN: listed ones are trusted by name, the account's accountB
// users through their identity policies.
type fixedTrust map[string]TrustDecision

func (f fixedTrust) Allows(_ string, req TrustRequest) TrustDecision { return f[req.Caller.ARN] }

type env struct {
	t    *testing.T
	path string
	s    *Service
	now  time.Time
	cfg  Config
	// newStore, when set, opens the store instead of a bolt file at path.
	newStore func() store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "state.db"), now: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	e.cfg = Config{Validate: testValidate, Now: func() time.Time { return e.now }}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	var st store.Store
	if e.newStore != nil {
		st = e.newStore()
	} else {
		b, err := bolt.Open(e.path, bolt.Options{})
		if err != nil {
			e.t.Fatal(err)
		}
		st = b
	}
	e.t.Cleanup(func() { st.Close() })
	s, err := Open(context.Background(), st, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
}

// reopen closes nothing (bolt allows one opener: the old store is closed first) and loads
// the state again from disk.
func (e *env) reopen() {
	e.t.Helper()
	e.s.st.Close()
	e.open()
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code.Name + ": " + e.Message
	}
	if err != nil {
		return "untyped: " + err.Error()
	}
	return ""
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()

// snapshot is everything the account holds, to prove that a failed call changed nothing.
func (e *env) snapshot(account string) string {
	var b bytes.Buffer
	_ = e.s.read(account, func(a *acct) error {
		for _, m := range []any{a.users, a.keys, a.groups, a.roles, a.policies, a.sessions} {
			b.WriteString(cmp.Diff(nil, m))
		}
		return nil
	})
	return b.String()
}

// TestErrors runs every action's error cases against one populated account: each must give
// AWS's code and message and change nothing, in memory or on disk.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	e.cfg.Quotas = DefaultQuotas()
	e.cfg.Quotas.Users = 3
	e.cfg.Quotas.Roles = 1
	e.cfg.Quotas.Policies = 1
	e.cfg.Quotas.GroupsPerUser = 1
	e.cfg.Quotas.AttachedPerEntity = 1
	e.cfg.Quotas.VersionsPerPolicy = 2
	e.reopen()
	s := e.s
	must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: "alice", Path: "/ops/"}))
	must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: "bob"}))
	must[AccessKey](t)(s.CreateAccessKey(ctx, accountA, "bob"))
	k2 := must[AccessKey](t)(s.CreateAccessKey(ctx, accountA, "bob"))
	must[Group](t)(s.CreateGroup(ctx, accountA, "ops", ""))
	must[Group](t)(s.CreateGroup(ctx, accountA, "dev", ""))
	ok(t, s.AddUserToGroup(ctx, accountA, "ops", "alice"))
	must[Role](t)(s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc}))
	pol := must[Policy](t)(s.CreatePolicy(ctx, accountA, CreatePolicyInput{Name: "p1", Document: doc}))
	must[PolicyVersion](t)(s.CreatePolicyVersion(ctx, accountA, pol.ARN, doc, false))
	ok(t, s.AttachPolicy(ctx, accountA, RoleEntity, "sg-admin", pol.ARN))
	ok(t, s.PutPolicy(ctx, accountA, GroupEntity, "ops", "read", doc))
	big := `{"Statement":"` + strings.Repeat("x", 2100) + `"}`
	aws := AWSPolicyPrefix + "/AdministratorAccess"

	tests := []errorCase{
		{"user exists, any case", func() error { _, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "ALICE"}); return err },
			"EntityAlreadyExists: User with name ALICE already exists."},
		{"user name pattern", func() error { _, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "a b"}); return err },
			`ValidationError: 1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"user name length", func() error {
			_, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: strings.Repeat("a", 65)})
			return err
		}, "ValidationError: 1 validation error detected: Value '" + strings.Repeat("a", 65) + "' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"path", func() error {
			_, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "c", Path: "ops"})
			return err
		},
			`ValidationError: 1 validation error detected: Value 'ops' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`},
		{"boundary missing", func() error {
			_, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "c", PermissionsBoundary: "arn:aws:iam::111122223333:policy/nope"})
			return err
		}, "NoSuchEntity: Scope ARN: arn:aws:iam::111122223333:policy/nope does not exist or is not attachable."},
		{"get user", func() error { _, err := s.GetUser(ctx, accountA, "carol"); return err }, "NoSuchEntity: The user with name carol cannot be found."},
		{"delete user with keys", func() error { return s.DeleteUser(ctx, accountA, "bob") }, "DeleteConflict: Cannot delete entity, must delete access keys first."},
		{"delete user in group", func() error { return s.DeleteUser(ctx, accountA, "alice") }, "DeleteConflict: Cannot delete entity, must remove users from group first."},
		{"third key", func() error { _, err := s.CreateAccessKey(ctx, accountA, "bob"); return err }, "LimitExceeded: Cannot exceed quota for AccessKeysPerUser: 2"},
		{"key of no user", func() error { _, err := s.CreateAccessKey(ctx, accountA, "carol"); return err }, "NoSuchEntity: The user with name carol cannot be found."},
		{"key of another user", func() error { return s.DeleteAccessKey(ctx, accountA, "alice", k2.ID) }, "NoSuchEntity: The Access Key with id " + k2.ID + " cannot be found"},
		{"key status", func() error { return s.UpdateAccessKey(ctx, accountA, "bob", k2.ID, "active") },
			"ValidationError: 1 validation error detected: Value 'active' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"},
		{"group exists", func() error { _, err := s.CreateGroup(ctx, accountA, "Ops", ""); return err }, "EntityAlreadyExists: Group with name Ops already exists."},
		{"groups per user", func() error { return s.AddUserToGroup(ctx, accountA, "dev", "alice") }, "LimitExceeded: Cannot exceed quota for GroupsPerUser: 1"},
		{"add to no group", func() error { return s.AddUserToGroup(ctx, accountA, "x", "alice") }, "NoSuchEntity: The group with name x cannot be found."},
		{"remove non-member", func() error { return s.RemoveUserFromGroup(ctx, accountA, "dev", "alice") }, "NoSuchEntity: The user with name alice cannot be found."},
		{"delete group with members", func() error { return s.DeleteGroup(ctx, accountA, "ops") }, "DeleteConflict: Cannot delete entity, must remove users from group first."},
		{"users quota", func() error {
			if _, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "c"}); err != nil {
				return err
			}
			defer s.DeleteUser(ctx, accountA, "c")
			_, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "d"})
			return err
		}, "LimitExceeded: Cannot exceed quota for UsersPerAccount: 3"},
		{"roles quota", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r2", TrustPolicy: trustDoc})
			return err
		},
			"LimitExceeded: Cannot exceed quota for RolesPerAccount: 1"},
		{"role exists", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "SG-admin", TrustPolicy: trustDoc})
			return err
		},
			"EntityAlreadyExists: Role with name SG-admin already exists."},
		{"bad trust", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r2", TrustPolicy: `{"bad"}`})
			return err
		},
			"MalformedPolicyDocument: Syntax errors in policy."},
		{"trust too large", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r2", TrustPolicy: big})
			return err
		},
			"LimitExceeded: Cannot exceed quota for ACLSizePerRole: 2048"},
		{"max session", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r2", TrustPolicy: trustDoc, MaxSessionDuration: 43201})
			return err
		}, "ValidationError: 1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"get role", func() error { _, err := s.GetRole(ctx, accountA, "x"); return err }, "NoSuchEntity: The role with name x cannot be found."},
		{"delete role with policies", func() error { return s.DeleteRole(ctx, accountA, "sg-admin") }, "DeleteConflict: Cannot delete entity, must detach all policies first."},
		{"update trust of no role", func() error { return s.UpdateAssumeRolePolicy(ctx, accountA, "x", trustDoc) }, "NoSuchEntity: The role with name x cannot be found."},
		{"inline on no user", func() error { return s.PutPolicy(ctx, accountA, UserEntity, "x", "p", doc) }, "NoSuchEntity: The user with name x cannot be found."},
		{"inline malformed", func() error { return s.PutPolicy(ctx, accountA, UserEntity, "alice", "p", `{"bad":1}`) }, "MalformedPolicyDocument: Syntax errors in policy."},
		{"inline too large", func() error { return s.PutPolicy(ctx, accountA, UserEntity, "alice", "p", big) }, "LimitExceeded: Maximum policy size of 2048 bytes exceeded for user alice"},
		{"get inline", func() error { _, err := s.GetInlinePolicy(ctx, accountA, RoleEntity, "sg-admin", "x"); return err },
			"NoSuchEntity: The role policy with name x cannot be found."},
		{"delete inline", func() error { return s.DeleteInlinePolicy(ctx, accountA, GroupEntity, "ops", "x") }, "NoSuchEntity: The group policy with name x cannot be found."},
		{"policy exists", func() error {
			_, err := s.CreatePolicy(ctx, accountA, CreatePolicyInput{Name: "P1", Document: doc})
			return err
		},
			"EntityAlreadyExists: A policy called P1 already exists. Duplicate names are not allowed."},
		{"policies quota", func() error {
			_, err := s.CreatePolicy(ctx, accountA, CreatePolicyInput{Name: "p2", Document: doc})
			return err
		},
			"LimitExceeded: Cannot exceed quota for PoliciesPerAccount: 1"},
		{"versions quota", func() error { _, err := s.CreatePolicyVersion(ctx, accountA, pol.ARN, doc, true); return err },
			"LimitExceeded: A managed policy can have up to 2 versions. Before you create a new version, you must delete an existing version."},
		{"delete default version", func() error { return s.DeletePolicyVersion(ctx, accountA, pol.ARN, "v1") }, "DeleteConflict: Cannot delete the default version of a policy."},
		{"delete missing version", func() error { return s.DeletePolicyVersion(ctx, accountA, pol.ARN, "v9") },
			"NoSuchEntity: Policy arn:aws:iam::111122223333:policy/p1 version v9 does not exist or is not attachable."},
		{"bad version id", func() error { return s.SetDefaultPolicyVersion(ctx, accountA, pol.ARN, "1") },
			`ValidationError: 1 validation error detected: Value '1' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`},
		{"delete attached policy", func() error { return s.DeletePolicy(ctx, accountA, pol.ARN) }, "DeleteConflict: Cannot delete a policy attached to entities."},
		{"get missing policy", func() error { _, err := s.GetPolicy(ctx, accountA, "arn:aws:iam::111122223333:policy/zz"); return err },
			"NoSuchEntity: Policy arn:aws:iam::111122223333:policy/zz was not found."},
		{"attach unknown aws policy", func() error { return s.AttachPolicy(ctx, accountA, UserEntity, "alice", AWSPolicyPrefix+"/Nope") },
			"NoSuchEntity: Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable."},
		{"attached quota", func() error { return s.AttachPolicy(ctx, accountA, RoleEntity, "sg-admin", aws) }, "LimitExceeded: Cannot exceed quota for PoliciesPerRole: 1"},
		{"detach not attached", func() error { return s.DetachPolicy(ctx, accountA, UserEntity, "alice", aws) }, "NoSuchEntity: Policy " + aws + " was not found."},
		{"delete aws policy", func() error { return s.DeletePolicy(ctx, accountA, aws) }, "InvalidInput: ARN " + aws + " is not valid."},
		{"max items", func() error { _, _, err := s.ListUsers(ctx, accountA, "", Page{MaxItems: 1001}); return err },
			"ValidationError: 1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{"list keys of no user", func() error { _, _, err := s.ListAccessKeys(ctx, accountA, "x", Page{}); return err }, "NoSuchEntity: The user with name x cannot be found."},
		{"accountB account", func() error { _, err := s.GetUser(ctx, accountB, "alice"); return err }, "NoSuchEntity: The user with name alice cannot be found."},
	}
	e.checkErrors(tests)
}

// errorCase is a call that must fail with want ("Code: message").
type errorCase struct {
	name string
	call func() error
	want string
}

// checkErrors runs the cases against accountA: each must fail as wanted and change nothing,
// in memory or, after a restart, on disk.
func (e *env) checkErrors(tests []errorCase) {
	t := e.t
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(accountA)
			if diff := cmp.Diff(tc.want, code(tc.call())); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if after := e.snapshot(accountA); after != before {
				t.Errorf("the failed call changed the state")
			}
		})
	}
	before := e.snapshot(accountA)
	e.reopen()
	if after := e.snapshot(accountA); after != before {
		t.Errorf("the failed calls changed the store:\n%s", cmp.Diff(before, after))
	}
}
