package ec2api

import (
	"iter"
	"slices"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
)

// Every Describe action is one pipeline: read the ID parameters, take one consistent view,
// list every object or look up the IDs asked for, keep those that pass the filters, cut the
// page, write the set. A family states only what differs, as a describeSpec value; describe
// runs the steps in the same order for all of them, so every Describe validates, fails and
// paginates alike.

// describeSpec is what one Describe action adds to the pipeline.
type describeSpec[T any] struct {
	// IDs names the ID list parameters (VpcId for VpcId.N). The source has one getter per
	// name, in the same order. With no IDs given, every object is listed.
	IDs []string
	// NoMaxWithIDs refuses MaxResults together with IDs (DescribeInstances and
	// DescribeNetworkInterfaces, spec §8.5).
	NoMaxWithIDs bool
	// Keep, when set, reads conditions from the request's own parameters (beyond Filter.N)
	// before the view is taken; objects that fail the condition are left out.
	Keep func(r *query.Request) (func(T) bool, error)
	// From finds the family's objects in the view (see source).
	From    func(c *call, v control.View) source[T]
	Filters filterer[T]
	// Key orders the objects (the source lists them in this order) and is what a pagination
	// token remembers.
	Key func(T) string
	// Limits bound MaxResults; the zero value means describeLimits.
	Limits pageLimits
	// Set names the reply's list, Item writes one object inside its <item>.
	Set  string
	Item func(c *call, x T)
	// Page, when set, writes the page instead of Set and Item (DescribeInstances nests its
	// instances in reservations).
	Page func(c *call, page []T)
}

// source is where one view holds a family's objects: all lists them in Key order, get[i]
// looks one up by the i-th ID parameter, returning EC2's NotFound error for an unknown one. A
// source with err set fails the request (a parent named by a parameter does not exist, say).
//
// narrow, when set, finds from an index, in Key order, every object that can pass the
// request's filters — more is allowed, the filters still decide — or says it cannot (ok
// false), and all is listed. It spares a request that filters on one name or ID a look at
// every object of the tenant.
type source[T any] struct {
	all    iter.Seq[T]
	get    []func(id string) (T, error)
	err    error
	narrow func(filters []query.Filter) (found []T, ok bool)
}

// src is the source of a family whose objects need nothing more from the view.
func src[T any](all func() []T, get ...func(string) (T, error)) source[T] {
	return source[T]{all: func(yield func(T) bool) {
		for _, x := range all() {
			if !yield(x) {
				return
			}
		}
	}, get: get}
}

// rowsOf is the source of a family whose filters or rendering need more than the object (a
// subnet's free addresses, the group names of an interface): row builds that from the object.
func rowsOf[M, T any](all func() []M, row func(M) T, get ...func(string) (M, error)) source[T] {
	s := source[T]{all: func(yield func(T) bool) {
		for _, m := range all() {
			if !yield(row(m)) {
				return
			}
		}
	}}
	for _, g := range get {
		s.get = append(s.get, func(id string) (T, error) {
			m, err := g(id)
			if err != nil {
				var zero T
				return zero, err
			}
			return row(m), nil
		})
	}
	return s
}

// describe runs the pipeline for one Describe request.
func describe[T any](c *call, p describeSpec[T]) error {
	r := c.req
	if p.NoMaxWithIDs {
		for _, k := range p.IDs {
			if err := noMaxWithIDs(r, k); err != nil {
				return err
			}
		}
	}
	want := make([][]string, len(p.IDs))
	asked := false
	for i, k := range p.IDs {
		var err error
		if want[i], err = ids(r, k); err != nil {
			return err
		}
		asked = asked || len(want[i]) > 0
	}
	keep := func(T) bool { return true }
	if p.Keep != nil {
		var err error
		if keep, err = p.Keep(r); err != nil {
			return err
		}
	}
	// Filters are checked before any state is read: a request with an unknown filter fails
	// as such, whatever its IDs.
	fs, err := p.Filters.compile(r)
	if err != nil {
		return err
	}
	var items []T
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		s := p.From(c, v)
		if s.err != nil {
			return s.err
		}
		objects := s.all
		if asked {
			found, err := byIDs(want, s.get, p.Key)
			if err != nil {
				return err
			}
			objects = slices.Values(found)
		} else if s.narrow != nil {
			filters, _ := r.Filters() // compile has checked them
			if found, ok := s.narrow(filters); ok {
				objects = slices.Values(found)
			}
		}
		for x := range objects {
			if keep(x) && p.Filters.match(fs, x) {
				items = append(items, x)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	lim := p.Limits
	if lim == (pageLimits{}) {
		lim = describeLimits
	}
	page, next, err := paginate(r, items, p.Key, lim)
	if err != nil {
		return err
	}
	if p.Page != nil {
		p.Page(c, page)
	} else {
		writeSet(c, p.Set, page, p.Item)
	}
	c.out.opt("nextToken", next)
	return nil
}

// byIDs looks up each requested ID (each once), by the getter of its parameter, failing on the
// first unknown one as EC2 does (spec §11.34). An object named twice (by ID and by name, say)
// is listed once; the result is in key order, for pagination.
func byIDs[T any](want [][]string, get []func(string) (T, error), key func(T) string) ([]T, error) {
	seen := map[string]bool{}
	var out []T
	var keys []string
	for i, ids := range want {
		asked := map[string]bool{}
		for _, id := range ids {
			if asked[id] {
				continue
			}
			asked[id] = true
			x, err := get[i](id)
			if err != nil {
				return nil, err
			}
			if k := key(x); !seen[k] {
				seen[k] = true
				out = append(out, x)
				keys = append(keys, k)
			}
		}
	}
	sortByKeys(out, keys)
	return out, nil
}

// writeSet writes a list of objects: <name><item>…</item>…</name>.
func writeSet[T any](c *call, name string, xs []T, item func(c *call, x T)) {
	c.out.open(name)
	for _, x := range xs {
		c.out.open("item")
		item(c, x)
		c.out.close("item")
	}
	c.out.close(name)
}

// serve is the spec as a route: routes.go maps "DescribeVpcs" to describeVpcs.serve.
func (p describeSpec[T]) serve(c *call) error { return describe(c, p) }
