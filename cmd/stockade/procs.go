package main

import (
	"os"
	"runtime"
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
