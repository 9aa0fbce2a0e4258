package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/trail"
)

// CloudTrailDetailType is the detail-type of every trail record on the bus (§3.1).
const CloudTrailDetailType = "AWS API Call via CloudTrail"

// BusConfig tunes a Bus; the zero value gives the defaults.
type BusConfig struct {
	// Queue bounds the events waiting to be matched (default 4,096); a full queue drops the
	// event and counts it (Stats.Dropped): publishing never blocks its caller.
	Queue int
	// MaxPending bounds the deliveries waiting for their webhook (default 100,000): past it a
	// new delivery is dropped and counted. MaxPendingPerAccount (default a tenth of it) is
	// each account's share, so that one tenant's receiver that never answers cannot take the
	// room of the others'.
	MaxPending           int
	MaxPendingPerAccount int
	// Workers is how many deliveries are in flight at once (default 8).
	Workers int
	// MaxAge is how long a delivery is retried before it goes to the dead-letter file
	// (default 24 h, EventBridge's retry window).
	MaxAge time.Duration
	// Backoff is the first retry's delay (default 1 s), doubling per attempt up to
	// MaxBackoff (default 5 min), each with up to 50% jitter so that a receiver coming back
	// is not hit by every delivery at once.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one POST (default 5 s, the API destinations' timeout).
	Timeout time.Duration
	// DataDir holds the dead-letter file (DeadLetterFile) and the file targets' files
	// (<DataDir>/events/<account>/<region>/<name>.jsonl, rotated at 64 MiB).
	DataDir string
	// Guard checks every address a webhook connects to (nil: the Service's).
	Guard  *Guard
	Logger *slog.Logger
	// Transport replaces the HTTP transport (tests); the guard is then the test's business.
	Transport http.RoundTripper
}

// DeadLetterFile is the JSON-lines file, in the data directory, of the deliveries that
// failed for good: one object per line with the delivery's rule, target, destination,
// attempts, the last error and the event.
const DeadLetterFile = "events-dead-letter.jsonl"

// Bus matches events against the rules of their account and region and delivers them.
// Publish and PublishRecords only queue; Run does the rest in its own goroutines.
type Bus struct {
	svc    *Service
	st     store.Store
	cfg    BusConfig
	log    *slog.Logger
	client *http.Client
	in     chan published
	due    chan *delivery

	pending                                   atomic.Int64
	dropped, delivered, retried, deadLettered atomic.Int64

	fileMu sync.Mutex // the dead-letter file and the file targets

	accountMu      sync.Mutex
	accountPending map[string]int // pending deliveries per account (MaxPendingPerAccount)
	limitMu        sync.Mutex
	limits         map[string]*limiter // by API destination ARN
}

// published is an event waiting to be matched.
type published struct {
	scope    Scope
	readOnly bool // a read-only management event: only ENABLED_WITH_ALL… rules see it
	event    []byte
}

// NewBus returns a Bus over svc, keeping its pending deliveries in st. Run must be running
// for events to be matched and delivered.
func NewBus(svc *Service, st store.Store, cfg BusConfig) *Bus {
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 100000
	}
	if cfg.MaxPendingPerAccount <= 0 {
		cfg.MaxPendingPerAccount = max(1, cfg.MaxPending/10)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Guard == nil {
		cfg.Guard = svc.guard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{svc: svc, st: st, cfg: cfg, log: cfg.Logger, client: newClient(cfg), accountPending: map[string]int{},
		in: make(chan published, cfg.Queue), due: make(chan *delivery, cfg.Workers),
		limits: map[string]*limiter{}}
}

// Publish puts one of Stockade's own events on the bus of account and region: source (e.g.
// "stockade.audit"), detailType (e.g. "Stockade Audit Finding") and detail, any value that
// encodes as a JSON object. The envelope is EventBridge's (§3.1) with a new id and the
// current time. It never blocks: false means the queue was full and the event was dropped
// (counted in Stats.Dropped).
//
// Like PublishRecords, it skips an event that no enabled rule of its account and region could
// take, before encoding it (the continuous audit publishes a finding per change it finds).
func (b *Bus) Publish(account, region, source, detailType string, detail any) bool {
	if !b.svc.listening(Scope{account, region}, false) {
		return true // delivered to every rule that listens: none
	}
	d, err := json.Marshal(detail)
	if err != nil {
		b.log.Error("events: detail does not encode", "source", source, "err", err)
		return false
	}
	return b.enqueue(published{scope: Scope{account, region}, event: envelope(account, region, source, detailType,
		time.Now().UTC().Format(time.RFC3339), d)})
}

// PublishRecords puts trail records on the bus as "AWS API Call via CloudTrail" events
// (§3.1): source aws.<service>, account the recipient, time the eventTime, resources empty,
// detail the record. It is trail.RecorderOptions.Appended: it never blocks.
//
// A record of an account and region where no enabled rule could take it (none at all, or, for
// a read, none enabled for reads — most accounts, most calls) is skipped here, before its
// envelope is built and decoded: the bus costs the API nothing where nobody listens.
func (b *Bus) PublishRecords(recs []*trail.Record) {
	for _, r := range recs {
		if !b.svc.listening(Scope{r.RecipientAccountID, r.AWSRegion}, r.ReadOnly) {
			continue
		}
		service, _, _ := strings.Cut(r.EventSource, ".")
		b.enqueue(published{scope: Scope{r.RecipientAccountID, r.AWSRegion}, readOnly: r.ReadOnly,
			event: envelope(r.RecipientAccountID, r.AWSRegion, "aws."+service, CloudTrailDetailType, r.EventTime, r.JSON())})
	}
}

func (b *Bus) enqueue(p published) bool {
	select {
	case b.in <- p:
		return true
	default:
		b.dropped.Add(1)
		return false
	}
}

// envelope is §3.1's event: a new UUID id (not the record's eventID), resources [].
func envelope(account, region, source, detailType, at string, detail []byte) []byte {
	e := struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}{"0", uuid.NewString(), detailType, source, account, at, region, []string{}, detail}
	b, _ := json.Marshal(e) // every field encodes; detail is valid JSON
	return b
}

// Stats are the bus's counters, exported as metrics.
type Stats struct {
	Dropped      int64 // events or deliveries refused by a full queue
	Delivered    int64 // deliveries a webhook accepted
	Retried      int64 // failed attempts that will be retried
	DeadLettered int64 // deliveries given up and written to the dead-letter file
	Pending      int64 // deliveries waiting now
}

// Stats returns the counters.
func (b *Bus) Stats() Stats {
	return Stats{Dropped: b.dropped.Load(), Delivered: b.delivered.Load(), Retried: b.retried.Load(),
		DeadLettered: b.deadLettered.Load(), Pending: b.pending.Load()}
}

// Run matches and delivers until ctx ends: first it schedules the deliveries a previous run
// left in the store, then it starts the workers. Its owner stops it by cancelling ctx and
// waiting for it to return; pending deliveries stay in the store for the next run.
func (b *Bus) Run(ctx context.Context) error {
	kvs, _, err := b.st.List(ctx, queuePrefix)
	if err != nil {
		return fmt.Errorf("events: pending deliveries: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, kv := range kvs {
		var d delivery
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			b.log.Error("events: damaged delivery dropped", "key", kv.Key, "err", err)
			continue
		}
		b.addPending(d.Account, 1)
		b.schedule(ctx, &d)
	}
	for range b.cfg.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); b.work(ctx) }()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-b.in:
			batch := []published{p}
			for len(batch) < 256 {
				select {
				case p := <-b.in:
					batch = append(batch, p)
					continue
				default:
				}
				break
			}
			b.route(ctx, batch)
		}
	}
}

// route matches a batch of events, appends to file targets, and persists one delivery per
// API-destination target (in as few transactions as the store takes, store.Batch) before
// scheduling them.
func (b *Bus) route(ctx context.Context, batch []published) {
	var ds []*delivery
	now := time.Now().UTC()
	for _, p := range batch {
		ev, err := DecodeEvent(p.event)
		if err != nil {
			continue
		}
		for _, m := range b.svc.match(p.scope, ev, p.readOnly) {
			if m.file != "" {
				b.appendFile(p.scope, m.file, p.event)
				continue
			}
			if !b.reservePending(p.scope.Account) {
				b.dropped.Add(1)
				continue
			}
			ds = append(ds, &delivery{ID: uuid.NewString(), Account: p.scope.Account, Region: p.scope.Region,
				Rule: m.rule, Target: m.target, Destination: m.destination, Event: p.event, Created: now, Next: now})
		}
	}
	if len(ds) == 0 {
		return
	}
	ops := make([]store.Op, len(ds))
	for i, d := range ds {
		ops[i] = d.op()
	}
	if err := store.Batch(ctx, b.st, store.Singly(ops)); err != nil {
		// Not durable, but still delivered while the server runs.
		b.log.Error("events: deliveries not persisted", "deliveries", len(ds), "err", err)
	}
	for _, d := range ds {
		b.schedule(ctx, d)
	}
}

// schedule hands d to the workers at d.Next.
func (b *Bus) schedule(ctx context.Context, d *delivery) {
	send := func() {
		select {
		case b.due <- d:
		case <-ctx.Done():
		}
	}
	wait := time.Until(d.Next)
	if wait <= 0 {
		go send()
		return
	}
	time.AfterFunc(wait, send)
}

// reservePending counts one more pending delivery of account, unless the bus or the account
// is at its bound.
func (b *Bus) reservePending(account string) bool {
	b.accountMu.Lock()
	defer b.accountMu.Unlock()
	if b.pending.Load() >= int64(b.cfg.MaxPending) || b.accountPending[account] >= b.cfg.MaxPendingPerAccount {
		return false
	}
	b.pending.Add(1)
	b.accountPending[account]++
	return true
}

// addPending counts n more (or, negative, fewer) pending deliveries of account.
func (b *Bus) addPending(account string, n int) {
	b.accountMu.Lock()
	defer b.accountMu.Unlock()
	b.pending.Add(int64(n))
	if b.accountPending[account] += n; b.accountPending[account] <= 0 {
		delete(b.accountPending, account)
	}
}

// appendFile appends an event to a file target's JSON-lines file.
func (b *Bus) appendFile(sc Scope, name string, event []byte) {
	dir := filepath.Join(b.cfg.DataDir, "events", sc.Account, sc.Region)
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	if err := appendLine(dir, name+".jsonl", event); err != nil {
		b.log.Error("events: file target", "account", sc.Account, "file", name, "err", err)
	}
}

// maxLineFile bounds a file target's and the dead-letter file's size: past it the file becomes
// NAME.1 (replacing the one before) and a new file starts, so that a tenant's rule matching
// every call, or a receiver that never answers, keeps at most twice this on disk per file.
const maxLineFile = 64 << 20

// appendLine appends line and a newline to dir/name, creating both (owner-only), and rotates
// the file once it holds maxLineFile bytes.
func appendLine(dir, name string, line []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if fi, err := os.Stat(path); err == nil && fi.Size()+int64(len(line)) >= maxLineFile {
		if err := os.Rename(path, path+".1"); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line[:len(line):len(line)], '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// matched is one target an event goes to.
type matched struct {
	rule, target string
	destination  string // API destination ARN
	file         string // file target name
}

// listening reports whether an enabled rule of sc could match an event: any enabled one, or
// for a read-only call one enabled with every management event.
func (s *Service) listening(sc Scope, readOnly bool) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.view(sc).rules {
		if r.State != Disabled && (!readOnly || r.State == EnabledWithReads) {
			return true
		}
	}
	return false
}

// match returns the targets of the enabled rules of sc that ev matches.
func (s *Service) match(sc Scope, ev Event, readOnly bool) []matched {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []matched
	for _, r := range s.view(sc).rules {
		if r.State == Disabled || (readOnly && r.State != EnabledWithReads) || !r.compiled.Match(ev) {
			continue
		}
		for _, t := range r.Targets {
			kind, name := targetKind(sc, t.ARN)
			m := matched{rule: r.Name, target: t.ID}
			switch kind {
			case "api-destination":
				m.destination = t.ARN
			case "file":
				m.file = name
			default:
				continue
			}
			out = append(out, m)
		}
	}
	return out
}
