// Package query decodes EC2 Query-protocol requests (spec §8.1): the Action and Version, and
// the flattened, dotted parameters (IpPermissions.1.IpRanges.2.CidrIp), checked against the
// parameters the EC2 model defines for the action — so an unknown key is UnknownParameter while
// every key the AWS CLI and SDKs may send is accepted — with typed accessors for handlers.
package query

//go:generate go run ./internal/gen -o model_gen.go

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the scalar type of a model parameter, as far as the decoder checks it.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindBool
)

type param struct {
	key      string
	kind     kind
	required bool
}

// index is modelParams as lookup tables, built once.
var index = func() map[string]map[string]param {
	out := make(map[string]map[string]param, len(modelParams))
	for action, ps := range modelParams {
		m := make(map[string]param, len(ps))
		for _, p := range ps {
			m[p.key] = p
		}
		out[action] = m
	}
	return out
}()

// Error is a decoding failure with the EC2 error code to return.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Request is one decoded request, or a view of part of one (an IpPermissions.N element):
// accessors take keys relative to the view's prefix.
type Request struct {
	Action  string
	Version string
	vals    map[string]string
	keys    []string // sorted keys of vals, shared by all views
	prefix  string
}

// notParams are keys that carry authentication, not action parameters.
func notParam(k string) bool {
	switch k {
	case "Action", "Version", "AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "Timestamp", "Expires":
		return true
	}
	return strings.HasPrefix(k, "X-Amz-")
}

// Parse decodes the parameters of a request (the URL query and/or the form body, already
// merged). A key given twice keeps its first value, as EC2 does.
func Parse(values url.Values) (*Request, error) {
	r := &Request{vals: make(map[string]string, len(values))}
	r.Action, r.Version = first(values["Action"]), first(values["Version"])
	for k, vs := range values {
		if notParam(k) || len(vs) == 0 {
			continue
		}
		r.vals[k] = vs[0]
		r.keys = append(r.keys, k)
	}
	sort.Strings(r.keys)
	if r.Action == "" {
		return nil, &Error{"MissingAction", "The request must contain the parameter Action"}
	}
	return r, nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Known reports whether the model table has the action.
func Known(action string) bool { _, ok := index[action]; return ok }

// Validate checks the request against the action's model: every key must be a parameter of
// the action (list indices positive integers), integers and booleans must parse, and required
// parameters must be present.
func (r *Request) Validate() error {
	params, ok := index[r.Action]
	if !ok {
		return &Error{"InvalidAction", "The action " + r.Action + " is not valid for this web service."}
	}
	if r.Version == "" {
		return &Error{"MissingParameter", "The request must contain the parameter Version"}
	}
	for _, k := range r.keys {
		pattern, ok := normalize(k)
		p, known := params[pattern]
		if !ok || !known {
			return &Error{"UnknownParameter", "The parameter " + k + " is not recognized"}
		}
		v := r.vals[k]
		switch p.kind {
		case kindInt:
			if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				return &Error{"InvalidParameterValue", "Value (" + v + ") for parameter " + k + " is invalid. Expected: 'integer'."}
			}
		case kindBool:
			if _, err := parseBool(v); err != nil {
				return &Error{"InvalidParameterValue", "Value (" + v + ") for parameter " + k + " is invalid. Expected: 'boolean'."}
			}
		}
	}
	for _, p := range params {
		if p.required && !strings.Contains(p.key, ".") && !r.Has(p.key) {
			return &Error{"MissingParameter", "The request must contain the parameter " + p.key}
		}
	}
	return nil
}

// normalize replaces list indices by N; ok is false when an index is not a positive integer
// written without leading zeros.
func normalize(k string) (string, bool) {
	var b strings.Builder
	for i, seg := range strings.Split(k, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if seg != "" && seg[0] >= '0' && seg[0] <= '9' {
			n, err := strconv.Atoi(seg)
			if err != nil || n < 1 || strconv.Itoa(n) != seg {
				return "", false
			}
			b.WriteByte('N')
			continue
		}
		b.WriteString(seg)
	}
	return b.String(), true
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, strconv.ErrSyntax
}

// String returns a parameter's value and whether it was given.
func (r *Request) String(key string) (string, bool) {
	v, ok := r.vals[r.prefix+key]
	return v, ok
}

// Int returns an integer parameter; err is InvalidParameterValue when it does not parse.
func (r *Request) Int(key string) (int64, bool, error) {
	v, ok := r.String(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, true, &Error{"InvalidParameterValue", "Value (" + v + ") for parameter " + r.prefix + key + " is invalid. Expected: 'integer'."}
	}
	return n, true, nil
}

// Bool returns a boolean parameter; err is InvalidParameterValue when it does not parse.
func (r *Request) Bool(key string) (bool, bool, error) {
	v, ok := r.String(key)
	if !ok {
		return false, false, nil
	}
	b, err := parseBool(v)
	if err != nil {
		return false, true, &Error{"InvalidParameterValue", "Value (" + v + ") for parameter " + r.prefix + key + " is invalid. Expected: 'boolean'."}
	}
	return b, true, nil
}

// Has reports whether the parameter, or any parameter below it, was given.
func (r *Request) Has(key string) bool {
	full := r.prefix + key
	if _, ok := r.vals[full]; ok {
		return true
	}
	i := sort.SearchStrings(r.keys, full+".")
	return i < len(r.keys) && strings.HasPrefix(r.keys[i], full+".")
}

// Sub returns the view of a nested structure (key.Member…).
func (r *Request) Sub(key string) *Request {
	v := *r
	v.prefix = r.prefix + key + "."
	return &v
}

// indices returns the list indices present under key, in numeric order.
func (r *Request) indices(key string) []int {
	p := r.prefix + key + "."
	var out []int
	seen := map[int]bool{}
	for i := sort.SearchStrings(r.keys, p); i < len(r.keys) && strings.HasPrefix(r.keys[i], p); i++ {
		rest := r.keys[i][len(p):]
		seg, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(seg)
		if err != nil || n < 1 || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// Strings returns the values of a list of scalars (key.1, key.2, …) in index order; gaps are
// tolerated.
func (r *Request) Strings(key string) []string {
	var out []string
	for _, n := range r.indices(key) {
		if v, ok := r.vals[r.prefix+key+"."+strconv.Itoa(n)]; ok {
			out = append(out, v)
		}
	}
	return out
}

// List returns views of a list of structures (key.1.…, key.2.…) in index order.
func (r *Request) List(key string) []*Request {
	var out []*Request
	for _, n := range r.indices(key) {
		out = append(out, r.Sub(key+"."+strconv.Itoa(n)))
	}
	return out
}

// Filter is one Filter.N: a name and the values it matches, with EC2's wildcards.
type Filter struct {
	Name   string
	Values []string
}

// Filters decodes Filter.N.Name / Filter.N.Value.M.
func (r *Request) Filters() ([]Filter, error) {
	var out []Filter
	for _, f := range r.List("Filter") {
		name, ok := f.String("Name")
		if !ok || name == "" {
			return nil, &Error{"InvalidParameterValue", "Each filter must have a Name"}
		}
		out = append(out, Filter{Name: name, Values: f.Strings("Value")})
	}
	return out, nil
}

// Match reports whether s matches any of the filter's values (spec §8.6): case-sensitive,
// "*" any run of characters, "?" one character, "\" escapes the next character.
func (f Filter) Match(s string) bool {
	for _, v := range f.Values {
		if glob(v, s) {
			return true
		}
	}
	return false
}

// glob matches with backtracking over the last star only, which is linear for these patterns.
func glob(pattern, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(pattern) {
			c := pattern[pi]
			switch {
			case c == '*':
				starP, starS = pi, si
				pi++
				continue
			case c == '?':
				_, size := utf8.DecodeRuneInString(s[si:])
				pi++
				si += size
				continue
			case c == '\\' && pi+1 < len(pattern):
				if pattern[pi+1] == s[si] {
					pi += 2
					si++
					continue
				}
			case c == s[si]:
				pi++
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		si, pi = starS, starP+1
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
