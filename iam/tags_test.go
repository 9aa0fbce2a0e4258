package iam

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTags tags and untags a user and a role: keys replace case-insensitively, lists come in
// key order with paging, and everything survives a restart and stays in its account.
func TestTags(t *testing.T) {
	e := newEnv(t)
	s := e.s
	must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: "alice", Tags: []Tag{{"team", "net"}}}))
	must[Role](t)(s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc}))

	ok(t, s.TagUser(ctx, accountA, "ALICE", []Tag{{"Env", "dev"}, {"TEAM", "ops"}, {"cost centre", "42 / é"}}))
	ok(t, s.TagRole(ctx, accountA, "sg-admin", []Tag{{"env", "prod"}, {"owner", ""}}))
	ok(t, s.UntagRole(ctx, accountA, "SG-ADMIN", []string{"OWNER", "absent"}))

	wantUser := []Tag{{"cost centre", "42 / é"}, {"Env", "dev"}, {"TEAM", "ops"}}
	wantRole := []Tag{{"env", "prod"}}
	check := func(when string) {
		t.Helper()
		u, _ := must2[[]Tag, string](t)(s.ListUserTags(ctx, accountA, "alice", Page{}))
		if diff := cmp.Diff(wantUser, u); diff != "" {
			t.Errorf("%s: user tags (-want +got):\n%s", when, diff)
		}
		r, _ := must2[[]Tag, string](t)(s.ListRoleTags(ctx, accountA, "sg-admin", Page{}))
		if diff := cmp.Diff(wantRole, r); diff != "" {
			t.Errorf("%s: role tags (-want +got):\n%s", when, diff)
		}
		// The entity itself carries them, in the order they were given (GetUser's Tags,
		// aws:PrincipalTag).
		got := must[User](t)(s.GetUser(ctx, accountA, "alice"))
		if diff := cmp.Diff([]Tag{{"TEAM", "ops"}, {"Env", "dev"}, {"cost centre", "42 / é"}}, got.Tags); diff != "" {
			t.Errorf("%s: GetUser tags (-want +got):\n%s", when, diff)
		}
	}
	check("after tagging")
	e.reopen()
	s = e.s
	check("after a restart")

	first, next := must2[[]Tag, string](t)(s.ListUserTags(ctx, accountA, "alice", Page{MaxItems: 2}))
	rest, last := must2[[]Tag, string](t)(s.ListUserTags(ctx, accountA, "alice", Page{Marker: next}))
	if diff := cmp.Diff(wantUser, append(first, rest...)); diff != "" || next == "" || last != "" {
		t.Errorf("pages %v (marker %q) then %v (marker %q)", first, next, rest, last)
	}

	ok(t, s.UntagUser(ctx, accountA, "alice", []string{"env", "Team", "COST CENTRE"}))
	if u, _ := must2[[]Tag, string](t)(s.ListUserTags(ctx, accountA, "alice", Page{})); len(u) != 0 {
		t.Errorf("tags left after untagging every key: %v", u)
	}
	if _, _, err := s.ListUserTags(ctx, accountB, "alice", Page{}); code(err) != "NoSuchEntity: The user with name alice cannot be found." {
		t.Errorf("another account sees alice's tags: %v", err)
	}
}

// TestTagErrors: every bad tag request gets IAM's code and message and changes nothing, in
// memory or on disk.
func TestTagErrors(t *testing.T) {
	e := newEnv(t)
	s := e.s
	var full []Tag
	for i := range MaxTags {
		full = append(full, Tag{fmt.Sprint("k", i), "v"})
	}
	must[User](t)(s.CreateUser(ctx, accountA, CreateUserInput{Name: "alice", Tags: full[:49]}))
	must[Role](t)(s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r", TrustPolicy: trustDoc, Tags: full}))
	long := strings.Repeat("é", 129)
	tests := []errorCase{
		{"51 in one request", func() error { return s.TagUser(ctx, accountA, "alice", append(full, Tag{"x", "y"})) },
			"ValidationError: 1 validation error detected: Value '' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"user over 50", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"a", "1"}, {"b", "2"}}) },
			"LimitExceeded: Cannot exceed quota for TagsPerUser: 50"},
		{"role over 50", func() error { return s.TagRole(ctx, accountA, "r", []Tag{{"new", "1"}}) },
			"LimitExceeded: Cannot exceed quota for TagsPerRole: 50"},
		{"duplicate keys in any case", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"Env", "1"}, {"env", "2"}}) },
			"InvalidInput: Duplicate tag keys found. Please note that Tag keys are case insensitive."},
		{"empty key", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"a", "1"}, {"", "2"}}) },
			"ValidationError: 1 validation error detected: Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"key of 129 characters", func() error { return s.TagRole(ctx, accountA, "r", []Tag{{long, "1"}}) },
			"ValidationError: 1 validation error detected: Value '" + long + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"value of 257 characters", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"a", strings.Repeat("v", 257)}}) },
			"ValidationError: 1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"key character", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"a*b", "1"}}) },
			`ValidationError: 1 validation error detected: Value 'a*b' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`},
		{"value character", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"a", "x;y"}}) },
			`ValidationError: 1 validation error detected: Value 'x;y' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`},
		{"aws: prefix", func() error { return s.TagUser(ctx, accountA, "alice", []Tag{{"AWS:cloudformation", "1"}}) },
			"InvalidInput: Tag keys beginning with 'aws:' are reserved for AWS use: AWS:cloudformation"},
		{"no such user", func() error { return s.TagUser(ctx, accountA, "bob", []Tag{{"a", "1"}}) },
			"NoSuchEntity: The user with name bob cannot be found."},
		{"no such role", func() error { return s.UntagRole(ctx, accountA, "x", []string{"a"}) },
			"NoSuchEntity: The role with name x cannot be found."},
		{"user name pattern", func() error { return s.UntagUser(ctx, accountA, "a b", []string{"a"}) },
			`ValidationError: 1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"untag key", func() error { return s.UntagUser(ctx, accountA, "alice", []string{"k1", ""}) },
			"ValidationError: 1 validation error detected: Value '' at 'tagKeys.2' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"untag 51 keys", func() error { return s.UntagRole(ctx, accountA, "r", make([]string, 51)) },
			"ValidationError: 1 validation error detected: Value '' at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"list tags of no role", func() error { _, _, err := s.ListRoleTags(ctx, accountA, "x", Page{}); return err },
			"NoSuchEntity: The role with name x cannot be found."},
		{"list tags max items", func() error { _, _, err := s.ListUserTags(ctx, accountA, "alice", Page{MaxItems: 1001}); return err },
			"ValidationError: 1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{"create user with bad tags", func() error {
			_, err := s.CreateUser(ctx, accountA, CreateUserInput{Name: "carol", Tags: []Tag{{"a", "1"}, {"A", "2"}}})
			return err
		}, "InvalidInput: Duplicate tag keys found. Please note that Tag keys are case insensitive."},
		{"create role with 51 tags", func() error {
			_, err := s.CreateRole(ctx, accountA, CreateRoleInput{Name: "r2", TrustPolicy: trustDoc, Tags: append(full, Tag{"x", "y"})})
			return err
		}, "ValidationError: 1 validation error detected: Value '' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
	}
	e.checkErrors(tests)
	// At the limit, replacing a key's value is still allowed: it adds no tag.
	ok(t, e.s.TagRole(ctx, accountA, "r", []Tag{{"K0", "replaced"}}))
	r := must[Role](t)(e.s.GetRole(ctx, accountA, "r"))
	if len(r.Tags) != MaxTags || r.Tags[0] != (Tag{"K0", "replaced"}) {
		t.Errorf("role tags after replacing at the limit: %d, first %v", len(r.Tags), r.Tags[0])
	}
}
