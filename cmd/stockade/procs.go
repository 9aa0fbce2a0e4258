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

// backgroundNice is the nice value of the continuous audit's thread (the server's other
// threads keep the process's, 0 by default): the kernel gives a thread of nice 10 about a
// tenth of the CPU a thread of nice 0 competing with it gets, and a woken thread of nice 0
// preempts it at once.
const backgroundNice = 10

// backgroundThread makes the calling goroutine background work: it keeps the goroutine on
// its thread for the rest of the goroutine's life, and has the kernel run that thread after
// the others (nice backgroundNice, or the process's own if that is lower still). The thread
// ends with the goroutine, its priority with it, and no other goroutine ever runs on it.
// Go has no priorities of its own: with more Ps than CPUs (widenProcs), which goroutine runs
// is the kernel's choice, and this is how the server tells it the audit can wait while a
// change is enforced. It returns the thread's nice value.
func backgroundThread() (int, error) {
	runtime.LockOSThread() // never unlocked, on purpose
	tid := syscall.Gettid()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return 0, err
	}
	nice := 20 - prio // the system call's value, not glibc's
	if nice >= backgroundNice {
		return nice, nil
	}
	return backgroundNice, syscall.Setpriority(syscall.PRIO_PROCESS, tid, backgroundNice)
}
