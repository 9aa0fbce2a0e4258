package iampolicy

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Principal is the caller a request is evaluated for.
type Principal struct {
	// ARN names the caller in messages and trust-policy principals: the user ARN, the
	// assumed-role session ARN (arn:aws:sts::<acct>:assumed-role/<role>/<session>), or the
	// root ARN.
	ARN string
	// Account is the 12-digit account ID.
	Account string
	// Root marks the account's own credentials (§6.2 step 1).
	Root bool
}

// Resource is one resource a request is authorized against, with its own condition keys
// (aws:ResourceTag/…, ec2:SecurityGroupID, ec2:Vpc, …). They take precedence over the
// request's keys of the same name.
type Resource struct {
	ARN     string
	Context *Context
}

// Request is one authorization question: may Principal perform Action on every Resource?
type Request struct {
	Principal Principal
	// Action is service:Name, e.g. "ec2:AuthorizeSecurityGroupIngress".
	Action string
	// Resources are authorized one by one; none means the literal resource "*" (actions
	// without a resource type, §6.3).
	Resources []Resource
	// Context holds the request-wide keys (aws:SourceIp, aws:username, aws:RequestTag/…).
	Context *Context
	// Trust is the role's trust policy when Action is sts:AssumeRole (or a variant); it must
	// allow the caller, and when it names the caller's exact ARN it grants on its own (§5.2).
	Trust *Policy
}

// Reason says why a decision was reached; Context gives the wire phrase of §6.6.
type Reason uint8

const (
	Allowed Reason = iota
	// AlwaysAllowed: sts:GetCallerIdentity is never denied (§5.5).
	AlwaysAllowed
	// RootAllowed: the account's root credentials.
	RootAllowed
	// RootAssumeRole: root may not assume roles (§5.2).
	RootAssumeRole
	ExplicitDenyIdentity
	ExplicitDenyBoundary
	ExplicitDenySession
	ExplicitDenyResource
	NoIdentityAllow
	NoBoundaryAllow
	NoSessionAllow
	// NoResourceAllow: the trust policy does not allow the caller.
	NoResourceAllow
)

// Explicit reports whether the denial came from a Deny statement.
func (r Reason) Explicit() bool { return r >= ExplicitDenyIdentity && r <= ExplicitDenyResource }

// Context returns the phrase that follows the resource in a denial message (§6.6), "" for an
// allow and for denials IAM words without one.
func (r Reason) Context(action string) string {
	switch r {
	case ExplicitDenyIdentity:
		return "with an explicit deny in an identity-based policy"
	case ExplicitDenyBoundary:
		return "with an explicit deny in a permissions boundary"
	case ExplicitDenySession:
		return "with an explicit deny in a session policy"
	case ExplicitDenyResource:
		return "with an explicit deny in a resource-based policy"
	case NoIdentityAllow:
		return "because no identity-based policy allows the " + action + " action"
	case NoBoundaryAllow:
		return "because no permissions boundary allows the " + action + " action"
	case NoSessionAllow:
		return "because no session policy allows the " + action + " action"
	}
	return ""
}

// SetKind names the policy set a statement belongs to.
type SetKind uint8

const (
	SetIdentity SetKind = iota
	SetBoundary
	SetSession
	SetTrust
)

// StatementRef identifies a statement: the policy's name in its set, its 0-based index and
// Sid. It is what the decoded authorization message reports, never the plain message (§6.6).
type StatementRef struct {
	Set    SetKind
	Policy string
	Index  int
	Sid    string
	Deny   bool
	stmt   *statement
}

// Decision is the outcome of an evaluation.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Resource is the resource the decision is about: the first denied one, or the last
	// allowed.
	Resource string
	// Statement is the statement that decided an explicit deny or a trust grant, or the
	// allow of the last resource; nil for an implicit deny.
	Statement *StatementRef
}

// Message is the IAM/STS denial text of §6.6 ("User: <arn> is not authorized to perform:
// <action> on resource: <resource> <context>"); EC2 wraps it (see EC2DenialMessage).
func (d Decision) Message(principalARN, action string) string {
	msg := "User: " + principalARN + " is not authorized to perform: " + action + " on resource: " + d.Resource
	if c := d.Reason.Context(action); c != "" {
		msg += " " + c
	}
	return msg
}

// EC2DenialMessage is the UnauthorizedOperation message of a denied EC2 call (§6.6), with
// the encoded authorization message appended.
func (d Decision) EC2DenialMessage(principalARN, action, encoded string) string {
	return "You are not authorized to perform this operation. " + d.Message(principalARN, action) +
		". Encoded authorization failure message: " + encoded
}

// NamedPolicy is a parsed policy with the name it has in a principal's set (inline policy
// name or managed policy ARN).
type NamedPolicy struct {
	Name   string
	Policy *Policy
}

// Set is everything that governs one principal (§6.2 step 2): identity policies (the
// user's and its groups', or the role's), an optional permissions boundary, and session
// policies (nil when the credentials carry none; an empty non-nil slice would deny
// everything, as a session policy that allows nothing does).
type Set struct {
	Identity []NamedPolicy
	Boundary *NamedPolicy
	Session  []NamedPolicy
}

// Compiled is a principal's policy set ready to evaluate. It is immutable apart from an
// internal per-action cache and safe for concurrent use.
type Compiled struct {
	refs        []StatementRef
	hasBoundary bool
	hasSession  bool

	mu    sync.Mutex
	plans atomic.Pointer[map[string]*plan]
}

// plan lists, for one action, the statements whose Action/NotAction match it, in order.
type plan struct {
	deny                        []*StatementRef
	identity, boundary, session []*StatementRef
}

// maxPlans bounds the per-action cache; actions beyond it are planned on every call.
const maxPlans = 1024

// Compile prepares a principal's policy set. The result is meant to be cached per principal
// and rebuilt when one of its policies changes.
func Compile(s Set) *Compiled {
	c := &Compiled{hasBoundary: s.Boundary != nil, hasSession: s.Session != nil}
	add := func(kind SetKind, np NamedPolicy) {
		if np.Policy == nil {
			return
		}
		for _, st := range np.Policy.statements {
			c.refs = append(c.refs, StatementRef{Set: kind, Policy: np.Name, Index: st.index, Sid: st.sid,
				Deny: st.deny, stmt: st})
		}
	}
	for _, np := range s.Identity {
		add(SetIdentity, np)
	}
	if s.Boundary != nil {
		add(SetBoundary, *s.Boundary)
	}
	for _, np := range s.Session {
		add(SetSession, np)
	}
	empty := map[string]*plan{}
	c.plans.Store(&empty)
	return c
}

func (c *Compiled) plan(action string) *plan {
	if p, ok := (*c.plans.Load())[action]; ok {
		return p
	}
	p := &plan{}
	for i := range c.refs {
		r := &c.refs[i]
		if !r.stmt.matchAction(action) {
			continue
		}
		switch {
		case r.Deny:
			p.deny = append(p.deny, r)
		case r.Set == SetIdentity:
			p.identity = append(p.identity, r)
		case r.Set == SetBoundary:
			p.boundary = append(p.boundary, r)
		case r.Set == SetSession:
			p.session = append(p.session, r)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.plans.Load()
	if len(old) >= maxPlans {
		return p
	}
	next := make(map[string]*plan, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[strings.Clone(action)] = p
	c.plans.Store(&next)
	return p
}

func (st *statement) matchAction(action string) bool {
	for _, a := range st.actions {
		if wildMatch(a, action, true) {
			return !st.notAction
		}
	}
	return st.notAction
}

func (st *statement) matchResource(ev *evalCtx) bool {
	if !st.hasResource {
		return true
	}
	for i := range st.resources {
		if st.resources[i].matchARN(&ev.arn, ev) {
			return !st.notResource
		}
	}
	return st.notResource
}

func (st *statement) matchConditions(ev *evalCtx) bool {
	for i := range st.conds {
		if !st.conds[i].eval(ev) {
			return false
		}
	}
	return true
}

// evalCtx is what conditions and variables read: the resource's keys, then the request's;
// and the resource's ARN, split once for all the statements that match it.
type evalCtx struct {
	res, req *Context
	arn      arnValue
}

func (ev *evalCtx) lookup(folded string) ([]string, bool) {
	if v, ok := ev.res.get(folded); ok {
		return v, true
	}
	return ev.req.get(folded)
}

// Trace records every statement that applied during an Explain, for the decoded message.
type Trace struct {
	Matched []Match
}

// Match is one applicable statement and the resource it applied to.
type Match struct {
	Statement StatementRef
	Resource  string
}

const (
	actionGetCallerIdentity = "sts:GetCallerIdentity"
	actionAssumeRole        = "sts:AssumeRole"
)

// Evaluate decides a request (§6.2). It allocates nothing once the action has been seen for
// this principal, unless a policy variable renders longer than maxRendered bytes.
func (c *Compiled) Evaluate(req *Request) Decision {
	return c.evaluate(req, nil)
}

// Explain decides like Evaluate and also returns every statement that applied.
func (c *Compiled) Explain(req *Request) (Decision, *Trace) {
	tr := &Trace{}
	return c.evaluate(req, tr), tr
}

var starResource = []Resource{{ARN: "*"}}

func (c *Compiled) evaluate(req *Request, tr *Trace) Decision {
	if strings.EqualFold(req.Action, actionGetCallerIdentity) {
		return Decision{Allowed: true, Reason: AlwaysAllowed, Resource: "*"}
	}
	if req.Principal.Root {
		if req.Trust != nil || strings.EqualFold(req.Action, actionAssumeRole) {
			return Decision{Reason: RootAssumeRole, Resource: firstARN(req)}
		}
		return Decision{Allowed: true, Reason: RootAllowed, Resource: firstARN(req)}
	}
	p := c.plan(req.Action)
	resources := req.Resources
	if len(resources) == 0 {
		resources = starResource
	}
	var d Decision
	for i := range resources {
		d = c.evalResource(p, req, &resources[i], tr)
		if !d.Allowed {
			return d
		}
	}
	return d
}

func firstARN(req *Request) string {
	if len(req.Resources) == 0 {
		return "*"
	}
	return req.Resources[0].ARN
}

func applies(r *StatementRef, ev *evalCtx, tr *Trace) bool {
	if !r.stmt.matchResource(ev) || !r.stmt.matchConditions(ev) {
		return false
	}
	if tr != nil {
		tr.Matched = append(tr.Matched, Match{Statement: *r, Resource: ev.arn.s})
	}
	return true
}

// firstApplicable returns the first statement of refs that applies. With a trace it visits
// them all so that the trace is complete.
func firstApplicable(refs []*StatementRef, ev *evalCtx, tr *Trace) *StatementRef {
	var first *StatementRef
	for _, r := range refs {
		if applies(r, ev, tr) && first == nil {
			first = r
			if tr == nil {
				break
			}
		}
	}
	return first
}

var denyReason = [...]Reason{SetIdentity: ExplicitDenyIdentity, SetBoundary: ExplicitDenyBoundary,
	SetSession: ExplicitDenySession, SetTrust: ExplicitDenyResource}

func (c *Compiled) evalResource(p *plan, req *Request, res *Resource, tr *Trace) Decision {
	ev := evalCtx{res: res.Context, req: req.Context, arn: splitValue(res.ARN)}
	if r := firstApplicable(p.deny, &ev, tr); r != nil {
		if tr != nil {
			// The decoded message lists the allows that the deny overrode, too.
			for _, refs := range [][]*StatementRef{p.identity, p.boundary, p.session} {
				firstApplicable(refs, &ev, tr)
			}
		}
		return Decision{Reason: denyReason[r.Set], Resource: res.ARN, Statement: r}
	}
	if req.Trust != nil {
		deny, allow, byName := evalTrust(req, &ev, tr)
		switch {
		case deny != nil:
			return Decision{Reason: ExplicitDenyResource, Resource: res.ARN, Statement: deny}
		case allow == nil:
			return Decision{Reason: NoResourceAllow, Resource: res.ARN}
		case byName:
			return Decision{Allowed: true, Reason: Allowed, Resource: res.ARN, Statement: allow}
		}
	}
	allow := firstApplicable(p.identity, &ev, tr)
	if allow == nil {
		return Decision{Reason: NoIdentityAllow, Resource: res.ARN}
	}
	if c.hasBoundary && firstApplicable(p.boundary, &ev, tr) == nil {
		return Decision{Reason: NoBoundaryAllow, Resource: res.ARN}
	}
	if c.hasSession && firstApplicable(p.session, &ev, tr) == nil {
		return Decision{Reason: NoSessionAllow, Resource: res.ARN}
	}
	return Decision{Allowed: true, Reason: Allowed, Resource: res.ARN, Statement: allow}
}
