package iam

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// sessionRecords lists the session keys the store holds for accountA.
func (e *env) sessionRecords() []string {
	e.t.Helper()
	kvs, _, err := e.s.st.List(ctx, storeKey(accountA, kindSession, ""))
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, kv := range kvs {
		ids = append(ids, kv.Key[len(storeKey(accountA, kindSession, "")):])
	}
	return ids
}

// TestExpiredSessionsDroppedAtOpen: an expired session answers ExpiredToken for its grace
// period, across restarts; once past it, Open deletes its record and forgets its key, and
// the live session next to it is untouched.
func TestExpiredSessionsDroppedAtOpen(t *testing.T) {
	e, alice, _ := stsEnv(t)
	short := must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "short"})).Credentials
	long := must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "long", DurationSeconds: 7200})).Credentials
	expired := "ExpiredToken: The security token included in the request is expired"
	invalid := "InvalidClientTokenId: The security token included in the request is invalid."

	e.now = short.Expiration.Add(ExpiredSessionGrace - time.Second)
	e.reopen()
	if _, _, err := e.s.Lookup(short.AccessKeyID, short.SessionToken); code(err) != expired {
		t.Errorf("within the grace period: %v", code(err))
	}
	if got := len(e.sessionRecords()); got != 2 {
		t.Errorf("%d session records within the grace period, want 2", got)
	}

	e.now = short.Expiration.Add(ExpiredSessionGrace)
	e.reopen()
	if _, _, err := e.s.Lookup(short.AccessKeyID, short.SessionToken); code(err) != invalid {
		t.Errorf("past the grace period: %v", code(err))
	}
	if diff := cmp.Diff([]string{long.AccessKeyID}, e.sessionRecords()); diff != "" {
		t.Errorf("session records after Open (-want +got):\n%s", diff)
	}
	// The other session has expired too by now, but is within its own grace period.
	if _, _, err := e.s.Lookup(long.AccessKeyID, long.SessionToken); code(err) != expired {
		t.Errorf("the other session: %v", code(err))
	}
	e.now = long.Expiration.Add(-time.Second)
	if _, _, err := e.s.Lookup(long.AccessKeyID, long.SessionToken); err != nil {
		t.Errorf("the other session before its expiry: %v", err)
	}
}

// TestSessionQuota: an account holds at most Quotas.SessionsPerAccount sessions; one more is
// LimitExceeded and changes nothing; dropping expired sessions makes room again.
func TestSessionQuota(t *testing.T) {
	e, alice, _ := stsEnv(t)
	if e.s.cfg.Quotas.SessionsPerAccount != DefaultSessionsPerAccount {
		t.Errorf("default bound %d, want %d", e.s.cfg.Quotas.SessionsPerAccount, DefaultSessionsPerAccount)
	}
	e.cfg.Quotas = DefaultQuotas()
	e.cfg.Quotas.SessionsPerAccount = 2
	e.reopen()
	in := AssumeRoleInput{RoleARN: roleARN, SessionName: "alice"}
	first := must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, in)).Credentials
	must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "alice", DurationSeconds: 7200}))
	before := e.snapshot(accountA)
	if _, err := e.s.AssumeRole(ctx, alice, in); code(err) != "LimitExceeded: Cannot exceed quota for SessionsPerAccount: 2" {
		t.Errorf("third session: %v", code(err))
	}
	if e.snapshot(accountA) != before || len(e.sessionRecords()) != 2 {
		t.Errorf("a refused AssumeRole changed the state")
	}
	// Expired but within the grace period, the first session still counts.
	e.now = first.Expiration
	if _, err := e.s.AssumeRole(ctx, alice, in); code(err) != "LimitExceeded: Cannot exceed quota for SessionsPerAccount: 2" {
		t.Errorf("third session, first expired: %v", code(err))
	}
	// Past it, AssumeRole drops it and takes its place.
	e.now = first.Expiration.Add(ExpiredSessionGrace)
	third := must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, in)).Credentials
	if ids := e.sessionRecords(); len(ids) != 2 || !slices.Contains(ids, third.AccessKeyID) || slices.Contains(ids, first.AccessKeyID) {
		t.Errorf("session records %v: want the second and %s", ids, third.AccessKeyID)
	}
}

// etcdSTSEnv is stsEnv's environment on etcd, whose transactions hold at most 40 operations
// here (128 by default), with its role.
func etcdSTSEnv(t *testing.T) (*env, Principal) {
	srv := etcdtest.Start(t)
	e, alice, _ := stsEnv(t)
	e.newStore = func() store.Store {
		st, err := etcd.Open(ctx, etcd.Options{Endpoints: srv.Endpoints, Prefix: "/sessions/", MaxTxnOps: 40})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	e.reopen() // stsEnv's fixtures were on bolt: the role again, on etcd
	must[Role](t)(e.s.CreateRole(ctx, accountA, CreateRoleInput{Name: "sg-admin", TrustPolicy: trustDoc, MaxSessionDuration: 7200}))
	return e, alice
}

// TestSessionPurgeFitsEtcd: on etcd, AssumeRole deletes maxPurge of 40 sessions past their
// grace period at a time, never making its transaction too large. Before, each AssumeRole
// carried all 40 deletions and etcd refused it.
func TestSessionPurgeFitsEtcd(t *testing.T) {
	e, alice := etcdSTSEnv(t)
	var last Credentials
	for range 40 {
		last = must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "batch"})).Credentials
	}
	e.now = last.Expiration.Add(ExpiredSessionGrace)
	for _, want := range []int{40 - 32 + 1, 2} { // maxPurge at a time, and the new session
		must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "later", DurationSeconds: 7200}))
		if n := len(e.sessionRecords()); n != want {
			t.Errorf("%d session records, want %d", n, want)
		}
	}
}

// TestDeleteRoleFitsEtcd: deleting a role with 40 live sessions on etcd deletes maxPurge of
// their records and succeeds; every session is dead at once, those whose records are left
// too. Before, the deletion carried all 40 and etcd refused it.
func TestDeleteRoleFitsEtcd(t *testing.T) {
	e, alice := etcdSTSEnv(t)
	var creds []Credentials
	for range 40 {
		creds = append(creds, must[AssumedRole](t)(e.s.AssumeRole(ctx, alice, AssumeRoleInput{RoleARN: roleARN, SessionName: "batch"})).Credentials)
	}
	if err := e.s.DeleteRole(ctx, accountA, "sg-admin"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sessionRecords()); n != 40-32 {
		t.Errorf("%d session records after the role's deletion, want %d", n, 40-32)
	}
	for _, c := range creds {
		if _, _, err := e.s.Lookup(c.AccessKeyID, c.SessionToken); err == nil {
			t.Fatalf("a session of the deleted role %s still works", c.AccessKeyID)
		}
	}
}
