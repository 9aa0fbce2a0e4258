// Package gcfloor keeps a Go program's garbage collector from running every few megabytes of
// allocation while its live heap is small: it sets GOGC, after every collection, so that the
// next one starts no sooner than when the heap reaches a floor, and puts it back to Go's
// default once the live heap is large enough for the default to reach the floor on its own.
//
// Why: with GOGC=100 the collector starts a cycle each time the heap has grown by its live
// size. A server whose live heap is 15 MB and which allocates tens of kilobytes a request then
// collects every few hundred requests, and each cycle's marking and the assists it asks of
// the request goroutines cost the same whatever the garbage. A floor trades a bounded amount
// of memory, at most the floor, for that CPU. With a live heap of half the floor or more the
// default already waits that long, and nothing changes: the memory a large installation uses
// is the same as without the floor.
//
// The Go runtime has no floor of its own. GOMEMLIMIT is a ceiling and stays one: a limit set
// in the environment still holds whatever GOGC this package sets. GOGC set in the environment
// is the operator's choice, and Start leaves it alone.
//
// The opposite is wanted while a program builds what it keeps (Dense, dense.go): there the
// package lowers GOGC for a while, and the tuner leaves it so until the phase ends.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// defaultPercent is Go's GOGC when the environment sets none.
const defaultPercent = 100

// maxPercent bounds the GOGC set for a tiny live heap: the goal is the floor either way, and
// the bound keeps the arithmetic far from overflow.
const maxPercent = 100_000

// sentinel is what each collection frees, to have the cleanup run after it. It is larger
// than the runtime's tiny allocations, which share a block and may never be freed alone.
type sentinel struct{ _ [64]byte }

// mu guards every tuner and the Dense phases: both set GOGC.
var mu sync.Mutex

type tuner struct {
	floor   uint64
	stopped bool
	percent int // the GOGC the tuner wants; set unless a Dense phase runs
	sample  []metrics.Sample
}

// active is the running tuner, if any: what a Dense phase puts back when it ends.
var active *tuner

// Start keeps the heap goal at floor bytes or more, from the next collection on, and returns
// the function that stops it (and puts GOGC back to Go's default). It does nothing when GOGC
// is set in the environment.
func Start(floor uint64) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	t := &tuner{floor: floor, percent: defaultPercent,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	mu.Lock()
	active = t
	mu.Unlock()
	t.arm()
	return t.stop
}

// arm allocates a sentinel that the next collection frees, and runs retune after it.
func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *tuner) { t.retune() }, t)
}

// retune sets GOGC for the live heap the last collection found, and arms the next sentinel.
func (t *tuner) retune() {
	mu.Lock()
	defer mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	if p := percentFor(t.sample[0].Value.Uint64(), t.floor); changed(t.percent, p) {
		if dense == 0 { // else the phase's end sets it
			debug.SetGCPercent(p) // stops the world briefly: only when the value moves
		}
		t.percent = p
	}
	t.arm()
}

func (t *tuner) stop() {
	mu.Lock()
	defer mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	if active == t {
		active = nil
	}
	switch {
	case dense > 0:
		saved = defaultPercent // what the phase's end puts back, with no tuner
	case t.percent != defaultPercent:
		debug.SetGCPercent(defaultPercent)
	}
}

// percentFor is the GOGC whose goal for a live heap of live bytes (live × (1 + GOGC/100)) is
// floor, and never less than Go's default.
func percentFor(live, floor uint64) int {
	if live == 0 {
		return maxPercent
	}
	if floor <= 2*live {
		return defaultPercent
	}
	return int(min((floor-live)*100/live, maxPercent))
}

// changed reports whether next differs from cur by more than a tenth: a live heap that
// wanders a little does not stop the world at every collection to move GOGC by a percent.
func changed(cur, next int) bool {
	if next == defaultPercent || cur == defaultPercent {
		return next != cur
	}
	d := next - cur
	return 10*d > cur || -10*d > cur
}
