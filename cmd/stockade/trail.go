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

// pruneBatch is how many records one prune transaction deletes at most.
const pruneBatch = 1000

// changeTrail is the running trail: the Recorder of calls that change nothing, the
// LookupEvents server, and the prune and export timer.
type changeTrail struct {
	recorder *trail.Recorder
	lookup   *trail.Lookup
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// startTrail starts the trail on st: the Recorder's writer and the prune and export timer,
// exporting under <dataDir>/trail. Its metrics count the records lost to a full queue or a
// failed transaction. Stop it after the API has stopped, so that every accepted record is
// written.
func startTrail(ctx context.Context, st store.Store, dataDir string, reg prometheus.Registerer, log *slog.Logger) (*changeTrail, error) {
	lookup, err := trail.NewLookup(ctx, st, trail.LookupOptions{})
	if err != nil {
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
	rec := trail.NewRecorder(st, trail.RecorderOptions{Logger: log})
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stockade_trail_records_dropped_total",
			Help: "Trail records of calls that changed nothing, dropped because the recorder's queue was full.",
		}, func() float64 { return float64(rec.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stockade_trail_records_failed_total",
			Help: "Trail records of calls that changed nothing, lost because their store transaction failed.",
		}, func() float64 { return float64(rec.Failed()) }),
	)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	t := &changeTrail{recorder: rec, lookup: lookup, stop: stop}
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
				maintainTrail(runCtx, st, root, time.Now(), log)
			}
		}
	}()
	return t, nil
}

// maintainTrail prunes what has aged out and exports what is new, each in bounded passes
// until nothing is left or ctx ends.
func maintainTrail(ctx context.Context, st store.Store, root *os.Root, now time.Time, log *slog.Logger) {
	for more := true; more && ctx.Err() == nil; {
		var err error
		if _, more, err = trail.Prune(ctx, st, now, pruneBatch); err != nil {
			log.Error("trail: prune", "error", err)
			break
		}
	}
	for more := true; more && ctx.Err() == nil; {
		var err error
		var files []string
		if files, more, err = trail.Export(ctx, st, root, now); err != nil {
			log.Error("trail: export", "error", err)
			break
		}
		for _, f := range files {
			log.Debug("trail: exported", "file", f)
		}
	}
}

// close stops the timer and the Recorder, which first writes every record it accepted.
func (t *changeTrail) close() {
	t.stop()
	t.wg.Wait()
}
