package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestDense: GOGC is DensePercent while a phase runs, also a nested one and across the
// collections after which the tuner retunes, and afterwards what it was, or the tuner's.
func TestDense(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(defaultPercent)
	debug.SetGCPercent(defaultPercent)
	gogc := func() uint64 { return gcMetric("/gc/gogc:percent") }
	Dense(func() {
		if p := gogc(); p != DensePercent {
			t.Errorf("GOGC %d in a phase, want %d", p, DensePercent)
		}
		Dense(func() {})
		if p := gogc(); p != DensePercent {
			t.Errorf("GOGC %d after a nested phase ended, want %d", p, DensePercent)
		}
	})
	if p := gogc(); p != defaultPercent {
		t.Errorf("GOGC %d after the phase, want %d as before it", p, defaultPercent)
	}

	startRaised(t)
	var big [][]byte
	Dense(func() {
		// The phase makes the live heap grow past half the floor: after the collections the
		// tuner wants Go's default, and must leave the phase's GOGC alone.
		for range 48 {
			big = append(big, make([]byte, 1<<20))
		}
		for range 3 {
			runtime.GC()
			time.Sleep(20 * time.Millisecond) // the tuner retunes after each
		}
		if p := gogc(); p != DensePercent {
			t.Errorf("GOGC %d in a phase after collections, want %d: the tuner set its own", p, DensePercent)
		}
	})
	if p := gogc(); p != defaultPercent {
		t.Errorf("GOGC %d after the phase, want the tuner's for the live heap now, %d", p, defaultPercent)
	}
	runtime.KeepAlive(big)
}

// TestDenseLeavesTheEnvironmentsGOGC: an operator's GOGC holds in a phase too.
func TestDenseLeavesTheEnvironmentsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(defaultPercent)
	debug.SetGCPercent(150)
	ran := false
	Dense(func() {
		ran = true
		if p := gcMetric("/gc/gogc:percent"); p != 150 {
			t.Errorf("GOGC %d in a phase, want the environment's 150", p)
		}
	})
	if !ran {
		t.Error("the phase did not run")
	}
}

// TestDenseAfterTheTunerStopped: a tuner stopped during a phase leaves Go's default behind
// it, not the GOGC it had set before the phase.
func TestDenseAfterTheTunerStopped(t *testing.T) {
	stop := startRaised(t)
	Dense(stop)
	if p := gcMetric("/gc/gogc:percent"); p != defaultPercent {
		t.Errorf("GOGC %d after a phase in which the tuner stopped, want %d", p, defaultPercent)
	}
}
