package control

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// storedIDs lists the IDs of the tenant's records of one kind in the store.
func (e *eniEnv) storedIDs(kind string) []string {
	e.t.Helper()
	kvs, _, err := e.st.List(e.ctx, storeKey(eniTenant, kind, ""))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, kv := range kvs {
		_, _, id, _ := parseKey(kv.Key)
		out = append(out, id)
	}
	return out
}

// TestTerminatedInstancesArePurged: a terminated instance used to stay in memory and in the
// store forever, hidden after its hour. It is now deleted by the tenant's first write after
// the hour, in that write's transaction, and not before; a restart does not bring it back.
func TestTerminatedInstancesArePurged(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 2, MaxCount: 2, SubnetID: e.sn.ID})
	a, b := r.Instances[0].ID, r.Instances[1].ID
	e.terminate(a)
	e.clock.Advance(time.Minute)
	e.terminate(b)
	tag := func() { // a write unrelated to instances
		t.Helper()
		if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{e.vpc.ID}, Tags: model.Tags{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	inMemory := func() []string {
		var ids []string
		e.view(func(v View) {
			for id := range v.tn.instances {
				ids = append(ids, id)
			}
		})
		slices.Sort(ids)
		return ids
	}

	// Within the hour of both: a write purges nothing.
	e.clock.Advance(model.TerminatedVisibleFor - 90*time.Second)
	tag()
	if diff := cmp.Diff(sortedIDs(a, b), e.storedIDs(kindInstance)); diff != "" {
		t.Errorf("stored instances within the hour (-want +got):\n%s", diff)
	}
	// a's hour has passed, b's not: reads hide a but do not delete it (a read never writes)...
	e.clock.Advance(time.Minute)
	e.view(func(v View) {
		if _, err := v.Instance(a); eniCode(err) != "InvalidInstanceID.NotFound" {
			t.Errorf("instance visible after its hour: %v", err)
		}
	})
	if diff := cmp.Diff(sortedIDs(a, b), e.storedIDs(kindInstance)); diff != "" {
		t.Errorf("stored instances after a read (-want +got):\n%s", diff)
	}
	// ...and a dry run does not either.
	if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{e.vpc.ID}, Tags: model.Tags{"k": "v"}, DryRun: true}); eniCode(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if diff := cmp.Diff(sortedIDs(a, b), inMemory()); diff != "" {
		t.Errorf("instances in memory after a dry run (-want +got):\n%s", diff)
	}
	// The next write deletes a, in memory and in the store.
	tag()
	if diff := cmp.Diff([]string{b}, e.storedIDs(kindInstance)); diff != "" {
		t.Errorf("stored instances after the hour (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{b}, inMemory()); diff != "" {
		t.Errorf("instances in memory after the hour (-want +got):\n%s", diff)
	}
	// A failed write leaves b, whose hour has now passed, in place.
	e.clock.Advance(time.Minute)
	if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{"vpc-0000000000000000f"}, Tags: model.Tags{"k": "v"}}); err == nil {
		t.Fatal("tagging a missing VPC succeeded")
	}
	if diff := cmp.Diff([]string{b}, inMemory()); diff != "" {
		t.Errorf("instances in memory after a failed write (-want +got):\n%s", diff)
	}
	// After a restart the next write purges b: the schedule is rebuilt from the records.
	e.reopen()
	tag()
	if got := e.storedIDs(kindInstance); len(got) != 0 {
		t.Errorf("stored instances after every hour passed: %v", got)
	}
	if got := inMemory(); len(got) != 0 {
		t.Errorf("instances in memory after every hour passed: %v", got)
	}
	// A running instance is never purged.
	c := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].ID
	e.clock.Advance(48 * time.Hour)
	tag()
	if diff := cmp.Diff([]string{c}, e.storedIDs(kindInstance)); diff != "" {
		t.Errorf("stored instances with one running (-want +got):\n%s", diff)
	}
}

// etcdENIEnv is newENITestService's environment on etcd, whose transactions hold at most
// maxOps operations, with a shared store's configuration (several servers may serve it).
func etcdENIEnv(t *testing.T, maxOps int) *eniEnv {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: srv.Endpoints, Prefix: "/purge/", MaxTxnOps: maxOps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &eniEnv{t: t, ctx: ctx, st: st, clock: &eniClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.cfg = DefaultConfig()
	e.cfg.Now, e.cfg.Shared = e.clock.Now, true
	if e.s, err = Open(ctx, st, e.cfg); err != nil {
		t.Fatal(err)
	}
	e.vpc = eniOK[*model.VPC](t)(e.s.CreateVPC(ctx, eniTenant, CreateVPCInput{CIDR: "10.0.0.0/16"}))
	e.sn = eniOK[*model.Subnet](t)(e.s.CreateSubnet(ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.0.0/20", Zone: "us-east-1a"}))
	return e
}

// TestPurgeFitsEtcd: on etcd, whose transactions hold a bounded number of operations (48
// here, 128 by default), 40 terminated instances past their hour are purged maxPurge at a
// time by the tenant's next writes, never making a write too large; a write too large to
// carry the purge beside its own records commits without it. Before, every write of the
// tenant carried all 40 deletions and etcd refused each.
func TestPurgeFitsEtcd(t *testing.T) {
	e := etcdENIEnv(t, 48)
	for range 8 {
		var ids []string
		for _, in := range e.run(RunInput{MinCount: 5, MaxCount: 5, SubnetID: e.sn.ID}).Instances {
			ids = append(ids, in.ID)
		}
		e.terminate(ids...)
	}
	e.clock.Advance(model.TerminatedVisibleFor + time.Minute)

	// Ten instances and their interfaces, with 32 deletions, are more than 48 operations.
	e.run(RunInput{MinCount: 10, MaxCount: 10, SubnetID: e.sn.ID})
	if n := len(e.storedIDs(kindInstance)); n != 50 {
		t.Errorf("%d instances stored after a launch too large to carry the purge, want the 40 terminated and 10 new", n)
	}
	for _, want := range []int{50 - 32, 10} { // maxPurge at a time
		if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{e.vpc.ID}, Tags: model.Tags{"k": "v"}}); err != nil {
			t.Fatalf("a write with terminated instances to purge: %v", err)
		}
		if n := len(e.storedIDs(kindInstance)); n != want {
			t.Errorf("%d instances stored after a tag, want %d", n, want)
		}
	}
}

// TestClientTokensPurgeFitsEtcd: the same for client tokens a day old (the SDKs send one with
// every RunInstances): a call with a token deletes maxPurge of 40 expired ones at a time.
// Before, each such call carried all 40 and etcd refused it.
func TestClientTokensPurgeFitsEtcd(t *testing.T) {
	e := etcdENIEnv(t, 40)
	create := func(token string) {
		t.Helper()
		if _, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, ClientToken: token}); err != nil {
			t.Fatalf("CreateNetworkInterface with token %s: %v", token, err)
		}
	}
	for i := range 40 {
		create(fmt.Sprintf("yesterday-%02d", i))
	}
	e.clock.Advance(tokenTTL)
	for i, want := range []int{40 - 32 + 1, 2} { // maxPurge at a time, and the new token
		create(fmt.Sprintf("today-%d", i))
		if n := len(e.storedIDs(kindToken)); n != want {
			t.Errorf("%d client tokens stored, want %d", n, want)
		}
	}
}

// TestLaunchTemplateDeletionFitsEtcd: deleting a template of 40 versions on etcd (40
// operations a transaction here) takes maxPurge of them with it and succeeds; the others no
// read finds (nor a retry of the call that made one, by its client token), and the tenant's
// next write deletes them. Before, the deletion carried all 40 and etcd refused it: the
// template could not be deleted.
func TestLaunchTemplateDeletionFitsEtcd(t *testing.T) {
	e := etcdENIEnv(t, 40)
	lt := e.createLT(CreateLaunchTemplateInput{Name: "web", Data: model.LaunchTemplateData{InstanceType: "t3.small"}})
	for range 38 {
		e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}})
	}
	last := CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}, ClientToken: "the-40th"}
	e.ltVersion(last)
	eniOK[*model.LaunchTemplate](t)(e.s.DeleteLaunchTemplate(e.ctx, eniTenant, DeleteLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}}))
	if n := len(e.storedIDs(kindLTVersion)); n != 40-32 {
		t.Errorf("%d versions stored after the deletion, want %d", n, 40-32)
	}
	if got := e.ltState(); len(got) != 0 {
		t.Errorf("after the deletion, a read finds %v", got)
	}
	if _, _, err := e.s.CreateLaunchTemplateVersion(e.ctx, eniTenant, last); eniCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Errorf("a retry of the 40th version's creation after the deletion: %v, want InvalidLaunchTemplateId.VersionNotFound", err)
	}
	if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{e.vpc.ID}, Tags: model.Tags{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.storedIDs(kindLTVersion)); n != 0 {
		t.Errorf("%d versions stored after the next write, want none", n)
	}
}

// TestSubnetDeletionFitsEtcd: the same for a subnet of 40 CIDR reservations: its deletion
// takes maxPurge of them along and succeeds, no read finds the others, and the next write
// deletes them.
func TestSubnetDeletionFitsEtcd(t *testing.T) {
	e := etcdENIEnv(t, 40)
	for i := range 40 {
		eniOK[*model.SubnetCIDRReservation](t)(e.s.CreateSubnetCIDRReservation(e.ctx, eniTenant,
			CreateReservationInput{SubnetID: e.sn.ID, CIDR: fmt.Sprintf("10.0.1.%d/32", i), Type: "explicit"}))
	}
	if _, err := e.s.DeleteSubnet(e.ctx, eniTenant, IDInput{ID: e.sn.ID}); err != nil {
		t.Fatal(err)
	}
	left := e.storedIDs(kindReservation)
	if len(left) != 40-32 {
		t.Fatalf("%d reservations stored after the deletion, want %d", len(left), 40-32)
	}
	if _, _, err := e.s.DeleteSubnetCIDRReservation(e.ctx, eniTenant, IDInput{ID: left[0]}); eniCode(err) != "InvalidSubnetCidrReservationID.NotFound" {
		t.Errorf("deleting a reservation left of the deleted subnet: %v, want InvalidSubnetCidrReservationID.NotFound", err)
	}
	if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{e.vpc.ID}, Tags: model.Tags{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.storedIDs(kindReservation)); n != 0 {
		t.Errorf("%d reservations stored after the next write, want none", n)
	}
}
