package logstore

import (
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

// Pattern is a compiled CloudWatch Logs filter pattern ("Filter pattern syntax for metric
// filters, subscription filters, filter log events, and Live Tail",
// docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):
//
//   - "" matches every event;
//   - terms: `ERROR`, `"exact phrase"`, all required; `-term` excludes; `?a ?b` matches either;
//   - space-delimited: `[version, account, eni, src, dst, srcport, destport="22", …,
//     action="REJECT", status]` names the event's fields in order, `...` stands for any
//     number of them, and a field may be constrained with =, !=, <, <=, >, >= (numbers), =
//     and != (strings, with * as a wildcard), joined with && or ||.
//
// JSON patterns ({ $.x = … }) and regular expressions (%…%) are refused with
// InvalidParameterException: Stockade does not implement them.
type Pattern struct {
	all               bool
	terms, not, anyOf []string
	fields            []field // space-delimited; nil otherwise
	delimited         bool
}

type field struct {
	ellipsis bool
	conds    []cond // joined by ops
	ops      []string
}

type cond struct {
	op, value string
	quoted    bool
	num       float64
	isNum     bool
}

func invalid(format string, args ...any) error {
	return model.LogsInvalidParameter.Errorf("Invalid filter pattern: "+format, args...)
}

// ParsePattern compiles a filter pattern.
func ParsePattern(s string) (*Pattern, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return &Pattern{all: true}, nil
	case s[0] == '{':
		return nil, invalid("JSON filter patterns are not supported by Stockade")
	case s[0] == '%':
		return nil, invalid("regular expression filter patterns are not supported by Stockade")
	case s[0] == '[':
		return parseDelimited(s)
	}
	p := &Pattern{}
	toks, err := tokens(s)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		switch {
		case strings.HasPrefix(t.text, "-") && !t.quoted && len(t.text) > 1:
			p.not = append(p.not, unquote(t.text[1:]))
		case strings.HasPrefix(t.text, "?") && !t.quoted && len(t.text) > 1:
			p.anyOf = append(p.anyOf, unquote(t.text[1:]))
		default:
			p.terms = append(p.terms, t.text)
		}
	}
	return p, nil
}

type token struct {
	text   string
	quoted bool
}

// tokens splits on spaces, keeping "quoted phrases" (quotes removed) whole.
func tokens(s string) ([]token, error) {
	var out []token
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, invalid("unterminated quote")
			}
			out = append(out, token{s[1 : end+1], true})
			s = s[end+2:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		// -"phrase" and ?"phrase" keep their quotes for unquote
		if q := strings.IndexByte(s[:end], '"'); q > 0 {
			if close := strings.IndexByte(s[q+1:], '"'); close >= 0 {
				end = max(end, q+1+close+1)
			}
		}
		out = append(out, token{s[:end], false})
		s = s[end:]
	}
	return out, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func parseDelimited(s string) (*Pattern, error) {
	if !strings.HasSuffix(s, "]") {
		return nil, invalid("a space-delimited pattern ends with ]")
	}
	p := &Pattern{delimited: true}
	for _, spec := range splitOutsideQuotes(s[1:len(s)-1], ",") {
		spec = strings.TrimSpace(spec)
		if spec == "..." {
			p.fields = append(p.fields, field{ellipsis: true})
			continue
		}
		if spec == "" {
			return nil, invalid("empty field")
		}
		var f field
		parts, ops := splitConds(spec)
		for _, part := range parts {
			c, err := parseCond(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			f.conds = append(f.conds, c)
		}
		f.ops = ops
		p.fields = append(p.fields, f)
	}
	return p, nil
}

// splitOutsideQuotes splits s on sep where sep is not inside double quotes.
func splitOutsideQuotes(s, sep string) []string {
	var out []string
	in, start := false, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			in = !in
		}
		if !in && strings.HasPrefix(s[i:], sep) {
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

// splitConds splits one field's conditions at && and || (outside quotes).
func splitConds(s string) (parts, ops []string) {
	in, start := false, 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '"' {
			in = !in
		}
		if !in && (s[i:i+2] == "&&" || s[i:i+2] == "||") {
			parts, ops = append(parts, s[start:i]), append(ops, s[i:i+2])
			start = i + 2
			i++
		}
	}
	return append(parts, s[start:]), ops
}

// parseCond reads "name", "name OP value".
func parseCond(s string) (cond, error) {
	i := strings.IndexAny(s, "=!<>")
	if i < 0 {
		return cond{}, nil // a name only: any value
	}
	op := s[i : i+1]
	if i+1 < len(s) && s[i+1] == '=' {
		op = s[i : i+2]
	}
	if op == "!" {
		return cond{}, invalid("%q: ! must be followed by =", s)
	}
	v := strings.TrimSpace(s[i+len(op):])
	c := cond{op: op}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		c.value, c.quoted = v[1:len(v)-1], true
	} else {
		c.value = v
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			c.num, c.isNum = n, true
		}
	}
	if c.value == "" && !c.quoted {
		return cond{}, invalid("%q: missing value", s)
	}
	if (op == "<" || op == "<=" || op == ">" || op == ">=") && !c.isNum {
		return cond{}, invalid("%q: %s compares numbers", s, op)
	}
	return c, nil
}

// Match reports whether the pattern matches an event's message.
func (p *Pattern) Match(msg string) bool {
	switch {
	case p.all:
		return true
	case p.delimited:
		return matchFields(p.fields, splitFields(msg))
	}
	for _, t := range p.terms {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.not {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.anyOf) == 0 {
		return true
	}
	for _, t := range p.anyOf {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

// splitFields splits a message on spaces; text in "…" or […] is one field, without its
// enclosing characters [UNCONFIRMED: whether CloudWatch keeps them].
func splitFields(msg string) []string {
	var out []string
	for msg = strings.TrimLeft(msg, " "); msg != ""; msg = strings.TrimLeft(msg, " ") {
		if c := msg[0]; c == '"' || c == '[' {
			closer := byte('"')
			if c == '[' {
				closer = ']'
			}
			if end := strings.IndexByte(msg[1:], closer); end >= 0 {
				out = append(out, msg[1:end+1])
				msg = msg[end+2:]
				continue
			}
		}
		end := strings.IndexByte(msg, ' ')
		if end < 0 {
			end = len(msg)
		}
		out = append(out, msg[:end])
		msg = msg[end:]
	}
	return out
}

func matchFields(fs []field, vals []string) bool {
	if len(fs) == 0 {
		return len(vals) == 0
	}
	if fs[0].ellipsis {
		for skip := 0; skip <= len(vals); skip++ {
			if matchFields(fs[1:], vals[skip:]) {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 || !fs[0].match(vals[0]) {
		return false
	}
	return matchFields(fs[1:], vals[1:])
}

// match evaluates the field's conditions left to right.
func (f field) match(v string) bool {
	ok := f.conds[0].match(v)
	for i, op := range f.ops {
		next := f.conds[i+1].match(v)
		if op == "&&" {
			ok = ok && next
		} else {
			ok = ok || next
		}
	}
	return ok
}

func (c cond) match(v string) bool {
	if c.op == "" {
		return true
	}
	if c.isNum {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return c.op == "!="
		}
		switch c.op {
		case "=":
			return n == c.num
		case "!=":
			return n != c.num
		case "<":
			return n < c.num
		case "<=":
			return n <= c.num
		case ">":
			return n > c.num
		case ">=":
			return n >= c.num
		}
	}
	eq := v == c.value
	if strings.Contains(c.value, "*") {
		eq = wildcard(c.value, v)
	}
	if c.op == "!=" {
		return !eq
	}
	return eq
}

// wildcard matches * against any run of characters; nothing else is special.
func wildcard(pat, v string) bool {
	parts := strings.Split(pat, "*")
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		j := strings.Index(v, p)
		if j < 0 {
			return false
		}
		v = v[j+len(p):]
	}
	return strings.HasSuffix(v, parts[len(parts)-1])
}
