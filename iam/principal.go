package iam

import (
	"crypto/subtle"
	"maps"
	"slices"
	"strings"
	"time"
)

// PrincipalKind is who a caller is.
type PrincipalKind int

const (
	// RootPrincipal is the account itself: the existing administrator credentials of an
	// account (auth.Registry's key pair).
	RootPrincipal PrincipalKind = iota
	// UserPrincipal is an IAM user signing with one of its AKIA… keys.
	UserPrincipal
	// RolePrincipal is a role session signing with ASIA… keys and its session token.
	RolePrincipal
)

// Principal is an authenticated caller, as the evaluator and the trail need it.
type Principal struct {
	Kind    PrincipalKind
	Account string
	// ARN: arn:aws:iam::A:root, arn:aws:iam::A:user/<path><name> or
	// arn:aws:sts::A:assumed-role/<role>/<session>.
	ARN string
	// UserID is GetCallerIdentity's UserId: the account ID for root, AIDA… for a user,
	// AROA…:<session name> for a role session (§5.5).
	UserID      string
	AccessKeyID string
	UserName    string // users: the name (aws:username)
	// Role sessions: the role, its ARN (aws:PrincipalArn is the role's ARN) and the session.
	RoleName, RoleARN, SessionName string
	// Issued and Expiration bound a role session (aws:TokenIssueTime is Issued).
	Issued, Expiration time.Time
	// Tags are aws:PrincipalTag's: the user's, or the role's with the session's tags over them.
	Tags []Tag
}

// Root returns an account's root principal: the identity of the account's existing
// administrator credentials, which stay in auth.Registry.
func Root(account, accessKeyID string) Principal {
	return Principal{Kind: RootPrincipal, Account: account, ARN: RootARN(account), UserID: account, AccessKeyID: accessKeyID}
}

func userPrincipal(account string, u *User, keyID string) Principal {
	return Principal{Kind: UserPrincipal, Account: account, ARN: UserARN(account, *u), UserID: u.ID,
		AccessKeyID: keyID, UserName: u.Name, Tags: u.Tags}
}

func sessionPrincipal(account string, r *Role, ss *Session) Principal {
	return Principal{Kind: RolePrincipal, Account: account,
		ARN:    "arn:aws:sts::" + account + ":assumed-role/" + r.Name + "/" + ss.Name,
		UserID: r.ID + ":" + ss.Name, AccessKeyID: ss.AccessKeyID, RoleName: r.Name,
		RoleARN: RoleARN(account, *r), SessionName: ss.Name, Issued: ss.Issued, Expiration: ss.Expiration,
		Tags: sessionTags(r.Tags, ss.Tags)}
}

// sessionTags are a role's tags with a session's tags of the same key (case-insensitive, as
// IAM tag keys are) replacing them.
func sessionTags(role, session []Tag) []Tag {
	if len(session) == 0 {
		return role
	}
	out := make([]Tag, 0, len(role)+len(session))
	for _, t := range role {
		if !slices.ContainsFunc(session, func(s Tag) bool { return strings.EqualFold(s.Key, t.Key) }) {
			out = append(out, t)
		}
	}
	return append(out, session...)
}

// Lookup finds the caller behind an access key for the SigV4 verifier: an active AKIA… key of
// a user (no session token allowed), or an ASIA… session key whose token matches and which
// has not expired and whose role still exists. It returns the principal and the secret to
// verify the signature with. Errors: InvalidClientTokenId for an unknown, inactive or
// mismatched key, ExpiredToken for an expired session (§5.3, §5.4). The account's root keys
// are not here (auth.Registry; see Root).
func (s *Service) Lookup(accessKeyID, sessionToken string) (Principal, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	invalid := InvalidClientTokenID.Errorf("The security token included in the request is invalid.")
	a := s.accounts[s.owner[accessKeyID]]
	if a == nil {
		return Principal{}, "", invalid
	}
	if k, ok := a.keys[accessKeyID]; ok {
		u, uok := a.users[k.User]
		if !k.Active || !uok || sessionToken != "" {
			return Principal{}, "", invalid
		}
		return userPrincipal(a.id, u, k.ID), k.Secret, nil
	}
	ss, ok := a.sessions[accessKeyID]
	if !ok || subtle.ConstantTimeCompare([]byte(ss.Token), []byte(sessionToken)) != 1 {
		return Principal{}, "", invalid
	}
	r, ok := a.roles[ss.Role]
	if !ok || r.ID != ss.RoleID {
		return Principal{}, "", invalid
	}
	if !s.cfg.Now().Before(ss.Expiration) {
		return Principal{}, "", ExpiredToken.Errorf("The security token included in the request is expired")
	}
	return sessionPrincipal(a.id, r, ss), ss.Secret, nil
}

// PolicySet is every policy document that governs a principal, for the evaluator (§6.2).
type PolicySet struct {
	// Identity: inline and attached policies of the user and its groups, or of the role.
	Identity []string
	// Boundary is the permissions boundary's document ("" when none).
	Boundary string
	// Session: the session's inline policy and managed session policies; a role session's
	// permissions are Identity ∩ Session when Session is not empty.
	Session []string
}

// Policies returns the documents that govern p. Root has none: it is allowed everything.
func (s *Service) Policies(p Principal) (PolicySet, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var set PolicySet
	a := s.accounts[p.Account]
	if a == nil || p.Kind == RootPrincipal {
		return set, nil
	}
	add := func(inline map[string]string, attached []string) {
		for _, n := range slices.Sorted(maps.Keys(inline)) {
			set.Identity = append(set.Identity, inline[n])
		}
		for _, pa := range attached {
			if pol, err := s.policyByARN(a, pa); err == nil {
				set.Identity = append(set.Identity, pol.Default().Document)
			}
		}
	}
	boundary := func(b string) {
		if pol, err := s.policyByARN(a, b); b != "" && err == nil {
			set.Boundary = pol.Default().Document
		}
	}
	switch p.Kind {
	case UserPrincipal:
		u, ok := a.users[key(p.UserName)]
		if !ok {
			return set, noSuchUser(p.UserName)
		}
		add(u.Inline, u.Attached)
		for _, gk := range u.Groups {
			if g, ok := a.groups[gk]; ok {
				add(g.Inline, g.Attached)
			}
		}
		boundary(u.Boundary)
	case RolePrincipal:
		r, ok := a.roles[key(p.RoleName)]
		if !ok {
			return set, noSuchRole(p.RoleName)
		}
		add(r.Inline, r.Attached)
		boundary(r.Boundary)
		if ss, ok := a.sessions[p.AccessKeyID]; ok {
			if ss.Policy != "" {
				set.Session = append(set.Session, ss.Policy)
			}
			for _, pa := range ss.PolicyArns {
				if pol, err := s.policyByARN(a, pa); err == nil {
					set.Session = append(set.Session, pol.Default().Document)
				}
			}
		}
	}
	return set, nil
}
