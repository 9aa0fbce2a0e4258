package main

import (
	"runtime"
	"syscall"
	"testing"
)

// TestWidenProcs: the server doubles the runtime's Ps, unless GOMAXPROCS says how many.
func TestWidenProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "")
	widenProcs()
	if got := runtime.GOMAXPROCS(0); got != 2*before {
		t.Errorf("GOMAXPROCS %d after widening %d, want %d", got, before, 2*before)
	}
	runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "3")
	widenProcs()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS set in the environment: %d after widening, want %d as it was", got, before)
	}
}

// TestBackgroundThread: the goroutine that calls backgroundThread runs on a thread of nice
// 10 (or the process's, if higher) for the rest of its life; the process's other threads
// keep their priority.
func TestBackgroundThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base, err := threadNice(syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	want := max(base, backgroundNice)
	type result struct {
		nice, seen int
		err        error
	}
	done := make(chan result)
	go func() {
		nice, err := backgroundThread()
		r := result{nice: nice, err: err}
		if err == nil {
			runtime.Gosched() // still the same thread after a yield
			r.seen, r.err = threadNice(syscall.Gettid())
		}
		done <- r
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.nice != want || r.seen != want {
		t.Errorf("background thread: nice %d, the kernel says %d, want %d", r.nice, r.seen, want)
	}
	if own, err := threadNice(syscall.Gettid()); err != nil || own != base {
		t.Errorf("another thread: nice %d (%v), want %d as before", own, err, base)
	}
}

// threadNice is a thread's nice value, as the kernel reports it.
func threadNice(tid int) (int, error) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	return 20 - prio, err
}
