package audit

import (
	"cmp"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// coverIndex is one direction of a group's rules arranged for SGH-012, which asks, for each
// rule of every group, which rules of the group and of the groups it shares interfaces with
// allow all of it. Only a rule whose opening holds the asked rule's (policy.Opening.Within)
// can, and most rules hold only their own opening: one port of TCP or UDP, one ICMP type and
// code, one other protocol. Those are kept sorted by that opening; the few others (protocol
// -1, a range of ports, ICMP with any type or code) are kept apart, and a rule is compared
// only with the rules of the same opening and with those — not with every rule.
type coverIndex struct {
	ops []policy.Opening // the rules' openings, by rule index
	// narrow are the rules that hold no opening but their own, sorted by that opening
	// (narrowKey), then index; wide are the indices of the others, in order.
	narrow []narrowRule
	wide   []int32
	// all is set for a few rules (smallRules): every rule is a candidate.
	all bool
}

type narrowRule struct {
	key policy.Opening
	i   int32
}

// narrowKey is o with what Within does not compare cleared: the ports of a protocol that has
// none (any other protocol holds every opening of its number).
func narrowKey(o policy.Opening) policy.Opening {
	if o.Proto != -1 && !o.HasPorts() && !o.ICMP() {
		o.From, o.To = 0, 0
	}
	return o
}

// isNarrow reports whether the only openings within o are those with o's narrowKey: one port
// of TCP or UDP, ICMP of one type and code, or one other protocol. Protocol -1, a range (every
// port, or one written backwards, included) and ICMP with a -1 are not.
func isNarrow(o policy.Opening) bool {
	switch {
	case o.Proto == -1:
		return false
	case o.HasPorts():
		return o.From == o.To
	case o.ICMP():
		return o.From != -1 && o.To != -1
	}
	return true
}

func compareOpenings(x, y policy.Opening) int {
	return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
}

// smallRules is the number of rules up to which a coverIndex compares every rule: sorting
// them would cost more than it saves (a group's egress is mostly AWS's one rule).
const smallRules = 4

func newCoverIndex(rs []model.Rule) *coverIndex {
	x := &coverIndex{ops: openings(rs)}
	if len(rs) <= smallRules {
		x.all = true
		return x
	}
	nn := 0
	for _, o := range x.ops {
		if isNarrow(o) {
			nn++
		}
	}
	x.narrow = make([]narrowRule, 0, nn)
	x.wide = make([]int32, 0, len(rs)-nn)
	for i, o := range x.ops {
		if isNarrow(o) {
			x.narrow = append(x.narrow, narrowRule{narrowKey(o), int32(i)})
		} else {
			x.wide = append(x.wide, int32(i))
		}
	}
	// The rules were added in index order: a stable sort by opening keeps that order among
	// equal openings. Most groups hold a few dozen rules, which insertion sorts fastest.
	if len(x.narrow) <= 32 {
		for i := 1; i < len(x.narrow); i++ {
			for j := i; j > 0 && compareOpenings(x.narrow[j-1].key, x.narrow[j].key) > 0; j-- {
				x.narrow[j-1], x.narrow[j] = x.narrow[j], x.narrow[j-1]
			}
		}
	} else {
		slices.SortStableFunc(x.narrow, func(p, q narrowRule) int { return compareOpenings(p.key, q.key) })
	}
	return x
}

// candidates are the indices of the rules whose opening may hold o — every rule whose
// opening does, and a few more (the caller still asks Within) — as two lists, each in
// increasing index order: the narrow rules of o's own narrowKey and the wide ones. A port
// range written backwards (40-30) is within any rule that holds both its ends the other way
// round, narrow ones included: for it, all is true and every rule is a candidate.
func (x *coverIndex) candidates(o policy.Opening) (same []narrowRule, wide []int32, all bool) {
	if x.all || o.HasPorts() && o.From > o.To {
		return nil, nil, true
	}
	// Of the narrow rules only those of o's own narrowKey hold it (isNarrow): one run of the
	// sorted list, found by bisection.
	k := narrowKey(o)
	lo, hi := 0, len(x.narrow)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); compareOpenings(x.narrow[m].key, k) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	hi = lo
	for hi < len(x.narrow) && x.narrow[hi].key == k {
		hi++
	}
	return x.narrow[lo:hi], x.wide, false
}

// first is the lowest index among the candidates for o (candidates) for which ok holds, -1
// for none.
func (x *coverIndex) first(o policy.Opening, ok func(j int) bool) int {
	same, wide, all := x.candidates(o)
	if all {
		for j := range x.ops {
			if ok(j) {
				return j
			}
		}
		return -1
	}
	best := -1
	for _, n := range same {
		if ok(int(n.i)) {
			best = int(n.i)
			break
		}
	}
	for _, j := range wide {
		if best >= 0 && int(j) > best {
			break
		}
		if ok(int(j)) {
			return int(j)
		}
	}
	return best
}

// coverIndexOf is the coverIndex of one direction of g's rules, built once per audit.
func (a *Audit) coverIndexOf(g *model.Group, egress bool) *coverIndex {
	m := a.memoOf(g)
	x := m.cover[boolIndex(egress)]
	if x == nil {
		x = newCoverIndex(g.Rules(egress))
		m.cover[boolIndex(egress)] = x
		if m.ops[boolIndex(egress)] == nil {
			m.ops[boolIndex(egress)] = x.ops
		}
	}
	return x
}
