package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// TestSharedRulesAnswerAsCompiledApart: interfaces with the same groups share one compiled
// rule set; each must answer — Access both ways, Verdict on random flows — exactly as the
// interface compiled on its own (ForInterfaces of it alone, which shares with nothing).
func TestSharedRulesAnswerAsCompiledApart(t *testing.T) {
	shared := 0
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		w := randomWorld(r)
		// Two interfaces of the world with the first one's groups, in another subnet too, so
		// that sharing is exercised in every world.
		first := w.s.ENIs[0]
		for _, sn := range w.s.Subnets[:min(2, len(w.s.Subnets))] {
			n := w.eni(sn, sn.AddrAt(100+len(w.s.ENIs)).String())
			n.Groups = slices.Clone(first.Groups)
		}
		p := mustCompile(t, w.s)
		bySet := map[*ruleSet][]string{}
		for _, n := range w.s.ENIs {
			bySet[p.enis[n.ID].rules] = append(bySet[p.enis[n.ID].rules], n.ID)
		}
		for _, ids := range bySet {
			if len(ids) > 1 {
				shared++
			}
		}
		for _, n := range w.s.ENIs {
			alone, err := p.ForInterfaces(w.s.ENIs[slices.Index(w.s.ENIs, n) : slices.Index(w.s.ENIs, n)+1])
			if err != nil {
				t.Fatal(err)
			}
			for _, egress := range []bool{false, true} {
				got, err := p.Access(n.ID, egress, nil)
				if err != nil {
					t.Fatal(err)
				}
				want, err := alone.Access(n.ID, egress, nil)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(grantStrings(want), grantStrings(got)); diff != "" {
					t.Fatalf("seed %d %s egress=%v: shared rules differ from rules compiled alone (-alone +shared):\n%s", seed, n.ID, egress, diff)
				}
			}
		}
		for i := 0; i < 100; i++ {
			src, dst, fl := randomFlow(r, w)
			if src.ENI == "" || dst.ENI == "" {
				continue
			}
			// Compiled apart: each end in a Policy of its own interfaces only.
			apart, err := p.ForInterfaces(slices.DeleteFunc(slices.Clone(w.s.ENIs), func(x *model.NetworkInterface) bool {
				return x.ID != src.ENI && x.ID != dst.ENI
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := p.Verdict(src, dst, fl), oracle(w.s, src, dst, fl); got != want || apart.Verdict(src, dst, fl) != want {
				t.Fatalf("seed %d flow %+v %v→%v: shared %v, apart %v, oracle %v", seed, fl, src, dst, got, apart.Verdict(src, dst, fl), want)
			}
		}
	}
	if shared == 0 {
		t.Fatal("no two interfaces shared their compiled rules")
	}
}

// TestRulesCompiledOnFirstUse: Compile compiles no interface's rules; a question about one
// interface compiles its rule set (shared with the interfaces of the same groups) and no other.
func TestRulesCompiledOnFirstUse(t *testing.T) {
	w := newWorld()
	sn := w.subnet("10.0.1.0/24", nil)
	web := w.group("web", tcp(443, 443, cidr("0.0.0.0/0")))
	db := w.group("db", tcp(5432, 5432, ref(web)))
	a := w.eni(sn, "10.0.1.10", web)
	b := w.eni(sn, "10.0.1.11", web)
	c := w.eni(sn, "10.0.1.12", db)
	p := mustCompile(t, w.s)
	compiled := func(id string) bool { return p.enis[id].rules.in.all.set != nil }
	for _, n := range []string{a.ID, b.ID, c.ID} {
		if compiled(n) {
			t.Fatalf("%s compiled by Compile", n)
		}
	}
	if got := p.Verdict(Outside, Endpoint{ENI: a.ID}, tcpFlow("203.0.113.1", "10.0.1.10", 443)); got != Admitted {
		t.Fatalf("Verdict = %v, want admitted", got)
	}
	if got := map[string]bool{a.ID: compiled(a.ID), b.ID: compiled(b.ID), c.ID: compiled(c.ID)}; !got[a.ID] || !got[b.ID] || got[c.ID] {
		t.Fatalf("compiled after a verdict on %s: %v (want %s and %s, which share its groups, only)", a.ID, got, a.ID, b.ID)
	}
	if p.enis[a.ID].rules != p.enis[b.ID].rules {
		t.Fatal("interfaces with the same groups do not share their rules")
	}
}

// TestWithGroupsAnswersAsCompiled: a chain of WithGroups — groups edited, added and removed,
// long enough to fold the changes into a new root more than once — answers every group's
// lookup, peer set and interface's verdict as Compile of the changed snapshot does.
func TestWithGroupsAnswersAsCompiled(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := randomWorld(r)
	for len(w.s.Groups) < 12 { // enough groups that a few changes stay below the fold
		w.group(fmt.Sprintf("extra%d", len(w.s.Groups)), tcp(22, 22, cidr("0.0.0.0/0")))
	}
	p := mustCompile(t, w.s)
	s := w.s
	ids := func(s netmap.Snapshot) []string {
		var out []string
		for _, g := range s.Groups {
			out = append(out, g.ID)
		}
		return append(out, "sg-gone", "sg-new0", "sg-new1")
	}
	for step := range 60 {
		groups := slices.Clone(s.Groups)
		var changed []*model.Group
		var removed []string
		switch i := r.IntN(len(groups)); r.IntN(4) {
		case 0: // a new group, or back again
			g := &model.Group{ID: fmt.Sprintf("sg-new%d", r.IntN(2)), VpcID: w.vpc.ID}
			g.Ingress = []model.Rule{tcp(80, 80, cidr("10.0.0.0/8"))}
			if j := slices.IndexFunc(groups, func(x *model.Group) bool { return x.ID == g.ID }); j >= 0 {
				groups[j] = g
			} else {
				groups = append(groups, g)
			}
			changed = append(changed, g)
		case 1: // an unused new group removed again
			if j := slices.IndexFunc(groups, func(x *model.Group) bool { return strings.HasPrefix(x.ID, "sg-new") }); j >= 0 {
				removed = append(removed, groups[j].ID)
				groups = slices.Delete(groups, j, j+1)
			}
		default: // a rule added to or taken from a group
			g := *groups[i]
			if len(g.Ingress) > 0 && r.IntN(2) == 0 {
				g.Ingress = g.Ingress[:len(g.Ingress)-1]
			} else {
				g.Ingress = append(slices.Clone(g.Ingress), tcp(int32(r.IntN(40)), 40, []model.Peer{cidr("0.0.0.0/0"), ref(groups[r.IntN(len(groups))])}[r.IntN(2)]))
			}
			groups[i] = &g
			changed = append(changed, &g)
		}
		s.Groups = groups
		p = p.WithGroups(changed, removed)
		want := mustCompile(t, s)
		for _, id := range ids(s) {
			got, exp := p.groups.get(id), want.groups.get(id)
			if got.g != exp.g || (got.members == nil) != (exp.members == nil) || got.members != nil && !got.members.Equal(exp.members) {
				t.Fatalf("step %d: group %s: WithGroups has %v %v, Compile %v %v", step, id, got.g, got.members, exp.g, exp.members)
			}
		}
		q, err := p.ForInterfaces(s.ENIs)
		if err != nil {
			t.Fatal(err)
		}
		w2 := *w
		w2.s = s
		for range 50 {
			src, dst, fl := randomFlow(r, &w2)
			if got, exp := q.Verdict(src, dst, fl), want.Verdict(src, dst, fl); got != exp {
				t.Fatalf("step %d flow %+v %v→%v: WithGroups %v, Compile %v", step, fl, src, dst, got, exp)
			}
		}
	}
}
