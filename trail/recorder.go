package trail

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stockade/stockade/store"
)

// RecorderOptions tunes a Recorder; the zero value gives the defaults.
type RecorderOptions struct {
	// Queue is how many records may wait for the disk (default 8,192).
	Queue int
	// Batch is how many records one transaction writes at most (default 256).
	Batch int
	// Linger is how long a batch waits for more records before it is written (default
	// 20 ms): records arrive one per call, and a transaction each would cost the store a
	// commit (two fsyncs) per call, taken from the writes that share the store.
	Linger time.Duration
	Logger *slog.Logger
	// Appended, when set, is given every batch of records once they are durable in the Log,
	// in the Recorder's goroutine: the feed of whatever follows the trail (the event bus). It
	// must not block; Record.JSON is each record as the Log keeps it.
	Appended func([]*Record)
	// Replica, on a store shared by several API servers, publishes every batch appended to
	// the Log for the other servers (replica.go).
	Replica *Replica
}

// Recorder builds and appends records to the Log in batches, off the request path: a read's
// answer never waits for its record, and a change's answer waits only for the outbox key
// committed with it (storage.go); a call's complete record is built here (Complete), after
// its reply has gone. Once a completed record is in the Log, the Recorder deletes its
// outbox key, in batches of their own.
//
// The queue is bounded. When it is full, Record drops the record it was given, counts it
// (Dropped) and returns false at once: the API neither blocks nor grows memory without bound
// under a flood of reads. A change's record is never lost that way: its staged form stays in
// the outbox, and the Recorder moves it to the Log when it finds it there still, a minute
// later (Sweep) or at the next start (Recover).
type Recorder struct {
	log      *Log
	st       store.Store
	queue    chan queued
	batch    int
	linger   time.Duration
	logger   *slog.Logger
	appended func([]*Record)
	replica  *Replica
	dropped  atomic.Int64
	failed   atomic.Int64

	// Owned by the goroutine that writes (Run, or the caller of Flush and Recover).
	done      []store.Op // outbox keys of records now in the Log, to delete
	lastClean time.Time
	swept     map[string]time.Time // eventIDs of staged records Sweep moved, and when
}

// sweptMemory is how long Sweep remembers what it moved, so that a completion arriving later
// still is not appended a second time: far longer than a client takes to read a reply.
const sweptMemory = time.Hour

// cleanEvery is how often the Log is synced and the outbox keys of appended records are
// deleted: an fsync of the Log and a transaction of the store per second at most, whatever
// the rate of calls.
const cleanEvery = time.Second

// sweepAge is how old a staged record must be before Sweep takes it as lost: far longer than
// any call takes to answer and its record to reach the Log.
const sweepAge = time.Minute

// NewRecorder returns a Recorder appending to log, with the outbox in st; Run must be running
// for records to be written.
func NewRecorder(log *Log, st store.Store, opts RecorderOptions) *Recorder {
	if opts.Queue <= 0 {
		opts.Queue = 8192
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.Linger <= 0 {
		opts.Linger = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{log: log, st: st, queue: make(chan queued, opts.Queue), batch: opts.Batch, linger: opts.Linger,
		logger: opts.Logger, appended: opts.Appended, replica: opts.Replica, swept: map[string]time.Time{}}
}

// queued is what waits for the Recorder: a record, or a call's Pending record with what
// completes it.
type queued struct {
	rec      *Record
	pending  *Pending
	response []byte
	failure  *Failure
}

// Record queues r without blocking; false means the queue was full and r was dropped.
func (rc *Recorder) Record(r *Record) bool { return rc.enqueue(queued{rec: r}) }

// Complete queues the completion of p's record without blocking: response is the body of a
// success (the caller must not change it afterwards), failure the error the client got. The
// Recorder's goroutine builds the complete record (Pending.Finish), so that the call's reply,
// which goes once its handler returns, does not wait for it. False means the queue was full
// and the record was dropped (a change's staged form stays in the outbox for Sweep).
//
// A queued completion holds its call's parameters and reply until then, and a tenant chooses
// their size: a reply the record does not use (a read's) is not kept, and a call whose
// parameters and reply together are over maxDeferred has its record built here, in the
// caller's goroutine, as before — a record is capped (maxElements) — so that the bounded queue
// also holds bounded bytes.
func (rc *Recorder) Complete(p *Pending, response []byte, failure *Failure) bool {
	if !p.usesResponse(failure) {
		response = nil
	}
	if len(response)+p.size() > maxDeferred {
		return rc.Record(rc.record(queued{pending: p, response: response, failure: failure}))
	}
	return rc.enqueue(queued{pending: p, response: response, failure: failure})
}

// maxDeferred is the most of a call's parameters and reply that a queued completion keeps.
const maxDeferred = 64 << 10

func (rc *Recorder) enqueue(q queued) bool {
	select {
	case rc.queue <- q:
		return true
	default:
		rc.dropped.Add(1)
		return false
	}
}

// record is q's record, built now if it is a completion. A reply that does not parse still
// gives a whole record, with responseElements null.
func (rc *Recorder) record(q queued) *Record {
	if q.pending == nil {
		return q.rec
	}
	r, err := q.pending.Finish(q.response, q.failure)
	if err != nil {
		rc.logger.Error("trail: response not recorded", "request_id", r.RequestID, "event", r.EventName, "err", err)
	}
	return r
}

// Dropped is how many records a full queue refused.
func (rc *Recorder) Dropped() int64 { return rc.dropped.Load() }

// Failed is how many queued records were lost because the Log could not take them.
func (rc *Recorder) Failed() int64 { return rc.failed.Load() }

// Run writes queued records until ctx ends, sweeping the outbox every sweepAge, then writes
// what is still queued (with a context that is not cancelled, so that a clean shutdown loses
// nothing already accepted) and returns. Its owner stops it by cancelling ctx and waiting for
// it to return.
func (rc *Recorder) Run(ctx context.Context) {
	sweep := time.NewTicker(sweepAge / 2)
	defer sweep.Stop()
	tick := time.NewTicker(cleanEvery) // a quiet server's last appends get synced too
	defer tick.Stop()
	for {
		select {
		case q := <-rc.queue:
			rc.write(context.WithoutCancel(ctx), q, rc.linger, ctx.Done())
		case <-tick.C:
			rc.clean(context.WithoutCancel(ctx), false)
		case now := <-sweep.C:
			if err := rc.Sweep(context.WithoutCancel(ctx), now.Add(-sweepAge)); err != nil {
				rc.logger.Error("trail: outbox sweep", "err", err)
			}
		case <-ctx.Done():
			rc.Flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// Flush writes everything queued now, in batches, deletes the outbox keys of what it wrote,
// and returns when it is durable (or failed).
func (rc *Recorder) Flush(ctx context.Context) {
	for {
		select {
		case q := <-rc.queue:
			rc.write(ctx, q, 0, nil)
		default:
			rc.clean(ctx, true)
			return
		}
	}
}

// write appends first and whatever else is queued, up to the batch size, in one append: it
// first waits linger for the batch to fill (unless a batch is queued already, or stop closes:
// Run is ending), then takes what is queued. It sleeps through the linger rather than taking
// each record as it comes: a wake-up per record was a goroutine switch, and often an idle
// thread's wake-up, per call. ctx is the outbox deletion's, which a shutdown does not cancel.
func (rc *Recorder) write(ctx context.Context, first queued, linger time.Duration, stop <-chan struct{}) {
	if linger > 0 && len(rc.queue) < rc.batch-1 {
		t := time.NewTimer(linger)
		select {
		case <-t.C:
		case <-stop:
		}
		t.Stop()
	}
	recs := []*Record{rc.record(first)}
fill:
	for len(recs) < rc.batch {
		select {
		case q := <-rc.queue:
			recs = append(recs, rc.record(q))
		default:
			break fill
		}
	}
	entries := make([]*entry, 0, len(recs))
	published := recs[:0:0]
	for _, r := range recs {
		// A completion whose staged form Sweep has already moved (its call took more than a
		// minute to answer) is not appended twice: the staged form stays, without its
		// responseElements.
		if _, moved := rc.swept[r.EventID]; moved && r.outbox != "" {
			rc.done = append(rc.done, store.Op{Key: r.outbox, Delete: true})
			continue
		}
		entries = append(entries, entryOf(r))
		published = append(published, r)
	}
	if err := rc.log.appendUnsynced(entries); err != nil {
		rc.failed.Add(int64(len(entries)))
		rc.logger.Error("trail: records lost", "records", len(entries), "err", err)
		return // the staged forms of changes stay in the outbox for Sweep
	}
	for _, r := range recs {
		if r.outbox != "" {
			rc.done = append(rc.done, store.Op{Key: r.outbox, Delete: true})
		}
	}
	if rc.appended != nil {
		rc.appended(published)
	}
	if rc.replica != nil {
		rc.replica.publish(entries)
	}
	rc.clean(ctx, false)
}

// clean makes the Log's appends durable and then deletes the outbox keys of the records they
// complete: at most once a second unless all is set, the keys in as few transactions as the
// store takes (store.Batch; on etcd a second of a busy server's writes is more than one
// holds). A failure keeps the keys for the next time (deleting one again changes nothing);
// were the server to stop first, Recover finds their records in the Log (or not, and moves
// the staged ones) and only deletes the keys.
func (rc *Recorder) clean(ctx context.Context, all bool) {
	if !all && time.Since(rc.lastClean) < cleanEvery {
		return
	}
	rc.lastClean = time.Now()
	if err := rc.log.Sync(); err != nil {
		rc.logger.Error("trail: log sync", "err", err)
		return
	}
	if len(rc.done) == 0 {
		return
	}
	if err := store.Batch(ctx, rc.st, store.Singly(rc.done)); err != nil {
		rc.logger.Error("trail: outbox cleanup", "keys", len(rc.done), "err", err)
		return
	}
	rc.done = rc.done[:0]
}

// Sweep moves to the Log every staged record of the outbox older than before whose complete
// form the Log does not have, and deletes the outbox keys of those it has. Run calls it with
// a minute's margin, for the completions a full queue dropped; Recover calls it at start-up
// for everything, the Recorder not yet running.
//
// The store deletes outbox keys lazily (store/bolt's staged keys): after a restart, keys
// deleted within its history (100,000 transactions, at most 128 MiB of records) can be back,
// and Recover finds their records in the Log and deletes them again. The Log keeps far more
// (4 GiB by default); only a record it has pruned since — more than 90 days old on a server
// that wrote less than the history in that time, or under a --trail-max-bytes too small to
// hold the last 128 MiB of changes' records — would be moved to the Log a second time.
func (rc *Recorder) Sweep(ctx context.Context, before time.Time) error {
	rc.Flush(ctx) // completions still queued go first: they are the better record
	for id, at := range rc.swept {
		if time.Since(at) > sweptMemory {
			delete(rc.swept, id)
		}
	}
	limit := OutboxPrefix + timeKey(before.Add(time.Second))
	after := ""
	for {
		kvs, err := rc.st.Scan(ctx, OutboxPrefix, after, 1000, false)
		if err != nil {
			return fmt.Errorf("trail: outbox: %w", err)
		}
		var moved []*entry
		var del []store.Op
		for _, kv := range kvs {
			if kv.Key >= limit {
				break
			}
			after = kv.Key
			del = append(del, store.Op{Key: kv.Key, Delete: true})
			e, err := decodeEntry(kv.Value)
			if err != nil {
				rc.logger.Error("trail: damaged outbox record dropped", "key", kv.Key, "err", err)
				continue
			}
			if !rc.log.contains(e.Account, e.Region, e.Time, e.EventID) {
				moved = append(moved, e)
				rc.swept[e.EventID] = time.Now()
			}
		}
		if len(del) == 0 {
			return nil
		}
		if err := rc.log.append(moved); err != nil {
			return err
		}
		if err := store.Batch(ctx, rc.st, store.Singly(del)); err != nil {
			return fmt.Errorf("trail: outbox: %w", err)
		}
		if len(kvs) < 1000 || len(del) < len(kvs) {
			return nil
		}
	}
}

// Recover is called once, by a server that started at started, before Run: it moves the
// records of an older layout of the store into the Log (legacy.go) and then every staged
// record of the outbox whose complete form did not reach the Log before the server stopped —
// those of calls before started's second. The API may serve meanwhile: a call it answers
// stages its record from started's second on, and its completion reaches the Log through
// Run (sweeping it here could take the staged form for the record, and drop the complete
// one as a repeat). A record of the last second before started that is left behind is
// Run's to sweep, a minute later.
func (rc *Recorder) Recover(ctx context.Context, started time.Time) error {
	if err := migrateLegacy(ctx, rc.st, rc.log, rc.logger); err != nil {
		return err
	}
	return rc.Sweep(ctx, started.Add(-time.Second))
}
