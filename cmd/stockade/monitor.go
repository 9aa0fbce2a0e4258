package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/internal/gcfloor"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// auditPrefix is where the continuous audit keeps its history in the store: one key per
// open episode (auditPrefix + account/region/open/<hash of the finding's key>) and one per
// closed episode kept (…/closed/<closing time>-<hash>). It is in bolt's Unwatched list: the
// history is read back at start, never watched, and its writes wake no reconciler.
const auditPrefix = "audit/"

// auditLeaseKey is the lease of the server that audits, on a store several servers share
// (auditMonitor.lease); under auditPrefix, so that no watcher sees its renewals. restore
// skips it.
const auditLeaseKey = auditPrefix + "lease"

// auditLeaseTTL is the lease's: renewed every third of it, so that another server takes the
// audit over within about this long after its auditor died.
const auditLeaseTTL = 15 * time.Second

// auditInterval is how often every account is audited again even without a revision: alert
// rules and the trail's rule changes are not revisions of the network, suppressions expire
// and MON-003's window moves with the clock.
const auditInterval = time.Minute

// Event sources and detail-types of the continuous audit on the bus (README: "Findings on
// the bus").
const (
	auditSource     = "stockade.audit"
	findingDetail   = "Stockade Audit Finding"
	flapDetail      = "Stockade Exposure Flap"
	findingOpen     = "OPEN"
	findingClosed   = "CLOSED"
	auditKindFull   = "full"
	auditKindIncrem = "incremental"
)

// publisher puts an event on the bus (events.Bus.Publish); nil when the server runs no bus.
type publisher func(account, region, source, detailType string, detail any) bool

// auditMonitor is the continuous audit (--audit): after every revision of the store, and
// every auditInterval, it audits every account and region incrementally (audit.Incremental),
// records what opened and closed (audit.History, kept in the store), publishes it on the bus,
// publishes exposures that flapped, and exports the open findings' counts.
type auditMonitor struct {
	svc     *control.Service
	st      store.Store
	sources auditSources
	publish publisher
	cfg     audit.Config
	log     *slog.Logger

	// changes are the rule changes last read from the trail that MON-003 can judge
	// (audit.FlapChanges), per tenant: read again at every timed pass, not at every revision
	// (a day of records from disk for each write would be the audit's largest cost). Only the
	// run goroutine uses them.
	changes map[netmap.Tenant][]audit.RuleChange
	// bg is the thread the audits compute on (startBackground), set by run; nil: the
	// caller's. Only the run goroutine uses it.
	bg *background
	// restored is closed once the stored history has been read back (restore).
	restored     chan struct{}
	restoredOnce sync.Once
	// lease, on a store that several servers share, is this server's claim to be the one
	// that audits: each would otherwise publish every finding on its own bus, and write the
	// same history. The one holding it audits, and the others serve the history from the
	// store; when it stops renewing, another takes over from the stored history. nil: this
	// server audits (its own store). leading says whether it holds the lease.
	lease   *store.Lease
	leading atomic.Bool

	mu       sync.Mutex
	tenants  map[netmap.Tenant]*tenantAudit
	findings *prometheus.GaugeVec
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// tenantAudit is one account and region's continuous audit and history.
type tenantAudit struct {
	x *audit.Incremental
	h *audit.History
}

// newAuditMonitor registers the metrics. The stored history is read by run (restore), not
// here: at 10,000 groups it is tens of thousands of episodes, a second of JSON that the
// server's start need not wait for.
func newAuditMonitor(svc *control.Service, st store.Store, sources auditSources, publish publisher,
	cfg audit.Config, reg prometheus.Registerer, log *slog.Logger) *auditMonitor {
	cfg.Workers = 1 // see run
	m := &auditMonitor{svc: svc, st: st, sources: sources, publish: publish, cfg: cfg, log: log, tenants: map[netmap.Tenant]*tenantAudit{},
		changes:  map[netmap.Tenant][]audit.RuleChange{},
		restored: make(chan struct{}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stockade_audit_findings",
			Help: "Open findings of the continuous audit that no suppression hides, by check and severity, over every account and region."}, []string{"check", "severity"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stockade_audit_runs_total",
			Help: "Audits the continuous audit ran, by kind: full (every check) or incremental (what a change of groups can affect)."}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stockade_audit_duration_seconds",
			Help:    "Duration of the continuous audit's audits of one account and region, by kind.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"kind"}),
	}
	reg.MustRegister(m.findings, m.runs, m.duration)
	return m
}

// restore reads the stored history back, before the first audit (which reconciles with it,
// so that a finding open across a restart keeps its episode), and then lets the history
// endpoint answer.
func (m *auditMonitor) restore(ctx context.Context) error {
	kvs, _, err := m.st.List(ctx, auditPrefix)
	if err != nil {
		return fmt.Errorf("audit history: %w", err)
	}
	stored := map[netmap.Tenant][]audit.Episode{}
	var moves [][]store.Op
	for _, kv := range kvs {
		if kv.Key == auditLeaseKey {
			continue
		}
		parts := strings.SplitN(strings.TrimPrefix(kv.Key, auditPrefix), "/", 3)
		var e audit.Episode
		if len(parts) != 3 || json.Unmarshal(kv.Value, &e) != nil {
			m.log.Warn("audit history: unreadable entry skipped", "key", kv.Key)
			continue
		}
		t := netmap.Tenant{Account: parts[0], Region: parts[1]}
		if k := episodeKey(t, e); k != kv.Key {
			// Written by a server whose finding keys were others (SGH-001's and SGH-006's
			// named their rules): moved to where this one deletes it from when it closes or
			// is forgotten, or it would stay in the store and come back at every start.
			moves = append(moves, []store.Op{{Key: kv.Key, Delete: true}, {Key: k, Value: kv.Value}})
		}
		stored[t] = append(stored[t], e)
	}
	if err := store.Batch(ctx, m.st, moves); err != nil {
		return fmt.Errorf("audit history: moving %d episodes: %w", len(moves), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenants = map[netmap.Tenant]*tenantAudit{}
	m.changes = map[netmap.Tenant][]audit.RuleChange{}
	for t, eps := range stored {
		h := audit.NewHistory(audit.DefaultHistory)
		h.Restore(eps)
		m.tenants[t] = &tenantAudit{h: h}
	}
	m.restoredOnce.Do(func() { close(m.restored) })
	return nil
}

// lead renews the lease, or takes it, and reports whether this server audits. Taking it, it
// reads the history back from the store (the last auditor's) and starts over from it; losing
// it (another server has it, or the store did not answer), it forgets what it audited, which
// the next auditor reads from the store.
func (m *auditMonitor) lead(ctx context.Context) bool {
	if m.lease == nil {
		m.leading.Store(true)
		return true
	}
	held, err := m.lease.Hold(ctx)
	if err != nil {
		m.log.Warn("continuous audit: lease not renewed; another server may audit", "error", err)
	}
	switch was := m.leading.Load(); {
	case held && !was:
		if err := m.restore(ctx); err != nil {
			m.log.Error("continuous audit: taking over, the stored history", "error", err)
			return false
		}
		m.log.Info("continuous audit: this server audits (it holds the lease)")
	case !held && was:
		m.mu.Lock()
		m.tenants = map[netmap.Tenant]*tenantAudit{}
		m.findings.Reset()
		m.mu.Unlock()
		if err == nil {
			m.log.Info("continuous audit: another server audits")
		}
	}
	m.leading.Store(held)
	return held
}

// auditGap is the least time between two audits that revisions start: under a stream of
// writes the audit follows the newest revision at most five times a second instead of
// taking a core to audit every one (the feed keeps only the newest). auditShare bounds it
// further by the cost of the last pass: the next revision-started pass waits four times as
// long as the last one took, so that the audit takes at most a fifth of a core from the API
// and the agent, which enforce the changes (a membership change at 1,000 interfaces re-audits
// the account whole, a few hundred milliseconds).
const (
	auditGap   = 200 * time.Millisecond
	auditShare = 4
)

// run audits until ctx ends: at once, after every revision (at most once per auditGap, or
// auditShare times the last pass's duration), and every auditInterval. The audits compute on
// one goroutine (Config.Workers 1) on the background thread, which the kernel runs after the
// server's others, so that the chain that enforces a change — the committer, the watchers,
// the agent — never waits for a P or a CPU behind them. What takes locks (reading the
// input, storing the history) stays on this goroutine.
func (m *auditMonitor) run(ctx context.Context) {
	bg, _, err := startBackground()
	if err != nil {
		m.log.Warn("continuous audit: not run at a lower priority", "error", err)
	}
	defer bg.stop()
	m.bg = bg
	for {
		err := m.restore(ctx)
		if err == nil {
			break
		}
		// Auditing without it would open every finding anew: wait for the store instead
		// (an etcd cluster without quorum, say).
		m.log.Error("continuous audit: waiting for its stored history", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	revs := m.svc.Watch(ctx)
	tick := time.NewTicker(auditInterval)
	defer tick.Stop()
	var renew <-chan time.Time // nil: no lease to renew
	if m.lease != nil {
		t := time.NewTicker(m.lease.TTL() / 3)
		defer t.Stop()
		renew = t.C
		defer m.lease.Release(context.WithoutCancel(ctx)) // the next auditor need not wait for it to expire
	}
	var last time.Time
	var took time.Duration
	for {
		if !m.leading.Load() {
			if !m.lead(ctx) {
				select { // another server audits: ask again at the next renewal (revs keeps only the newest meanwhile)
				case <-ctx.Done():
					return
				case <-renew:
				}
				continue
			}
			start := time.Now()
			// The first pass builds every audit whole: most of what the audit keeps, made
			// among much garbage (internal/gcfloor/dense.go).
			gcfloor.Dense(func() { m.pass(ctx, true) })
			last, took = time.Now(), time.Since(start)
			continue
		}
		timed := false
		select {
		case <-ctx.Done():
			return
		case <-renew:
			m.lead(ctx)
			continue
		case _, ok := <-revs:
			if !ok {
				return
			}
			if wait := max(auditGap, auditShare*took) - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		case <-tick.C:
			timed = true
		}
		start := time.Now()
		m.pass(ctx, timed)
		last, took = time.Now(), time.Since(start)
	}
}

// pass audits every account and region at the service's current revision; a timed pass
// also reads the trail's rule changes again, and then hands the memory it used back to the
// system.
func (m *auditMonitor) pass(ctx context.Context, timed bool) {
	rev, nets := m.svc.Networks()
	for _, n := range nets {
		if ctx.Err() != nil {
			return
		}
		if err := m.audit(ctx, rev, n, timed); err != nil {
			m.log.Error("continuous audit", "account", n.Tenant.Account, "region", n.Tenant.Region, "error", err)
		}
	}
	if timed {
		// A timed pass reads the day's rule changes, and the first builds every audit whole:
		// at 10,000 groups its working set is as large as all the rest the server holds, and
		// the collector then lets the heap grow to twice both. Collecting and returning it
		// now, once a minute, takes an idle server there from about 560 MB of anonymous
		// memory to about 195 (BENCHMARKS.md, "seventeenth session"). The first pass comes
		// after restore has read the stored history (60 MB of the store's file there).
		releaseMemory(m.st, m.log)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.findings.Reset()
	for _, t := range m.tenants {
		if t.x == nil {
			continue
		}
		for k, c := range t.x.Counts() {
			m.findings.WithLabelValues(k[0], k[1]).Add(float64(c))
		}
	}
}

// input is what the audit of one network reads: the snapshot Networks gave (its objects are
// shared from one revision to the next, which is what makes the incremental audit cheap),
// the instances, launch templates and flow logs, the alert rules and the day's rule changes
// (read from the trail at a timed pass, or the first time; else as last read).
func (m *auditMonitor) input(ctx context.Context, n netmap.Network, now time.Time, timed bool) (audit.Input, error) {
	in := audit.Input{Account: n.Tenant.Account, Region: n.Tenant.Region, Snapshot: n.Snapshot, Now: now}
	err := m.svc.View(ctx, control.Tenant{Account: n.Tenant.Account, Region: n.Tenant.Region}, func(v control.View) error {
		in.Instances, in.LaunchTemplates, in.LaunchTemplateVersions, in.FlowLogs = auditExtras(v)
		return nil
	})
	if err != nil {
		return in, err
	}
	in.AlertPatterns = m.sources.patterns(in.Account, in.Region)
	changes, read := m.changes[n.Tenant]
	if timed || !read {
		records, err := m.sources.changes(in.Account, in.Region, now)
		if err != nil {
			return in, err
		}
		// The continuous audit has no flow-log records (MON-005 is skipped): MON-003 is the
		// only check that reads the changes, and only those it can judge are kept.
		if changes, err = ruleChanges(records, audit.FlapChanges); err != nil {
			return in, err
		}
		m.changes[n.Tenant] = changes
	}
	in.Changes = changes
	return in, nil
}

// audit audits one network at revision rev and records, stores and publishes what changed.
func (m *auditMonitor) audit(ctx context.Context, rev int64, n netmap.Network, timed bool) error {
	now := time.Now()
	in, err := m.input(ctx, n, now, timed)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenants[n.Tenant]
	if t == nil {
		t = &tenantAudit{h: audit.NewHistory(audit.DefaultHistory)}
		m.tenants[n.Tenant] = t
	}
	start := time.Now()
	var d audit.Delta
	m.bg.do(func() {
		if t.x != nil {
			d, err = t.x.Update(in)
			return
		}
		if t.x, _, err = audit.NewIncremental(in, m.cfg); err != nil {
			return
		}
		r := t.x.Report()
		d = t.h.Reconcile(append(r.Findings, r.Suppressed...)) // the history survives restarts
		d.Full = true
	})
	if err != nil {
		return err
	}
	kind := auditKindIncrem
	if d.Full {
		kind = auditKindFull
	}
	m.runs.WithLabelValues(kind).Inc()
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	opened, closed, forgotten := t.h.Apply(d, rev, now)
	if err := m.store(ctx, n.Tenant, opened, closed, forgotten); err != nil {
		m.log.Error("continuous audit: history not stored", "account", n.Tenant.Account, "region", n.Tenant.Region, "error", err)
	}
	m.announce(n.Tenant, rev, opened, closed)
	return nil
}

// episodeKey is where an episode is stored.
func episodeKey(t netmap.Tenant, e audit.Episode) string {
	sum := e.Finding.KeyDigest()
	h := hex.EncodeToString(sum[:12])
	base := auditPrefix + t.Account + "/" + t.Region + "/"
	if e.Closed.IsZero() {
		return base + "open/" + h
	}
	return fmt.Sprintf("%sclosed/%020d-%s", base, e.Closed.UnixNano(), h)
}

// store writes what an audit changed in the history: each episode's ops (a closed one's
// deletion of its open key and its put) in one transaction, as few transactions as the store
// takes (store.Batch: one on bolt; on etcd a first audit opens thousands, and a transaction
// holds 128 operations). An episode that closed and was forgotten in the same audit (more
// closed at once than the history keeps) is neither written nor deleted: a put and a delete
// of the same key in one transaction leave the store as if neither were there, and such
// audits close thousands (a burst of deleted groups).
func (m *auditMonitor) store(ctx context.Context, t netmap.Tenant, opened, closed, forgotten []audit.Episode) error {
	var units [][]store.Op
	put := func(key string, e audit.Episode) store.Op {
		b, _ := json.Marshal(e) // an episode always encodes
		return store.Op{Key: key, Value: b}
	}
	for _, e := range opened {
		units = append(units, []store.Op{put(episodeKey(t, e), e)})
	}
	gone := make(map[string]bool, len(forgotten))
	for _, e := range forgotten {
		gone[episodeKey(t, e)] = true
	}
	for _, e := range closed {
		open := e
		open.Closed, open.ClosedRevision = time.Time{}, 0
		u := []store.Op{{Key: episodeKey(t, open), Delete: true}}
		if k := episodeKey(t, e); gone[k] {
			delete(gone, k)
		} else {
			u = append(u, put(k, e))
		}
		units = append(units, u)
	}
	for _, e := range forgotten {
		if k := episodeKey(t, e); gone[k] {
			units = append(units, []store.Op{{Key: k, Delete: true}})
		}
	}
	return store.Batch(ctx, m.st, units)
}

// findingEvent is the detail of a "Stockade Audit Finding" event: the finding, whether it
// opened or closed, and at which revision and time.
type findingEvent struct {
	audit.Finding
	State          string     `json:"state"`
	Revision       int64      `json:"revision"`
	Opened         time.Time  `json:"opened"`
	OpenedRevision int64      `json:"openedRevision"`
	Closed         *time.Time `json:"closed,omitempty"`
}

// flapEvent is the detail of a "Stockade Exposure Flap" event (MON-003 as a live alert): one
// per group and rules that flapped, however many exposure checks found them (Checks; Exposure
// is the worst of those findings).
type flapEvent struct {
	Check          string         `json:"check"`
	Title          string         `json:"title"`
	Severity       audit.Severity `json:"severity"`
	Account        string         `json:"account"`
	Region         string         `json:"region"`
	Resource       string         `json:"resource"`
	Rules          []string       `json:"rules"`
	Checks         []string       `json:"checks"`
	Exposure       audit.Finding  `json:"exposure"`
	Opened         time.Time      `json:"opened"`
	OpenedRevision int64          `json:"openedRevision"`
	Closed         time.Time      `json:"closed"`
	ClosedRevision int64          `json:"closedRevision"`
	Window         string         `json:"window"`
}

// announce publishes the findings opened and closed, and the exposures among the closed that
// flapped (opened and closed within the configured window).
func (m *auditMonitor) announce(t netmap.Tenant, rev int64, opened, closed []audit.Episode) {
	if m.publish == nil {
		return
	}
	for _, e := range opened {
		m.publish(t.Account, t.Region, auditSource, findingDetail,
			findingEvent{Finding: e.Finding, State: findingOpen, Revision: rev, Opened: e.Opened, OpenedRevision: e.OpenedRevision})
	}
	for _, e := range closed {
		m.publish(t.Account, t.Region, auditSource, findingDetail,
			findingEvent{Finding: e.Finding, State: findingClosed, Revision: rev, Opened: e.Opened, OpenedRevision: e.OpenedRevision, Closed: &e.Closed})
	}
	var flaps []*flapEvent
	byRules := map[string]*flapEvent{}
	for _, e := range audit.Flaps(closed, m.cfg.FlapWindow) { // closed is in the report's order: worst first
		k := e.Finding.Resource + " " + strings.Join(e.Finding.Rules, ",")
		if f := byRules[k]; f != nil {
			f.Checks = append(f.Checks, e.Finding.Check)
			continue
		}
		f := &flapEvent{Check: "MON-003", Title: "Rapid open/close (flap) of internet exposure", Severity: audit.High, Account: t.Account,
			Region: t.Region, Resource: e.Finding.Resource, Rules: e.Finding.Rules, Checks: []string{e.Finding.Check}, Exposure: e.Finding,
			Opened: e.Opened, OpenedRevision: e.OpenedRevision, Closed: e.Closed, ClosedRevision: e.ClosedRevision, Window: m.cfg.FlapWindow.String()}
		byRules[k] = f
		flaps = append(flaps, f)
	}
	for _, f := range flaps {
		m.publish(t.Account, t.Region, auditSource, flapDetail, *f)
	}
}

// storedHistory is one account and region's history as the store holds it.
func (m *auditMonitor) storedHistory(ctx context.Context, account, region string) (*audit.History, error) {
	kvs, _, err := m.st.List(ctx, auditPrefix+account+"/"+region+"/")
	if err != nil {
		return nil, fmt.Errorf("audit history: %w", err)
	}
	eps := make([]audit.Episode, 0, len(kvs))
	for _, kv := range kvs {
		var e audit.Episode
		if json.Unmarshal(kv.Value, &e) == nil {
			eps = append(eps, e)
		}
	}
	h := audit.NewHistory(audit.DefaultHistory)
	h.Restore(eps)
	return h, nil
}

// auditHistory is what `stockade audit --history` reads.
type auditHistory struct {
	Account string          `json:"account"`
	Region  string          `json:"region"`
	Open    []audit.Episode `json:"open"`
	Closed  []audit.Episode `json:"closed"`
}

// history answers the admin socket's GET /v1/audit/history.
func (m *auditMonitor) history(ctx context.Context, account, region string) (json.RawMessage, error) {
	select {
	case <-m.restored:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := auditHistory{Account: account, Region: region, Open: []audit.Episode{}, Closed: []audit.Episode{}}
	if m.lease != nil && !m.leading.Load() { // another server audits: the history is what it stored
		h, err := m.storedHistory(ctx, account, region)
		if err != nil {
			return nil, err
		}
		out.Open, out.Closed = h.Episodes(nil)
		out.Open, out.Closed = nonNil(out.Open), nonNil(out.Closed)
		return json.Marshal(out)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tenants[netmap.Tenant{Account: account, Region: region}]; t != nil {
		var current []audit.Finding // the open episodes' findings are the audit's (audit.History)
		if t.x != nil {
			r := t.x.Report()
			current = append(r.Findings, r.Suppressed...)
		}
		out.Open, out.Closed = t.h.Episodes(current)
		out.Open, out.Closed = nonNil(out.Open), nonNil(out.Closed)
	}
	return json.Marshal(out)
}
