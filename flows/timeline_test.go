package flows

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// The reference: Rewind as it was first written, a revision per change, each a copy of
// every group with the change undone. Too slow for an account, obviously right for a few
// groups.

type refRev struct {
	from time.Time
	snap netmap.Snapshot
}

func refRewind(cur netmap.Snapshot, changes []RuleChange) []refRev {
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b RuleChange) int { return a.Time.Compare(b.Time) })
	revs := []refRev{{snap: cur}}
	s := cur
	for i := len(changes) - 1; i >= 0; i-- {
		s = refUndo(s, changes[i])
		revs[len(revs)-1].from = changes[i].Time
		revs = append(revs, refRev{snap: s})
	}
	slices.Reverse(revs)
	return revs
}

func refUndo(s netmap.Snapshot, c RuleChange) netmap.Snapshot {
	out := s
	out.Groups = slices.Clone(s.Groups)
	for i, g := range out.Groups {
		if g.ID != c.GroupID {
			continue
		}
		g = g.Clone()
		rules := g.Rules(c.Rule.Egress)
		if c.Added {
			rules = slices.DeleteFunc(rules, func(r model.Rule) bool { return r.ID == c.Rule.ID })
		} else {
			rules = append(rules, c.Rule)
		}
		if c.Rule.Egress {
			g.Egress = rules
		} else {
			g.Ingress = rules
		}
		out.Groups[i] = g
	}
	return out
}

func refAt(revs []refRev, at time.Time) refRev {
	i := len(revs) - 1
	for i > 0 && revs[i].from.After(at) {
		i--
	}
	return revs[i]
}

// refGone walks every revision, as gone first did.
func refGone(revs []refRev) []goneRule {
	now := map[string]bool{}
	for _, g := range revs[len(revs)-1].snap.Groups {
		for _, r := range slices.Concat(g.Ingress, g.Egress) {
			now[r.ID] = true
		}
	}
	var out []goneRule
	at := map[string]int{}
	for i, rev := range revs[:len(revs)-1] {
		for _, g := range rev.snap.Groups {
			for _, egress := range []bool{false, true} {
				for _, r := range g.Rules(egress) {
					if r.ID == "" || now[r.ID] {
						continue
					}
					r.Egress = egress
					gr := goneRule{groupID: g.ID, rule: r, removed: revs[i+1].from}
					if j, ok := at[r.ID]; ok {
						out[j] = gr
					} else {
						at[r.ID] = len(out)
						out = append(out, gr)
					}
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b goneRule) int { return a.removed.Compare(b.removed) })
	return out
}

var cmpRules = []gocmp.Option{cmpopts.EquateComparable(netip.Prefix{}), cmpopts.EquateEmpty(), gocmp.AllowUnexported(goneRule{})}

// randomRule is a rule of a small pool of IDs, so that changes meet the snapshot's rules
// and each other; the ports vary, so that which copy of a rule a revision holds shows.
func randomRule(rng *rand.Rand) model.Rule {
	id := fmt.Sprintf("sgr-%d", rng.IntN(8))
	if rng.IntN(20) == 0 {
		id = "" // a rule the trail names without an ID
	}
	port := int32(rng.IntN(4) * 1000)
	return model.Rule{ID: id, Egress: rng.IntN(3) == 0, Protocol: "tcp", FromPort: port, ToPort: port,
		Peer: model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), 0, 0}), 16)}}
}

// randomCase is a few groups (now and then two with one ID) and a few changes: adds and
// removals at a handful of times (the zero time among them), some of a group the snapshot
// does not hold, some of one rule twice.
func randomCase(seed uint64) (netmap.Snapshot, []RuleChange) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := []string{"sg-a", "sg-b", "sg-c", "sg-d"}
	var s netmap.Snapshot
	for range 1 + rng.IntN(4) {
		g := &model.Group{ID: ids[rng.IntN(len(ids))]}
		for range rng.IntN(4) {
			r := randomRule(rng)
			if r.Egress {
				g.Egress = append(g.Egress, r)
			} else {
				g.Ingress = append(g.Ingress, r)
			}
		}
		s.Groups = append(s.Groups, g)
	}
	var changes []RuleChange
	for range rng.IntN(20) {
		c := RuleChange{GroupID: append(ids, "sg-gone")[rng.IntN(len(ids)+1)], Added: rng.IntN(2) == 0, Rule: randomRule(rng)}
		if n := rng.IntN(10); n > 0 {
			c.Time = time.Unix(int64(n), 0)
		}
		changes = append(changes, c)
	}
	return s, changes
}

// queryTimes is every time a revision can start at, and the times between and around.
func queryTimes() []time.Time {
	out := []time.Time{time.Time{}.Add(-time.Second), {}, time.Time{}.Add(time.Second)}
	for n := range 11 {
		out = append(out, time.Unix(int64(n), 0), time.Unix(int64(n), 500_000_000))
	}
	return out
}

// sameGroups tells whether a and b are the same groups with the same rules in the same
// order (go-cmp says how they differ; it is too slow to ask first).
func sameGroups(a, b []*model.Group) bool {
	same := func(x, y model.Rule) bool {
		return x.ID == y.ID && x.Egress == y.Egress && x.Protocol == y.Protocol && x.FromPort == y.FromPort &&
			x.ToPort == y.ToPort && x.Peer == y.Peer && x.Description == y.Description
	}
	return slices.EqualFunc(a, b, func(g, h *model.Group) bool {
		return g.ID == h.ID && slices.EqualFunc(g.Ingress, h.Ingress, same) && slices.EqualFunc(g.Egress, h.Egress, same)
	})
}

// checkAt compares the revision tl gives for at with the reference's.
func checkAt(t *testing.T, tl *Timeline, ref []refRev, at time.Time) bool {
	t.Helper()
	got, want := tl.At(at), refAt(ref, at)
	if !sameGroups(got.Snapshot.Groups, want.snap.Groups) {
		t.Errorf("At(%v) groups (-want +got):\n%s", at, gocmp.Diff(want.snap.Groups, got.Snapshot.Groups, cmpRules...))
		return false
	}
	if !got.From.Equal(want.from) || got.Policy == nil {
		t.Errorf("At(%v): from %v, want %v; no policy: %t", at, got.From, want.from, got.Policy == nil)
		return false
	}
	return true
}

// TestRewindMatchesReference: the lazy timeline answers At and gone as the revision per
// change did, whatever the order of the questions, and leaves the current snapshot as it was.
func TestRewindMatchesReference(t *testing.T) {
	for seed := range uint64(3000) {
		cur, changes := randomCase(seed)
		ref := refRewind(cur, changes)
		tl, err := Rewind(cur, changes)
		if err != nil {
			t.Fatal(err)
		}
		// Marks every revision, every second or third, or none but the first.
		tl.stride = []int{1, 2, 3, 100}[seed%4]
		rng := rand.New(rand.NewPCG(seed, 2))
		times := queryTimes()
		// Each time in order, then at random: the cache is met in every state.
		for i := range 3 * len(times) {
			at := times[i%len(times)]
			if i >= len(times) {
				at = times[rng.IntN(len(times))]
			}
			if !checkAt(t, tl, ref, at) {
				t.Fatalf("seed %d: changes %+v", seed, changes)
			}
		}
		byRemoval := func(g []goneRule) []goneRule {
			return slices.SortedStableFunc(slices.Values(g), func(a, b goneRule) int {
				return cmp.Or(a.removed.Compare(b.removed), cmp.Compare(a.rule.ID, b.rule.ID))
			})
		}
		got := tl.gone()
		if !slices.IsSortedFunc(got, func(a, b goneRule) int { return a.removed.Compare(b.removed) }) {
			t.Errorf("seed %d: gone not by removal: %+v", seed, got)
		}
		if diff := gocmp.Diff(byRemoval(refGone(ref)), byRemoval(got), cmpRules...); diff != "" {
			t.Fatalf("seed %d: gone (-want +got):\n%s\nchanges %+v", seed, diff, changes)
		}
		if again, _ := randomCase(seed); !sameGroups(again.Groups, cur.Groups) {
			t.Fatalf("seed %d: Rewind changed the current snapshot", seed)
		}
	}
}

// TestRewindConcurrentAt: At builds and caches revisions for callers that only read; many
// goroutines asking at once get the right revisions (and -race finds no race).
func TestRewindConcurrentAt(t *testing.T) {
	var cur netmap.Snapshot
	var changes []RuleChange
	for seed := uint64(0); len(changes) < 10; seed++ { // a case with revisions enough
		cur, changes = randomCase(seed)
	}
	ref := refRewind(cur, changes)
	tl, err := Rewind(cur, changes)
	if err != nil {
		t.Fatal(err)
	}
	times := queryTimes()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range 300 {
				if !checkAt(t, tl, ref, times[rng.IntN(len(times))]) {
					return
				}
			}
		})
	}
	wg.Wait()
}
