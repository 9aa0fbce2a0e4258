package iam

import (
	"context"
	"encoding/base64"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// AssumeRoleInput is AssumeRole's input (§5.2); DurationSeconds 0 means 3600.
type AssumeRoleInput struct {
	RoleARN, SessionName string
	DurationSeconds      int
	Policy               string
	PolicyArns           []string
	Tags                 []Tag
	ExternalID           string
	SourceIdentity       string
}

// Credentials are a role session's temporary credentials.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

// AssumedRole is AssumeRole's result.
type AssumedRole struct {
	Credentials      Credentials
	AssumedRoleID    string // AROA…:<session name>
	ARN              string // arn:aws:sts::A:assumed-role/<role>/<session>
	PackedPolicySize int    // percent of the packed limit; -1 when no session policy or tag was passed
}

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)

// AssumeRole issues a role session to caller (§5.2): the role's trust policy must allow the
// caller (Config.Trust), and where it names only the account, the caller's identity policies
// must allow sts:AssumeRole on the role too (Config.IdentityAllows). Root cannot assume roles.
// A missing role is AccessDenied, as on AWS: it does not tell the caller the role is absent.
func (s *Service) AssumeRole(ctx context.Context, caller Principal, in AssumeRoleInput) (AssumedRole, error) {
	if err := s.checkAssume(&in); err != nil {
		return AssumedRole{}, err
	}
	if caller.Kind == RootPrincipal {
		return AssumedRole{}, AccessDenied.Errorf("Roles may not be assumed by root accounts.")
	}
	denied := AccessDenied.Errorf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, in.RoleARN)
	var out AssumedRole
	err := s.write(ctx, caller.Account, func(tx *tx) error {
		r := tx.a.roleByARN(in.RoleARN)
		if r == nil {
			return denied
		}
		max := r.MaxSession
		if caller.Kind == RolePrincipal {
			max = 3600 // role chaining
		}
		if in.DurationSeconds > max {
			if caller.Kind == RolePrincipal {
				return ValidationError.Errorf("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
			}
			return ValidationError.Errorf("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		}
		if !s.trusted(ctx, r, caller, in) {
			return denied
		}
		for _, pa := range in.PolicyArns {
			if _, err := s.policyByARN(tx.a, pa); err != nil {
				return err
			}
		}
		id, err := s.newID(prefixSession, 20)
		if err != nil {
			return Internal(err)
		}
		secret, err := randomString(s.rand(), secretAlphabet, 40)
		if err != nil {
			return Internal(err)
		}
		// The token is opaque and random; everything it stands for is kept server-side, so
		// deleting the role revokes the session [STOCKADE: not the AEAD blob of §5.2, which
		// would only matter if sessions had to be checked without the store].
		raw, err := randomString(s.rand(), secretAlphabet, 96)
		if err != nil {
			return Internal(err)
		}
		// The prefix is the one AWS's tokens share (base64 of "!\n\torigin_ec"), so that
		// tools that sniff tokens recognise an STS session token.
		token := "IQoJb3JpZ2luX2Vj" + base64.RawURLEncoding.EncodeToString([]byte(raw))
		ss := &Session{AccessKeyID: id, Secret: secret, Token: token, Role: key(r.Name), RoleID: r.ID,
			Name: in.SessionName, Issued: tx.now, Expiration: tx.now.Add(time.Duration(in.DurationSeconds) * time.Second),
			Policy: in.Policy, PolicyArns: in.PolicyArns, SourceID: in.SourceIdentity, Tags: in.Tags,
			SourceSession: caller.Kind == RolePrincipal}
		s.purgeExpired(tx)
		// STS has no quota error of its own (AWS has no such bound): IAM's LimitExceeded, in
		// IAM's words, says what happened [STOCKADE].
		if n := s.cfg.Quotas.SessionsPerAccount; len(tx.a.sessions) >= n {
			return LimitExceeded.Errorf("Cannot exceed quota for SessionsPerAccount: %d", n)
		}
		set(tx, tx.a.sessions, kindSession, id, ss)
		tx.own(id, false)
		c := cloneRole(r)
		c.LastUsed = tx.now
		set(tx, tx.a.roles, kindRole, key(r.Name), c)
		p := sessionPrincipal(caller.Account, r, ss)
		out = AssumedRole{Credentials: Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Expiration: ss.Expiration},
			AssumedRoleID: p.UserID, ARN: p.ARN, PackedPolicySize: -1}
		if in.Policy != "" || len(in.PolicyArns) > 0 || len(in.Tags) > 0 {
			// Percent of the packed limit; AWS's packing is not public, so plaintext size
			// against the 2,048-character limit stands in for it [UNCONFIRMED].
			out.PackedPolicySize = (policySize(in.Policy) + 50*len(in.PolicyArns) + 20*len(in.Tags)) * 100 / s.cfg.Quotas.SessionPolicySize
		}
		return nil
	})
	return out, err
}

func (s *Service) checkAssume(in *AssumeRoleInput) *Error {
	switch {
	case len(in.RoleARN) < 20 || len(in.RoleARN) > 2048:
		return validation(in.RoleARN, "roleArn", "Member must have length greater than or equal to 20")
	case len(in.SessionName) < 2 || len(in.SessionName) > 64:
		return validation(in.SessionName, "roleSessionName", "Member must have length greater than or equal to 2")
	case !sessionNamePattern.MatchString(in.SessionName):
		return validation(in.SessionName, "roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	case len(in.PolicyArns) > 10:
		return validation("", "policyArns", "Member must have length less than or equal to 10")
	case len(in.Tags) > 50:
		return validation("", "tags", "Member must have length less than or equal to 50")
	}
	if in.DurationSeconds == 0 {
		in.DurationSeconds = 3600
	}
	if in.DurationSeconds < 900 {
		return validation(itoa(in.DurationSeconds), "durationSeconds", "Member must have value greater than or equal to 900")
	}
	if in.DurationSeconds > 43200 {
		return validation(itoa(in.DurationSeconds), "durationSeconds", "Member must have value less than or equal to 43200")
	}
	if in.Policy != "" {
		if err := checkDoc(s.cfg.Validate, in.Policy); err != nil {
			return err
		}
		if len(in.Policy) > s.cfg.Quotas.SessionPolicySize {
			return PackedPolicyTooLarge.Errorf("Packed policy consumes %d%% of allotted space, please use smaller policy.", len(in.Policy)*100/s.cfg.Quotas.SessionPolicySize)
		}
	}
	return nil
}

// trusted applies §5.2's rules 1 and 2.
func (s *Service) trusted(ctx context.Context, r *Role, caller Principal, in AssumeRoleInput) bool {
	if s.cfg.Trust == nil {
		return false
	}
	switch s.cfg.Trust.Allows(r.Trust, TrustRequest{Caller: caller, RoleARN: RoleARN(caller.Account, *r),
		SessionName: in.SessionName, ExternalID: in.ExternalID, SourceIdentity: in.SourceIdentity, Tags: in.Tags}) {
	case TrustPrincipal:
		return true
	case TrustAccount:
		return s.cfg.IdentityAllows != nil && s.cfg.IdentityAllows(ctx, caller, "sts:AssumeRole", RoleARN(caller.Account, *r))
	}
	return false
}

// roleByARN finds a role by its ARN (path included).
func (a *acct) roleByARN(roleARN string) *Role {
	prefix := "arn:aws:iam::" + a.id + ":role/"
	rest, ok := strings.CutPrefix(roleARN, prefix)
	if !ok {
		return nil
	}
	r, ok := a.roles[key(rest[strings.LastIndexByte(rest, '/')+1:])]
	if !ok || RoleARN(a.id, *r) != roleARN {
		return nil
	}
	return r
}

// ExpiredSessionGrace is how long an expired session is kept before it is dropped: its key
// keeps answering ExpiredToken, which tells a client to refresh its credentials, rather than
// InvalidClientTokenId (AWS answers ExpiredToken for ever, its tokens carrying their own
// expiry) [STOCKADE].
const ExpiredSessionGrace = 12 * time.Hour

// droppable reports whether a session has been expired for longer than the grace period.
func (ss *Session) droppable(now time.Time) bool {
	return !now.Before(ss.Expiration.Add(ExpiredSessionGrace))
}

// maxPurge bounds the sessions one AssumeRole deletes: its transaction carries the deletions,
// and etcd's holds 128 operations by default (docs/etcd.md). With every droppable session
// in it, an account whose 200 sessions expired together had each AssumeRole refused. The
// rest go with the next calls.
const maxPurge = 32

// purgeExpired deletes up to maxPurge of the account's droppable sessions in tx, so that they
// do not pile up.
func (s *Service) purgeExpired(tx *tx) {
	n := 0
	for _, id := range slices.Sorted(maps.Keys(tx.a.sessions)) {
		if n == maxPurge {
			return
		}
		if tx.a.sessions[id].droppable(tx.now) {
			set(tx, tx.a.sessions, kindSession, id, nil)
			tx.own(id, true)
			n++
		}
	}
}

// dropExpiredAtOpen deletes every account's droppable sessions, from the store and from
// memory, in as few transactions as the store takes (store.Batch: on etcd, 128 operations
// each); nothing is dropped from memory unless the store took every deletion.
func (s *Service) dropExpiredAtOpen(ctx context.Context) error {
	now := s.cfg.Now()
	var ops []store.Op
	type gone struct {
		a  *acct
		id string
	}
	var drop []gone
	for _, acctID := range slices.Sorted(maps.Keys(s.accounts)) {
		a := s.accounts[acctID]
		for _, id := range slices.Sorted(maps.Keys(a.sessions)) {
			if a.sessions[id].droppable(now) {
				ops = append(ops, store.Op{Key: storeKey(a.id, kindSession, id), Delete: true})
				drop = append(drop, gone{a, id})
			}
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := store.Batch(ctx, s.st, store.Singly(ops)); err != nil {
		return err
	}
	for _, g := range drop {
		delete(g.a.sessions, g.id)
		delete(s.owner, g.id)
	}
	return nil
}

// Identity is GetCallerIdentity's answer (§5.5).
type Identity struct{ UserID, Account, ARN string }

// GetCallerIdentity needs no permission and is never denied.
func GetCallerIdentity(p Principal) Identity {
	return Identity{UserID: p.UserID, Account: p.Account, ARN: p.ARN}
}

// DecodeAuthorizationMessage opens an encoded authorization message through Config.Decoder;
// only principals of the account the message was issued in can open it.
func (s *Service) DecodeAuthorizationMessage(caller Principal, encoded string) (string, error) {
	if encoded == "" || len(encoded) > 10240 {
		return "", validation("", "encodedMessage", "Member must have length less than or equal to 10240")
	}
	if s.cfg.Decoder == nil {
		return "", InvalidAuthorizationMsg.Errorf("The message is invalid.")
	}
	msg, err := s.cfg.Decoder.Decode(caller.Account, encoded)
	if err != nil {
		return "", InvalidAuthorizationMsg.Errorf("The message is invalid.").withCause(err)
	}
	return msg, nil
}

func (e *Error) withCause(err error) *Error {
	e.Cause = err
	return e
}
