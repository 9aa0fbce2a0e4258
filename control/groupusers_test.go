package control

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stockade/stockade/model"
)

// inUseByScan is groupInUse as a scan of every interface and rule: the reference the index
// (groupusers.go) must agree with.
func inUseByScan(tn *tenant, id string) bool {
	for _, n := range tn.enis {
		for _, g := range n.Groups {
			if g == id {
				return true
			}
		}
	}
	for _, o := range tn.groups {
		if o.ID == id {
			continue
		}
		for _, rs := range [][]model.Rule{o.Ingress, o.Egress} {
			for i := range rs {
				if rs[i].Peer.GroupID == id {
					return true
				}
			}
		}
	}
	return false
}

// TestGroupUsersIndex: after every step of random writes — groups created and deleted, rules
// naming other groups (and themselves) authorized, revoked and modified, interfaces created
// with groups, given others and deleted, some of them refused or dry runs, rolled back — the index
// says a group is in use exactly when a scan of the tenant does, also after a restart loads
// it from the store.
func TestGroupUsersIndex(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	st := openBolt(t, path)
	s := openService(t, st)
	g0, enis := feedWorld(t, s, 4)
	groups := []string{g0.ID}
	r := rand.New(rand.NewPCG(7, 11))
	pick := func() string { return groups[r.IntN(len(groups))] }
	ref := func(peer string) Permission {
		return Permission{Protocol: "tcp", FromPort: int64(r.IntN(3)), ToPort: 10, HasFrom: true, HasTo: true, Groups: []GroupPeer{{GroupID: peer}}}
	}
	check := func(step int, s *Service) {
		t.Helper()
		tn := s.tenants[alice]
		tn.mu.RLock()
		defer tn.mu.RUnlock()
		for id := range tn.groups {
			if got, want := tn.groupInUse(id), inUseByScan(tn, id); got != want {
				t.Fatalf("step %d: group %s in use %v, a scan says %v (counts %v)", step, id, got, want, tn.groupUsers)
			}
		}
	}
	deleted, refused := 0, 0
	for step := range 400 {
		var err error
		switch op := r.IntN(7); op {
		case 0:
			var g *model.Group
			g, _, err = s.CreateGroup(ctx, alice, CreateGroupInput{Name: fmt.Sprint("g", step), Description: "d"})
			if err == nil {
				groups = append(groups, g.ID)
			}
		case 1:
			_, _, err = s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: pick()}, Permissions: []Permission{ref(pick())}, DryRun: r.IntN(3) == 0})
		case 2:
			_, _, err = s.Revoke(ctx, alice, RevokeInput{Group: GroupRef{ID: pick()}, Permissions: []Permission{ref(pick())}})
		case 3:
			e := enis[r.IntN(len(enis))]
			_, err = s.ModifyENI(ctx, alice, ModifyENIInput{ID: e.ID, Groups: []string{pick(), pick()}, DryRun: r.IntN(3) == 0})
		case 4:
			id := pick()
			if _, _, err = s.DeleteGroup(ctx, alice, DeleteGroupInput{Group: GroupRef{ID: id}, DryRun: r.IntN(4) == 0}); err == nil {
				deleted++
				for i, g := range groups {
					if g == id {
						groups = append(groups[:i], groups[i+1:]...)
						break
					}
				}
				if len(groups) == 0 {
					g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: fmt.Sprint("again", step), Description: "d"})
					if err != nil {
						t.Fatal(err)
					}
					groups = append(groups, g.ID)
				}
			} else if code(err) == "DependencyViolation" {
				refused++
			}
		case 5:
			g := pick()
			var out AuthorizeOutput
			if out, _, err = s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g}, Permissions: []Permission{ref(pick())}}); err == nil && len(out.Rules) > 0 {
				_, err = s.ModifyRules(ctx, alice, ModifyRulesInput{GroupID: g, Changes: []RuleChange{{RuleID: out.Rules[0].ID,
					Protocol: "tcp", FromPort: 20, ToPort: 30, HasFrom: true, HasTo: true, ReferencedGroupID: pick()}}})
			}
		case 6:
			sn := enis[0].SubnetID
			if r.IntN(2) == 0 && len(enis) > 2 {
				i := r.IntN(len(enis))
				if _, err = s.DeleteENI(ctx, alice, IDInput{ID: enis[i].ID}); err == nil {
					enis = append(enis[:i], enis[i+1:]...)
				}
			} else {
				var e *model.NetworkInterface
				if e, _, err = s.CreateENI(ctx, alice, CreateENIInput{SubnetID: sn, Groups: []string{pick()}}); err == nil {
					enis = append(enis, e)
				}
			}
		}
		_ = err // refusals (duplicates, quotas, groups in use) roll back: checked like the rest
		check(step, s)
	}
	if deleted == 0 || refused == 0 {
		t.Errorf("%d groups deleted, %d deletes refused as in use: the walk did not cover both", deleted, refused)
	}
	st.Close() // what the index was built from is the store's: a new service loads it
	s = openService(t, openBolt(t, path))
	check(-1, s)
}

// BenchmarkGroupInUse is DeleteSecurityGroup's question, whether anything uses a group, on a
// tenant of 10,000 groups of 20 rules and 10,000 interfaces (the design's scale): the index
// against the scan it replaced.
func BenchmarkGroupInUse(b *testing.B) {
	tn := newTenant(alice, nil, nil)
	for i := range 10000 {
		g := &model.Group{ID: fmt.Sprintf("sg-%017x", i)}
		for r := range 20 {
			g.Ingress = append(g.Ingress, model.Rule{Peer: model.Peer{GroupID: fmt.Sprintf("sg-%017x", (i+r+1)%10000)}})
		}
		tn.groups[g.ID] = g
		tn.indexGroupUsers(nil, g, nil, nil)
		n := &model.NetworkInterface{ID: fmt.Sprintf("eni-%017x", i), Groups: []string{g.ID}}
		tn.enis[n.ID] = n
		tn.indexGroupUsers(nil, nil, nil, n)
	}
	unused := "sg-ffffffffffffffff0"
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if tn.groupInUse(unused) {
				b.Fatal("in use")
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if inUseByScan(tn, unused) {
				b.Fatal("in use")
			}
		}
	})
}
