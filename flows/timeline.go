package flows

import (
	"fmt"
	"slices"
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
type Timeline struct{ revs []Revision }

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
// first when t is before every revision (nothing older is known).
func (t *Timeline) At(at time.Time) *Revision {
	i := len(t.revs) - 1
	for i > 0 && t.revs[i].From.After(at) {
		i--
	}
	return &t.revs[i]
}

// Current is the latest revision: what a proposed change is applied to.
func (t *Timeline) Current() *Revision { return &t.revs[len(t.revs)-1] }

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
func Rewind(cur netmap.Snapshot, changes []RuleChange) (*Timeline, error) {
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b RuleChange) int { return a.Time.Compare(b.Time) })
	snaps := []netmap.Snapshot{cur}
	from := []time.Time{}
	s := cur
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		s = undo(s, c)
		snaps = append(snaps, s)
		from = append(from, c.Time)
	}
	from = append(from, time.Time{})
	slices.Reverse(snaps)
	slices.Reverse(from)
	return NewTimeline(from, snaps)
}

// undo returns s as it was before c; groups are copied on write, s is not changed.
func undo(s netmap.Snapshot, c RuleChange) netmap.Snapshot {
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

// goneRule is a rule of an older revision that the current one does not hold.
type goneRule struct {
	groupID string
	rule    model.Rule
	removed time.Time // when the first revision without it came into force
}

// gone lists the rules that older revisions hold and the current one does not, each as the
// last revision holding it had it, oldest removal first.
func (t *Timeline) gone() []goneRule {
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
