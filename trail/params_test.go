package trail

import (
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDottedParamsMatchesReference: the conversion of parameters without a shape gives, for
// random Query parameters (nested structures, numbered lists with gaps and many members,
// IAM's member lists, names that are both a leaf and a parent, secrets, protocol parameters),
// the same object as the plain tree of maps it replaced (refDotted below), in EC2's and in
// IAM's list style.
func TestDottedParamsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := []string{"GroupId", "Filter", "Name", "Value", "member", "Tag", "Key", "Password", "DurationSeconds",
		"SetAsDefault", "Action", "X-Amz-Date", "a", "Élan", ""}
	part := func() string {
		if rng.IntN(3) == 0 {
			return strconv.Itoa(1 + rng.IntN(12))
		}
		return words[rng.IntN(len(words))]
	}
	for i := range 3000 {
		params := url.Values{}
		for range rng.IntN(30) {
			var parts []string
			for range 1 + rng.IntN(4) {
				parts = append(parts, part())
			}
			params.Add(strings.Join(parts, "."), strconv.Itoa(rng.IntN(100)))
		}
		if rng.IntN(10) == 0 { // a long list: past the scan, into the index
			for n := range 40 {
				params.Set("GroupId."+strconv.Itoa(n+1), "sg-"+strconv.Itoa(n))
			}
		}
		for _, style := range []listStyle{ec2Lists, memberLists} {
			got, want := dottedParams(params, style), refDotted(params, style)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(member{})); diff != "" {
				t.Fatalf("case %d %v: (-reference +got)\n%s", i, params, diff)
			}
		}
	}
}

// refDotted is dottedParams as first written: a tree of maps, keys in the order first seen.
func refDotted(params url.Values, style listStyle) object {
	type node struct {
		keys  []string
		kids  map[string]*node
		value any
		leaf  bool
	}
	child := func(n *node, name string) *node {
		if n.kids == nil {
			n.kids = map[string]*node{}
		}
		c, ok := n.kids[name]
		if !ok {
			c = &node{}
			n.kids[name] = c
			n.keys = append(n.keys, name)
		}
		return c
	}
	var js func(n *node) any
	js = func(n *node) any {
		if n.leaf && n.kids == nil {
			return n.value
		}
		if style.member && len(n.keys) == 1 && n.keys[0] == "member" {
			return js(n.kids["member"])
		}
		numbered := len(n.keys) > 0
		for _, k := range n.keys {
			if _, err := strconv.Atoi(k); err != nil {
				numbered = false
			}
		}
		if numbered {
			keys := append([]string(nil), n.keys...)
			sort.SliceStable(keys, func(i, j int) bool { a, _ := strconv.Atoi(keys[i]); b, _ := strconv.Atoi(keys[j]); return a < b })
			var list []any
			for _, k := range keys {
				list = append(list, js(n.kids[k]))
			}
			return style.list(list)
		}
		o := object{}
		for _, k := range n.keys {
			o.set(lowerFirst(k), js(n.kids[k]))
		}
		return o
	}
	root := &node{}
	var names []string
	for k := range params {
		if !protocolParams[k] && !strings.HasPrefix(k, "X-Amz-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		n := root
		parts := strings.Split(k, ".")
		for _, p := range parts {
			n = child(n, p)
		}
		last := parts[len(parts)-1]
		n.value, n.leaf = style.leaf(last, params.Get(k)), true
		if secretParams[last] {
			n.value = sensitiveDataRemoved
		}
	}
	o, _ := js(root).(object)
	return o
}
