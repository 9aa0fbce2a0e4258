package events

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
)

// Event is a decoded event: a JSON object whose numbers are json.Number. Decode one with
// DecodeEvent and match it against any number of patterns.
type Event struct{ v map[string]any }

// DecodeEvent decodes an event's JSON; it must be an object.
func DecodeEvent(b []byte) (Event, error) {
	v, err := decodeJSON(b)
	if err != nil {
		return Event{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Event{}, errors.New("an event is a JSON object")
	}
	return Event{obj}, nil
}

// Match reports whether ev matches p (§3.2).
//
// Semantics, those of aws/event-ruler: every field of a pattern object must match; a leaf
// matches when any of its alternatives matches any of the event's values at that path; an
// event array is searched element by element, and the fields of one pattern object must all
// match inside the same element (array-consistent matching), so that
// {"items":{"fromPort":[22],"cidrIp":["0.0.0.0/0"]}} needs one item with both. A path that
// has no leaf value — absent, an object, or an array of objects — matches only
// {"exists": false}.
func (p *Pattern) Match(ev Event) bool { return p.root.matchObject(ev.v) }

// MatchJSON decodes event and matches it.
func (p *Pattern) MatchJSON(event []byte) (bool, error) {
	ev, err := DecodeEvent(event)
	if err != nil {
		return false, err
	}
	return p.Match(ev), nil
}

// matchValue matches n against whatever the event holds at its path: an object, an array
// (any object element, nested arrays flattened), or nothing usable (absent or a scalar).
func (n *node) matchValue(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return n.matchObject(v)
	case []any:
		objects := false
		for _, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				objects = true
				if n.matchValue(e) {
					return true
				}
			}
		}
		if objects {
			return false
		}
	}
	return n.matchObject(nil)
}

// matchObject matches n against one object (nil: the path holds no object).
func (n *node) matchObject(obj map[string]any) bool {
	for _, f := range n.fields {
		v, present := obj[f.name]
		if f.sub != nil {
			if !present {
				if !f.sub.matchObject(nil) {
					return false
				}
				continue
			}
			if !f.sub.matchValue(v) {
				return false
			}
			continue
		}
		if !matchLeaf(f.leaf, v, present) {
			return false
		}
	}
	for _, group := range n.ors {
		ok := false
		for _, b := range group {
			if b.matchObject(obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchLeaf: any alternative against any leaf value at the path.
func matchLeaf(ms []matcher, v any, present bool) bool {
	var vals []any
	if present {
		vals = leaves(v, vals)
	}
	if len(vals) == 0 {
		for _, m := range ms {
			if m.kind == exists && !m.b {
				return true
			}
		}
		return false
	}
	for _, m := range ms {
		for _, x := range vals {
			if m.matchScalar(x) {
				return true
			}
		}
	}
	return false
}

// leaves appends the scalar values of v: v itself, or the scalars of an array (nested arrays
// flattened, objects skipped).
func leaves(v any, out []any) []any {
	switch v := v.(type) {
	case map[string]any:
		return out
	case []any:
		for _, e := range v {
			out = leaves(e, out)
		}
		return out
	}
	return append(out, v)
}

// matchScalar tests one leaf value (string, json.Number, bool or nil).
func (m *matcher) matchScalar(v any) bool {
	s, isString := v.(string)
	switch m.kind {
	case exactString:
		return isString && s == m.s
	case exactNumber:
		f, ok := num(v)
		return ok && f == m.n
	case exactBool:
		b, ok := v.(bool)
		return ok && b == m.b
	case exactNull:
		return v == nil
	case prefix:
		return isString && strings.HasPrefix(s, m.s)
	case suffix:
		return isString && strings.HasSuffix(s, m.s)
	case prefixFold:
		return isString && len(s) >= len(m.s) && strings.EqualFold(s[:len(m.s)], m.s)
	case suffixFold:
		return isString && len(s) >= len(m.s) && strings.EqualFold(s[len(s)-len(m.s):], m.s)
	case equalsFold:
		return isString && strings.EqualFold(s, m.s)
	case wildcard:
		return isString && matchWildcard(m.s, s)
	case numeric:
		f, ok := num(v)
		return ok && m.inRange(f)
	case cidr:
		if !isString {
			return false
		}
		a, err := netip.ParseAddr(s)
		return err == nil && m.pfx.Contains(a.Unmap())
	case exists:
		return m.b // a leaf value is there
	case anythingBut:
		for i := range m.not {
			n := &m.not[i]
			if n.kind != exactString && n.kind != exactNumber && !isString {
				return false // the string forms match strings only [UNCONFIRMED]
			}
			if n.matchScalar(v) {
				return false
			}
		}
		return true
	}
	return false
}

func (m *matcher) inRange(f float64) bool {
	for _, c := range m.cmp {
		var ok bool
		switch c.op {
		case "=":
			ok = f == c.n
		case "<":
			ok = f < c.n
		case "<=":
			ok = f <= c.n
		case ">":
			ok = f > c.n
		case ">=":
			ok = f >= c.n
		}
		if !ok {
			return false
		}
	}
	return true
}

func num(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// matchWildcard matches s against a wildcard pattern: * any run (possibly empty), \* a
// literal star, \\ a backslash. Greedy with one backtrack point, O(len(p)·len(s)) at worst.
func matchWildcard(p, s string) bool {
	type tok struct {
		c    byte
		star bool
	}
	toks := make([]tok, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			toks = append(toks, tok{c: p[i]})
		case p[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{c: p[i]})
		}
	}
	ti, si, starT, starS := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case ti < len(toks) && !toks[ti].star && toks[ti].c == s[si]:
			ti++
			si++
		case ti < len(toks) && toks[ti].star:
			starT, starS = ti, si
			ti++
		case starT >= 0:
			starS++
			ti, si = starT+1, starS
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}
