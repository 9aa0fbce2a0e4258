package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func gcMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// collectUntil runs collections until ok holds (the tuner runs after each, asynchronously)
// or five seconds pass.
func collectUntil(ok func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if ok() {
			return true
		}
	}
	return ok()
}

// testFloor is the tests' floor: far above the test binary's live heap, and under twice
// the 48 MiB they keep to pass half of it.
const testFloor = 64 << 20

// startRaised starts a tuner over the test binary's small live heap and waits until it has
// raised GOGC; the test ends with the tuner stopped and Go's default.
func startRaised(t *testing.T) (stop func()) {
	t.Helper()
	t.Setenv("GOGC", "")
	t.Cleanup(func() { debug.SetGCPercent(defaultPercent) })
	if live := gcMetric("/gc/heap/live:bytes"); live > testFloor/4 {
		t.Skipf("the test binary's live heap is %d bytes already", live)
	}
	stop = Start(testFloor)
	t.Cleanup(stop)
	if !collectUntil(func() bool { return gcMetric("/gc/gogc:percent") > 200 }) {
		t.Fatalf("GOGC %d with a live heap of %d bytes and a floor of %d, want it raised",
			gcMetric("/gc/gogc:percent"), gcMetric("/gc/heap/live:bytes"), testFloor)
	}
	return stop
}

// TestFloorFollowsTheLiveHeap: with a live heap far under the floor, the goal is raised to
// the floor; once the live heap grows past half the floor, GOGC is Go's default again; stop
// leaves the default.
func TestFloorFollowsTheLiveHeap(t *testing.T) {
	stop := startRaised(t)
	if goal := gcMetric("/gc/heap/goal:bytes"); goal < testFloor*9/10 {
		t.Errorf("heap goal %d bytes, want about the floor, %d", goal, testFloor)
	}

	big := make([][]byte, 48) // 48 MiB live, more than half the floor
	for i := range big {
		big[i] = make([]byte, 1<<20)
	}
	if !collectUntil(func() bool { return gcMetric("/gc/gogc:percent") == defaultPercent }) {
		t.Errorf("GOGC %d with a live heap of %d bytes and a floor of %d, want the default",
			gcMetric("/gc/gogc:percent"), gcMetric("/gc/heap/live:bytes"), testFloor)
	}
	runtime.KeepAlive(big)
	big = nil

	if !collectUntil(func() bool { return gcMetric("/gc/gogc:percent") > 200 }) {
		t.Fatalf("GOGC %d once the live heap shrank again, want it raised", gcMetric("/gc/gogc:percent"))
	}
	stop()
	if p := gcMetric("/gc/gogc:percent"); p != defaultPercent {
		t.Errorf("GOGC %d after stop, want %d", p, defaultPercent)
	}
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gcMetric("/gc/gogc:percent"); p != defaultPercent {
		t.Errorf("GOGC %d after stop and a collection, want %d: the tuner still runs", p, defaultPercent)
	}
}

// TestGOGCFromTheEnvironmentWins: an operator's GOGC is left as it is.
func TestGOGCFromTheEnvironmentWins(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(defaultPercent)
	debug.SetGCPercent(150) // as the runtime would have read it at start
	stop := Start(1 << 30)
	defer stop()
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if p := gcMetric("/gc/gogc:percent"); p != 150 {
		t.Errorf("GOGC %d, want the environment's 150", p)
	}
}

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{16 << 20, 64 << 20, 300},  // goal 16 MiB × 4 = the floor
		{32 << 20, 64 << 20, 100},  // the default reaches the floor
		{100 << 20, 64 << 20, 100}, // and beyond it
		{20 << 20, 64 << 20, 220},
		{1, 64 << 20, maxPercent},
		{0, 64 << 20, maxPercent},
	} {
		if got := percentFor(c.live, c.floor); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

func TestChanged(t *testing.T) {
	for _, c := range []struct {
		cur, next int
		want      bool
	}{
		{100, 100, false},
		{100, 105, true}, // leaving the default
		{300, 100, true}, // back to it
		{300, 320, false},
		{300, 340, true},
		{300, 260, true},
	} {
		if got := changed(c.cur, c.next); got != c.want {
			t.Errorf("changed(%d, %d) = %v, want %v", c.cur, c.next, got, c.want)
		}
	}
}
