package trail

import (
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is how a Query member becomes JSON in requestParameters (§1.3).
type kind int

const (
	str     kind = iota // a JSON string
	num                 // a JSON number (rule 3); a value that is not a number stays a string
	boolean             // a JSON boolean
	list                // N-numbered members → {"items": […]} (rule 2)
	array               // N-numbered members → a plain array (tags inside tagSpecificationSet)
	nested              // a structure: Name.Member
	tagged              // the post-2021 style (rule 6): one member → a bare object, several → an
	// array; each carries "tag", its 1-based index
)

// field maps one Query member (q, as the wire names it) to its record key (j).
type field struct {
	q, j string
	k    kind
	sub  []field // members of a list item or structure; for a list of scalars, one field with q ""
	keep bool    // written as {} when absent (rule 2: lists inside a structure)
}

// tagSpecs is TagSpecification.N as EC2 records write it (rule 5: tagSpecificationSet, with
// tags a plain array [OBSERVED on RunInstances/CreateSnapshot]).
var tagSpecs = field{q: "TagSpecification", j: "tagSpecificationSet", k: list, sub: []field{
	{q: "ResourceType", j: "resourceType"},
	{q: "Tag", j: "tags", k: array, sub: []field{{q: "Key", j: "key"}, {q: "Value", j: "value"}}},
}}

// ipPermissions is IpPermissions.N with each inner list always present (§1.3's example).
var ipPermissions = field{q: "IpPermissions", j: "ipPermissions", k: list, keep: true, sub: []field{
	{q: "IpProtocol", j: "ipProtocol"},
	{q: "FromPort", j: "fromPort", k: num},
	{q: "ToPort", j: "toPort", k: num},
	{q: "Groups", j: "groups", k: list, keep: true, sub: []field{
		{q: "GroupId", j: "groupId"}, {q: "GroupName", j: "groupName"}, {q: "UserId", j: "userId"},
		{q: "VpcId", j: "vpcId"}, {q: "VpcPeeringConnectionId", j: "vpcPeeringConnectionId"},
		{q: "PeeringStatus", j: "peeringStatus"}, {q: "Description", j: "description"}}},
	{q: "IpRanges", j: "ipRanges", k: list, keep: true, sub: []field{{q: "CidrIp", j: "cidrIp"}, {q: "Description", j: "description"}}},
	{q: "Ipv6Ranges", j: "ipv6Ranges", k: list, keep: true, sub: []field{{q: "CidrIpv6", j: "cidrIpv6"}, {q: "Description", j: "description"}}},
	{q: "PrefixListIds", j: "prefixListIds", k: list, keep: true, sub: []field{{q: "PrefixListId", j: "prefixListId"}, {q: "Description", j: "description"}}},
}}

// permissionChange is Authorize/Revoke × Ingress/Egress: the legacy scalars at the top level,
// then ipPermissions, present as {} when only the scalars were given [OBSERVED].
var permissionChange = []field{
	{q: "GroupId", j: "groupId"}, {q: "GroupName", j: "groupName"},
	{q: "IpProtocol", j: "ipProtocol"}, {q: "FromPort", j: "fromPort", k: num}, {q: "ToPort", j: "toPort", k: num},
	{q: "CidrIp", j: "cidrIp"}, {q: "SourceSecurityGroupName", j: "sourceSecurityGroupName"},
	{q: "SourceSecurityGroupOwnerId", j: "sourceSecurityGroupOwnerId"},
	ipPermissions,
}

// requestShapes are the actions whose requestParameters §1.3 fixes. Every other action takes
// the generic conversion (dottedJSON with ec2Lists).
var requestShapes = map[string][]field{
	"AuthorizeSecurityGroupIngress": slices.Concat(permissionChange, []field{tagSpecs}),
	"AuthorizeSecurityGroupEgress":  slices.Concat(permissionChange, []field{tagSpecs}),
	// securityGroupRuleIdSet [UNCONFIRMED — no real record found; the name lives only here].
	"RevokeSecurityGroupIngress": slices.Concat(permissionChange, []field{ruleIDs}),
	"RevokeSecurityGroupEgress":  slices.Concat(permissionChange, []field{ruleIDs}),
	"CreateSecurityGroup": {{q: "GroupName", j: "groupName"}, {q: "GroupDescription", j: "groupDescription"},
		{q: "VpcId", j: "vpcId"}, tagSpecs},
	"DeleteSecurityGroup": {{q: "GroupId", j: "groupId"}, {q: "GroupName", j: "groupName"}},
}

var ruleIDs = field{q: "SecurityGroupRuleId", j: "securityGroupRuleIdSet", k: list, sub: []field{{j: "securityGroupRuleId"}}}

// wrappedShapes are the actions logged in the post-2021 style (rule 6): PascalCase keys inside
// one <Action>Request object [OBSERVED in third-party detection content, not in AWS docs].
var wrappedShapes = map[string][]field{
	"ModifySecurityGroupRules": {
		{q: "GroupId", j: "GroupId"},
		{q: "SecurityGroupRule", j: "SecurityGroupRule", k: tagged, sub: []field{
			{q: "SecurityGroupRuleId", j: "SecurityGroupRuleId"},
			{q: "SecurityGroupRule", j: "SecurityGroupRule", k: nested, sub: []field{
				{q: "IpProtocol", j: "IpProtocol"}, {q: "FromPort", j: "FromPort", k: num}, {q: "ToPort", j: "ToPort", k: num},
				{q: "CidrIpv4", j: "CidrIpv4"}, {q: "CidrIpv6", j: "CidrIpv6"}, {q: "PrefixListId", j: "PrefixListId"},
				{q: "ReferencedGroupId", j: "ReferencedGroupId"}, {q: "Description", j: "Description"}}},
		}},
	},
}

// protocolParams are the Query parameters of the protocol and of SigV4 in the query string:
// never request parameters. DryRun is recorded as the errorCode Client.DryRunOperation, not
// as a parameter [UNCONFIRMED].
var protocolParams = map[string]bool{"Action": true, "Version": true, "DryRun": true, "AWSAccessKeyId": true,
	"Signature": true, "SignatureMethod": true, "SignatureVersion": true, "Timestamp": true, "Expires": true,
	"SecurityToken": true}

// secretParams are request members whose value is never logged (§1.5); the value is replaced.
var secretParams = map[string]bool{"Password": true, "NewPassword": true, "OldPassword": true,
	"SecretAccessKey": true, "PrivateKey": true}

const sensitiveDataRemoved = "<sensitiveDataRemoved>"

// shapedParams writes the requestParameters of an action with a §1.3 shape (requestShapes,
// wrappedShapes) as JSON, and reports the resources named in them to found, in the order
// written. ok is false for an action without a shape (dottedJSON converts it). js is
// "null" when the JSON would be over maxElements or a number member holds what strconv
// reads as a number but JSON does not ("1_0", "Inf"), as marshalCapped has it.
//
// These are the actions every security-group change records, so the JSON is written straight
// from the parameters: no tree of objects, no string per member name.
func shapedParams(action string, params url.Values, found func(Resource)) (js json.RawMessage, ok bool) {
	shape, ok := requestShapes[action]
	wrapped := false
	if !ok {
		if shape, wrapped = wrappedShapes[action]; !wrapped {
			return nil, false
		}
	}
	w := shapeWriter{v: params, names: make([]string, 0, len(params)), name: make([]byte, 0, 64),
		b: make([]byte, 0, 512), found: found, at: make([]int, 0, 16)}
	for k := range params {
		w.names = append(w.names, k)
	}
	slices.Sort(w.names)
	if wrapped {
		w.b = appendJSONString(append(w.b, '{'), action+"Request")
		w.b = append(w.b, ':')
	}
	w.object(0, len(w.names), shape, 0)
	if wrapped {
		w.b = append(w.b, '}')
	}
	if w.bad || len(w.b) > maxElements {
		return json.RawMessage("null"), true
	}
	return w.b, true
}

// shapeWriter writes a call's parameters in the form of a shape. The names are sorted, so
// that the members under a prefix (a list, a structure, one list item) are one run of them,
// found by a binary search: a tenant's request with thousands of members costs n log n, not
// a scan of every name for every field of the shape.
type shapeWriter struct {
	v     url.Values
	names []string // v's names, sorted
	name  []byte   // the prefix of the members being written; then scratch for a member's name
	b     []byte   // the JSON
	found func(Resource)
	bad   bool  // a num member that JSON cannot hold (marshalCapped's null)
	at    []int // the positions of the lists being written, innermost last (positions)
}

// value is the member name[:plen] + q.
func (w *shapeWriter) value(plen int, q string) (string, bool) {
	w.name = append(w.name[:plen], q...)
	v, ok := w.v[string(w.name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// run narrows [lo, hi), a run of names, to those under name[:plen] + q + ".", and leaves that
// prefix in name.
func (w *shapeWriter) run(lo, hi, plen int, q string) (int, int) {
	w.name = append(append(w.name[:plen], q...), '.')
	return w.span(lo, hi)
}

// span narrows [lo, hi) to the names under the prefix in name.
func (w *shapeWriter) span(lo, hi int) (int, int) {
	start := lo + sort.Search(hi-lo, func(i int) bool { return w.names[lo+i] >= string(w.name) })
	end := start
	for end < hi && len(w.names[end]) >= len(w.name) && w.names[end][:len(w.name)] == string(w.name) {
		end++
	}
	return start, end
}

// object writes the members of shape found under name[:plen], whose names are the run
// [lo, hi), as a JSON object. tag > 0 is a tagged list's item (rule 6): "tag" with its
// position goes after the item's scalars, before its first object.
func (w *shapeWriter) object(lo, hi int, shape []field, tag int) {
	plen := len(w.name)
	w.b = append(w.b, '{')
	n := 0
	writeTag := func() {
		w.b = appendJSONString(w.sep(n), "tag")
		w.b = strconv.AppendInt(append(w.b, ':'), int64(tag), 10)
		n, tag = n+1, 0
	}
	key := func(k string, object bool) {
		if object && tag > 0 {
			writeTag()
		}
		w.b = append(appendJSONString(w.sep(n), k), ':')
		n++
	}
	for _, f := range shape {
		switch f.k {
		case str, num, boolean:
			if v, ok := w.value(plen, f.q); ok {
				key(f.j, false)
				w.scalar(f.j, f.k, v)
			}
		case nested:
			if l, h := w.run(lo, hi, plen, f.q); l < h {
				key(f.j, true)
				w.object(l, h, f.sub, 0)
			}
		case list, array, tagged:
			var at []int
			depth := len(w.at)
			l, h := w.run(lo, hi, plen, f.q)
			if l < h {
				at = w.positions(l, h)
			}
			switch {
			case len(at) == 0 && f.k == list && f.keep:
				key(f.j, true)
				w.b = append(w.b, "{}"...)
			case len(at) == 0:
			case f.k == list:
				key(f.j, true)
				w.b = append(w.b, `{"items":`...)
				w.elements(l, h, f, at)
				w.b = append(w.b, '}')
			case f.k == tagged && len(at) == 1:
				key(f.j, true)
				w.element(l, h, f, at[0])
			default: // an array, or a tagged list of several
				key(f.j, false)
				w.elements(l, h, f, at)
			}
			w.at = w.at[:depth]
		}
		w.name = w.name[:plen]
	}
	if tag > 0 { // no object member: "tag" comes last
		writeTag()
	}
	w.b = append(w.b, '}')
}

// sep is w.b with a comma when n members precede.
func (w *shapeWriter) sep(n int) []byte {
	if n > 0 {
		return append(w.b, ',')
	}
	return w.b
}

// positions are the list positions N (1-based, gaps allowed; "01" is read as 1) of the
// names in [lo, hi), which are under the list's prefix name: ascending, each once. They are
// at the end of w.at, which the caller truncates to its length before the call once done.
func (w *shapeWriter) positions(lo, hi int) []int {
	plen, start := len(w.name), len(w.at)
	for _, name := range w.names[lo:hi] {
		head, _, _ := strings.Cut(name[plen:], ".")
		if n, err := strconv.Atoi(head); err == nil && n > 0 {
			w.at = append(w.at, n)
		}
	}
	at := w.at[start:]
	slices.Sort(at)
	at = slices.Compact(at)
	w.at = w.at[:start+len(at)]
	return at
}

// elements writes list f's members at positions at, whose names are in [lo, hi), as a JSON
// array.
func (w *shapeWriter) elements(lo, hi int, f field, at []int) {
	w.b = append(w.b, '[')
	for i, n := range at {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.element(lo, hi, f, n)
	}
	w.b = append(w.b, ']')
}

// element writes list f's member at position n; name holds the list's prefix ("List.") and
// [lo, hi) its names. A list of scalars has one sub field without q: its member is
// {"j": value}.
func (w *shapeWriter) element(lo, hi int, f field, n int) {
	plen := len(w.name)
	w.name = strconv.AppendInt(w.name, int64(n), 10)
	if len(f.sub) == 1 && f.sub[0].q == "" {
		v, _ := w.value(len(w.name), "")
		w.b = append(appendJSONString(append(w.b, '{'), f.sub[0].j), ':')
		w.scalar(f.sub[0].j, f.sub[0].k, v)
		w.b = append(w.b, '}')
	} else {
		w.name = append(w.name, '.')
		l, h := w.span(lo, hi)
		tag := 0
		if f.k == tagged {
			tag = n
		}
		w.object(l, h, f.sub, tag)
	}
	w.name = w.name[:plen]
}

// scalar writes the value of member key, of kind k, and reports it when key names a resource.
func (w *shapeWriter) scalar(key string, k kind, v string) {
	var isString, bad bool
	w.b, isString, bad = appendScalar(w.b, k, v)
	w.bad = w.bad || bad
	if typ, ok := resourceKeys[key]; ok && isString && w.found != nil {
		w.found(Resource{ResourceType: typ, ResourceName: v})
	}
}

// appendScalar appends v, of kind k, as appendJSON(scalar(k, v)) writes it: a number or
// boolean that does not read as one stays a string (rule 3). bad is a number strconv reads
// and JSON cannot hold ("1_0", "Inf"), which makes appendJSON fail.
func appendScalar(b []byte, k kind, v string) (out []byte, isString, bad bool) {
	switch k {
	case num:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return append(b, v...), false, !validNumber(v)
		}
	case boolean:
		if x, err := strconv.ParseBool(v); err == nil {
			return strconv.AppendBool(b, x), false, false
		}
	}
	return appendJSONString(b, v), true, false
}

// memberNumbers and memberBools are the IAM and STS request members whose model type is a
// number or a boolean (botocore's iam and sts service-2.json).
var (
	memberNumbers = map[string]bool{"DurationSeconds": true, "MaxSessionDuration": true, "MaxItems": true}
	memberBools   = map[string]bool{"SetAsDefault": true}
)

// listStyle is how dottedJSON writes a list and types a leaf.
type listStyle struct {
	member bool // Name.member.N is the list, a plain array (IAM, STS); otherwise Name.N, as {"items": […]} (EC2)
	kind   func(name string) kind
}

var (
	// ec2Lists converts the parameters of an EC2 action without a §1.3 shape [STOCKADE]: each
	// dotted name becomes nested lowerCamelCase keys, numbered members become
	// {"items": […]}, values stay strings (without a shape there is no type to give them).
	ec2Lists = listStyle{kind: func(string) kind { return str }}
	// memberLists converts the parameters of an IAM or STS call [OBSERVED in AWS's record
	// examples for CreateUser, CreateRole and AssumeRole]: keys lowerCamelCase, a
	// Name.member.N list a plain JSON array (these services log their model's shapes, not
	// EC2's item sets), the numbers of memberNumbers JSON numbers, policy documents the raw
	// JSON string as sent. Types of members outside those tables are [UNCONFIRMED]: they
	// stay strings.
	memberLists = listStyle{member: true, kind: func(name string) kind {
		switch {
		case memberNumbers[name]:
			return num
		case memberBools[name]:
			return boolean
		}
		return str
	}}
)

// maxDottedDepth bounds the levels a parameter's name makes: EC2's, IAM's and STS's go five or
// six deep. A tenant's name of 500,000 dots (a 1 MiB body) made a tree as deep, and writing it
// took 64 MB of stack per request (TestDottedParamsDepth).
const maxDottedDepth = 16

// parseDotted is the tree of the parameters' dotted names, at most maxDottedDepth levels.
func parseDotted(params url.Values) *tree {
	names := make([]string, 0, len(params))
	for k := range params {
		if !protocolParams[k] && !strings.HasPrefix(k, "X-Amz-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	// Every name adds at most one node per dot: one allocation for all of them.
	nodes := 1 + len(names)
	for _, k := range names {
		nodes += min(strings.Count(k, "."), maxDottedDepth-1)
	}
	b := treeBuilder{arena: make([]tree, 0, nodes)}
	root := b.node()
	for _, k := range names {
		t, rest := root, k
		var part string
		for depth := 1; ; depth++ {
			more := false
			if depth < maxDottedDepth {
				part, rest, more = strings.Cut(rest, ".")
			} else {
				part = rest // the rest of a name this deep is one key, dots and all
			}
			t = b.child(t, part)
			if !more {
				break
			}
		}
		t.part, t.value, t.leaf = part, params.Get(k), true
		if secretParams[part] {
			t.value = sensitiveDataRemoved // a secret's name is typed as a string
		}
	}
	return root
}

// dottedJSON is marshalCapped(dottedParams(params, style)) written from the parse, without
// the object tree, with the resources it names reported to found in resourcesIn's order (for
// service s). members is how many members the object has: IAM and STS record a call without
// any as null.
func dottedJSON(params url.Values, style listStyle, s Service, found func(Resource)) (js json.RawMessage, members int) {
	root := parseDotted(params)
	w := dottedWriter{style: style, b: make([]byte, 0, 256), found: found}
	w.keys, w.arnKeys = resourceKeys, map[string]string(nil)
	if s == IAM || s == STS {
		w.keys, w.arnKeys = memberResourceKeys, memberARNKeys
	}
	for style.member && len(root.kids) == 1 && root.kids[0].name == "member" {
		root = root.kids[0].t // Name.member.N at the top: its value is the top level's
	}
	list := isNumbered(root.kids)
	if root.leaf && len(root.kids) == 0 || style.member && list {
		return json.RawMessage("null"), 0 // the top level is no object (dottedParams' nil)
	}
	w.value(root, "")
	members = len(root.kids)
	if list {
		members = 1 // {"items": […]}
	}
	if w.bad || len(w.b) > maxElements {
		return json.RawMessage("null"), members
	}
	return w.b, members
}

// dottedWriter writes a tree as tree.json's value encoded.
type dottedWriter struct {
	style         listStyle
	keys, arnKeys map[string]string // resourcesIn's, for the service
	b             []byte
	key           []byte // scratch: a member's record key, for the resource tables
	found         func(Resource)
	bad           bool // a number JSON cannot hold (marshalCapped's null)
}

// value writes t, the value of the member named name ("" for a list's element).
func (w *dottedWriter) value(t *tree, name string) {
	if t.leaf && len(t.kids) == 0 {
		var isString, bad bool
		w.b, isString, bad = appendScalar(w.b, w.style.kind(t.part), t.value)
		w.bad = w.bad || bad
		if isString && name != "" {
			w.resource(name, t.value)
		}
		return
	}
	if w.style.member && len(t.kids) == 1 && t.kids[0].name == "member" {
		w.value(t.kids[0].t, name) // Name.member.N: the list is Name's value
		return
	}
	if order, ok := numberedOrder(t.kids); ok {
		if !w.style.member {
			w.b = append(w.b, `{"items":`...)
		}
		w.b = append(w.b, '[')
		for i, k := range order {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(t.kids[k].t, "")
		}
		w.b = append(w.b, ']')
		if !w.style.member {
			w.b = append(w.b, '}')
		}
		return
	}
	w.b = append(w.b, '{')
	for i, k := range t.kids {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = append(appendKey(w.b, k.name), ':')
		w.value(k.t, k.name)
	}
	w.b = append(w.b, '}')
}

// appendKey appends lowerFirst(name) as a JSON string, without making it.
func appendKey(b []byte, name string) []byte {
	if name == "" || name[0] >= utf8.RuneSelf {
		return appendJSONString(b, lowerFirst(name))
	}
	at := len(b) + 1 // after the quote: an ASCII letter is never escaped
	b = appendJSONString(b, name)
	if c := b[at]; 'A' <= c && c <= 'Z' {
		b[at] = c + 'a' - 'A'
	}
	return b
}

// resource reports the string value v of the member named name when its key names a resource.
func (w *dottedWriter) resource(name, v string) {
	if name[0] >= utf8.RuneSelf {
		w.key = append(w.key[:0], lowerFirst(name)...)
	} else if w.key = append(w.key[:0], name...); 'A' <= w.key[0] && w.key[0] <= 'Z' {
		w.key[0] += 'a' - 'A'
	}
	if typ, ok := w.keys[string(w.key)]; ok {
		w.found(Resource{ResourceType: typ, ResourceName: v})
	}
	if typ, ok := w.arnKeys[string(w.key)]; ok {
		w.found(Resource{ResourceType: typ, ResourceName: v[strings.LastIndexByte(v, '/')+1:]})
	}
}

// tree is parseDotted's parse of dotted names: a node's children in the order first seen.
// Most nodes have a handful of children, found by a scan from the newest (names arrive
// sorted, so a name's parent is usually the last child added); a node with many (a long
// numbered list) gets an index so that a request with thousands of members stays linear.
type tree struct {
	kids  []kid
	index map[string]*tree // nil until kids outgrows a scan
	part  string           // a leaf's name: its type is style.kind(part)
	value string           // a leaf's value, as sent or a secret's replacement
	leaf  bool
}

type kid struct {
	name string
	t    *tree
}

// treeBuilder hands out a request's nodes from one slice.
type treeBuilder struct{ arena []tree }

func (b *treeBuilder) node() *tree {
	if len(b.arena) == cap(b.arena) { // never with parseDotted's count; kept correct anyway
		b.arena = make([]tree, 0, 16)
	}
	b.arena = append(b.arena, tree{})
	return &b.arena[len(b.arena)-1]
}

const treeScan = 8

func (b *treeBuilder) child(t *tree, name string) *tree {
	if t.index != nil {
		if c, ok := t.index[name]; ok {
			return c
		}
	} else {
		for i := len(t.kids) - 1; i >= 0; i-- {
			if t.kids[i].name == name {
				return t.kids[i].t
			}
		}
	}
	c := b.node()
	t.kids = append(t.kids, kid{name, c})
	switch {
	case t.index != nil:
		t.index[name] = c
	case len(t.kids) > treeScan:
		t.index = make(map[string]*tree, 2*len(t.kids))
		for _, k := range t.kids {
			t.index[k.name] = k.t
		}
	}
	return c
}

// isNumbered reports whether every child's name is a number: the node is a Query list.
func isNumbered(kids []kid) bool {
	_, ok := numbered(kids)
	return ok
}

// numberedOrder is the order of the children of a Query list by their positions (stable:
// "01" and "1" keep theirs), and false when the node is not a list.
func numberedOrder(kids []kid) ([]int, bool) {
	nums, ok := numbered(kids)
	if !ok {
		return nil, false
	}
	order := make([]int, len(kids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return nums[order[i]] < nums[order[j]] })
	return order, true
}

// numbered returns the children's names as numbers when every one is a number (a Query
// list's positions), and false otherwise.
func numbered(kids []kid) ([]int, bool) {
	if len(kids) == 0 {
		return nil, false
	}
	for _, k := range kids { // most nodes are named: tell them before Atoi builds an error
		if k.name == "" || k.name[0] < '0' || k.name[0] > '9' {
			return nil, false
		}
	}
	nums := make([]int, len(kids))
	for i, k := range kids {
		n, err := strconv.Atoi(k.name)
		if err != nil {
			return nil, false
		}
		nums[i] = n
	}
	return nums, true
}

// lowerFirst lowers the first character: Query member names are PascalCase, record keys
// lowerCamelCase. An empty name stays empty.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c < utf8.RuneSelf {
		if 'A' <= c && c <= 'Z' {
			return string(c+'a'-'A') + s[1:]
		}
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
