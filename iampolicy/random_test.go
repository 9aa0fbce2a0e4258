package iampolicy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Random policies and requests, decided by Compiled and by the reference evaluator
// (reference_test.go); any disagreement is a bug in one of them. The pools below are small
// and overlap on purpose, so that patterns, variables and condition values match the
// requests' values often enough for every branch of §6.2 and §6.4 to be taken.

// chooser is the source of every random choice: a seeded PCG in the plain test, the fuzzer's
// bytes in the fuzz target (so that mutations of the input steer the generated case).
type chooser interface{ intn(n int) int }

type pcgChooser struct{ r *rand.Rand }

func (c pcgChooser) intn(n int) int { return c.r.IntN(n) }

// bytesChooser reads one byte per choice and answers 0 once the bytes run out, so that every
// input, however short, is a valid case.
type bytesChooser struct{ b []byte }

func (c *bytesChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

func pick[T any](c chooser, xs ...T) T { return xs[c.intn(len(xs))] }

// chance is true with probability pct/100.
func chance(c chooser, pct int) bool { return c.intn(100) < pct }

var (
	genRequestActions = []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:DescribeSecurityGroups",
		"ec2:DeleteSecurityGroup", "iam:ListUsers", "iam:GetUser", "s3:GetObject", "sts:AssumeRole"}
	genActionPatterns = []string{"*", "ec2:*", "ec2:Describe*", "EC2:authorizesecuritygroupingress",
		"ec2:*SecurityGroup*", "ec2:?escribe*", "iam:*", "iam:List?sers", "IAM:get*", "sts:*", "ec2:Delete*",
		"s3:Get*", "ec2:AuthorizeSecurityGroup????ess", "ec2:AuthorizeSecurityGroupIngress"}
	genResourceARNs = []string{
		"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0aaa00000000000a1",
		"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0ccc00000000000c1",
		"arn:aws:ec2:us-east-1:444455556666:security-group/sg-0aaa00000000000a1",
		"arn:aws:ec2:eu-west-1:111122223333:security-group-rule/sgr-0abc",
		"arn:aws:ec2::111122223333:security-group/sg-x",
		"arn:aws:iam::111122223333:user/ops/alice",
		"arn:aws:iam::111122223333:user/bob",
		"arn:aws:s3:::bucket/key*x",
		"arn:aws:s3:::bucket/a:b/c",
		"not-an-arn",
	}
	genResourcePatterns = []string{"*",
		"arn:aws:ec2:*:111122223333:security-group/*",
		"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a*",
		"arn:aws:ec2:*:*:*",
		"arn:aws:ec2:eu-west-?:*:security-group*",
		"arn:aws:ec2::111122223333:*",
		"arn:aws:ec2:*:*:security-group/${aws:ResourceTag/name, 'sg-0aaa00000000000a1'}",
		"arn:aws:ec2:${aws:RequestedRegion}:*:*",
		"arn:aws:ec2:*:*:security-group/${ec2:SecurityGroupID}",
		"arn:aws:iam::111122223333:user/${aws:username}",
		"arn:aws:iam::111122223333:user/*/${aws:username}",
		"arn:aws:iam::*:user/ops/al?ce",
		"arn:aws:iam::111122223333:user/${aws:PrincipalTag/team}",
		"arn:aws:s3:::bucket/key${*}x",
		"arn:aws:s3:::bucket/key*",
		"arn:aws:s3:::bucket/*/c",
		"arn:aws:s3:::bucket/a:*",
		"arn:aws:ec2:*:111122223333:security-group-rule/*",
		"arn:aws:iam::111122223333:role/sg-admin",
		"arn:aws:iam::*:role/*",
		"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0aaa00000000000a1",
		"arn:aws:s3:::bucket/key${*}*",
		"arn:aws:ec2:eu-west-1:111122223333",
	}
)

// genKey is a condition key with the values policies compare it with and the values requests
// carry; ops are the operators that make sense for it.
type genKey struct {
	name     string
	ops      []string
	policy   []any
	request  []string
	multi    bool // a multivalued key (aws:TagKeys)
	resource bool // carried by the resource rather than the request
}

var (
	stringOps  = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}
	numericOps = []string{"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"}
	dateOps    = []string{"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"}
	ipOps      = []string{"IpAddress", "NotIpAddress"}
	arnOps     = []string{"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
	allOps     = slices.Concat([]string{"Bool", "BinaryEquals"}, stringOps, numericOps, dateOps, ipOps, arnOps)
)

var genKeys = []genKey{
	{name: "aws:username", ops: stringOps, policy: []any{"alice", "Alice", "al*", "b?b", "${aws:PrincipalTag/team}", "${aws:PrincipalTag/team, 'alice'}", "a${*}",
		"ÅLICE", "${}", "${ , 'alice'}", "?"},
		// Non-ASCII and invalid UTF-8 values: '?' is one character, IgnoreCase folds Unicode.
		request: []string{"alice", "bob", "ALICE", "a*", "ålice", "bøb", "b\xffb", "\xc3"}},
	{name: "aws:ResourceTag/env", ops: stringOps, policy: []any{"dev", "prod", "Dev", "d?v", "*", "${aws:PrincipalTag/team}"},
		request: []string{"dev", "prod", "Dev", "DEV"}, resource: true},
	{name: "aws:TagKeys", ops: stringOps, policy: []any{"env", "team", "cost", "t*"}, request: []string{"env", "team", "cost", "Env"}, multi: true},
	{name: "aws:PrincipalTag/team", ops: stringOps, policy: []any{"blue", "red", "${aws:username}", "alice"},
		request: []string{"blue", "red", "alice", "bob"}},
	{name: "ec2:Count", ops: numericOps, policy: []any{"1", "10", "10.5", "-3", "x", json.Number("10"), json.Number("2.5e1")},
		request: []string{"1", "10", "10.0", "25", "-3", "x"}},
	{name: "aws:CurrentTime", ops: dateOps, policy: []any{"2025-03-04T10:15:30Z", "2025-03-05", "1741083330", "2025-03-04T10:15:30.5Z",
		"2025-03-04T11:15:30+01:00", "bogus", json.Number("1741083330")},
		request: []string{"2025-03-04T10:15:30Z", "2025-03-05T00:00:00Z", "1741083331", "2025-03-04T10:15:30.25Z", "bogus"}},
	{name: "aws:SecureTransport", ops: []string{"Bool"}, policy: []any{"true", "false", true, false, "TRUE"},
		request: []string{"true", "false"}},
	{name: "aws:MultiFactorAuthPresent", ops: []string{"Bool"}, policy: []any{"true", "false", false},
		request: []string{"true", "false"}},
	{name: "ec2:Blob", ops: []string{"BinaryEquals"}, policy: []any{"QUJD", "QUJE"}, request: []string{"QUJD", "qujd"}},
	{name: "aws:SourceIp", ops: ipOps, policy: []any{"10.0.0.0/8", "10.1.2.3", "192.0.2.0/24", "2001:db8::/32", "2001:db8::1", "bogus", "0.0.0.0/0", "10.1.2.3/8"},
		request: []string{"10.1.2.3", "192.0.2.50", "2001:db8::5", "::ffff:10.1.1.1", "8.8.8.8", "nonsense"}},
	{name: "aws:PrincipalArn", ops: arnOps, policy: []any{"arn:aws:iam::111122223333:user/ops/*", "arn:aws:iam::*:user/bob",
		"arn:aws:iam::111122223333:role/sg-admin", "arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam:*:*:*", "*",
		"arn:aws:iam::111122223333:user/ops/al?ce"},
		request: []string{"arn:aws:iam::111122223333:user/ops/alice", "arn:aws:iam::111122223333:user/bob",
			"arn:aws:iam::111122223333:role/sg-admin", "arn:aws:iam:x:111122223333:user/bob", "nope"}},
	{name: "ec2:Vpc", ops: arnOps, policy: []any{"arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0bbb*", "arn:aws:ec2:*:*:vpc/*"},
		request:  []string{"arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0bbb00000000000b1", "arn:aws:ec2:eu-west-1:444455556666:vpc/vpc-1"},
		resource: true},
}

// genCase is one generated principal with a few requests.
type genCase struct {
	identity []string // documents
	boundary *string
	session  []string // nil: no session policies
	trust    *string  // the role's trust policy; its requests are sts:AssumeRole
	requests []*Request
}

func (g *genCase) String() string {
	var b strings.Builder
	for i, d := range g.identity {
		fmt.Fprintf(&b, "identity id%d: %s\n", i, compact(d))
	}
	if g.boundary != nil {
		fmt.Fprintf(&b, "boundary: %s\n", compact(*g.boundary))
	}
	if g.trust != nil {
		fmt.Fprintf(&b, "trust: %s\n", compact(*g.trust))
	}
	if g.session != nil {
		fmt.Fprintf(&b, "session (%d):\n", len(g.session))
		for i, d := range g.session {
			fmt.Fprintf(&b, "  s%d: %s\n", i, compact(d))
		}
	}
	return b.String()
}

func describeRequest(r *Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "action %s root=%v\n  request context %s\n", r.Action, r.Principal.Root, describeContext(r.Context))
	for _, res := range r.Resources {
		fmt.Fprintf(&b, "  resource %s %s\n", res.ARN, describeContext(res.Context))
	}
	return b.String()
}

func describeContext(c *Context) string {
	var parts []string
	for _, k := range c.Keys() {
		v, _ := c.Values(k)
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func genCaseFrom(c chooser) *genCase {
	g := &genCase{}
	for range 1 + c.intn(3) {
		g.identity = append(g.identity, genPolicy(c))
	}
	if chance(c, 30) {
		d := genPolicy(c)
		g.boundary = &d
	}
	if chance(c, 25) {
		// A user's AssumeRole: no session policies (a user has none), a trust policy.
		d := genTrustPolicy(c)
		g.trust = &d
		for range 1 + c.intn(4) {
			g.requests = append(g.requests, genAssumeRole(c))
		}
		return g
	}
	if chance(c, 30) {
		g.session = []string{}
		for range c.intn(3) {
			g.session = append(g.session, genPolicy(c))
		}
	}
	for range 1 + c.intn(4) {
		g.requests = append(g.requests, genRequest(c))
	}
	return g
}

func genPolicy(c chooser) string {
	doc := map[string]any{}
	switch c.intn(20) {
	case 0, 1:
		doc["Version"] = "2008-10-17"
	case 2:
	default:
		doc["Version"] = "2012-10-17"
	}
	var stmts []any
	for range 1 + c.intn(4) {
		stmts = append(stmts, genStatement(c))
	}
	if len(stmts) == 1 && chance(c, 50) {
		doc["Statement"] = stmts[0]
	} else {
		doc["Statement"] = stmts
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// oneOrList writes a single value bare or as a list (equivalent, §6.1).
func oneOrList[T any](c chooser, xs []T) any {
	if len(xs) == 1 && chance(c, 50) {
		return xs[0]
	}
	return xs
}

// genElement sets Action or Resource (or, sometimes, their Not… form) to 1..n patterns.
func genElement(c chooser, st map[string]any, name string, pool []string, n int) {
	var vals []string
	for range 1 + c.intn(n) {
		vals = append(vals, pick(c, pool...))
	}
	if chance(c, 15) {
		name = "Not" + name
	}
	st[name] = oneOrList(c, vals)
}

func genStatement(c chooser) map[string]any {
	st := map[string]any{"Effect": "Allow"}
	if chance(c, 35) {
		st["Effect"] = "Deny"
	}
	genElement(c, st, "Action", genActionPatterns, 3)
	genElement(c, st, "Resource", genResourcePatterns, 2)
	if chance(c, 55) {
		st["Condition"] = genCondition(c)
	}
	return st
}

// genCondition writes a Condition block of one to three operator/key pairs.
func genCondition(c chooser) map[string]map[string]any {
	cond := map[string]map[string]any{}
	for range 1 + c.intn(3) {
		k := pick(c, genKeys...)
		op := pick(c, k.ops...)
		if chance(c, 10) {
			op = pick(c, allOps...) // an operator of the wrong type matches nothing
		}
		switch c.intn(10) {
		case 0, 1:
			op = "ForAnyValue:" + op
		case 2, 3:
			op = "ForAllValues:" + op
		}
		if chance(c, 20) {
			op += "IfExists"
		}
		var vals []any
		if chance(c, 12) {
			op = "Null"
			vals = []any{pick[any](c, "true", "false", true)}
		} else {
			for range 1 + c.intn(3) {
				vals = append(vals, pick(c, k.policy...))
			}
		}
		if cond[op] == nil {
			cond[op] = map[string]any{}
		}
		cond[op][mixCase(c, k.name)] = oneOrList(c, vals)
	}
	return cond
}

// Trust policies (§5.2) for sts:AssumeRole requests of users.
var (
	genRoleARN    = "arn:aws:iam::111122223333:role/sg-admin"
	genBobARN     = "arn:aws:iam::111122223333:user/bob"
	genPrincipals = []string{"arn:aws:iam::111122223333:root", "111122223333", aliceARN, genBobARN,
		"arn:aws:iam::444455556666:root", "*"}
	genTrustActions = []any{"sts:AssumeRole", []string{"sts:AssumeRole", "sts:TagSession"}, "sts:*", "sts:AssumeRole*",
		"sts:Assume?ole", "sts:TagSession"}
)

func genTrustPolicy(c chooser) string {
	var stmts []any
	for range 1 + c.intn(3) {
		st := map[string]any{"Effect": "Allow", "Action": pick(c, genTrustActions...)}
		if chance(c, 25) {
			st["Effect"] = "Deny"
		}
		var principal any
		switch c.intn(10) {
		case 0:
			principal = "*"
		case 1:
			principal = map[string]any{"Service": "ec2.amazonaws.com"}
		default:
			var ps []string
			for range 1 + c.intn(3) {
				ps = append(ps, pick(c, genPrincipals...))
			}
			principal = map[string]any{"AWS": oneOrList(c, ps)}
		}
		if chance(c, 15) {
			st["NotPrincipal"] = principal
		} else {
			st["Principal"] = principal
		}
		if chance(c, 40) {
			st["Condition"] = genCondition(c)
		}
		stmts = append(stmts, st)
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// genAssumeRole is an sts:AssumeRole request of alice or bob for the role; aws:PrincipalArn is
// the caller's ARN, as the server sets it for users (on the resource too, where genContext may
// have put another: the key names the caller, whatever is authorized).
func genAssumeRole(c chooser) *Request {
	arn := pick(c, aliceARN, genBobARN)
	return &Request{
		Principal: Principal{ARN: arn, Account: acct, Root: chance(c, 3)},
		Action:    "sts:AssumeRole",
		Resources: []Resource{{ARN: genRoleARN, Context: genContext(c, true).Set(KeyPrincipalARN, arn)}},
		Context:   genContext(c, false).Set(KeyPrincipalARN, arn),
	}
}

// mixCase upper- or lower-cases some letters of a key: key names are case-insensitive (§6.4).
func mixCase(c chooser, s string) string {
	if !chance(c, 25) {
		return s
	}
	b := []byte(s)
	for i := range b {
		if chance(c, 30) {
			if 'a' <= b[i] && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			} else if 'A' <= b[i] && b[i] <= 'Z' {
				b[i] += 'a' - 'A'
			}
		}
	}
	return string(b)
}

func genRequest(c chooser) *Request {
	req := &Request{
		Principal: Principal{ARN: aliceARN, Account: acct, Root: chance(c, 3)},
		Action:    pick(c, genRequestActions...),
		Context:   genContext(c, false),
	}
	if chance(c, 3) {
		req.Action = "sts:GetCallerIdentity"
	}
	for range c.intn(4) {
		req.Resources = append(req.Resources, Resource{ARN: pick(c, genResourceARNs...), Context: genContext(c, true)})
	}
	return req
}

// genContext fills a request's (or a resource's) keys; a resource sometimes also carries a
// request key, which then hides the request's value (resource keys take precedence).
func genContext(c chooser, resource bool) *Context {
	ctx := &Context{}
	for _, k := range genKeys {
		p := 60
		if k.resource != resource {
			p = 8
		}
		if !chance(c, p) {
			continue
		}
		n := 1
		switch {
		case k.multi:
			n = c.intn(4)
		case chance(c, 8):
			n = 2 // several values on a single-valued key: variables cannot use it
		}
		vals := []string{}
		for range n {
			vals = append(vals, pick(c, k.request...))
		}
		ctx.Set(mixCase(c, k.name), vals...)
	}
	if resource && chance(c, 40) {
		ctx.Set("aws:ResourceTag/name", pick(c, "sg-0aaa00000000000a1", "sg-0ccc00000000000c1", "a*"))
	}
	if resource && chance(c, 40) {
		ctx.Set(KeyEC2SecurityGroupID, pick(c, "sg-0aaa00000000000a1", "sg-0ccc00000000000c1"))
	}
	if !resource && chance(c, 60) {
		ctx.Set(KeyRequestedRegion, pick(c, "eu-west-1", "us-east-1"))
	}
	return ctx
}

// checkCase compiles the case's documents, decides each request both ways and reports every
// disagreement. Documents the generator writes are valid: a parse error is a failure too.
func checkCase(t *testing.T, g *genCase) {
	t.Helper()
	var set Set
	var ref refSet
	parse := func(name, doc string) (NamedPolicy, refPolicy) {
		p, err := Parse([]byte(doc), Identity)
		if err != nil {
			t.Fatalf("Parse(%s): %v", doc, err)
		}
		return NamedPolicy{Name: name, Policy: p}, refParse(name, doc)
	}
	for i, d := range g.identity {
		np, rp := parse(fmt.Sprint("id", i), d)
		set.Identity, ref.identity = append(set.Identity, np), append(ref.identity, rp)
	}
	if g.boundary != nil {
		np, rp := parse("boundary", *g.boundary)
		set.Boundary, ref.boundary = &np, &rp
	}
	if g.session != nil {
		set.Session, ref.session = []NamedPolicy{}, []refPolicy{}
		for i, d := range g.session {
			np, rp := parse(fmt.Sprint("s", i), d)
			set.Session, ref.session = append(set.Session, np), append(ref.session, rp)
		}
	}
	if g.trust != nil {
		p, err := Parse([]byte(*g.trust), Trust)
		if err != nil {
			t.Fatalf("Parse(%s): %v", *g.trust, err)
		}
		rp := refParse("", *g.trust)
		ref.trust = &rp
		for _, req := range g.requests {
			req.Trust = p
		}
	}
	compiled := Compile(set)
	for _, req := range g.requests {
		want := refEvaluate(ref, req)
		// Twice: the first call plans the action, the second uses the cached plan.
		for _, got := range []Decision{compiled.Evaluate(req), compiled.Evaluate(req)} {
			if d := asRef(got); d != want {
				t.Fatalf("Compiled and the reference disagree\n%s%s compiled  %+v\n reference %+v", g, describeRequest(req), d, want)
			}
		}
		if d, _ := compiled.Explain(req); asRef(d) != want {
			t.Fatalf("Explain disagrees with the reference\n%s%s explain   %+v\n reference %+v", g.String(), describeRequest(req), asRef(d), want)
		}
	}
}

func asRef(d Decision) refDecision {
	r := refDecision{Allowed: d.Allowed, Reason: d.Reason, Resource: d.Resource}
	if d.Statement != nil {
		r.Set, r.Policy, r.Index = d.Statement.Set, d.Statement.Policy, d.Statement.Index
	}
	return r
}

// TestEvaluateMatchesReference decides thousands of random cases (fixed seeds, so a failure
// reproduces) with both evaluators.
func TestEvaluateMatchesReference(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	for seed := range uint64(n) {
		g := genCaseFrom(pcgChooser{rand.New(rand.NewPCG(seed, 14))})
		if !t.Run(fmt.Sprint(seed), func(t *testing.T) { checkCase(t, g) }) {
			return
		}
	}
}

// FuzzEvaluate lets the fuzzer choose the case: every byte is one choice of the generator.
// Run with go test -fuzz FuzzEvaluate ./iampolicy.
func FuzzEvaluate(f *testing.F) {
	for seed := range uint64(16) {
		// 128 bytes make a case of a few policies. With 256-byte seeds `go test -fuzz` stalled
		// after the baseline here (go1.26, the worker busy outside this function); 128 runs.
		b := make([]byte, 128)
		r := rand.New(rand.NewPCG(seed, 41))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := genCaseFrom(&bytesChooser{b: data})
		checkCase(t, g)
	})
}

// TestReferenceFindings keeps the disagreements the random tests found, with the answer both
// evaluators must now give.
func TestReferenceFindings(t *testing.T) {
	tests := []struct {
		name, cond, username string
		want                 bool
	}{
		// A variable with an empty key never resolves: its default applies, and without one
		// the string matches nothing (Compiled used to render it as empty text).
		{"empty key takes the default", `{"StringLike":{"aws:username":"${ , 'alice'}"}}`, "alice", true},
		{"empty key without default", `{"StringEquals":{"aws:username":"x${}"}}`, "x", false},
		// '?' is one character even when the value is not valid UTF-8 (Compiled stepped over
		// a truncated sequence's missing bytes, past the end of the value).
		{"? matches a truncated sequence", `{"StringNotLike":{"aws:username":"?"}}`, "\xc3", false},
		{"? matches an invalid byte", `{"StringLike":{"aws:username":"b?b"}}`, "b\xffb", true},
		{"? matches a multibyte character", `{"StringLike":{"aws:username":"b?b"}}`, "bøb", true},
		{"* then ? over invalid bytes", `{"StringLike":{"aws:username":"*?\u00e9"}}`, "\xc3\xc3é", true},
		// IgnoreCase folds beyond ASCII.
		{"IgnoreCase folds Unicode", `{"StringEqualsIgnoreCase":{"aws:username":"ÅLICE"}}`, "ålice", true},
		{"IgnoreCase folds Unicode in a variable", `{"StringEqualsIgnoreCase":{"aws:username":"${aws:PrincipalTag/team}"}}`, "ålice", true},
		{"IgnoreCase keeps escapes literal", `{"StringEqualsIgnoreCase":{"aws:username":"Ä${*}"}}`, "ä*", true},
		{"IgnoreCase escape is not a wildcard", `{"StringEqualsIgnoreCase":{"aws:username":"Ä${*}"}}`, "äx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := condAllow(tt.cond)
			req := &Request{Principal: Principal{ARN: aliceARN, Account: acct}, Action: "ec2:X",
				Context: (&Context{}).Set(KeyUsername, tt.username).Set("aws:PrincipalTag/team", "ÅLICE")}
			got := Compile(Set{Identity: []NamedPolicy{{Name: "p", Policy: mustParse(t, doc, Identity)}}}).Evaluate(req)
			ref := refEvaluate(refSet{identity: []refPolicy{refParse("p", doc)}}, req)
			if got.Allowed != tt.want || ref.Allowed != tt.want {
				t.Errorf("compiled %v, reference %v, want %v", got.Allowed, ref.Allowed, tt.want)
			}
		})
	}
}

// TestTrustNamesCallerAmongOthers keeps the trust disagreement the random tests found: a
// Principal listing the account and the caller's ARN names the caller, so the trust policy
// grants without an identity policy (§5.2 rule 2); Compiled used to stop at the account entry
// and ask for one.
func TestTrustNamesCallerAmongOthers(t *testing.T) {
	for _, principal := range []string{
		`["111122223333", "arn:aws:iam::111122223333:user/ops/alice"]`,
		`["arn:aws:iam::111122223333:user/ops/alice", "111122223333"]`,
		`["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:user/ops/alice"]`,
	} {
		doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":` + principal + `},"Action":"sts:AssumeRole"}}`
		req := &Request{Principal: Principal{ARN: aliceARN, Account: acct}, Action: "sts:AssumeRole",
			Resources: []Resource{{ARN: genRoleARN}}, Context: (&Context{}).Set(KeyPrincipalARN, aliceARN),
			Trust: mustParse(t, doc, Trust)}
		got := Compile(Set{}).Evaluate(req)
		rp := refParse("", doc)
		ref := refEvaluate(refSet{trust: &rp}, req)
		if !got.Allowed || !ref.Allowed {
			t.Errorf("%s: compiled %+v, reference %+v; want both allowed", principal, got, ref)
		}
	}
}
