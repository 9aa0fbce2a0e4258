package events

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stockade/stockade/store"
)

// Prefix is where the bus keeps its state in the store: resources under Prefix+"r/",
// pending deliveries under Prefix+"q/". Nothing watches it.
const Prefix = "events/"

const resourcePrefix = Prefix + "r/"

// Config configures a Service; the zero value gives AWS's quotas and no guard.
type Config struct {
	Quotas Quotas
	Guard  *Guard
	Now    func() time.Time
	// Shared says that other API servers write the same store (several servers on one
	// etcd): writes are conditional and Follow keeps memory current (shared.go).
	Shared bool
}

// Service holds every account's rules, connections and API destinations, in memory for
// matching and in the store for restarts. Writes are serialised by one lock: they are rare
// next to the events matched.
type Service struct {
	st     store.Store
	quotas Quotas
	guard  *Guard
	now    func() time.Time

	mu    sync.RWMutex
	buses map[Scope]*busState

	// On a shared store (shared.go): each scope's version key's revision as memory holds it
	// (-1: unknown), and the revision Open loaded at, where Follow starts.
	shared   bool
	versions map[Scope]int64
	loaded   int64
}

// busState is one account's default bus in one region.
type busState struct {
	rules map[string]*Rule
	conns map[string]*Connection
	dests map[string]*Destination
}

// Open loads the bus state from st.
func Open(ctx context.Context, st store.Store, cfg Config) (*Service, error) {
	if cfg.Quotas == (Quotas{}) {
		cfg.Quotas = DefaultQuotas()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{st: st, quotas: cfg.Quotas, guard: cfg.Guard, now: cfg.Now, buses: map[Scope]*busState{},
		shared: cfg.Shared, versions: map[Scope]int64{}}
	if cfg.Shared {
		rev, err := s.loadVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("events: load: %w", err)
		}
		s.loaded = rev
	}
	kvs, _, err := st.List(ctx, resourcePrefix)
	if err != nil {
		return nil, fmt.Errorf("events: load: %w", err)
	}
	for _, kv := range kvs {
		parts := strings.SplitN(strings.TrimPrefix(kv.Key, resourcePrefix), "/", 4)
		if len(parts) != 4 {
			continue
		}
		if err := s.bus(Scope{parts[0], parts[1]}).load(parts[2], kv.Value); err != nil {
			return nil, fmt.Errorf("events: load %s: %w", kv.Key, err)
		}
	}
	return s, nil
}

// load takes one stored resource of kind ("rule", "conn", "dest"; others are skipped).
func (b *busState) load(kind string, v []byte) error {
	var err error
	switch kind {
	case "rule":
		var r Rule
		if err = json.Unmarshal(v, &r); err == nil {
			if r.compiled, err = Compile(r.Pattern); err == nil {
				b.rules[r.Name] = &r
			}
		}
	case "conn":
		var c Connection
		if err = json.Unmarshal(v, &c); err == nil {
			b.conns[c.Name] = &c
		}
	case "dest":
		var d Destination
		if err = json.Unmarshal(v, &d); err == nil {
			b.dests[d.Name] = &d
		}
	}
	return err
}

// bus returns the state of sc, creating it; the caller holds mu for writing (or is Open).
func (s *Service) bus(sc Scope) *busState {
	b := s.buses[sc]
	if b == nil {
		b = &busState{rules: map[string]*Rule{}, conns: map[string]*Connection{}, dests: map[string]*Destination{}}
		s.buses[sc] = b
	}
	return b
}

// view returns the state of sc for reading, or an empty one; the caller holds mu.
func (s *Service) view(sc Scope) *busState {
	if b := s.buses[sc]; b != nil {
		return b
	}
	return &busState{}
}

func key(sc Scope, kind, name string) string {
	return resourcePrefix + sc.Account + "/" + sc.Region + "/" + kind + "/" + name
}

// save writes one resource (v nil: deletes it); the caller holds mu and changes memory only
// once it returns nil, so that a failed write leaves both as they were.
func (s *Service) save(ctx context.Context, k string, v any) error {
	op := store.Op{Key: k, Delete: v == nil}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		op.Value = b
	}
	if !s.shared {
		if _, err := s.st.Txn(ctx, nil, []store.Op{op}); err != nil {
			return errorf(CodeInternal, "The bus could not store the change.")
		}
		return nil
	}
	sc, ok := scopeOf(k)
	if !ok {
		return errorf(CodeInternal, "The bus could not store the change.")
	}
	rev, err := s.st.Txn(ctx, []store.Cond{{Key: versionKey(sc), ModRevision: s.versions[sc]}},
		[]store.Op{op, {Key: versionKey(sc), Value: []byte("{}")}})
	switch {
	case errors.Is(err, store.ErrConflict):
		// Decided on stale memory: nothing was written. The scope is read again for the
		// client's retry (shared.go).
		s.reloadScope(ctx, sc)
		return errConcurrent()
	case err != nil:
		// The outcome may be unknown (etcd out of reach): the scope is read again before its
		// next write.
		s.versions[sc] = -1
		return errorf(CodeInternal, "The bus could not store the change.")
	}
	s.versions[sc] = rev
	return nil
}

// RuleInput is PutRule's input.
type RuleInput struct {
	Name, Pattern, State, Description, Bus string
	// Schedule is ScheduleExpression: refused, Stockade has no scheduler.
	Schedule string
}

// PutRule creates or updates a rule and returns its ARN.
func (s *Service) PutRule(ctx context.Context, sc Scope, in RuleInput) (string, error) {
	if err := checkName(in.Name, "name"); err != nil {
		return "", err
	}
	if err := checkDescription(in.Description); err != nil {
		return "", err
	}
	if err := checkBus(sc, in.Bus); err != nil {
		return "", err
	}
	if in.Schedule != "" {
		return "", errorf(CodeValidation, "ScheduleExpression is not supported: Stockade's bus has no scheduler; use EventPattern.")
	}
	if in.Pattern == "" {
		return "", errorf(CodeValidation, "Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	switch in.State {
	case "":
		in.State = Enabled
	case Enabled, Disabled, EnabledWithReads:
	default:
		return "", validation(in.State, "state", "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]")
	}
	p, err := Compile(in.Pattern)
	if err != nil {
		return "", errorf(CodeInvalidEventPattern, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bus(sc)
	old := b.rules[in.Name]
	if old == nil && len(b.rules) >= s.quotas.RulesPerBus {
		return "", errorf(CodeLimitExceeded, "The requested resource exceeds the maximum number allowed.")
	}
	r := &Rule{Name: in.Name, Description: in.Description, State: in.State, Pattern: in.Pattern, Created: s.now().UTC(), compiled: p}
	if old != nil {
		r.Created, r.Targets = old.Created, old.Targets
	}
	if err := s.save(ctx, key(sc, "rule", r.Name), r); err != nil {
		return "", err
	}
	b.rules[r.Name] = r
	return ruleARN(sc, r.Name), nil
}

// rule returns a rule of sc; the caller holds mu.
func (s *Service) rule(sc Scope, name, bus string) (*Rule, error) {
	if err := checkBus(sc, bus); err != nil {
		return nil, err
	}
	if r := s.view(sc).rules[name]; r != nil {
		return r, nil
	}
	return nil, errorf(CodeResourceNotFound, "Rule %s does not exist on EventBus default.", name)
}

// DescribeRule returns a copy of a rule.
func (s *Service) DescribeRule(sc Scope, name, bus string) (Rule, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.rule(sc, name, bus)
	if err != nil {
		return Rule{}, err
	}
	return *r, nil
}

// ListRules pages through the rules whose names start with prefix, by name.
func (s *Service) ListRules(sc Scope, prefix, bus, token string, limit int) ([]Rule, string, error) {
	if err := checkBus(sc, bus); err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.view(sc).rules, prefix, token, limit, func(r *Rule) string { return r.Name })
}

// DeleteRule deletes a rule that has no targets; deleting a missing rule succeeds, as in
// EventBridge [UNCONFIRMED].
func (s *Service) DeleteRule(ctx context.Context, sc Scope, name, bus string) error {
	if err := checkBus(sc, bus); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.view(sc).rules[name]
	if r == nil {
		return nil
	}
	if len(r.Targets) > 0 {
		return errorf(CodeValidation, "Rule can't be deleted since it has targets.")
	}
	if err := s.save(ctx, key(sc, "rule", name), nil); err != nil {
		return err
	}
	delete(s.bus(sc).rules, name)
	return nil
}

// SetRuleState is EnableRule (ENABLED) and DisableRule (DISABLED).
func (s *Service) SetRuleState(ctx context.Context, sc Scope, name, bus, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.rule(sc, name, bus)
	if err != nil {
		return err
	}
	return s.replaceRule(ctx, sc, r, func(n *Rule) { n.State = state })
}

// replaceRule stores a changed copy of r, then swaps it in: rules are never changed in place,
// so that matching may hold one without the lock.
func (s *Service) replaceRule(ctx context.Context, sc Scope, r *Rule, change func(*Rule)) error {
	n := *r
	n.Targets = slices.Clone(r.Targets)
	change(&n)
	if err := s.save(ctx, key(sc, "rule", n.Name), &n); err != nil {
		return err
	}
	s.bus(sc).rules[n.Name] = &n
	return nil
}

// FailedEntry is one target PutTargets or RemoveTargets could not take.
type FailedEntry struct {
	TargetID, Code, Message string
}

// PutTargets adds or replaces targets of a rule. A target whose ARN is neither an API
// destination of the caller's nor a file target fails alone; more than TargetsPerRule in all
// fails the call.
func (s *Service) PutTargets(ctx context.Context, sc Scope, rule, bus string, targets []Target) ([]FailedEntry, error) {
	if len(targets) == 0 || len(targets) > 10 {
		return nil, validation(fmt.Sprint(len(targets)), "targets", "Member must have length between 1 and 10")
	}
	for _, t := range targets {
		if err := checkName(t.ID, "targets.member.id"); err != nil {
			return nil, err
		}
		if len(t.ARN) < 1 || len(t.ARN) > 1600 {
			return nil, validation(t.ARN, "targets.member.arn", "Member must have length between 1 and 1600")
		}
	}
	return s.editTargets(ctx, sc, rule, bus, len(targets), func(next []Target) ([]Target, []FailedEntry) {
		var failed []FailedEntry
		for _, t := range targets {
			kind, name := targetKind(sc, t.ARN)
			if kind == "" || (kind == "api-destination" && s.view(sc).dests[name] == nil) {
				failed = append(failed, FailedEntry{t.ID, CodeValidation, fmt.Sprintf("Target %s: %s is not an API destination or a file target of this account and region.", t.ID, t.ARN)})
				continue
			}
			if i := slices.IndexFunc(next, func(o Target) bool { return o.ID == t.ID }); i >= 0 {
				next[i] = t
			} else {
				next = append(next, t)
			}
		}
		return next, failed
	})
}

// editTargets applies edit to a copy of a rule's targets and stores the result, unless
// every one of the call's entries failed or the rule would have more than TargetsPerRule.
func (s *Service) editTargets(ctx context.Context, sc Scope, rule, bus string, entries int, edit func([]Target) ([]Target, []FailedEntry)) ([]FailedEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.rule(sc, rule, bus)
	if err != nil {
		return nil, err
	}
	next, failed := edit(slices.Clone(r.Targets))
	if len(next) > s.quotas.TargetsPerRule {
		return nil, errorf(CodeLimitExceeded, "The requested resource exceeds the maximum number allowed.")
	}
	if len(failed) == entries {
		return failed, nil
	}
	return failed, s.replaceRule(ctx, sc, r, func(n *Rule) { n.Targets = next })
}

// RemoveTargets removes targets by ID; an ID the rule lacks fails alone [UNCONFIRMED].
func (s *Service) RemoveTargets(ctx context.Context, sc Scope, rule, bus string, ids []string) ([]FailedEntry, error) {
	if len(ids) == 0 || len(ids) > 100 {
		return nil, validation(fmt.Sprint(len(ids)), "ids", "Member must have length between 1 and 100")
	}
	return s.editTargets(ctx, sc, rule, bus, len(ids), func(next []Target) ([]Target, []FailedEntry) {
		var failed []FailedEntry
		for _, id := range ids {
			i := slices.IndexFunc(next, func(t Target) bool { return t.ID == id })
			if i < 0 {
				failed = append(failed, FailedEntry{id, CodeResourceNotFound, fmt.Sprintf("Target %s does not exist on rule %s.", id, rule)})
				continue
			}
			next = slices.Delete(next, i, i+1)
		}
		return next, failed
	})
}

// ListTargets pages through a rule's targets, by ID.
func (s *Service) ListTargets(sc Scope, rule, bus, token string, limit int) ([]Target, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.rule(sc, rule, bus)
	if err != nil {
		return nil, "", err
	}
	byID := map[string]*Target{}
	for i := range r.Targets {
		byID[r.Targets[i].ID] = &r.Targets[i]
	}
	return page(byID, "", token, limit, func(t *Target) string { return t.ID })
}

// TestPattern is TestEventPattern: whether event matches pattern.
func TestPattern(pattern, event string) (bool, error) {
	p, err := Compile(pattern)
	if err != nil {
		return false, errorf(CodeInvalidEventPattern, "%v", err)
	}
	ev, err := DecodeEvent([]byte(event))
	if err != nil {
		return false, errorf(CodeValidation, "Parameter Event is not valid.")
	}
	for _, f := range []string{"id", "account", "source", "time", "region", "detail-type"} {
		if _, ok := ev.v[f]; !ok {
			return false, errorf(CodeValidation, "Parameter Event is not valid: the event has no %s.", f)
		}
	}
	return p.Match(ev), nil
}

// CreateConnection creates a connection with an API_KEY or BASIC authorization.
func (s *Service) CreateConnection(ctx context.Context, sc Scope, c Connection) (Connection, error) {
	if err := checkName(c.Name, "name"); err != nil {
		return Connection{}, err
	}
	if err := checkDescription(c.Description); err != nil {
		return Connection{}, err
	}
	switch c.AuthType {
	case AuthAPIKey:
		if c.APIKeyName == "" || c.APIKeyValue == "" {
			return Connection{}, errorf(CodeValidation, "ApiKeyAuthParameters with ApiKeyName and ApiKeyValue are required for authorization type API_KEY.")
		}
		c.Username, c.Password = "", ""
	case AuthBasic:
		if c.Username == "" || c.Password == "" {
			return Connection{}, errorf(CodeValidation, "BasicAuthParameters with Username and Password are required for authorization type BASIC.")
		}
		c.APIKeyName, c.APIKeyValue = "", ""
	default:
		return Connection{}, errorf(CodeValidation, "AuthorizationType %s is not supported: use API_KEY or BASIC.", c.AuthType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ARN = connectionARN(sc, c.Name, uuid.NewString())
	c.Created = s.now().UTC()
	c.Modified = c.Created
	taken := errorf(CodeResourceAlreadyExists, "Connection %s already exists.", c.Name)
	if err := insert(s, ctx, sc, s.bus(sc).conns, "conn", c.Name, s.quotas.Connections, taken, &c); err != nil {
		return Connection{}, err
	}
	return c, nil
}

// insert stores v, named name, and adds it to m; refused when the name is taken or m is at
// its quota. The caller holds mu.
func insert[T any](s *Service, ctx context.Context, sc Scope, m map[string]*T, kind, name string, quota int, taken *Error, v *T) error {
	if m[name] != nil {
		return taken
	}
	if len(m) >= quota {
		return errorf(CodeLimitExceeded, "The requested resource exceeds the maximum number allowed.")
	}
	if err := s.save(ctx, key(sc, kind, name), v); err != nil {
		return err
	}
	m[name] = v
	return nil
}

// DescribeConnection returns a connection, its secret included: the API layer leaves it out.
func (s *Service) DescribeConnection(sc Scope, name string) (Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.view(sc).conns[name]; c != nil {
		return *c, nil
	}
	return Connection{}, errorf(CodeResourceNotFound, "Failed to describe the connection(s). Connection '%s' does not exist.", name)
}

// ListConnections pages through the connections whose names start with prefix.
func (s *Service) ListConnections(sc Scope, prefix, token string, limit int) ([]Connection, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.view(sc).conns, prefix, token, limit, func(c *Connection) string { return c.Name })
}

// DeleteConnection deletes a connection no API destination uses [STOCKADE: a destination is
// never left without its authorization].
func (s *Service) DeleteConnection(ctx context.Context, sc Scope, name string) (Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.view(sc)
	c := b.conns[name]
	if c == nil {
		return Connection{}, errorf(CodeResourceNotFound, "Failed to delete the connection. Connection '%s' does not exist.", name)
	}
	for _, d := range b.dests {
		if d.ConnectionARN == c.ARN {
			return Connection{}, errorf(CodeValidation, "Connection %s is used by API destination %s.", name, d.Name)
		}
	}
	if err := s.save(ctx, key(sc, "conn", name), nil); err != nil {
		return Connection{}, err
	}
	delete(b.conns, name)
	return *c, nil
}

// connectionByARN finds a connection of sc; the caller holds mu.
func (s *Service) connectionByARN(sc Scope, arn string) *Connection {
	for _, c := range s.view(sc).conns {
		if c.ARN == arn {
			return c
		}
	}
	return nil
}

// CreateDestination creates an API destination.
func (s *Service) CreateDestination(ctx context.Context, sc Scope, d Destination) (Destination, error) {
	if err := checkName(d.Name, "name"); err != nil {
		return Destination{}, err
	}
	if err := checkDescription(d.Description); err != nil {
		return Destination{}, err
	}
	if d.Method != "POST" {
		return Destination{}, errorf(CodeValidation, "HttpMethod %s is not supported: Stockade delivers events with POST.", d.Method)
	}
	if d.RateLimit == 0 {
		d.RateLimit = 300
	}
	if d.RateLimit < 1 || d.RateLimit > 300 {
		return Destination{}, validation(fmt.Sprint(d.RateLimit), "invocationRateLimitPerSecond", "Member must have value between 1 and 300")
	}
	if err := checkEndpoint(s.guard, d.Endpoint); err != nil {
		return Destination{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connectionByARN(sc, d.ConnectionARN) == nil {
		return Destination{}, errorf(CodeResourceNotFound, "Connection '%s' does not exist.", d.ConnectionARN)
	}
	d.ARN = destinationARN(sc, d.Name, uuid.NewString())
	d.Created = s.now().UTC()
	d.Modified = d.Created
	taken := errorf(CodeResourceAlreadyExists, "An api-destination '%s' already exists.", d.Name)
	if err := insert(s, ctx, sc, s.bus(sc).dests, "dest", d.Name, s.quotas.APIDestinations, taken, &d); err != nil {
		return Destination{}, err
	}
	return d, nil
}

// DescribeDestination returns an API destination.
func (s *Service) DescribeDestination(sc Scope, name string) (Destination, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if d := s.view(sc).dests[name]; d != nil {
		return *d, nil
	}
	return Destination{}, errorf(CodeResourceNotFound, "Failed to describe the api-destination(s). An api-destination '%s' does not exist.", name)
}

// ListDestinations pages through the API destinations whose names start with prefix and, if
// connection is set, that use it.
func (s *Service) ListDestinations(sc Scope, prefix, connection, token string, limit int) ([]Destination, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := maps.Clone(s.view(sc).dests)
	maps.DeleteFunc(m, func(_ string, d *Destination) bool { return connection != "" && d.ConnectionARN != connection })
	return page(m, prefix, token, limit, func(d *Destination) string { return d.Name })
}

// DeleteDestination deletes an API destination. Targets naming it stay, as in EventBridge;
// their deliveries fail to the dead-letter file.
func (s *Service) DeleteDestination(ctx context.Context, sc Scope, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view(sc).dests[name] == nil {
		return errorf(CodeResourceNotFound, "Failed to delete the api-destination. An api-destination '%s' does not exist.", name)
	}
	if err := s.save(ctx, key(sc, "dest", name), nil); err != nil {
		return err
	}
	delete(s.bus(sc).dests, name)
	return nil
}

// page returns up to limit (1–100, 0: 100) values of m whose names start with prefix, in
// name order, after the one token names, and the token of the next page ("" at the end).
func page[T any](m map[string]*T, prefix, token string, limit int, name func(*T) string) ([]T, string, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return nil, "", validation(fmt.Sprint(limit), "limit", "Member must have value between 1 and 100")
	}
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(b) == 0 {
			return nil, "", errorf(CodeValidation, "The NextToken is not valid.")
		}
		after = string(b)
	}
	all := slices.SortedFunc(maps.Values(m), func(a, b *T) int { return cmp.Compare(name(a), name(b)) })
	var out []T
	for _, v := range all {
		n := name(v)
		if !strings.HasPrefix(n, prefix) || n <= after {
			continue
		}
		if len(out) == limit {
			return out, base64.RawURLEncoding.EncodeToString([]byte(name(&out[len(out)-1]))), nil
		}
		out = append(out, *v)
	}
	return out, "", nil
}
