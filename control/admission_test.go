package control

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// worldRules are the IDs of the ingress rules from 0.0.0.0/0 of the groups in changed, each
// with its group: what the test hook refuses when a write adds one.
func worldRules(s netmap.Snapshot, changed []string) []string {
	var out []string
	for _, g := range s.Groups {
		if !slices.Contains(changed, g.ID) {
			continue
		}
		for _, r := range g.Ingress {
			if r.Peer.CIDR == netip.MustParsePrefix("0.0.0.0/0") {
				out = append(out, g.ID+"/"+r.ID)
			}
		}
	}
	return out
}

// admissionCall is one call of the test hook.
type admissionCall struct {
	before, after netmap.Snapshot
	changed       []string
}

// refuseWorld is an admission hook that refuses a write adding an ingress rule from
// 0.0.0.0/0 (a new rule, or a rule changed to it), and records its calls.
func refuseWorld(calls *[]admissionCall) Admission {
	return func(t Tenant, before, after netmap.Snapshot, changed []string) error {
		*calls = append(*calls, admissionCall{before, after, changed})
		was := worldRules(before, changed)
		for _, r := range worldRules(after, changed) {
			if !slices.Contains(was, r) {
				return model.OperationNotPermitted.Errorf("refused %s", r)
			}
		}
		return nil
	}
}

func openAdmission(t *testing.T, st store.Store, hook Admission) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Admission = hook
	s, err := Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ssh(cidr string) Permission {
	return Permission{Protocol: "tcp", FromPort: 22, ToPort: 22, HasFrom: true, HasTo: true, IPv4: []CIDRPeer{{CIDR: cidr}}}
}

// memJSON is the tenant's network in memory, as JSON (netip values do not compare otherwise).
func memJSON(t *testing.T, s *Service) string {
	t.Helper()
	b, err := json.MarshalIndent(fresh(s), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storeDump is every record of the store, for "the store is unchanged".
func storeDump(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	kvs, _, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.Key] = string(kv.Value)
	}
	return out
}

// TestAdmissionHook: a write the hook refuses answers the hook's error and changes neither
// memory nor the store, with or without DryRun; a write it allows commits, and DryRun of it
// answers DryRunOperation.
func TestAdmissionHook(t *testing.T) {
	ctx := context.Background()
	type world struct {
		g, other *model.Group
		eni      *model.NetworkInterface
		sshRule  string // g's rule from 10.0.0.0/8 port 22
	}
	cases := []struct {
		name     string
		write    func(s *Service, w world) error
		wantCode string // "" : committed
	}{
		{"authorize ssh from the world", func(s *Service, w world) error {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: w.g.ID}, Permissions: []Permission{ssh("0.0.0.0/0")}})
			return err
		}, "OperationNotPermitted"},
		{"authorize ssh from the world, dry run", func(s *Service, w world) error {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: w.g.ID}, Permissions: []Permission{ssh("0.0.0.0/0")}, DryRun: true})
			return err
		}, "OperationNotPermitted"},
		{"authorize ssh from 10.0.0.0/8", func(s *Service, w world) error {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: w.g.ID}, Permissions: []Permission{ssh("10.1.0.0/16")}})
			return err
		}, ""},
		{"allowed write, dry run", func(s *Service, w world) error {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: w.g.ID}, Permissions: []Permission{ssh("10.1.0.0/16")}, DryRun: true})
			return err
		}, "DryRunOperation"},
		{"modify a rule to the world", func(s *Service, w world) error {
			_, err := s.ModifyRules(ctx, alice, ModifyRulesInput{GroupID: w.g.ID, Changes: []RuleChange{{RuleID: w.sshRule,
				Protocol: "tcp", FromPort: 22, ToPort: 22, HasFrom: true, HasTo: true, CIDRv4: "0.0.0.0/0"}}})
			return err
		}, "OperationNotPermitted"},
		{"egress to the world is not what the hook refuses", func(s *Service, w world) error {
			_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: w.g.ID}, Egress: true, Permissions: []Permission{ssh("0.0.0.0/0")}})
			return err
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []admissionCall
			st := tempBolt(t)
			s := openAdmission(t, st, refuseWorld(&calls))
			g, enis := feedWorld(t, s, 1)
			out, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{ssh("10.0.0.0/8")}})
			if err != nil {
				t.Fatal(err)
			}
			w := world{g: out.Group, eni: enis[0], sshRule: out.Rules[0].ID}
			memBefore := memJSON(t, s)
			dump, rev := storeDump(t, st), s.Revision()

			err = c.write(s, w)
			if got := code(err); c.wantCode != "" && got != c.wantCode || c.wantCode == "" && err != nil {
				t.Fatalf("error %v, want code %q", err, c.wantCode)
			}
			if c.wantCode == "" {
				if s.Revision() == rev {
					t.Fatal("an allowed write did not commit")
				}
				return
			}
			if diff := cmp.Diff(memBefore, memJSON(t, s)); diff != "" {
				t.Errorf("memory changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(dump, storeDump(t, st)); diff != "" || s.Revision() != rev {
				t.Errorf("store changed (revision %d → %d) (-before +after):\n%s", rev, s.Revision(), diff)
			}
		})
	}
}

// TestAdmissionScope: the hook is given what each kind of write touched — the group whose
// rules changed, both groups of an interface moved between them and the interface, the
// groups naming a changed prefix list — as it was before and as it is after, and is not
// asked about writes no check of groups can see.
func TestAdmissionScope(t *testing.T) {
	ctx := context.Background()
	var calls []admissionCall
	s := openAdmission(t, tempBolt(t), refuseWorld(&calls))
	g, enis := feedWorld(t, s, 1)
	vpc := g.VpcID
	other, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: vpc, Name: "db", Description: "db"})
	if err != nil {
		t.Fatal(err)
	}
	pl, _, err := s.CreatePrefixList(ctx, alice, CreatePrefixListInput{Name: "office", Family: "IPv4", MaxEntries: 5, HasMax: true,
		Entries: []PLEntryInput{{CIDR: "198.51.100.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: other.ID},
		Permissions: []Permission{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, HasFrom: true, HasTo: true, PrefixLists: []PrefixListPeer{{ID: pl.ID}}}}}); err != nil {
		t.Fatal(err)
	}
	ids := func(gs []*model.Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	eniGroups := func(sn netmap.Snapshot, id string) []string {
		for _, n := range sn.ENIs {
			if n.ID == id {
				return n.Groups
			}
		}
		return nil
	}
	last := func() admissionCall { return calls[len(calls)-1] }

	// A membership change: the interface and both groups; before it carries its subnet's
	// default group, after other.
	def := enis[0].Groups[0]
	calls = nil
	if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[0].ID, Groups: []string{other.ID}}); err != nil {
		t.Fatal(err)
	}
	c := last()
	if diff := cmp.Diff(slices.Sorted(slices.Values([]string{enis[0].ID, def, other.ID})), slices.Sorted(slices.Values(c.changed))); diff != "" {
		t.Errorf("membership change: changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{def}, eniGroups(c.before, enis[0].ID)); diff != "" {
		t.Errorf("membership change: before (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{other.ID}, eniGroups(c.after, enis[0].ID)); diff != "" {
		t.Errorf("membership change: after (-want +got):\n%s", diff)
	}

	// A prefix-list change: the group whose rule names it, with the list's old and new entries.
	calls = nil
	if _, _, err := s.ModifyPrefixList(ctx, alice, ModifyPrefixListInput{ID: pl.ID, Add: []PLEntryInput{{CIDR: "203.0.113.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	c = last()
	if !slices.Contains(c.changed, other.ID) || slices.Contains(c.changed, g.ID) {
		t.Errorf("prefix-list change: changed %v, want %s and not %s", c.changed, other.ID, g.ID)
	}
	entries := func(sn netmap.Snapshot) int {
		for _, p := range sn.PrefixLists {
			if p.ID == pl.ID {
				return len(p.Entries)
			}
		}
		return -1
	}
	if entries(c.before) != 1 || entries(c.after) != 2 {
		t.Errorf("prefix-list change: entries before %d after %d, want 1 and 2", entries(c.before), entries(c.after))
	}
	if diff := cmp.Diff([]string{other.ID}, ids(c.after.Groups)); diff != "" {
		t.Errorf("prefix-list change: groups of the snapshot (-want +got):\n%s", diff)
	}

	// A new group is absent before and present after.
	calls = nil
	ng, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: vpc, Name: "new", Description: "new"})
	if err != nil {
		t.Fatal(err)
	}
	c = last()
	if len(c.before.Groups) != 0 || !slices.Equal(ids(c.after.Groups), []string{ng.ID}) {
		t.Errorf("new group: before %v after %v", ids(c.before.Groups), ids(c.after.Groups))
	}

	// A write no group or network ACL check can see does not ask.
	calls = nil
	if _, _, err := s.CreateKeyPair(ctx, alice, CreateKeyPairInput{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("CreateKeyPair asked the hook %d times", len(calls))
	}
}

// TestAdmissionMembersIndex: the membership index admission reads equals one built afresh
// from the interfaces after creating, moving and deleting interfaces, after a write rolled
// back, and after a restart loaded it from the store.
func TestAdmissionMembersIndex(t *testing.T) {
	ctx := context.Background()
	var calls []admissionCall
	st := tempBolt(t)
	s := openAdmission(t, st, refuseWorld(&calls))
	g, enis := feedWorld(t, s, 3)
	check := func(s *Service, step string) {
		t.Helper()
		tn := s.tenants[alice]
		want := map[string]map[string]bool{}
		for _, n := range tn.enis {
			for _, g := range n.Groups {
				if want[g] == nil {
					want[g] = map[string]bool{}
				}
				want[g][n.ID] = true
			}
		}
		if diff := cmp.Diff(want, tn.members); diff != "" {
			t.Errorf("%s: index (-fresh +kept):\n%s", step, diff)
		}
	}
	check(s, "created")
	if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[0].ID, Groups: []string{g.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteENI(ctx, alice, IDInput{ID: enis[1].ID}); err != nil {
		t.Fatal(err)
	}
	check(s, "moved and deleted")
	if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[2].ID, Groups: []string{g.ID}, DryRun: true}); code(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	check(s, "rolled back")
	check(openAdmission(t, st, refuseWorld(&calls)), "reloaded")
}
