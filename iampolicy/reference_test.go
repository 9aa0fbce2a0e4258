package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The naive reference evaluator: shared/spec/trail-iam.md §6 read literally, with nothing
// shared with the compiled evaluator but the Request and Context types. It re-reads the JSON
// documents on every call, builds regular expressions for wildcards, parses every date,
// number and CIDR when it compares, and walks every statement. It is slow on purpose: it
// exists to be obviously right, so that the random tests can hold Compiled to it.

// refPolicy is a document as the reference reads it.
type refPolicy struct {
	name  string
	vars  bool // Version 2012-10-17: policy variables are substituted (§6.3)
	stmts []refStmt
}

type refStmt struct {
	index                  int
	deny                   bool
	notAction, notResource bool
	actions, resources     []string
	conds                  []refCond
	// trust policies: the AWS principals (or "*"), and whether they are NotPrincipal
	principals   []string
	notPrincipal bool
}

type refCond struct {
	op, key string // as written
	vals    []string
}

// refParse reads a document the generators wrote; it trusts its shape (Parse validates).
func refParse(name, doc string) refPolicy {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		panic(err)
	}
	p := refPolicy{name: name, vars: top["Version"] == "2012-10-17"}
	stmts, ok := top["Statement"].([]any)
	if !ok {
		stmts = []any{top["Statement"]}
	}
	for i, s := range stmts {
		m := s.(map[string]any)
		st := refStmt{index: i, deny: m["Effect"] == "Deny"}
		if v, ok := m["NotAction"]; ok {
			st.notAction, st.actions = true, refStrings(v)
		} else {
			st.actions = refStrings(m["Action"])
		}
		if v, ok := m["NotResource"]; ok {
			st.notResource, st.resources = true, refStrings(v)
		} else if v, ok := m["Resource"]; ok {
			st.resources = refStrings(v)
		}
		pr := m["Principal"]
		if v, ok := m["NotPrincipal"]; ok {
			pr, st.notPrincipal = v, true
		}
		switch pr := pr.(type) {
		case string:
			st.principals = []string{pr}
		case map[string]any:
			if aws, ok := pr["AWS"]; ok {
				st.principals = refStrings(aws)
			}
		}
		if c, ok := m["Condition"].(map[string]any); ok {
			for op, keys := range c {
				for k, v := range keys.(map[string]any) {
					st.conds = append(st.conds, refCond{op: op, key: k, vals: refStrings(v)})
				}
			}
		}
		p.stmts = append(p.stmts, st)
	}
	return p
}

// refStrings turns a JSON value or list into strings (§6.1: compare as strings).
func refStrings(v any) []string {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var out []string
	for _, x := range list {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		case bool:
			out = append(out, strconv.FormatBool(x))
		default:
			panic(fmt.Sprintf("value %v", x))
		}
	}
	return out
}

// refSet is a principal's policies (§6.2 step 2); session nil means no session policies.
type refSet struct {
	identity []refPolicy
	boundary *refPolicy
	session  []refPolicy
	trust    *refPolicy // the role's trust policy, for sts:AssumeRole
}

// refDecision is what the reference decides: the same fields Decision exposes.
type refDecision struct {
	Allowed  bool
	Reason   Reason
	Resource string
	// Set, Policy and Index name the deciding statement (explicit deny, or the first identity
	// allow of the last resource); Policy is "" when there is none.
	Set    SetKind
	Policy string
	Index  int
}

func refEvaluate(s refSet, req *Request) refDecision {
	if strings.EqualFold(req.Action, "sts:GetCallerIdentity") {
		return refDecision{Allowed: true, Reason: AlwaysAllowed, Resource: "*"}
	}
	first := "*"
	if len(req.Resources) > 0 {
		first = req.Resources[0].ARN
	}
	if req.Principal.Root {
		if s.trust != nil || strings.EqualFold(req.Action, "sts:AssumeRole") {
			return refDecision{Reason: RootAssumeRole, Resource: first}
		}
		return refDecision{Allowed: true, Reason: RootAllowed, Resource: first}
	}
	resources := req.Resources
	if len(resources) == 0 {
		resources = []Resource{{ARN: "*"}}
	}
	var d refDecision
	for _, r := range resources {
		d = refResource(s, req, r)
		if !d.Allowed {
			return d
		}
	}
	return d
}

// refResource is §6.2 steps 3–8 for one resource.
func refResource(s refSet, req *Request, r Resource) refDecision {
	type found struct {
		set    SetKind
		policy string
		index  int
	}
	// applicable returns the first statement of the policies with the given effect that
	// applies to the request and resource.
	applicable := func(ps []refPolicy, deny bool) *found {
		for _, p := range ps {
			for _, st := range p.stmts {
				if st.deny == deny && refApplies(p, st, req, r) {
					return &found{policy: p.name, index: st.index}
				}
			}
		}
		return nil
	}
	var boundary []refPolicy
	if s.boundary != nil {
		boundary = []refPolicy{*s.boundary}
	}
	deny := func(f *found, set SetKind, reason Reason) refDecision {
		return refDecision{Reason: reason, Resource: r.ARN, Set: set, Policy: f.policy, Index: f.index}
	}
	if f := applicable(s.identity, true); f != nil {
		return deny(f, SetIdentity, ExplicitDenyIdentity)
	}
	if f := applicable(boundary, true); f != nil {
		return deny(f, SetBoundary, ExplicitDenyBoundary)
	}
	if f := applicable(s.session, true); f != nil {
		return deny(f, SetSession, ExplicitDenySession)
	}
	// §5.2: the trust policy must allow the caller; naming its exact ARN grants on its own,
	// naming the account (or "*") leaves the decision to the caller's own policies.
	if s.trust != nil {
		var allow, exact *found
		for _, st := range s.trust.stmts {
			matched, byName := refPrincipal(st, req)
			if !matched || !refApplies(*s.trust, st, req, r) {
				continue
			}
			f := &found{index: st.index}
			switch {
			case st.deny:
				return deny(f, SetTrust, ExplicitDenyResource)
			case byName && exact == nil:
				exact = f
			case allow == nil:
				allow = f
			}
		}
		if exact != nil {
			return refDecision{Allowed: true, Reason: Allowed, Resource: r.ARN, Set: SetTrust, Index: exact.index}
		}
		if allow == nil {
			return refDecision{Reason: NoResourceAllow, Resource: r.ARN}
		}
	}
	allow := applicable(s.identity, false)
	if allow == nil {
		return refDecision{Reason: NoIdentityAllow, Resource: r.ARN}
	}
	if s.boundary != nil && applicable(boundary, false) == nil {
		return refDecision{Reason: NoBoundaryAllow, Resource: r.ARN}
	}
	if s.session != nil && applicable(s.session, false) == nil {
		return refDecision{Reason: NoSessionAllow, Resource: r.ARN}
	}
	return refDecision{Allowed: true, Reason: Allowed, Resource: r.ARN, Set: SetIdentity, Policy: allow.policy, Index: allow.index}
}

// refPrincipal: does a trust statement's Principal (or NotPrincipal) cover the caller, and
// does it name the caller's own ARN among its entries? "*", the account ID and the account's
// root ARN name the account.
func refPrincipal(st refStmt, req *Request) (matched, byName bool) {
	for _, p := range st.principals {
		acct := req.Principal.Account
		switch p {
		case "*", acct, "arn:aws:iam::" + acct + ":root":
			matched = true
		case req.Principal.ARN:
			matched, byName = true, true
		}
	}
	if st.notPrincipal {
		return !matched, false
	}
	return matched, byName
}

// refApplies: the action matches, the resource matches, every condition holds (§6.2 step 3).
func refApplies(p refPolicy, st refStmt, req *Request, r Resource) bool {
	matched := false
	for _, a := range st.actions {
		if refGlob(refLiteral(a), true).MatchString(req.Action) {
			matched = true
		}
	}
	if matched == st.notAction {
		return false
	}
	matched = st.resources == nil && !st.notResource // a trust statement has no Resource
	for _, pat := range st.resources {
		if toks, ok := refRender(p, pat, req, r); ok && refARNMatch(toks, r.ARN) {
			matched = true
		}
	}
	if matched == st.notResource {
		return false
	}
	for _, c := range st.conds {
		if !refCondition(p, c, req, r) {
			return false
		}
	}
	return true
}

// refTok is one character of a rendered pattern; lit marks a character that stands for
// itself even if it is '*' or '?' (a substituted value or an escape, §6.3).
type refTok struct {
	r   rune
	lit bool
}

func refLiteral(s string) []refTok {
	var out []refTok
	for _, c := range s {
		out = append(out, refTok{r: c})
	}
	return out
}

// refLookup finds a condition key, case-insensitively, on the resource first, then the request.
func refLookup(key string, req *Request, r Resource) ([]string, bool) {
	for _, c := range []*Context{r.Context, req.Context} {
		if c == nil {
			continue
		}
		for _, k := range c.Keys() {
			if strings.EqualFold(k, key) {
				v, _ := c.Values(k)
				return v, true
			}
		}
	}
	return nil, false
}

// refRender substitutes policy variables in s (only in 2012-10-17 documents); ok is false
// when a variable has no single value and no default.
func refRender(p refPolicy, s string, req *Request, r Resource) ([]refTok, bool) {
	if !p.vars {
		return refLiteral(s), true
	}
	var out []refTok
	for {
		i := strings.Index(s, "${")
		j := strings.Index(s[max(i, 0):], "}")
		if i < 0 || j < 0 {
			return append(out, refLiteral(s)...), true
		}
		out = append(out, refLiteral(s[:i])...)
		body := s[i+2 : i+j]
		s = s[i+j+1:]
		if body == "*" || body == "?" || body == "$" {
			out = append(out, refTok{r: rune(body[0]), lit: true})
			continue
		}
		key, def, hasDef := strings.Cut(body, ",")
		def = strings.TrimSpace(def)
		hasDef = hasDef && len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\''
		v, found := refLookup(strings.TrimSpace(key), req, r)
		var val string
		switch {
		case found && len(v) == 1:
			val = v[0]
		case hasDef:
			val = def[1 : len(def)-1]
		default:
			return nil, false
		}
		for _, c := range val {
			out = append(out, refTok{r: c, lit: true})
		}
	}
}

// refGlob compiles a wildcard pattern: '*' any run, '?' one character, the rest literal.
func refGlob(toks []refTok, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	if fold {
		b.WriteString("(?i)")
	}
	for _, t := range toks {
		switch {
		case t.r == '*' && !t.lit:
			b.WriteString(".*")
		case t.r == '?' && !t.lit:
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(t.r)))
		}
	}
	b.WriteString("$")
	// Compiling is most of the reference's cost; the same few patterns recur in every case.
	if re, ok := refGlobs.Load(b.String()); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(b.String())
	refGlobs.Store(b.String(), re)
	return re
}

var refGlobs sync.Map // regular expression source → *regexp.Regexp

func refString(toks []refTok) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteRune(t.r)
	}
	return b.String()
}

// refARNMatch is §6.3's resource rule (and ArnLike's): "*" matches anything; otherwise both
// split into arn:partition:service:region:account:resource, wildcards within a segment; a
// value that is not an ARN matches only an identical pattern.
func refARNMatch(pat []refTok, arn string) bool {
	if len(pat) == 1 && pat[0].r == '*' && !pat[0].lit {
		return true
	}
	segs := strings.SplitN(arn, ":", 6)
	if len(segs) < 6 {
		return refString(pat) == arn
	}
	var psegs [][]refTok
	cur := []refTok{}
	for _, t := range pat {
		if t.r == ':' && len(psegs) < 5 {
			psegs = append(psegs, cur)
			cur = []refTok{}
			continue
		}
		cur = append(cur, t)
	}
	psegs = append(psegs, cur)
	for i := range segs {
		var p []refTok
		if i < len(psegs) {
			p = psegs[i]
		}
		if !refGlob(p, false).MatchString(segs[i]) {
			return false
		}
	}
	return true
}

// refCondition is §6.4 for one operator and key.
func refCondition(p refPolicy, c refCond, req *Request, r Resource) bool {
	op := c.op
	forAny := strings.HasPrefix(op, "ForAnyValue:")
	forAll := strings.HasPrefix(op, "ForAllValues:")
	op = strings.TrimPrefix(strings.TrimPrefix(op, "ForAnyValue:"), "ForAllValues:")
	ifExists := op != "Null" && strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	negated := strings.Contains(op, "Not")
	base := strings.Replace(op, "Not", "", 1)
	ctx, present := refLookup(c.key, req, r)

	if op == "Null" {
		for _, v := range c.vals {
			if strings.EqualFold(v, "true") == !present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case ifExists, forAll:
			return true
		case forAny:
			return false
		}
		return negated
	}
	// matches: context value v against the policy's values under the positive operator.
	matches := func(v string) bool {
		for _, pv := range c.vals {
			if refCompare(p, base, pv, v, req, r) {
				return true
			}
		}
		return false
	}
	switch {
	case forAny:
		for _, v := range ctx {
			if matches(v) != negated {
				return true
			}
		}
		return false
	case forAll:
		for _, v := range ctx {
			if matches(v) == negated {
				return false
			}
		}
		return true
	}
	for _, v := range ctx {
		if matches(v) {
			return !negated
		}
	}
	return negated
}

// refCompare applies a positive base operator to one policy value and one context value.
func refCompare(p refPolicy, base, pv, v string, req *Request, r Resource) bool {
	switch base {
	case "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike":
		toks, ok := refRender(p, pv, req, r)
		if !ok {
			return false
		}
		switch base {
		case "StringEquals":
			return refString(toks) == v
		case "StringEqualsIgnoreCase":
			return strings.EqualFold(refString(toks), v)
		case "StringLike":
			return refGlob(toks, false).MatchString(v)
		}
		return refARNMatch(toks, v)
	case "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		x, err1 := strconv.ParseFloat(v, 64)
		y, err2 := strconv.ParseFloat(pv, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		return refOrdered(strings.TrimPrefix(base, "Numeric"), x, y)
	case "DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		x, ok1 := refDate(v)
		y, ok2 := refDate(pv)
		if !ok1 || !ok2 {
			return false
		}
		return refOrdered(strings.TrimPrefix(base, "Date"), float64(x.Compare(y)), 0)
	case "Bool":
		return strings.EqualFold(pv, v)
	case "BinaryEquals":
		return pv == v
	case "IpAddress":
		ip := net.ParseIP(v)
		if ip == nil {
			return false
		}
		if !strings.Contains(pv, "/") {
			if strings.Contains(pv, ":") {
				pv += "/128"
			} else {
				pv += "/32"
			}
		}
		_, n, err := net.ParseCIDR(pv)
		return err == nil && n.Contains(ip)
	}
	panic("operator " + base)
}

func refOrdered(cmp string, x, y float64) bool {
	switch cmp {
	case "Equals":
		return x == y
	case "LessThan":
		return x < y
	case "LessThanEquals":
		return x <= y
	case "GreaterThan":
		return x > y
	case "GreaterThanEquals":
		return x >= y
	}
	panic(cmp)
}

// refDate reads the date forms §6.4 allows: ISO 8601 date-times and dates, or epoch seconds.
func refDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > -1e10 && n < 1e10 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// compact is a helper for failure messages: a document on one line.
func compact(doc string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(doc)) != nil {
		return doc
	}
	return b.String()
}
