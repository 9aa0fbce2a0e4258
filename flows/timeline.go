package flows

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// Revision is the network as it was from From on, compiled.
type Revision struct {
	From     time.Time
	Snapshot netmap.Snapshot
	Policy   *policy.Policy
}

// Timeline is the policies in force over a period, oldest first: a flow is explained by the
// revision in force when it started (§A5.2), not by today's. An offline export has one
// revision, the snapshot given.
//
// A timeline made by NewTimeline holds every revision. One made by Rewind holds the current
// revision and the changes, and builds an older revision only when At asks for it: an
// account's day of changes can be hundreds of thousands of rule changes, and a revision per
// change, each a copy of the account's groups and a compile, does not fit in time or memory
// (while the records of a period ask for a few revisions). A Timeline is safe for concurrent
// use, as it was when every revision was built up front.
type Timeline struct {
	revs []Revision // NewTimeline's revisions; nil for a rewound timeline

	// A rewound timeline's revision k came into force at from[k] and is the current network
	// with changes[upto[k]:] undone. Revision 0 (from the zero time) has every change undone;
	// the last is cur. Changes made at the same time form one revision: At returns the last
	// of revisions that came into force at the same time, so the others would never be seen.
	cur     Revision
	changes []RuleChange // by time, stably
	from    []time.Time
	upto    []int
	groups  map[string][]int // the indexes of each group ID in cur.Snapshot.Groups

	mu    sync.Mutex // guards cache and marks: At builds revisions for callers that only read
	cache []built    // the revisions built last, the most recently used first
	// marks are the snapshots (not compiled) of every stride-th revision that a build has
	// passed, so that no revision is built from further than a stride of revisions away,
	// whatever the order of the questions.
	marks  map[int]netmap.Snapshot
	stride int
}

// cacheSize bounds the revisions a rewound timeline keeps built, and maxMarks the snapshots
// it keeps as marks, so that its memory does not grow with the revisions asked for. Records
// are mostly read in time order: consecutive ones ask for the same revision, or for a later
// one, built from the nearest later one kept: a mark, at most a stride away.
const (
	cacheSize = 4
	maxMarks  = 16
)

// built is a rewound timeline's revision k, built.
type built struct {
	k   int
	rev *Revision
}

// NewTimeline compiles each snapshot; from[i] is when snaps[i] came into force. The
// snapshots must be in time order.
func NewTimeline(from []time.Time, snaps []netmap.Snapshot) (*Timeline, error) {
	if len(from) != len(snaps) || len(snaps) == 0 {
		return nil, fmt.Errorf("timeline: %d times for %d snapshots", len(from), len(snaps))
	}
	t := &Timeline{}
	for i, s := range snaps {
		if i > 0 && from[i].Before(from[i-1]) {
			return nil, fmt.Errorf("timeline: revision %d starts before revision %d", i, i-1)
		}
		p, err := policy.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("timeline: revision of %s: %w", from[i].UTC().Format(time.RFC3339), err)
		}
		t.revs = append(t.revs, Revision{From: from[i], Snapshot: s, Policy: p})
	}
	return t, nil
}

// Single is the timeline of one snapshot, in force at every time.
func Single(s netmap.Snapshot) (*Timeline, error) {
	return NewTimeline([]time.Time{{}}, []netmap.Snapshot{s})
}

// At is the revision in force at t: the last that came into force at or before t, or the
// first when t is before every revision (nothing older is known). The revision is shared:
// callers must not change it. A rewound timeline builds it when it is not among the few kept,
// so the same revision may come back as another *Revision later.
func (t *Timeline) At(at time.Time) *Revision {
	if t.revs != nil {
		i := max(sort.Search(len(t.revs), func(i int) bool { return t.revs[i].From.After(at) })-1, 0)
		return &t.revs[i]
	}
	k := max(sort.Search(len(t.from), func(i int) bool { return t.from[i].After(at) })-1, 0)
	if k == len(t.from)-1 {
		return &t.cur
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.cache, func(b built) bool { return b.k == k })
	var b built
	if i >= 0 {
		b = t.cache[i]
		t.cache = slices.Delete(t.cache, i, i+1)
	} else {
		b = built{k, t.build(k)}
		if len(t.cache) == cacheSize {
			t.cache = t.cache[:cacheSize-1]
		}
	}
	t.cache = slices.Insert(t.cache, 0, b)
	return b.rev
}

// Current is the latest revision: what a proposed change is applied to.
func (t *Timeline) Current() *Revision {
	if t.revs != nil {
		return &t.revs[len(t.revs)-1]
	}
	return &t.cur
}

// revisions is how many revisions the timeline has.
func (t *Timeline) revisions() int {
	if t.revs != nil {
		return len(t.revs)
	}
	return len(t.from)
}

// RuleChange is one rule added to or removed from a group at a time, as the change trail
// records it.
type RuleChange struct {
	Time    time.Time
	GroupID string
	Added   bool // false: removed
	Rule    model.Rule
}

// Rewind reconstructs the revisions of a period from the current snapshot and the rule
// changes made in it: undoing the changes newest first gives the network before each one
// (a rule added is taken out, a rule removed is put back). Only security-group rules are
// rewound; interfaces, attachments and NACLs are taken as they are now [a limitation:
// the change trail is the only history of them, and this reconstruction reads rules only].
// The current snapshot is compiled here; older revisions are built when asked for (At).
func Rewind(cur netmap.Snapshot, changes []RuleChange) (*Timeline, error) {
	p, err := policy.Compile(cur)
	if err != nil {
		return nil, fmt.Errorf("timeline: the current network: %w", err)
	}
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b RuleChange) int { return a.Time.Compare(b.Time) })
	t := &Timeline{changes: changes, from: []time.Time{{}}, upto: []int{0}, groups: map[string][]int{}, marks: map[int]netmap.Snapshot{}}
	for i, c := range changes {
		if i == len(changes)-1 || !changes[i+1].Time.Equal(c.Time) {
			t.from = append(t.from, c.Time)
			t.upto = append(t.upto, i+1)
		}
	}
	t.stride = max(1, (len(t.from)-1+maxMarks-1)/maxMarks)
	t.cur = Revision{From: t.from[len(t.from)-1], Snapshot: cur, Policy: p}
	for i, g := range cur.Groups {
		t.groups[g.ID] = append(t.groups[g.ID], i)
	}
	return t, nil
}

// build is revision k (older than the current one), made from the nearest later revision
// kept (built, a mark, or the current one) by undoing the changes in between, newest first.
// The groups are copied on write: the list once, and each group a change touches once, so
// that a revision costs the account's list of groups and the groups changed, not a copy of
// the account per change. The marks passed on the way are kept. The caller holds t.mu.
func (t *Timeline) build(k int) *Revision {
	s, bk := t.cur.Snapshot, len(t.from)-1
	for _, b := range t.cache {
		if b.k > k && b.k < bk {
			s, bk = b.rev.Snapshot, b.k
		}
	}
	for m, snap := range t.marks {
		if m >= k && m < bk {
			s, bk = snap, m
		}
	}
	if bk > k {
		s.Groups = slices.Clone(s.Groups)
		own := make([]bool, len(s.Groups)) // the groups copied for s: the others are shared
		for m := bk - 1; m >= k; m-- {
			// Revision m is revision m+1 before the changes that made m+1.
			for i := t.upto[m+1] - 1; i >= t.upto[m]; i-- {
				c := &t.changes[i]
				for _, j := range t.groups[c.GroupID] { // none: the group is gone, nothing to undo
					if !own[j] {
						s.Groups[j], own[j] = s.Groups[j].Clone(), true
					}
					undo(s.Groups[j], c)
				}
			}
			if _, ok := t.marks[m]; ok || m%t.stride != 0 {
				continue
			}
			mark := s
			if m > k { // s changes on: the mark has its own list, and shares the groups
				mark.Groups = slices.Clone(s.Groups)
				clear(own)
			}
			t.marks[m] = mark
		}
	}
	// Compile cannot fail here: it reads groups for their IDs only (their rules are compiled
	// when an interface's are first asked for), and a rewound snapshot has the current one's
	// groups, in order, and its interfaces, prefix lists, NACLs and routes, all of which
	// compiled in Rewind. Should Compile come to read rules, a revision it rejects must not
	// pass for another: At has no error to return, so this is a program error.
	p, err := policy.Compile(s)
	if err != nil {
		panic(fmt.Sprintf("flows: the network as of %s does not compile though the current one does: %v",
			t.from[k].UTC().Format(time.RFC3339), err))
	}
	return &Revision{From: t.from[k], Snapshot: s, Policy: p}
}

// undo makes g as it was before c; g is the caller's copy.
func undo(g *model.Group, c *RuleChange) {
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
}

// goneRule is a rule of an older revision that the current one does not hold.
type goneRule struct {
	groupID string
	rule    model.Rule
	removed time.Time // when the first revision without it came into force
}

// gone lists the rules that older revisions hold and the current one does not, each as the
// last revision holding it had it, oldest removal first.
func (t *Timeline) gone() []goneRule {
	if t.revs == nil {
		return t.goneRewound()
	}
	now := map[string]bool{}
	for _, g := range t.Current().Snapshot.Groups {
		for _, r := range slices.Concat(g.Ingress, g.Egress) {
			now[r.ID] = true
		}
	}
	var out []goneRule
	at := map[string]int{} // rule ID → its index in out
	for i, rev := range t.revs[:len(t.revs)-1] {
		for _, g := range rev.Snapshot.Groups {
			for _, egress := range []bool{false, true} {
				for _, r := range g.Rules(egress) {
					if r.ID == "" || now[r.ID] {
						continue
					}
					r.Egress = egress
					gr := goneRule{groupID: g.ID, rule: r, removed: t.revs[i+1].From}
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

// goneRewound is gone for a rewound timeline, read from the changes instead of the
// revisions (which it would have to build). Undoing newest first from the current network,
// in which a rule x is absent: undoing the changes of x made after its last removal from a
// group of the network (adds of x, removals from a group that is gone) finds x nowhere and
// puts it nowhere, and undoing that removal puts x back, in its group only. So the last
// revision holding x is the one before that removal, and holds x as the removal has it; the
// next came into force at the removal's time.
func (t *Timeline) goneRewound() []goneRule {
	last := map[string]int{} // rule ID → the index of its last removal from a group of cur
	for i, c := range t.changes {
		if !c.Added && c.Rule.ID != "" && t.groups[c.GroupID] != nil {
			last[c.Rule.ID] = i
		}
	}
	if len(last) == 0 {
		return nil
	}
	for _, g := range t.cur.Snapshot.Groups {
		for _, egress := range []bool{false, true} {
			for _, r := range g.Rules(egress) {
				delete(last, r.ID)
			}
		}
	}
	var out []goneRule
	for _, i := range slices.Sorted(maps.Values(last)) { // the changes are in time order
		c := &t.changes[i]
		out = append(out, goneRule{groupID: c.GroupID, rule: c.Rule, removed: c.Time})
	}
	return out
}
