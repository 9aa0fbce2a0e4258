package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// perfDir, when set (-perf), is where each phase's CPU profile of the server goes: one
// `perf record -g` file per server and phase, so that a phase's profile is not mixed with
// the phases around it (read with `perf report -i FILE`).
var perfDir string

var perfRuns = map[string]int{}

// profilePhase starts perf on t's server for one phase and returns what stops it. Without
// -perf, or for a server that is not Stockade, it does nothing.
func profilePhase(t *target, phase string) func() {
	if perfDir == "" || t.name != "stockade" {
		return func() {}
	}
	name := strings.ReplaceAll(phase, " ", "-")
	perfRuns[name]++
	out := filepath.Join(perfDir, fmt.Sprintf("%s-%d.data", name, perfRuns[name]))
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", fmt.Sprint(t.cmd.Process.Pid), "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatalf("perf: %v", err)
	}
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}
}
