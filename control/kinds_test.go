package control

import (
	"context"
	"maps"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store/bolt"
)

// TestKindTableIsConsistent: no two kinds share a record kind or an ID prefix (the indexes
// would silently keep one), and every taggable kind has a prefix that routes tag requests to it.
func TestKindTableIsConsistent(t *testing.T) {
	stores, prefixes, types := map[string]int{}, map[string]int{}, map[string]int{}
	for _, k := range kinds {
		if s := k.storeKind(); s != "" {
			stores[s]++
		}
		if typ := k.resourceType(); typ != "" {
			types[typ]++
			if k.idPrefix() == "" {
				t.Errorf("resource type %q has no ID prefix", typ)
			}
		}
		if p := k.idPrefix(); p != "" {
			prefixes[p]++
		}
	}
	for s, n := range stores {
		if n > 1 || kindByStore[s] == nil {
			t.Errorf("record kind %q: %d entries", s, n)
		}
	}
	for p, n := range prefixes {
		if n > 1 || kindByPrefix[p] == nil {
			t.Errorf("ID prefix %q: %d entries", p, n)
		}
	}
	for typ, n := range types {
		if n > 1 || kindByType[typ] == nil {
			t.Errorf("resource type %q: %d entries", typ, n)
		}
	}
}

// TestEveryKindReloads writes one resource of each kind, tags what can be tagged, reopens the
// service on the same store and compares what it sees: the table's load path is every kind's.
func TestEveryKindReloads(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/db"
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := Open(ctx, st, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tn := Tenant{Account: "111122223333", Region: "us-east-1"}
	var before []TaggedResource
	var ids []string
	if err := svc.View(ctx, tn, func(v View) error {
		for _, x := range v.VPCs() {
			ids = append(ids, x.ID)
		}
		for _, x := range v.Groups() {
			ids = append(ids, x.ID)
			for _, r := range x.Egress {
				ids = append(ids, r.ID)
			}
		}
		for _, x := range v.Subnets() {
			ids = append(ids, x.ID)
		}
		for _, x := range v.NACLs() {
			ids = append(ids, x.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTags(ctx, tn, CreateTagsInput{IDs: ids, Tags: model.Tags{"team": "blue"}}); err != nil {
		t.Fatal(err)
	}
	svc.View(ctx, tn, func(v View) error { before = v.Tagged(); return nil })
	if len(before) != len(ids) {
		t.Fatalf("%d tagged, want %d (%v)", len(before), len(ids), ids)
	}
	// Authorization reads the same tags by type and ID (ResourceTags), rules included.
	svc.View(ctx, tn, func(v View) error {
		for _, r := range before {
			if got, err := v.ResourceTags(r.Type, r.ID); err != nil || !maps.Equal(got, r.Tags) {
				t.Errorf("ResourceTags(%s, %s) = %v, %v; want %v", r.Type, r.ID, got, err, r.Tags)
			}
		}
		for _, bad := range [][2]string{{"vpc", "vpc-0000000000000000f"}, {"security-group-rule", "sgr-0000000000000000f"}, {"volume", "vol-1"}} {
			if got, err := v.ResourceTags(bad[0], bad[1]); err == nil {
				t.Errorf("ResourceTags(%s, %s) = %v, want an error", bad[0], bad[1], got)
			}
		}
		return nil
	})
	st.Close()
	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err = Open(ctx, st, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var after []TaggedResource
	svc.View(ctx, tn, func(v View) error { after = v.Tagged(); return nil })
	if len(after) != len(before) {
		t.Fatalf("after reload %d tagged, want %d", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Type != before[i].Type || after[i].Tags["team"] != "blue" {
			t.Errorf("after reload %+v, want %+v", after[i], before[i])
		}
	}
}

// TestRetagThatChangesNothingDoesNotWrite: a DeleteTags whose keys or values match nothing
// succeeds without a store write (no new revision), and so does one on an untagged resource.
func TestRetagThatChangesNothingDoesNotWrite(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	vpc := mustView(t, s, func(v View) *model.VPC { return v.DefaultVPC() })
	if _, err := s.CreateTags(ctx, alice, CreateTagsInput{IDs: []string{vpc.ID}, Tags: model.Tags{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	before := s.Revision()
	for _, in := range []DeleteTagsInput{
		{IDs: []string{vpc.ID}, Tags: []TagChange{{Key: "env", Value: "dev", HasValue: true}}},
		{IDs: []string{vpc.ID}, Tags: []TagChange{{Key: "owner"}}},
	} {
		if _, err := s.DeleteTags(ctx, alice, in); err != nil {
			t.Fatal(err)
		}
	}
	if s.Revision() != before {
		t.Errorf("DeleteTags that removed nothing wrote: revision %d → %d", before, s.Revision())
	}
	if _, err := s.DeleteTags(ctx, alice, DeleteTagsInput{IDs: []string{vpc.ID}, Tags: []TagChange{{Key: "env"}}}); err != nil || s.Revision() == before {
		t.Errorf("DeleteTags that removes a tag: %v, revision %d", err, s.Revision())
	}
}
