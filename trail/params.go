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
// the generic conversion (genericParams).
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

// requestParameters converts an action's Query parameters into the record's
// requestParameters: the §1.3 shape for the actions that have one, genericParams otherwise.
func requestParameters(action string, params url.Values) object {
	if shape, ok := requestShapes[action]; ok {
		return convert(params, "", shape)
	}
	if shape, ok := wrappedShapes[action]; ok {
		return object{{action + "Request", convert(params, "", shape)}}
	}
	return genericParams(params)
}

// convert builds the members of shape found under prefix.
func convert(params url.Values, prefix string, shape []field) object {
	o := object{}
	for _, f := range shape {
		name := prefix + f.q
		switch f.k {
		case str, num, boolean:
			if v, ok := first(params, name); ok {
				o.set(f.j, scalar(f.k, v))
			}
		case nested:
			if has(params, name+".") {
				o.set(f.j, convert(params, name+".", f.sub))
			}
		case list, array, tagged:
			var elems []any
			for _, n := range indexes(params, name+".") {
				elems = append(elems, element(params, name+"."+strconv.Itoa(n), f, n))
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
func element(params url.Values, name string, f field, n int) any {
	if len(f.sub) == 1 && f.sub[0].q == "" {
		v, _ := first(params, name)
		return object{{f.sub[0].j, scalar(f.sub[0].k, v)}}
	}
	e := convert(params, name+".", f.sub)
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

func first(params url.Values, name string) (string, bool) {
	v, ok := params[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func has(params url.Values, prefix string) bool {
	for k := range params {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// indexes returns the list positions N present under prefix (prefix + "N" or prefix + "N.…"),
// ascending: Query lists are 1-based and may have gaps.
func indexes(params url.Values, prefix string) []int {
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

// genericParams converts the parameters of an EC2 action without a §1.3 shape [STOCKADE]:
// each dotted name becomes nested lowerCamelCase keys, numbered members become
// {"items": […]}, values stay strings (without a shape there is no type to give them).
func genericParams(params url.Values) object {
	return dottedParams(params, ec2Lists)
}

// memberParams converts the parameters of an IAM or STS call [OBSERVED in AWS's record
// examples for CreateUser, CreateRole and AssumeRole]: keys lowerCamelCase, a Name.member.N
// list a plain JSON array (these services log their model's shapes, not EC2's item sets),
// the numbers of memberNumbers JSON numbers, policy documents the raw JSON string as sent.
// Types of members outside those tables are [UNCONFIRMED]: they stay strings.
func memberParams(params url.Values) object {
	return dottedParams(params, memberLists)
}

// memberNumbers and memberBools are the IAM and STS request members whose model type is a
// number or a boolean (botocore's iam and sts service-2.json).
var (
	memberNumbers = map[string]bool{"DurationSeconds": true, "MaxSessionDuration": true, "MaxItems": true}
	memberBools   = map[string]bool{"SetAsDefault": true}
)

// listStyle is how dottedParams writes a list and types a leaf.
type listStyle struct {
	list   func([]any) any
	member bool // Name.member.N is the list (IAM, STS); otherwise Name.N (EC2)
	leaf   func(name, value string) any
}

var (
	ec2Lists    = listStyle{list: func(l []any) any { return items(l) }, leaf: func(_, v string) any { return v }}
	memberLists = listStyle{list: func(l []any) any { return l }, member: true, leaf: func(name, v string) any {
		switch {
		case memberNumbers[name]:
			return scalar(num, v)
		case memberBools[name]:
			return scalar(boolean, v)
		}
		return v
	}}
)

// dottedParams is the conversion of parameters without a fixed shape: each dotted name
// becomes nested lowerCamelCase keys and numbered members lists in style's form. Protocol
// parameters are dropped and secrets replaced.
func dottedParams(params url.Values, style listStyle) object {
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
		nodes += strings.Count(k, ".")
	}
	b := treeBuilder{arena: make([]tree, 0, nodes)}
	root := b.node()
	for _, k := range names {
		t, rest := root, k
		var part string
		for {
			var more bool
			part, rest, more = strings.Cut(rest, ".")
			t = b.child(t, part)
			if !more {
				break
			}
		}
		t.value, t.leaf = style.leaf(part, params.Get(k)), true
		if secretParams[part] {
			t.value = sensitiveDataRemoved
		}
	}
	o, _ := root.json(style).(object)
	return o
}

// tree is dottedParams' parse of dotted names: a node's children in the order first seen.
// Most nodes have a handful of children, found by a scan from the newest (names arrive
// sorted, so a name's parent is usually the last child added); a node with many (a long
// numbered list) gets an index so that a request with thousands of members stays linear.
type tree struct {
	kids  []kid
	index map[string]*tree // nil until kids outgrows a scan
	value any
	leaf  bool
}

type kid struct {
	name string
	t    *tree
}

// treeBuilder hands out a request's nodes from one slice.
type treeBuilder struct{ arena []tree }

func (b *treeBuilder) node() *tree {
	if len(b.arena) == cap(b.arena) { // never with dottedParams' count; kept correct anyway
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

func (t *tree) json(style listStyle) any {
	if t.leaf && len(t.kids) == 0 {
		return t.value
	}
	if style.member && len(t.kids) == 1 && t.kids[0].name == "member" {
		return t.kids[0].t.json(style) // Name.member.N: the list is Name's value
	}
	if nums, ok := numbered(t.kids); ok {
		order := make([]int, len(t.kids))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return nums[order[i]] < nums[order[j]] })
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
