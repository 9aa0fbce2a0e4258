package trail

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDottedParamsMatchesReference: the conversion of parameters without a shape gives, for
// random Query parameters (nested structures, numbered lists with gaps and many members,
// IAM's member lists, names that are both a leaf and a parent, secrets, protocol parameters,
// numbers JSON cannot hold), the same object as the plain tree of maps it replaced
// (refDotted below), in EC2's and in IAM's list style; and dottedJSON, which Build uses,
// writes that object's JSON and finds its resources without building it.
func TestDottedParamsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := []string{"GroupId", "Filter", "Name", "Value", "member", "Tag", "Key", "Password", "DurationSeconds",
		"SetAsDefault", "Action", "X-Amz-Date", "a", "Élan", "", "VpcId", "UserName", "RoleArn", "01"}
	values := []string{"22", "-1", "1_0", "Inf", "true", "1", "sg-1", "", "arn:aws:iam::111122223333:role/ops/r", "<&>", "é"}
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
			params.Add(strings.Join(parts, "."), values[rng.IntN(len(values))])
		}
		if rng.IntN(10) == 0 { // a long list: past the scan, into the index
			for n := range 40 {
				params.Set("GroupId."+strconv.Itoa(n+1), "sg-"+strconv.Itoa(n))
			}
		}
		for _, c := range []struct {
			style listStyle
			s     Service
		}{{ec2Lists, EC2}, {memberLists, IAM}} {
			got, want := dottedParams(params, c.style), refDotted(params, c.style)
			if !reflect.DeepEqual(got, want) { // cmp.Diff for the message only: it is slow
				t.Fatalf("case %d %v: (-reference +got)\n%s", i, params, cmp.Diff(want, got, cmp.AllowUnexported(member{})))
			}
			// Written straight as JSON: the tree's encoding, members and resources.
			var wantFound, gotFound []Resource
			resourcesIn(c.s, want, func(r Resource) { wantFound = append(wantFound, r) })
			js, members := dottedJSON(params, c.style, c.s, func(r Resource) { gotFound = append(gotFound, r) })
			if members != len(want) {
				t.Fatalf("case %d %v: %d members, want %d", i, params, members, len(want))
			}
			if w := marshalCapped(want); (len(want) > 0 || !c.style.member) && string(js) != string(w) {
				t.Fatalf("case %d %v:\nreference %s\ngot       %s", i, params, w, js)
			}
			if !slices.Equal(wantFound, gotFound) {
				t.Fatalf("case %d %v: resources %v, want %v", i, params, gotFound, wantFound)
			}
		}
	}
}

// TestDottedParamsDepth: a parameter's name makes at most maxDottedDepth levels, the rest of
// it one key; so a tenant's name of hundreds of thousands of dots costs a record what a short
// one does, not a tree and a recursion as deep.
func TestDottedParamsDepth(t *testing.T) {
	deep := strings.Repeat("a.", 400000) + "b"
	if js, _ := dottedJSON(url.Values{deep: {"x"}}, ec2Lists, EC2, func(Resource) {}); string(js) != "null" {
		t.Fatalf("a name of 800 KB gave %.80s…, want null (over the record's cap)", js)
	}
	got, _ := dottedJSON(url.Values{strings.Repeat("a.", 20) + "b": {"x"}}, ec2Lists, EC2, func(Resource) {})
	short := strings.Repeat(`{"a":`, maxDottedDepth-1) + `{"` + strings.Repeat("a.", 20-maxDottedDepth+1) + `b":"x"}` + strings.Repeat("}", maxDottedDepth-1)
	if string(got) != short {
		t.Errorf("a name of 21 parts:\ngot  %s\nwant %s", got, short)
	}
	var depth, most int
	for _, c := range got {
		switch c {
		case '{':
			depth++
			most = max(most, depth)
		case '}':
			depth--
		}
	}
	if most != maxDottedDepth {
		t.Errorf("%d levels of objects, want %d", most, maxDottedDepth)
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
		parts := strings.SplitN(k, ".", maxDottedDepth)
		for _, p := range parts {
			n = child(n, p)
		}
		last := parts[len(parts)-1]
		n.value, n.leaf = scalar(style.kind(last), params.Get(k)), true
		if secretParams[last] {
			n.value = sensitiveDataRemoved
		}
	}
	o, _ := js(root).(object)
	return o
}

// TestShapedParamsMatchesReference: the shaped actions' requestParameters, written as JSON
// from the parameters, are for random Query parameters of every shaped action (lists with
// gaps, positions written "01" or "0", numbers JSON cannot hold, members outside the shape,
// structures) the JSON and the resources of the conversion they replaced: a tree of objects
// (refConvert below, which scanned every name for every field of the shape), encoded.
func TestShapedParamsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var words []string
	var collect func([]field)
	collect = func(fs []field) {
		for _, f := range fs {
			if f.q != "" {
				words = append(words, f.q)
			}
			collect(f.sub)
		}
	}
	var actions []string
	for a, shape := range requestShapes {
		actions = append(actions, a)
		collect(shape)
	}
	for a, shape := range wrappedShapes {
		actions = append(actions, a)
		collect(shape)
	}
	sort.Strings(actions)
	words = append(words, "Junk", "1-", "01", "0", "x")
	values := []string{"22", "-1", "tcp", "sg-1", "", "1_0", "Inf", "0x10", "1e3", "true", "<&>", "é"}
	part := func() string {
		if rng.IntN(3) == 0 {
			return strconv.Itoa(1 + rng.IntN(11))
		}
		return words[rng.IntN(len(words))]
	}
	for i := range 5000 {
		action := actions[rng.IntN(len(actions))]
		params := url.Values{}
		shape, wrapped := wrappedShapes[action]
		if !wrapped {
			shape = requestShapes[action]
		}
		for range rng.IntN(25) {
			var parts []string
			if rng.IntN(4) == 0 { // anything
				for range 1 + rng.IntN(5) {
					parts = append(parts, part())
				}
			} else { // a member of the shape, mostly
				parts = shapeName(rng, shape, part)
			}
			params.Add(strings.Join(parts, "."), values[rng.IntN(len(values))])
		}
		want := refConvert(params, "", shape)
		if wrapped {
			want = object{{action + "Request", refConvert(params, "", shape)}}
		}
		var wantFound, gotFound []Resource
		resourcesIn(EC2, want, func(r Resource) { wantFound = append(wantFound, r) })
		got, ok := shapedParams(action, params, func(r Resource) { gotFound = append(gotFound, r) })
		if !ok {
			t.Fatalf("%s has a shape, shapedParams says not", action)
		}
		if w := marshalCapped(want); string(got) != string(w) {
			t.Fatalf("case %d %s %v:\nreference %s\ngot       %s", i, action, params, w, got)
		}
		if diff := cmp.Diff(wantFound, gotFound); diff != "" {
			t.Fatalf("case %d %s %v: resources (-reference +got)\n%s", i, action, params, diff)
		}
	}
}

// shapeName is a random member name of shape: its fields, list positions (sometimes odd ones),
// and now and then a part from anywhere.
func shapeName(rng *rand.Rand, shape []field, part func() string) []string {
	var parts []string
	for len(shape) > 0 {
		f := shape[rng.IntN(len(shape))]
		if f.q != "" {
			parts = append(parts, f.q)
		}
		if f.k == list || f.k == array || f.k == tagged {
			parts = append(parts, []string{"1", "2", "3", "10", "01", "0"}[rng.IntN(6)])
		}
		if rng.IntN(10) == 0 {
			parts = append(parts, part())
		}
		if len(f.sub) == 0 || rng.IntN(8) == 0 {
			break
		}
		shape = f.sub
	}
	return parts
}

// refConvert is requestParameters' shaped conversion as first written: it scans every
// name for every field of the shape. refConvert builds the members of shape found under prefix.
func refConvert(params url.Values, prefix string, shape []field) object {
	o := object{}
	for _, f := range shape {
		name := prefix + f.q
		switch f.k {
		case str, num, boolean:
			if v, ok := refFirst(params, name); ok {
				o.set(f.j, scalar(f.k, v))
			}
		case nested:
			if refHas(params, name+".") {
				o.set(f.j, refConvert(params, name+".", f.sub))
			}
		case list, array, tagged:
			var elems []any
			for _, n := range refIndexes(params, name+".") {
				elems = append(elems, refElement(params, name+"."+strconv.Itoa(n), f, n))
			}
			switch {
			case f.k == array && elems != nil:
				o.set(f.j, elems)
			case f.k == tagged && len(elems) == 1:
				o.set(f.j, elems[0])
			case f.k == tagged && len(elems) > 1:
				o.set(f.j, elems)
			case f.k == list && (elems != nil || f.keep):
				o.set(f.j, items(elems))
			}
		}
	}
	return o
}

// element is one list member at name; a list of scalars has one sub field without q.
func refElement(params url.Values, name string, f field, n int) any {
	if len(f.sub) == 1 && f.sub[0].q == "" {
		v, _ := refFirst(params, name)
		return object{{f.sub[0].j, scalar(f.sub[0].k, v)}}
	}
	e := refConvert(params, name+".", f.sub)
	if f.k == tagged {
		// "tag" follows the item's scalars [OBSERVED order: SecurityGroupRuleId, tag, SecurityGroupRule].
		i := 0
		for i < len(e) {
			if _, isObj := e[i].val.(object); isObj {
				break
			}
			i++
		}
		e = append(e[:i], append(object{{"tag", json.Number(strconv.Itoa(n))}}, e[i:]...)...)
	}
	return e
}

func refFirst(params url.Values, name string) (string, bool) {
	v, ok := params[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func refHas(params url.Values, prefix string) bool {
	for k := range params {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// indexes returns the list positions N present under prefix (prefix + "N" or prefix + "N.…"),
// ascending: Query lists are 1-based and may have gaps.
func refIndexes(params url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range params {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		head, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(head); err == nil && n > 0 {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// BenchmarkShapedParams is an authorize's requestParameters, as every such call's record
// writes them.
func BenchmarkShapedParams(b *testing.B) {
	params := q("Action", "AuthorizeSecurityGroupIngress", "Version", "2016-11-15", "GroupId", "sg-0123456789abcdef0",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8", "IpPermissions.1.IpRanges.1.Description", "ssh")
	b.ReportAllocs()
	for b.Loop() {
		shapedParams("AuthorizeSecurityGroupIngress", params, func(Resource) {})
	}
}

// The tree form of the conversions, which Build writes as JSON without building it
// (shapedParams, dottedJSON): the reference the tests hold those to.

// scalar is v as a value of kind k: a number or boolean that does not read as one stays a
// string (rule 3).
func scalar(k kind, v string) any {
	switch k {
	case num:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v)
		}
	case boolean:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// list is a Query list's value in style s.
func (s listStyle) list(l []any) any {
	if s.member {
		return l
	}
	return items(l)
}

// dottedParams is the conversion of parameters without a fixed shape: each dotted name
// becomes nested lowerCamelCase keys and numbered members lists in style's form. Protocol
// parameters are dropped and secrets replaced. Build writes it with dottedJSON; this tree
// form is the reference the tests hold dottedJSON to.
func dottedParams(params url.Values, style listStyle) object {
	o, _ := parseDotted(params).json(style).(object)
	return o
}

// json is t's value in style.
func (t *tree) json(style listStyle) any {
	if t.leaf && len(t.kids) == 0 {
		return scalar(style.kind(t.part), t.value)
	}
	if style.member && len(t.kids) == 1 && t.kids[0].name == "member" {
		return t.kids[0].t.json(style) // Name.member.N: the list is Name's value
	}
	if order, ok := numberedOrder(t.kids); ok {
		list := make([]any, 0, len(order))
		for _, i := range order {
			list = append(list, t.kids[i].t.json(style))
		}
		return style.list(list)
	}
	o := make(object, 0, len(t.kids))
	for _, k := range t.kids {
		o.set(lowerFirst(k.name), k.t.json(style))
	}
	return o
}
