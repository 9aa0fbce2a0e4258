package main

import (
	"os"
	"runtime"
	"syscall"
)

// widenProcs gives the server twice as many Ps (GOMAXPROCS) as the runtime's default (the
// CPUs, or the container's CPU limit), unless GOMAXPROCS is set in the environment.
//
// Go preempts a goroutine that keeps a P busy only after 10 ms. With a P per CPU, one
// goroutine computing for long — the continuous audit compiles the account's policy again
// after a membership change, tens of milliseconds at 1,000 interfaces — holds one of a
// 2-CPU host's two Ps, and the chain that enforces a change (the committer, the watchers,
// the agent's reconcile, each woken in turn) queues for the other: an execution trace of
// the membership benchmark showed them runnable 3–16 ms before they ran. With more Ps than
// CPUs they are runnable on a P of their own, and the kernel, which runs a thread that
// mostly sleeps before one that computes, decides which runs. Writes gain from it too (their
// commit wakes the same chain); short reads may lose a little to the idle Ps' spinning
// (apibench's calibration: 74–76 % of the canned reply against 75–80 % with a P per CPU).
// BENCHMARKS.md, thirteenth session, has the figures.
func widenProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
}

// heapFloor is the least heap the server's garbage collector lets grow before a cycle
// (internal/gcfloor). At 1,000 groups the live heap is about 15 MB, and with Go's default
// the collector ran eight times a second under apibench's writes; with the floor, a fifth as
// often. The server holds at most this much more memory; from a live heap of half of it
// nothing changes: at 10,000 groups of 20 rules the live heap is well above that (about
// 167 MB, most of it the continuous audit's findings). GOGC in the environment replaces the
// floor. BENCHMARKS.md, fifteenth session.
const heapFloor = 64 << 20

// backgroundNice is the nice value of the background thread (the server's other threads
// keep the process's, 0 by default): the kernel gives a thread of nice 10 about a tenth of
// the CPU that a thread of nice 0 competing with it gets, and a woken thread of nice 0
// preempts it at once.
const backgroundNice = 10

// background is a goroutine that runs the work it is given on a thread of its own which the
// kernel runs after the server's others: the continuous audit's computation, which can take
// a core for tens of milliseconds while the API and the agent have a change to enforce. Go
// has no priorities of its own; with more Ps than CPUs (widenProcs) which goroutine runs is
// the kernel's choice, and a thread's nice value is how the server tells it.
//
// Only computation belongs there, not work that holds a lock others wait for (a tenant's
// lock, a store transaction): descheduled with it, a thread of nice 10 would hold up the
// threads the nice value was meant to favour. A thread's nice value cannot be lowered back
// without privilege, so the thread keeps it and does nothing else: the goroutine stays on
// it (runtime.LockOSThread, never undone), and when the goroutine ends the runtime ends the
// thread.
type background struct {
	work chan func()
}

// startBackground starts the background goroutine and returns the nice value its thread
// runs at: backgroundNice, or the process's if that is higher still. If setting the value
// fails, the error is returned and the goroutine runs the work all the same, at the
// process's priority. It ends with stop.
func startBackground() (*background, int, error) {
	b := &background{work: make(chan func())}
	type started struct {
		nice int
		err  error
	}
	ready := make(chan started)
	go func() {
		runtime.LockOSThread() // never undone: the thread ends with the goroutine
		nice, err := lowerPriority()
		ready <- started{nice, err}
		for fn := range b.work {
			fn()
		}
	}()
	s := <-ready
	return b, s.nice, s.err
}

// lowerPriority sets the calling thread's nice value to backgroundNice unless it is higher
// already, and returns it.
func lowerPriority() (int, error) {
	tid := syscall.Gettid()
	nice, err := threadNice(tid)
	if err != nil {
		return 0, err
	}
	if nice >= backgroundNice {
		return nice, nil
	}
	return backgroundNice, syscall.Setpriority(syscall.PRIO_PROCESS, tid, backgroundNice)
}

// threadNice is a thread's nice value: the system call answers 20 minus it (glibc's
// getpriority converts; syscall's does not).
func threadNice(tid int) (int, error) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	return 20 - prio, err
}

// do runs fn on the background thread and returns when it has. A nil background runs fn
// on the caller's goroutine.
func (b *background) do(fn func()) {
	if b == nil {
		fn()
		return
	}
	done := make(chan struct{})
	b.work <- func() {
		defer close(done)
		fn()
	}
	<-done
}

// stop ends the background goroutine, and with it its thread. do must not be called after.
func (b *background) stop() { close(b.work) }
