package iam

import (
	"maps"
	"slices"
	"strings"
)

// Page is a list request's paging (Marker, MaxItems 1–1000; 0 means the default 100).
type Page struct {
	Marker   string
	MaxItems int
}

// Marker of a truncated list names the key of the next item, so a list changed between two
// calls neither repeats nor skips what was not changed.
func page[T any](m map[string]*T, p Page, keep func(*T) bool) (out []*T, next string, err *Error) {
	max := p.MaxItems
	switch {
	case max == 0:
		max = 100
	case max < 1:
		return nil, "", validation(itoa(max), "maxItems", "Member must have value greater than or equal to 1")
	case max > 1000:
		return nil, "", validation(itoa(max), "maxItems", "Member must have value less than or equal to 1000")
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if p.Marker != "" && strings.Compare(k, p.Marker) < 0 {
			continue
		}
		if keep != nil && !keep(m[k]) {
			continue
		}
		if len(out) == max {
			return out, k, nil
		}
		out = append(out, m[k])
	}
	return out, "", nil
}

// names pages through a list of names, sorted (inline policy names, attached ARNs).
func names(all []string, p Page) ([]string, string, *Error) {
	m := make(map[string]*string, len(all))
	for i := range all {
		m[all[i]] = &all[i]
	}
	got, next, err := page(m, p, nil)
	out := make([]string, len(got))
	for i, s := range got {
		out[i] = *s
	}
	return out, next, err
}
