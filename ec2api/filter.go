package ec2api

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// queryFilter is one decoded Filter.N.
type queryFilter = query.Filter

// fields maps a filter name to the values an object has for it. A filter matches an object when
// any of its values matches any of the filter's values; different filters must all match
// (spec §8.6).
type fields[T any] map[string]func(T) []string

// filterer applies Filter.N to objects of one type; tag filters (tag:<key>, tag-key,
// tag-value) come for free from tagsOf.
type filterer[T any] struct {
	fields fields[T]
	// matchers compile a filter into a predicate once per request, for fields with many
	// values per object (the rules of a group) where building value strings would dominate.
	matchers map[string]func(q queryFilter) func(T) bool
	tagsOf   func(T) model.Tags
}

// predicate is one compiled filter.
type predicate[T any] func(T) bool

// compile checks the request's filters against the known names before any work is done and
// turns each into a predicate.
func (f filterer[T]) compile(r *query.Request) ([]predicate[T], error) {
	fs, err := r.Filters()
	if err != nil {
		return nil, queryError(err)
	}
	out := make([]predicate[T], 0, len(fs))
	for _, q := range fs {
		switch fn, m := f.fields[q.Name], f.matchers[q.Name]; {
		case m != nil:
			out = append(out, m(q))
		case fn != nil:
			out = append(out, func(x T) bool {
				for _, v := range fn(x) {
					if q.Match(v) {
						return true
					}
				}
				return false
			})
		case f.tagsOf != nil && (strings.HasPrefix(q.Name, "tag:") || q.Name == "tag-key" || q.Name == "tag-value"):
			out = append(out, f.tagPredicate(q))
		default:
			return nil, model.InvalidValue("The filter '%s' is invalid", q.Name)
		}
	}
	return out, nil
}

func (f filterer[T]) tagPredicate(q queryFilter) predicate[T] {
	return func(x T) bool {
		tags := f.tagsOf(x)
		switch {
		case strings.HasPrefix(q.Name, "tag:"):
			v, ok := tags[q.Name[len("tag:"):]]
			return ok && q.Match(v)
		case q.Name == "tag-key":
			for k := range tags {
				if q.Match(k) {
					return true
				}
			}
		case q.Name == "tag-value":
			for _, v := range tags {
				if q.Match(v) {
					return true
				}
			}
		}
		return false
	}
}

// match reports whether x passes every filter.
func (f filterer[T]) match(ps []predicate[T], x T) bool {
	for _, p := range ps {
		if !p(x) {
			return false
		}
	}
	return true
}

// filter returns the objects that pass the request's filters.
func (f filterer[T]) filter(r *query.Request, xs []T) ([]T, error) {
	ps, err := f.compile(r)
	if err != nil || len(ps) == 0 {
		return xs, err
	}
	out := xs[:0:0]
	for _, x := range xs {
		if f.match(ps, x) {
			out = append(out, x)
		}
	}
	return out, nil
}

// one is a field with a single value.
func one(s string) []string { return []string{s} }

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// literal reports whether a filter value has no wildcard, so it can be compared parsed.
func literal(v string) bool { return !strings.ContainsAny(v, `*?\`) }

// prefixMatcher compiles CIDR filter values: literal ones are parsed once and compared as
// prefixes, wildcard ones against the CIDR's text.
func prefixMatcher(q queryFilter) func(netip.Prefix) bool {
	var exact []netip.Prefix
	wild := queryFilter{Name: q.Name}
	for _, v := range q.Values {
		if p, err := netip.ParsePrefix(v); err == nil && literal(v) {
			exact = append(exact, p)
		} else {
			wild.Values = append(wild.Values, v)
		}
	}
	return func(p netip.Prefix) bool {
		for _, e := range exact {
			if e == p {
				return true
			}
		}
		return len(wild.Values) > 0 && wild.Match(p.String())
	}
}

// intMatcher compiles number filter values the same way.
func intMatcher(q queryFilter) func(int) bool {
	var exact []int
	wild := queryFilter{Name: q.Name}
	for _, v := range q.Values {
		if n, err := strconv.Atoi(v); err == nil && literal(v) {
			exact = append(exact, n)
		} else {
			wild.Values = append(wild.Values, v)
		}
	}
	return func(n int) bool {
		for _, e := range exact {
			if e == n {
				return true
			}
		}
		return len(wild.Values) > 0 && wild.Match(strconv.Itoa(n))
	}
}
