package authz

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/store"
)

// messageKeyPath holds the 32-byte key that seals authorization messages. It is kept in the
// store so that a message issued before a restart still decodes after it (its lifetime is
// 24 h, §5.6), and shared by every server on the same store.
const messageKeyPath = "authz/message-key"

// Authorizer decides calls. Safe for concurrent use. Build it with New, open the iam.Service
// with its IAMConfig, then Bind the service.
type Authorizer struct {
	accounts *auth.Registry
	iam      *iam.Service
	key      []byte
	now      func() time.Time

	mu    sync.Mutex
	cache map[cacheKey]*compiled
}

// cacheKey names a principal: a role's sessions differ by their session policies, so the
// access key is part of it.
type cacheKey struct{ arn, accessKeyID string }

// compiled is one principal's compiled policies and the documents they came from, read at
// the IAM service's generation gen: the entry is current while the generation is, and still
// valid after other writes while iam.Policies returns the same documents.
type compiled struct {
	gen uint64
	set iam.PolicySet
	c   *iampolicy.Compiled
}

// maxCached bounds the cache; beyond it the cache starts again empty (role sessions come and
// go, and a stale entry is only memory).
const maxCached = 10000

// none is the compiled empty set: root's (it is allowed everything) and the trust check's.
var none = iampolicy.Compile(iampolicy.Set{})

// New loads (or makes, once per store) the message key. now is the clock (nil: time.Now).
func New(ctx context.Context, st store.Store, accounts *auth.Registry, now func() time.Time) (*Authorizer, error) {
	if now == nil {
		now = time.Now
	}
	a := &Authorizer{accounts: accounts, now: now, cache: map[cacheKey]*compiled{}}
	kv, ok, err := st.Get(ctx, messageKeyPath)
	if err != nil {
		return nil, fmt.Errorf("authz: load message key: %w", err)
	}
	if ok {
		a.key = kv.Value
	} else {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		_, err := st.Txn(ctx, []store.Cond{{Key: messageKeyPath}}, []store.Op{{Key: messageKeyPath, Value: key}})
		if errors.Is(err, store.ErrConflict) { // another server made it first: use theirs
			kv, _, err = st.Get(ctx, messageKeyPath)
			key = kv.Value
		}
		if err != nil {
			return nil, fmt.Errorf("authz: store message key: %w", err)
		}
		a.key = key
	}
	if len(a.key) != 32 {
		return nil, fmt.Errorf("authz: message key in the store has %d bytes, want 32", len(a.key))
	}
	return a, nil
}

// Bind attaches the IAM service whose entities the Authorizer judges.
func (a *Authorizer) Bind(svc *iam.Service) { a.iam = svc }

// IAMConfig is the part of iam.Config that the evaluator supplies: document validation, the
// trust-policy judge, the identity check of AssumeRole (from the decision Front put in the
// call's context) and the authorization-message decoder.
func (a *Authorizer) IAMConfig() iam.Config {
	return iam.Config{
		Validate: func(doc string) error {
			_, err := iampolicy.Parse([]byte(doc), iampolicy.Identity)
			return err
		},
		ValidateTrust: func(doc string) error {
			_, err := iampolicy.Parse([]byte(doc), iampolicy.Trust)
			return err
		},
		Trust:          trustJudge{},
		IdentityAllows: identityAllows,
		Decoder:        decoder{a},
		Now:            a.now,
	}
}

// Resolve finds the principal behind an access key and the secret that signs with it: an
// account's root key (no session token allowed), else an IAM user's key or a role session's
// (package iam's Lookup: InvalidClientTokenId, ExpiredToken).
func (a *Authorizer) Resolve(accessKeyID, sessionToken string) (iam.Principal, string, error) {
	if acct, ok := a.accounts.Lookup(accessKeyID); ok {
		if sessionToken != "" {
			return iam.Principal{}, "", iam.InvalidClientTokenID.Errorf("The security token included in the request is invalid.")
		}
		return iam.Root(acct.ID, acct.AccessKeyID), acct.SecretAccessKey, nil
	}
	if a.iam == nil {
		return iam.Principal{}, "", iam.InvalidClientTokenID.Errorf("The security token included in the request is invalid.")
	}
	return a.iam.Lookup(accessKeyID, sessionToken)
}

// Decide evaluates req (Action, Resources and Context filled by the caller) for p. On a
// denial it also returns the sealed authorization message (§6.6) of the evaluation trace.
// An error means the principal's policies could not be loaded: the call must fail, not pass.
func (a *Authorizer) Decide(p iam.Principal, req *iampolicy.Request) (iampolicy.Decision, string, error) {
	req.Principal = iampolicy.Principal{ARN: p.ARN, Account: p.Account, Root: p.Kind == iam.RootPrincipal}
	c := none
	if p.Kind != iam.RootPrincipal {
		var err error
		if c, err = a.compiled(p); err != nil {
			return iampolicy.Decision{}, "", err
		}
	}
	d := c.Evaluate(req)
	if d.Allowed {
		return d, "", nil
	}
	d, tr := c.Explain(req)
	name := p.UserName
	if p.Kind == iam.RolePrincipal {
		name = p.RoleName + "/" + p.SessionName
	}
	msg := iampolicy.NewAuthorizationMessage(req, d, tr, p.UserID, name)
	blob, err := iampolicy.EncodeMessage(a.key, p.Account, msg, a.now())
	if err != nil {
		return d, "", err
	}
	return d, blob, nil
}

// compiled returns p's compiled policies, compiling them when they changed since last time.
func (a *Authorizer) compiled(p iam.Principal) (*iampolicy.Compiled, error) {
	if a.iam == nil {
		return none, nil
	}
	id := cacheKey{p.ARN, p.AccessKeyID}
	// The generation is read before the policies, so an entry never claims a newer
	// generation than the documents it holds.
	gen := a.iam.Generation()
	a.mu.Lock()
	e := a.cache[id]
	a.mu.Unlock()
	if e != nil && e.gen == gen {
		return e.c, nil
	}
	set, err := a.iam.Policies(p)
	if err != nil {
		return nil, err
	}
	c := (*iampolicy.Compiled)(nil)
	if e != nil && sameSet(e.set, set) {
		c = e.c // another entity changed: keep the compiled form and its per-action plans
	} else if c, err = compile(set); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		a.cache = map[cacheKey]*compiled{}
	}
	a.cache[id] = &compiled{gen: gen, set: set, c: c}
	a.mu.Unlock()
	return c, nil
}

// sameSet compares documents; equal strings usually share their bytes (the service hands out
// the stored strings), so this is cheap next to compiling.
func sameSet(a, b iam.PolicySet) bool {
	return a.Boundary == b.Boundary && slices.Equal(a.Identity, b.Identity) && slices.Equal(a.Session, b.Session)
}

func compile(set iam.PolicySet) (*iampolicy.Compiled, error) {
	parse := func(name, doc string) (iampolicy.NamedPolicy, error) {
		pol, err := iampolicy.Parse([]byte(doc), iampolicy.Identity)
		if err != nil {
			// Documents were validated when they were written: this is a bug or a damaged
			// store, and the call must fail rather than run without the policy (it might
			// hold a Deny).
			return iampolicy.NamedPolicy{}, fmt.Errorf("authz: stored policy %s does not parse: %w", name, err)
		}
		return iampolicy.NamedPolicy{Name: name, Policy: pol}, nil
	}
	var s iampolicy.Set
	for i, doc := range set.Identity {
		np, err := parse(fmt.Sprintf("identity-%d", i+1), doc)
		if err != nil {
			return nil, err
		}
		s.Identity = append(s.Identity, np)
	}
	if set.Boundary != "" {
		np, err := parse("boundary", set.Boundary)
		if err != nil {
			return nil, err
		}
		s.Boundary = &np
	}
	if len(set.Session) > 0 {
		s.Session = []iampolicy.NamedPolicy{}
		for i, doc := range set.Session {
			np, err := parse(fmt.Sprintf("session-%d", i+1), doc)
			if err != nil {
				return nil, err
			}
			s.Session = append(s.Session, np)
		}
	}
	return iampolicy.Compile(s), nil
}

// trustJudge answers iam.Trust with the evaluator: the trust policy alone decides whether
// the caller may assume the role, and whether by its own ARN (§5.2).
type trustJudge struct{}

func (trustJudge) Allows(doc string, tr iam.TrustRequest) iam.TrustDecision {
	pol, err := iampolicy.Parse([]byte(doc), iampolicy.Trust)
	if err != nil {
		return iam.TrustDenied
	}
	ctx := PrincipalContext(tr.Caller, nil)
	ctx.Set(iampolicy.KeySTSRoleSessionName, tr.SessionName)
	if tr.ExternalID != "" {
		ctx.Set("sts:ExternalId", tr.ExternalID)
	}
	if tr.SourceIdentity != "" {
		ctx.Set("sts:SourceIdentity", tr.SourceIdentity)
	}
	tags := map[string]string{}
	for _, t := range tr.Tags {
		tags[t.Key] = t.Value
	}
	ctx.SetRequestTags(tags)
	req := &iampolicy.Request{Principal: iampolicy.Principal{ARN: tr.Caller.ARN, Account: tr.Caller.Account,
		Root: tr.Caller.Kind == iam.RootPrincipal}, Action: "sts:AssumeRole",
		Resources: []iampolicy.Resource{{ARN: tr.RoleARN}}, Context: ctx, Trust: pol}
	// With no identity policies, an allow by the caller's own ARN passes and an allow of the
	// account stops at "no identity-based policy allows": the trust policy said yes to the
	// account, and the caller's own policies decide (Front already asked them).
	d := none.Evaluate(req)
	switch {
	case d.Allowed:
		return iam.TrustPrincipal
	case d.Reason == iampolicy.NoIdentityAllow:
		return iam.TrustAccount
	}
	return iam.TrustDenied
}

// assumeKey carries Front's identity decision on an AssumeRole into iam's IdentityAllows.
type assumeKey struct{}

type assumeDecision struct {
	principalARN, roleARN string
	allowed               bool
}

func identityAllows(ctx context.Context, p iam.Principal, action, resource string) bool {
	d, ok := ctx.Value(assumeKey{}).(assumeDecision)
	return ok && d.allowed && strings.EqualFold(action, "sts:AssumeRole") && d.principalARN == p.ARN && d.roleARN == resource
}

type decoder struct{ a *Authorizer }

func (d decoder) Decode(account, encoded string) (string, error) {
	return iampolicy.DecodeMessage(d.a.key, account, encoded, d.a.now())
}
