package control

import (
	"context"
	"testing"
)

// TestGroupNamesIndexed: a name is taken per VPC whatever its case, found by GroupName whatever
// its case, free again once its group is deleted, not taken by a dry run, and all of this
// holds the same after the service is opened again from the store.
func TestGroupNamesIndexed(t *testing.T) {
	ctx := context.Background()
	st := tempBolt(t)
	s := openService(t, st)
	web, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "Web", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "app", Description: "d", DryRun: true}); code(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	check := func(s *Service, when string) {
		t.Helper()
		if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "WEB", Description: "d"}); code(err) != "InvalidGroup.Duplicate" {
			t.Errorf("%s: WEB beside Web: %v", when, err)
		}
		g := mustViewOf(t, s, alice, func(v View) string {
			g, err := v.tn.resolveGroup(GroupRef{Name: "web "})
			if err != nil {
				return err.Error()
			}
			return g.ID
		})
		if g != web.ID {
			t.Errorf("%s: GroupName web found %s, want %s", when, g, web.ID)
		}
	}
	check(s, "first")
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "APP", Description: "d"}); err != nil {
		t.Errorf("the dry run's name: %v", err)
	}
	check(openService(t, st), "opened again")
	if _, _, err := s.DeleteGroup(ctx, alice, DeleteGroupInput{Group: GroupRef{ID: web.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "d"}); err != nil {
		t.Errorf("the deleted group's name: %v", err)
	}
}
