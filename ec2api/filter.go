package ec2api

import (
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
	tagsOf func(T) model.Tags
}

// compile checks the request's filters against the known names before any work is done.
func (f filterer[T]) compile(r *query.Request) ([]query.Filter, error) {
	fs, err := r.Filters()
	if err != nil {
		return nil, queryError(err)
	}
	for _, q := range fs {
		if _, ok := f.fields[q.Name]; ok {
			continue
		}
		if f.tagsOf != nil && (strings.HasPrefix(q.Name, "tag:") || q.Name == "tag-key" || q.Name == "tag-value") {
			continue
		}
		return nil, model.InvalidValue("The filter '%s' is invalid", q.Name)
	}
	return fs, nil
}

// match reports whether x passes every filter.
func (f filterer[T]) match(fs []query.Filter, x T) bool {
	for _, q := range fs {
		if !f.matchOne(q, x) {
			return false
		}
	}
	return true
}

func (f filterer[T]) matchOne(q query.Filter, x T) bool {
	if fn, ok := f.fields[q.Name]; ok {
		for _, v := range fn(x) {
			if q.Match(v) {
				return true
			}
		}
		return false
	}
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

// filter returns the objects that pass the request's filters.
func (f filterer[T]) filter(r *query.Request, xs []T) ([]T, error) {
	fs, err := f.compile(r)
	if err != nil || len(fs) == 0 {
		return xs, err
	}
	out := xs[:0:0]
	for _, x := range xs {
		if f.match(fs, x) {
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
