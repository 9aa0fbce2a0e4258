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
}

// startTrail opens the trail's log in <dataDir>/trail-log (at most maxBytes), moves into it
// what the store's outbox still holds from before a crash, and starts the Recorder's writer
// and the prune and export timer, exporting under <dataDir>/trail; appended (nil: none) is
// given every batch of records once durable (the event bus). Its metrics count the
// records lost to a full queue or a failed append, and the log's size. Stop it after the API
// has stopped, so that every accepted record is written.
func startTrail(ctx context.Context, st store.Store, dataDir string, maxBytes int64, appended func([]*trail.Record), reg prometheus.Registerer, log *slog.Logger) (*changeTrail, error) {
	tlog, err := trail.OpenLog(filepath.Join(dataDir, datadir.TrailLog), trail.LogOptions{MaxBytes: maxBytes, Logger: log})
	if err != nil {
		return nil, err
	}
	rec := trail.NewRecorder(tlog, st, trail.RecorderOptions{Logger: log, Appended: appended})
	if err := rec.Recover(ctx); err != nil {
		tlog.Close()
		return nil, err
	}
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
	t.wg.Add(2)
	go func() { defer t.wg.Done(); rec.Run(runCtx) }()
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
	t.log.Close()
}
