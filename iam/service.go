package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade/stockade/store"
)

// Config configures a Service. Validate is required; the rest have documented defaults.
type Config struct {
	// Validate checks an identity policy document (inline, managed, session policy) and
	// returns nil or an error whose text is the MalformedPolicyDocument message (§4.5). The
	// evaluator's parser (package iampolicy) is plugged in here.
	Validate func(doc string) error
	// ValidateTrust checks a role's trust policy (Principal required, no Resource, only
	// sts: actions); nil uses Validate.
	ValidateTrust func(doc string) error
	// Trust judges a role's trust policy on AssumeRole. Nil denies every AssumeRole: a
	// service that cannot judge trust must not hand out a role's permissions.
	Trust Trust
	// IdentityAllows reports whether the caller's own policies allow action on resource; it
	// is asked on AssumeRole when the trust policy names only the account (§5.2 rule 2). Nil
	// answers no. ctx is AssumeRole's: the request's condition keys (source address, time)
	// travel in it from the layer that authenticated the call. It is called under the
	// service's write lock, so it must not call back into the Service.
	IdentityAllows func(ctx context.Context, p Principal, action, resource string) bool
	// Decoder opens DecodeAuthorizationMessage blobs; nil rejects every message.
	Decoder Decoder
	Quotas  Quotas
	// Now is the clock; Rand the source of IDs and secrets (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
	// Shared says that other API servers write the same store: writes commit on a condition
	// and other servers' writes reach this one through the store's watch (shared.go; Follow).
	Shared bool
}

// Quotas are IAM's default quotas (§4.3; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
type Quotas struct {
	Users, Roles, Groups, Policies       int
	KeysPerUser, GroupsPerUser           int
	AttachedPerEntity, VersionsPerPolicy int
	UserInline, GroupInline, RoleInline  int // characters, whitespace excluded
	ManagedPolicySize, TrustPolicySize   int
	SessionPolicySize                    int
	// SessionsPerAccount bounds the role sessions an account holds, expired ones kept for
	// their grace period included (0 means DefaultSessionsPerAccount). AWS has no such quota,
	// its session tokens being self-contained; Stockade keeps every session in memory and in
	// the store, so a script looping on AssumeRole must not grow them without end [STOCKADE].
	SessionsPerAccount int
}

// DefaultSessionsPerAccount is the default bound on an account's role sessions: far more than
// people and their tools hold at once (a session lives at most 12 hours) [STOCKADE].
const DefaultSessionsPerAccount = 10000

// DefaultQuotas returns AWS's defaults.
func DefaultQuotas() Quotas {
	return Quotas{
		Users: 5000, Roles: 1000, Groups: 300, Policies: 1500,
		KeysPerUser: 2, GroupsPerUser: 10, AttachedPerEntity: 10, VersionsPerPolicy: 5,
		UserInline: 2048, GroupInline: 5120, RoleInline: 10240,
		ManagedPolicySize: 6144, TrustPolicySize: 2048, SessionPolicySize: 2048,
	}
}

// Trust is what AssumeRole needs of the policy evaluator.
type Trust interface {
	// Allows judges the role's trust policy for req: whether it allows the caller at all, and
	// whether it names the caller's own ARN (then no identity policy is needed) or only its
	// account (then Config.IdentityAllows must allow sts:AssumeRole on the role too).
	Allows(trustDoc string, req TrustRequest) TrustDecision
}

// TrustRequest is the context of one AssumeRole for the trust policy's conditions.
type TrustRequest struct {
	Caller         Principal
	RoleARN        string
	SessionName    string
	ExternalID     string
	SourceIdentity string
	Tags           []Tag
}

// TrustDecision is a trust policy's answer.
type TrustDecision int

const (
	// TrustDenied: no statement allows the caller, or one denies it.
	TrustDenied TrustDecision = iota
	// TrustPrincipal: the policy allows the caller by its own ARN.
	TrustPrincipal
	// TrustAccount: the policy allows the caller's account; its identity policies decide.
	TrustAccount
)

// Decoder opens an encoded authorization message for a principal of the account that it was
// issued in, or fails (then the client gets InvalidAuthorizationMessageException).
type Decoder interface {
	Decode(account, encoded string) (string, error)
}

// Service keeps every account's IAM and STS state. Safe for concurrent use.
//
// Writes are serialised by one lock held across the store transaction. IAM changes are rare
// next to EC2's, so the control service's pipelined commit would buy nothing here; holding
// the lock until the write is durable keeps rollback trivially sound (nothing can build on
// a change that is later refused) and readers never see an undurable change.
type Service struct {
	st  store.Store
	cfg Config

	// gen counts committed writes (Generation).
	gen atomic.Uint64

	// loaded is the store revision Open read the entities at: Follow goes on from there.
	loaded int64

	mu       sync.RWMutex
	accounts map[string]*acct
	// owner maps every access key and session key ID to its account, for Lookup.
	owner map[string]string
}

type acct struct {
	id string
	// version is, on a shared store, the revision of the account's last IAM write as this
	// server last read or made it (shared.go); 0 otherwise.
	version  int64
	users    map[string]*User // by key(name)
	keys     map[string]*AccessKey
	groups   map[string]*Group
	roles    map[string]*Role
	policies map[string]*Policy // customer managed, by key(name)
	sessions map[string]*Session
}

func newAccount(id string) *acct {
	return &acct{id: id, users: map[string]*User{}, keys: map[string]*AccessKey{},
		groups: map[string]*Group{}, roles: map[string]*Role{}, policies: map[string]*Policy{},
		sessions: map[string]*Session{}}
}

// Store key kinds: keys are "iam/<account>/<kind>/<id>".
const (
	keyPrefix   = "iam/"
	kindUser    = "user"
	kindKey     = "key"
	kindGroup   = "group"
	kindRole    = "role"
	kindPolicy  = "policy"
	kindSession = "session"
	kindVersion = "version" // one key per account on a shared store (shared.go)
)

func storeKey(account, kind, id string) string {
	return keyPrefix + account + "/" + kind + "/" + id
}

// Open loads every account's entities from st. A record that does not decode is an error
// naming its key, never skipped. Sessions expired for longer than ExpiredSessionGrace are
// dropped: from memory, and their records from the store, in one transaction before Open
// returns (AssumeRole drops them the same way as it goes).
func Open(ctx context.Context, st store.Store, cfg Config) (*Service, error) {
	if cfg.Validate == nil {
		return nil, errors.New("iam: Config.Validate is required")
	}
	if cfg.ValidateTrust == nil {
		cfg.ValidateTrust = cfg.Validate
	}
	if cfg.Quotas == (Quotas{}) {
		cfg.Quotas = DefaultQuotas()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Quotas.SessionsPerAccount == 0 {
		cfg.Quotas.SessionsPerAccount = DefaultSessionsPerAccount
	}
	s := &Service{st: st, cfg: cfg, accounts: map[string]*acct{}, owner: map[string]string{}}
	kvs, rev, err := st.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("iam: load: %w", err)
	}
	s.loaded = rev
	for _, kv := range kvs {
		if err := s.loadKV(kv); err != nil {
			return nil, fmt.Errorf("iam: load record %q: %w", kv.Key, err)
		}
	}
	for _, a := range s.accounts {
		for _, u := range a.users {
			s.countAttachments(a, u.Attached, 1)
		}
		for _, g := range a.groups {
			s.countAttachments(a, g.Attached, 1)
		}
		for _, r := range a.roles {
			s.countAttachments(a, r.Attached, 1)
		}
	}
	if err := s.dropExpiredAtOpen(ctx); err != nil {
		return nil, fmt.Errorf("iam: drop expired sessions: %w", err)
	}
	return s, nil
}

func (s *Service) load(k string, b []byte) error {
	parts := strings.SplitN(strings.TrimPrefix(k, keyPrefix), "/", 3)
	if len(parts) != 3 {
		return errors.New("malformed key")
	}
	a := s.account(parts[0])
	switch parts[1] {
	case kindUser:
		return decode(b, a.users, parts[2])
	case kindKey:
		s.owner[parts[2]] = a.id
		return decode(b, a.keys, parts[2])
	case kindGroup:
		return decode(b, a.groups, parts[2])
	case kindRole:
		return decode(b, a.roles, parts[2])
	case kindPolicy:
		return decode(b, a.policies, parts[2])
	case kindSession:
		s.owner[parts[2]] = a.id
		return decode(b, a.sessions, parts[2])
	case kindVersion:
		return nil // its revision is the account's version (loadKV)
	}
	return fmt.Errorf("unknown kind %q", parts[1])
}

func decode[T any](b []byte, m map[string]*T, id string) error {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	m[id] = v
	return nil
}

// account returns an account's state, creating it in memory (never in the store: a read must
// not create durable state). The caller holds s.mu (either way: maps are created only under
// the write lock or at Open; see read).
func (s *Service) account(id string) *acct {
	a := s.accounts[id]
	if a == nil {
		a = newAccount(id)
		s.accounts[id] = a
	}
	return a
}

// read runs fn on an account's state under the read lock; an account never written is empty.
func (s *Service) read(id string, fn func(a *acct) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[id]
	if a == nil {
		a = newAccount(id)
	}
	return fn(a)
}

// tx stages one write: it changes the account's maps directly (under the write lock),
// remembering how to undo each change, and collects the store operations.
type tx struct {
	s    *Service
	a    *acct
	now  time.Time
	ops  map[string]any
	keys []string
	undo []func()
}

// write runs fn under the write lock and commits what it staged as one transaction, with the
// ops of ctx's store.Journal if it has one. If fn fails or the commit is refused, every change to
// memory is undone.
func (s *Service) write(ctx context.Context, account string, fn func(tx *tx) error) error {
	if !s.cfg.Shared {
		return s.writeOnce(ctx, account, fn)
	}
	// A budget for the whole request, waits for the lock included (iam/shared.go).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedBudget)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, account, fn)
		if !errors.Is(err, errStale) {
			return err
		}
		if attempt == sharedAttempts {
			return ConcurrentModification.Errorf("The account's IAM entities were changed by other servers during each of %d attempts. Submit your request again.", attempt)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// writeOnce is one attempt of write; on a shared store, errStale asks for another.
func (s *Service) writeOnce(ctx context.Context, account string, fn func(tx *tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Shared && ctx.Err() != nil { // the budget went on waiting for the lock
		return ServiceUnavailable.Errorf("The service is unavailable. Please try again shortly.").withCause(ctx.Err())
	}
	tx := &tx{s: s, a: s.account(account), now: s.cfg.Now().UTC().Truncate(time.Second), ops: map[string]any{}}
	if err := fn(tx); err != nil {
		tx.rollback()
		return s.settle(ctx, tx.a, err)
	}
	if len(tx.keys) == 0 {
		return s.settle(ctx, tx.a, nil)
	}
	ops := make([]store.Op, 0, len(tx.keys)+1)
	for _, k := range tx.keys {
		v := tx.ops[k]
		if v == nil {
			ops = append(ops, store.Op{Key: k, Delete: true})
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			tx.rollback()
			return Internal(fmt.Errorf("encode %s: %w", k, err))
		}
		ops = append(ops, store.Op{Key: k, Value: b})
	}
	if j := store.JournalOf(ctx); j != nil {
		ops = append(ops, j()...) // the call's record commits with its change (store.Journal)
	}
	var conds []store.Cond
	if s.cfg.Shared {
		conds, ops = tx.a.versioned(ops, tx.now)
	}
	rev, err := s.st.Txn(ctx, conds, ops)
	if err != nil {
		tx.rollback()
		if s.cfg.Shared {
			return s.lost(ctx, tx.a, err)
		}
		return Internal(fmt.Errorf("commit: %w", err))
	}
	if s.cfg.Shared {
		tx.a.version = rev
	}
	s.gen.Add(1)
	return nil
}

// Generation changes whenever a write commits (any account's), and only then: a cache of
// what Policies returned is valid while the generation it was read at is current.
func (s *Service) Generation() uint64 { return s.gen.Load() }

func (tx *tx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo = nil
}

// set replaces m[id] with v (nil deletes), staging the store write and the undo. Objects in
// the maps are never changed in place: a write stores a changed copy.
func set[T any](tx *tx, m map[string]*T, kind, id string, v *T) {
	old, had := m[id]
	tx.undo = append(tx.undo, func() {
		if had {
			m[id] = old
		} else {
			delete(m, id)
		}
	})
	k := storeKey(tx.a.id, kind, id)
	if _, ok := tx.ops[k]; !ok {
		tx.keys = append(tx.keys, k)
	}
	if v == nil {
		delete(m, id)
		tx.ops[k] = nil
		return
	}
	m[id] = v
	tx.ops[k] = v
}

// own records (or, with del, forgets) which account an access key ID belongs to.
func (tx *tx) own(keyID string, del bool) {
	old, had := tx.s.owner[keyID]
	tx.undo = append(tx.undo, func() {
		if had {
			tx.s.owner[keyID] = old
		} else {
			delete(tx.s.owner, keyID)
		}
	})
	if del {
		delete(tx.s.owner, keyID)
	} else {
		tx.s.owner[keyID] = tx.a.id
	}
}

// checkDoc validates a policy document with the configured validator.
func checkDoc(validate func(string) error, doc string) *Error {
	if doc == "" {
		return validation(doc, "policyDocument", "Member must have length greater than or equal to 1")
	}
	if err := validate(doc); err != nil {
		return MalformedPolicyDocument.Errorf("%s", err.Error())
	}
	return nil
}
