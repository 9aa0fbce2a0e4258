package iampolicy

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Condition operators (§6.4). Source:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnLike
	opNull
)

// operators maps each base operator name to its kind and whether it is negated: a negated
// operator is true when the context value matches none of the policy's values.
var operators = map[string]struct {
	op      opKind
	negated bool
}{
	"StringEquals":              {opStringEquals, false},
	"StringNotEquals":           {opStringEquals, true},
	"StringEqualsIgnoreCase":    {opStringEqualsIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLessThan, false},
	"NumericLessThanEquals":     {opNumericLessThanEquals, false},
	"NumericGreaterThan":        {opNumericGreaterThan, false},
	"NumericGreaterThanEquals":  {opNumericGreaterThanEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLessThan, false},
	"DateLessThanEquals":        {opDateLessThanEquals, false},
	"DateGreaterThan":           {opDateGreaterThan, false},
	"DateGreaterThanEquals":     {opDateGreaterThanEquals, false},
	"Bool":                      {opBool, false},
	"BinaryEquals":              {opBinaryEquals, false},
	"IpAddress":                 {opIPAddress, false},
	"NotIpAddress":              {opIPAddress, true},
	"ArnEquals":                 {opArnLike, false},
	"ArnLike":                   {opArnLike, false},
	"ArnNotEquals":              {opArnLike, true},
	"ArnNotLike":                {opArnLike, true},
	"Null":                      {opNull, false},
}

type setKind uint8

const (
	setNone setKind = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

// condition is one (operator, key) pair of a Condition block with its values; a statement's
// conditions all AND.
type condition struct {
	op       opKind
	negated  bool
	set      setKind
	ifExists bool
	key      string // folded
	rawOp    string
	rawKey   string
	raw      []string // the values as written, for the decoded message
	text     []textPattern
	nums     []float64 // NaN for a value that is not a number: it matches nothing
	times    []int64   // Unix nanoseconds; math.MinInt64 for an invalid date
	prefixes []netip.Prefix
}

func parseConditions(raw json.RawMessage, vars bool) ([]condition, error) {
	var block map[string]map[string]json.RawMessage
	if strictUnmarshal(raw, &block) != nil {
		return nil, &MalformedError{msgSyntax}
	}
	var out []condition
	for opName, keys := range block {
		base := opName
		set := setNone
		if rest, ok := strings.CutPrefix(base, "ForAnyValue:"); ok {
			base, set = rest, setAny
		} else if rest, ok := strings.CutPrefix(base, "ForAllValues:"); ok {
			base, set = rest, setAll
		}
		ifExists := false
		if rest, ok := strings.CutSuffix(base, "IfExists"); ok && rest != "Null" {
			base, ifExists = rest, true
		}
		info, ok := operators[base]
		if !ok {
			return nil, &MalformedError{msgSyntax} // [UNCONFIRMED] IAM's text for an unknown operator
		}
		for key, rawVals := range keys {
			if !strings.Contains(key, ":") {
				return nil, &MalformedError{msgVendor}
			}
			vals, err := conditionValues(rawVals)
			if err != nil {
				return nil, err
			}
			c := condition{op: info.op, negated: info.negated, set: set, ifExists: ifExists,
				key: foldKey(key), rawOp: opName, rawKey: key, raw: vals}
			c.compileValues(vars)
			out = append(out, c)
		}
	}
	// Map order is random; a stable order keeps traces and tests reproducible.
	sortConditions(out)
	return out, nil
}

func sortConditions(cs []condition) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && (cs[j].rawOp < cs[j-1].rawOp ||
			cs[j].rawOp == cs[j-1].rawOp && cs[j].rawKey < cs[j-1].rawKey); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// conditionValues accepts a string, number or boolean, or a list of them, and returns them
// as strings (§6.1: values compare as strings after JSON decoding).
func conditionValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if json.Unmarshal(raw, &items) != nil {
			return nil, &MalformedError{msgSyntax}
		}
	} else {
		items = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var v any
		if strictUnmarshal(it, &v) != nil {
			return nil, &MalformedError{msgSyntax}
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, v.String())
		case bool:
			out = append(out, strconv.FormatBool(v))
		default:
			return nil, &MalformedError{msgSyntax}
		}
	}
	return out, nil
}

func (c *condition) compileValues(vars bool) {
	for _, v := range c.raw {
		switch c.op {
		case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike:
			static, tmpl := compileText(v, vars)
			c.text = append(c.text, textPattern{static: static, tmpl: tmpl})
		case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan,
			opNumericGreaterThanEquals:
			c.nums = append(c.nums, parseNumber(v))
		case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
			c.times = append(c.times, parseDate(v))
		case opIPAddress:
			c.prefixes = append(c.prefixes, parseCIDR(v))
		}
	}
}

func parseNumber(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

const badDate = math.MinInt64

// parseDate reads ISO 8601 (with or without fractional seconds, or a bare date) or epoch
// seconds; anything else is badDate, which compares with nothing.
func parseDate(s string) int64 {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00",
		"2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano()
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > -1e10 && n < 1e10 {
		return n * int64(time.Second)
	}
	return badDate
}

// parseCIDR reads a CIDR or a bare address (a /32 or /128); an invalid value is the zero
// Prefix, which contains nothing.
func parseCIDR(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Prefix{}
}

// eval decides the condition for one request. The missing-key rules of §6.4: a positive
// operator is false, a negated one true, …IfExists true, ForAnyValue false, ForAllValues true.
func (c *condition) eval(ev *evalCtx) bool {
	vals, present := ev.lookup(c.key)
	if c.op == opNull {
		for _, v := range c.raw {
			if strings.EqualFold(v, "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.ifExists, c.set == setAll:
			return true
		case c.set == setAny:
			return false
		}
		return c.negated
	}
	switch c.set {
	case setAny:
		for _, v := range vals {
			if c.matchAny(v, ev) != c.negated {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range vals {
			if c.matchAny(v, ev) == c.negated {
				return false
			}
		}
		return true
	}
	// A single-valued operator on several context values: positive when any value matches,
	// negated when none does.
	for _, v := range vals {
		if c.matchAny(v, ev) {
			return !c.negated
		}
	}
	return c.negated
}

// matchAny reports whether context value v matches at least one of the policy's values under
// the positive form of the operator.
func (c *condition) matchAny(v string, ev *evalCtx) bool {
	switch c.op {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike:
		for i := range c.text {
			if c.matchText(&c.text[i], v, ev) {
				return true
			}
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan,
		opNumericGreaterThanEquals:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, n := range c.nums {
			if compareOrdered(c.op-opNumericEquals, x, n) {
				return true
			}
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		x := parseDate(v)
		if x == badDate {
			return false
		}
		for _, t := range c.times {
			if t != badDate && compareOrdered(c.op-opDateEquals, x, t) {
				return true
			}
		}
	case opBool:
		for _, p := range c.raw {
			if strings.EqualFold(p, v) {
				return true
			}
		}
	case opBinaryEquals:
		for _, p := range c.raw {
			if p == v {
				return true
			}
		}
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.prefixes {
			if p.IsValid() && p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// compareOrdered applies the n-th of Equals, LessThan, LessThanEquals, GreaterThan,
// GreaterThanEquals to context value x and policy value y.
func compareOrdered[T float64 | int64](n opKind, x, y T) bool {
	switch n {
	case 0:
		return x == y
	case 1:
		return x < y
	case 2:
		return x <= y
	case 3:
		return x > y
	}
	return x >= y
}

func (c *condition) matchText(t *textPattern, v string, ev *evalCtx) bool {
	p := t.static
	if t.tmpl != nil {
		var buf [maxRendered]byte
		b, ok := t.tmpl.render(buf[:0], ev)
		if !ok {
			return false
		}
		return matchTextOp(c.op, b, v)
	}
	return matchTextOp(c.op, p, v)
}

func matchTextOp[P ~string | ~[]byte](op opKind, p P, v string) bool {
	switch op {
	case opStringEquals:
		return unescaped(p, v, false)
	case opStringEqualsIgnoreCase:
		return unescaped(p, v, true)
	case opStringLike:
		return wildMatch(p, v, false)
	}
	return arnMatch(p, v)
}

// unescaped compares without wildcards; escaped characters compare as themselves.
func unescaped[P ~string | ~[]byte](p P, v string, fold bool) bool {
	if fold {
		return equalFold(p, v)
	}
	if len(p) != len(v) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '*' || c == '?' {
			if c != v[i] {
				return false
			}
			continue
		}
		if !byteEq(c, v[i], fold) {
			return false
		}
	}
	return true
}

// foldKey folds a condition key for case-insensitive lookup (§6.4: key names, tag keys
// included, are case-insensitive).
func foldKey(k string) string { return strings.ToLower(k) }

// equalFold is StringEqualsIgnoreCase: Unicode simple case folding, as strings.EqualFold does
// (IAM's own comparison is [UNCONFIRMED] beyond ASCII; Java's equalsIgnoreCase also folds
// Unicode). Escaped wildcards compare as the characters themselves. It does not allocate.
func equalFold[P ~string | ~[]byte](p P, v string) bool {
	i, j := 0, 0
	for i < len(p) && j < len(v) {
		pr, pn := runeAt(p, i)
		vr, vn := utf8.DecodeRuneInString(v[j:])
		i, j = i+pn, j+vn
		switch pr {
		case litStar:
			pr = '*'
		case litQuest:
			pr = '?'
		}
		if pr == vr {
			continue
		}
		r := unicode.SimpleFold(pr)
		for r != pr && r != vr {
			r = unicode.SimpleFold(r)
		}
		if r != vr {
			return false
		}
	}
	return i == len(p) && j == len(v)
}

// runeAt decodes the rune at p[i] without converting p (which may be a stack buffer).
func runeAt[P ~string | ~[]byte](p P, i int) (rune, int) {
	if p[i] < utf8.RuneSelf {
		return rune(p[i]), 1
	}
	var b [utf8.UTFMax]byte
	n := copy(b[:], p[i:])
	return utf8.DecodeRune(b[:n])
}
