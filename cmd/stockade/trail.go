package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/trail"
)

// trailInterval is how often the server prunes the trail past its 90 days and exports new
// records as CloudTrail log files: AWS delivers about every 5 minutes (§2.6); a minute keeps
// the export close behind, and each pass is bounded (1,000 records per file and per prune
// batch), repeated at once while more is waiting.
const trailInterval = time.Minute

// changeTrail is the running trail: its log, the Recorder that appends to it, the
// LookupEvents server, and the prune and export timer.
type changeTrail struct {
	log      *trail.Log
	recorder *trail.Recorder
	lookup   *trail.Lookup
	stop     context.CancelFunc
	wg       sync.WaitGroup
	// replica, on a shared store, publishes this server's records and follows the others'
	// (trail/replica.go); it stops after the Recorder, whose last batches it publishes.
	stopReplica context.CancelFunc
	replicaDone chan struct{}
}

// startTrail opens the trail's log in <data-dir>/trail-log (at most --trail-max-bytes) and
// starts the Recorder's writer (which first moves into the log what the store's outbox still
// holds from before a crash) and the prune and export timer, exporting under
// <data-dir>/trail; appended (nil: none) is given every batch of records once durable (the
// event bus). The log is read when after is closed (trail.LogOptions.After); the trail's
// calls wait for that. Its metrics count the records lost to a full queue or a
// failed append, and the log's size. Stop it after the API has stopped, so that every
// accepted record is written.
//
// On a shared store (several servers on one etcd), the records of every server's calls reach
// this server's log too (trail.Replica), so that LookupEvents and the export answer for all
// of them; the event bus is given this server's own only, so that a rule fires once.
func startTrail(ctx context.Context, st store.Store, cfg serverConfig, appended func([]*trail.Record), after <-chan struct{}, reg prometheus.Registerer, log *slog.Logger) (*changeTrail, error) {
	started := time.Now() // before the API serves: what was staged before is the last run's
	dataDir := cfg.DataDir
	tlog, err := trail.OpenLog(filepath.Join(dataDir, datadir.TrailLog), trail.LogOptions{MaxBytes: cfg.TrailMaxBytes, Logger: log, Shared: cfg.shared(), After: after})
	if err != nil {
		return nil, err
	}
	var replica *trail.Replica
	if cfg.shared() {
		if replica, err = trail.NewReplica(tlog, st, trail.ReplicaOptions{Logger: log, ReadBytes: cfg.TrailReplicaReadBytes}); err != nil {
			tlog.Close()
			return nil, err
		}
		registerReplica(reg, replica)
	}
	rec := trail.NewRecorder(tlog, st, trail.RecorderOptions{Logger: log, Appended: appended, Replica: replica})
	lookup, err := trail.NewLookup(ctx, st, tlog, trail.LookupOptions{})
	if err != nil {
		tlog.Close()
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dataDir, datadir.Trail), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("trail export directory: %w", err)
	}
	if err := datadir.CheckFile(dataDir, datadir.Trail, fs.ModeDir); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(filepath.Join(dataDir, datadir.Trail))
	if err != nil {
		return nil, fmt.Errorf("trail export directory: %w", err)
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stockade_trail_records_dropped_total",
			Help: "Trail records of calls that changed nothing, dropped because the recorder's queue was full.",
		}, func() float64 { return float64(rec.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stockade_trail_records_failed_total",
			Help: "Trail records lost because the trail's log could not take them (the records of changes stay in the store's outbox).",
		}, func() float64 { return float64(rec.Failed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stockade_trail_log_bytes",
			Help: "Size of the change trail's log on disk (bounded by --trail-max-bytes).",
		}, func() float64 { return float64(tlog.Size()) }),
	)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	t := &changeTrail{log: tlog, recorder: rec, lookup: lookup, stop: stop}
	if replica != nil {
		var replicaCtx context.Context
		replicaCtx, t.stopReplica = context.WithCancel(context.WithoutCancel(ctx))
		t.replicaDone = make(chan struct{})
		go func() { defer close(t.replicaDone); replica.Run(replicaCtx) }()
	}
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		// The outbox is recovered on the Recorder's goroutine, while the API serves: a
		// restarted store has the outbox keys it deleted since its history was last compacted
		// back (store/bolt's staged keys), tens of thousands at 10,000 groups, half a second
		// to find in the Log that the start need not wait for. What it cannot move stays in
		// the outbox for Run's sweep, a minute later.
		if err := rec.Recover(runCtx, started); err != nil && runCtx.Err() == nil {
			log.Error("trail: recovering the outbox (the Recorder sweeps what is left there again a minute later)", "error", err)
		}
		rec.Run(runCtx)
	}()
	go func() {
		defer t.wg.Done()
		defer root.Close()
		tick := time.NewTicker(trailInterval)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				maintainTrail(runCtx, st, tlog, root, time.Now(), log)
			}
		}
	}()
	return t, nil
}

// maintainTrail prunes what has aged out and exports what is new, each in bounded passes
// until nothing is left or ctx ends.
func maintainTrail(ctx context.Context, st store.Store, tlog *trail.Log, root *os.Root, now time.Time, log *slog.Logger) {
	if _, err := tlog.Prune(now); err != nil {
		log.Error("trail: prune", "error", err)
	}
	for more := true; more && ctx.Err() == nil; {
		var err error
		var files []string
		if files, more, err = trail.Export(ctx, st, tlog, root, now); err != nil {
			log.Error("trail: export", "error", err)
			break
		}
		for _, f := range files {
			log.Debug("trail: exported", "file", f)
		}
	}
}

// close stops the timer and the Recorder, which first writes every record it accepted, and
// closes the log.
func (t *changeTrail) close() {
	t.stop()
	t.wg.Wait()
	if t.stopReplica != nil {
		t.stopReplica()
		<-t.replicaDone
	}
	t.log.Close()
}

// registerReplica adds the trail replica's counters to reg.
func registerReplica(reg prometheus.Registerer, r *trail.Replica) {
	for _, c := range []struct {
		name, help string
		f          func() int64
	}{
		{"stockade_trail_replica_published_total", "Trail records this server published for the other servers on the shared store.", r.Published},
		{"stockade_trail_replica_skipped_total", "Trail records of reads not published: over the replication budget, or a full queue.", r.Skipped},
		{"stockade_trail_replica_lost_total", "Trail records whose publication failed (etcd out of reach): only in this server's log.", r.Lost},
		{"stockade_trail_replica_applied_total", "Other servers' trail records appended to this server's log.", r.Applied},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 { return float64(c.f()) }))
	}
}
