package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
)

// MaxPatternLength is the longest EventPattern PutRule takes, in characters (the EventBridge
// model's limit, trail-iam.md §3.2).
const MaxPatternLength = 4096

// numericLimit bounds the numbers of a numeric matcher (event-ruler's ±5.0e9, §3.2).
const numericLimit = 5e9

// Pattern is a compiled event pattern (§3.2): immutable, safe for concurrent use. The zero
// Pattern is not valid; make one with Compile.
type Pattern struct {
	root *node
}

// node is one object level of a pattern: every field must match (AND), and, when ors is not
// empty, every $or group must have one branch that matches.
type node struct {
	fields []field
	ors    [][]*node // each group: its ≥ 2 branches
}

// field is one named member of a pattern object: either a nested object (sub) or a leaf, an
// array of alternatives (OR).
type field struct {
	name string
	sub  *node
	leaf []matcher
}

// kind is what a leaf matcher tests.
type kind uint8

const (
	exactString kind = iota
	exactNumber
	exactBool
	exactNull
	prefix
	suffix
	prefixFold
	suffixFold
	equalsFold
	wildcard
	numeric
	cidr
	exists
	anythingBut // not (any of not)
)

// matcher is one alternative of a leaf.
type matcher struct {
	kind kind
	s    string
	n    float64
	b    bool
	pfx  netip.Prefix
	cmp  []comparison // numeric
	not  []matcher    // anythingBut: the values excluded
}

// comparison is one operator and operand of a numeric matcher.
type comparison struct {
	op string
	n  float64
}

// PatternError is a pattern that does not compile; Reason says why, in the words the API
// returns after "Event pattern is not valid. Reason: " [UNCONFIRMED wording].
type PatternError struct{ Reason string }

func (e *PatternError) Error() string { return "Event pattern is not valid. Reason: " + e.Reason }

func bad(format string, args ...any) error {
	return &PatternError{Reason: fmt.Sprintf(format, args...)}
}

// Compile parses and checks an event pattern. Every refusal is a *PatternError.
func Compile(pattern string) (*Pattern, error) {
	if len([]rune(pattern)) > MaxPatternLength {
		return nil, bad("the pattern is longer than %d characters", MaxPatternLength)
	}
	v, err := decodeJSON([]byte(pattern))
	if err != nil {
		return nil, bad("the pattern is not valid JSON")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, bad("the pattern must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, bad("the pattern must name at least one field")
	}
	n, err := compileNode(obj, "")
	if err != nil {
		return nil, err
	}
	return &Pattern{root: n}, nil
}

// decodeJSON decodes one JSON value, numbers kept as json.Number so that exact matching and
// the numeric range keep what was sent.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func compileNode(obj map[string]any, path string) (*node, error) {
	n := &node{}
	for _, name := range sortedKeys(obj) {
		v := obj[name]
		at := path + "/" + name
		if name == "$or" {
			group, err := compileOr(v, path)
			if err != nil {
				return nil, err
			}
			n.ors = append(n.ors, group)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				return nil, bad("%s is an empty object", at)
			}
			sub, err := compileNode(v, at)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: name, sub: sub})
		case []any:
			if len(v) == 0 {
				return nil, bad("%s is an empty array", at)
			}
			leaf := make([]matcher, 0, len(v))
			for _, alt := range v {
				m, err := compileMatcher(alt, at)
				if err != nil {
					return nil, err
				}
				leaf = append(leaf, m)
			}
			n.fields = append(n.fields, field{name: name, leaf: leaf})
		default:
			return nil, bad("%s must be an object or an array of values", at)
		}
	}
	return n, nil
}

// compileOr is a $or: an array of at least two non-empty objects.
func compileOr(v any, path string) ([]*node, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return nil, bad("%s/$or must be an array of at least two objects", path)
	}
	group := make([]*node, 0, len(arr))
	for _, b := range arr {
		obj, ok := b.(map[string]any)
		if !ok || len(obj) == 0 {
			return nil, bad("%s/$or must be an array of at least two objects", path)
		}
		n, err := compileNode(obj, path)
		if err != nil {
			return nil, err
		}
		group = append(group, n)
	}
	return group, nil
}

// compileMatcher is one alternative of a leaf: a literal, or an object naming one operator.
func compileMatcher(v any, at string) (matcher, error) {
	switch v := v.(type) {
	case string:
		return matcher{kind: exactString, s: v}, nil
	case json.Number:
		f, err := number(v)
		if err != nil {
			return matcher{}, bad("%s: %v", at, err)
		}
		return matcher{kind: exactNumber, n: f}, nil
	case bool:
		return matcher{kind: exactBool, b: v}, nil
	case nil:
		return matcher{kind: exactNull}, nil
	case []any:
		return matcher{}, bad("%s: an array inside a value array", at)
	}
	obj := v.(map[string]any)
	if len(obj) != 1 {
		return matcher{}, bad("%s: an operator object must have exactly one operator", at)
	}
	for op, arg := range obj {
		return compileOperator(op, arg, at)
	}
	panic("unreachable")
}

func compileOperator(op string, arg any, at string) (matcher, error) {
	switch op {
	case "prefix", "suffix":
		k, fold := prefix, prefixFold
		if op == "suffix" {
			k, fold = suffix, suffixFold
		}
		if s, ok := arg.(string); ok {
			return matcher{kind: k, s: s}, nil
		}
		if s, ok := ignoreCase(arg); ok {
			return matcher{kind: fold, s: s}, nil
		}
		return matcher{}, bad("%s: %s must be a string or an equals-ignore-case object", at, op)
	case "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return matcher{}, bad("%s: equals-ignore-case must be a string", at)
		}
		return matcher{kind: equalsFold, s: s}, nil
	case "wildcard":
		s, ok := arg.(string)
		if !ok {
			return matcher{}, bad("%s: wildcard must be a string", at)
		}
		if err := checkWildcard(s); err != nil {
			return matcher{}, bad("%s: %v", at, err)
		}
		return matcher{kind: wildcard, s: s}, nil
	case "numeric":
		return compileNumeric(arg, at)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return matcher{}, bad("%s: cidr must be a string", at)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return matcher{}, bad("%s: %q is not a CIDR block", at, s)
		}
		return matcher{kind: cidr, pfx: p.Masked()}, nil
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return matcher{}, bad("%s: exists must be true or false", at)
		}
		return matcher{kind: exists, b: b}, nil
	case "anything-but":
		return compileAnythingBut(arg, at)
	}
	return matcher{}, bad("%s: unrecognized match type %s", at, op)
}

// ignoreCase reads {"equals-ignore-case": "s"}, the argument of the ignore-case forms of
// prefix and suffix.
func ignoreCase(arg any) (string, bool) {
	obj, ok := arg.(map[string]any)
	if !ok || len(obj) != 1 {
		return "", false
	}
	s, ok := obj["equals-ignore-case"].(string)
	return s, ok
}

// compileAnythingBut: a string or number, a list of all strings or all numbers, or an object
// with prefix, suffix, equals-ignore-case (string or list) or wildcard (string or list).
func compileAnythingBut(arg any, at string) (matcher, error) {
	m := matcher{kind: anythingBut}
	switch a := arg.(type) {
	case string:
		m.not = []matcher{{kind: exactString, s: a}}
	case json.Number:
		f, err := number(a)
		if err != nil {
			return m, bad("%s: %v", at, err)
		}
		m.not = []matcher{{kind: exactNumber, n: f}}
	case []any:
		if len(a) == 0 {
			return m, bad("%s: anything-but list is empty", at)
		}
		_, strs := a[0].(string)
		for _, e := range a {
			switch e := e.(type) {
			case string:
				if !strs {
					return m, bad("%s: anything-but list must be all strings or all numbers", at)
				}
				m.not = append(m.not, matcher{kind: exactString, s: e})
			case json.Number:
				f, err := number(e)
				if err != nil || strs {
					return m, bad("%s: anything-but list must be all strings or all numbers", at)
				}
				m.not = append(m.not, matcher{kind: exactNumber, n: f})
			default:
				return m, bad("%s: anything-but list must be all strings or all numbers", at)
			}
		}
	case map[string]any:
		if len(a) != 1 {
			return m, bad("%s: anything-but takes one operator", at)
		}
		for op, v := range a {
			k, ok := map[string]kind{"prefix": prefix, "suffix": suffix, "equals-ignore-case": equalsFold, "wildcard": wildcard}[op]
			if !ok {
				return m, bad("%s: unsupported anything-but operator %s", at, op)
			}
			vals := []any{v}
			if list, isList := v.([]any); isList && (k == equalsFold || k == wildcard) && len(list) > 0 {
				vals = list
			}
			for _, e := range vals {
				s, ok := e.(string)
				if !ok || (s == "" && (k == prefix || k == suffix)) {
					return m, bad("%s: anything-but %s needs a non-empty string", at, op)
				}
				if k == wildcard {
					if err := checkWildcard(s); err != nil {
						return m, bad("%s: %v", at, err)
					}
				}
				m.not = append(m.not, matcher{kind: k, s: s})
			}
		}
	default:
		return m, bad("%s: anything-but must be a string, a number, a list or an operator object", at)
	}
	return m, nil
}

// compileNumeric: one comparison, or a lower bound (> or >=) then an upper bound (< or <=).
func compileNumeric(arg any, at string) (matcher, error) {
	arr, ok := arg.([]any)
	if !ok || (len(arr) != 2 && len(arr) != 4) {
		return matcher{}, bad("%s: numeric takes one or two comparisons", at)
	}
	m := matcher{kind: numeric}
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		n, isNum := arr[i+1].(json.Number)
		if !ok || !isNum {
			return matcher{}, bad("%s: numeric takes operator, number pairs", at)
		}
		f, err := number(n)
		if err != nil {
			return matcher{}, bad("%s: %v", at, err)
		}
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return matcher{}, bad("%s: unrecognized numeric operator %q", at, op)
		}
		m.cmp = append(m.cmp, comparison{op, f})
	}
	if len(m.cmp) == 2 {
		lo, hi := m.cmp[0], m.cmp[1]
		if (lo.op != ">" && lo.op != ">=") || (hi.op != "<" && hi.op != "<=") {
			return matcher{}, bad("%s: a numeric range is a lower bound (> or >=) then an upper bound (< or <=)", at)
		}
		if lo.n >= hi.n {
			return matcher{}, bad("%s: the numeric range is empty", at)
		}
	}
	return m, nil
}

// number is a pattern's number, within event-ruler's range.
func number(n json.Number) (float64, error) {
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > numericLimit {
		return 0, fmt.Errorf("number %s is outside -5.0e9..5.0e9", n)
	}
	return f, nil
}

// checkWildcard refuses two consecutive * and a backslash that escapes neither * nor \.
func checkWildcard(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return fmt.Errorf("wildcard %q: a backslash escapes only * and \\", s)
			}
			i++
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return fmt.Errorf("wildcard %q: consecutive wildcard characters", s)
			}
		}
	}
	return nil
}

// sortedKeys orders a pattern's fields: the order does not change the result, but it makes
// compilation deterministic.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
