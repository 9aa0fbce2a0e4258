package trail

import (
	"context"
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
}

// Recorder writes the records of calls that change nothing — reads, denials, failures — in
// batched transactions of their own, off the request path: a read's answer never waits for
// its record.
//
// The queue is bounded. When it is full, Record drops the record it was given, counts it
// (Dropped) and returns false at once: the API neither blocks nor grows memory without bound
// under a flood of reads. Records of state changes never go through a Recorder (their Ops
// join the change's own transaction), so what a full queue can lose is the trail of calls
// that changed nothing, and the count of what was lost is kept for metrics.
type Recorder struct {
	st      store.Store
	queue   chan *Record
	batch   int
	linger  time.Duration
	log     *slog.Logger
	dropped atomic.Int64
	failed  atomic.Int64
}

// NewRecorder returns a Recorder writing to st; Run must be running for records to be written.
func NewRecorder(st store.Store, opts RecorderOptions) *Recorder {
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
	return &Recorder{st: st, queue: make(chan *Record, opts.Queue), batch: opts.Batch, linger: opts.Linger, log: opts.Logger}
}

// Record queues r without blocking; false means the queue was full and r was dropped.
func (rc *Recorder) Record(r *Record) bool {
	select {
	case rc.queue <- r:
		return true
	default:
		rc.dropped.Add(1)
		return false
	}
}

// Dropped is how many records a full queue refused.
func (rc *Recorder) Dropped() int64 { return rc.dropped.Load() }

// Failed is how many queued records were lost because their transaction failed.
func (rc *Recorder) Failed() int64 { return rc.failed.Load() }

// Run writes queued records until ctx ends, then writes what is still queued (with a context
// that is not cancelled, so that a clean shutdown loses nothing already accepted) and returns.
// Its owner stops it by cancelling ctx and waiting for it to return.
func (rc *Recorder) Run(ctx context.Context) {
	for {
		select {
		case r := <-rc.queue:
			rc.write(context.WithoutCancel(ctx), r, rc.linger, ctx.Done())
		case <-ctx.Done():
			rc.Flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// Flush writes everything queued now, in batches, and returns when it is durable (or failed).
func (rc *Recorder) Flush(ctx context.Context) {
	for {
		select {
		case r := <-rc.queue:
			rc.write(ctx, r, 0, nil)
		default:
			return
		}
	}
}

// write commits first and whatever else is queued, up to the batch size, in one transaction,
// waiting up to linger for the batch to fill (or until stop closes: Run is ending). ctx is the
// transaction's, which a shutdown does not cancel.
func (rc *Recorder) write(ctx context.Context, first *Record, linger time.Duration, stop <-chan struct{}) {
	recs := []*Record{first}
	ops := first.Ops()
	var deadline <-chan time.Time
	if linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		deadline = t.C
	}
fill:
	for len(recs) < rc.batch {
		select {
		case r := <-rc.queue:
			recs = append(recs, r)
			ops = append(ops, r.Ops()...)
			continue
		default:
		}
		if deadline == nil {
			break
		}
		select {
		case r := <-rc.queue:
			recs = append(recs, r)
			ops = append(ops, r.Ops()...)
		case <-deadline:
			break fill
		case <-stop:
			break fill
		}
	}
	if _, err := rc.st.Txn(ctx, nil, ops); err != nil {
		rc.failed.Add(int64(len(recs)))
		rc.log.Error("trail: records lost", "records", len(recs), "err", err)
	}
}
