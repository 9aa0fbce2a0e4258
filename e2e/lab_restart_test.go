package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stockade/stockade/netlab"
)

// TestLabAgentRestartKeepsEnforcement kills the server (agent included) with SIGKILL: the
// kernel keeps enforcing the last ruleset while nothing runs, the next start adopts the
// namespaces and replaces the ruleset atomically, and changes made after it are enforced.
func TestLabAgentRestartKeepsEnforcement(t *testing.T) {
	e := newLabEnv(t)
	vpc, _ := e.vpc("10.20.0.0/16")
	sn := e.subnet(vpc, "10.20.1.0/24")
	web, db := e.group(vpc), e.group(vpc)
	e.allowIn(db, perm("tcp", 5432, 5432, web))
	w, x := e.launch(sn, web), e.launch(sn, e.group(vpc))
	d := e.launch(sn, db)
	e.serve(d, 5432)
	check := func(when string) {
		t.Helper()
		if err := netlab.TCP(w.NS, netipPort(d.IP, 5432), netlab.PassTimeout); err != nil {
			t.Errorf("%s: web → db refused: %v", when, err)
		}
		if err := netlab.TCP(x.NS, netipPort(d.IP, 5432), netlab.DropTimeout); err == nil {
			t.Errorf("%s: other → db got through", when)
		}
	}
	check("before the crash")

	dataDir := e.s.dataDir
	e.s.stop(t, syscall.SIGKILL)
	check("while no agent runs")

	e.start(dataDir)
	e.enforced()
	check("after the restart")

	for _, ns := range []string{w.NS, x.NS, d.NS} {
		if !netlab.Exists(ns) {
			t.Errorf("namespace %s was not adopted", ns)
		}
	}
	// The restarted agent enforces new changes.
	e.allowIn(db, perm("tcp", 5432, 5432, x.IP.String()+"/32"))
	e.enforced()
	if err := netlab.TCP(x.NS, netipPort(d.IP, 5432), netlab.PassTimeout); err != nil {
		t.Errorf("after restart, a new rule is not enforced: %v", err)
	}
}

// TestLabShutdownLeavesNothing stops the server normally: every namespace it made is gone, and
// every instance's sandbox with it. With --keep-lab they all stay.
func TestLabShutdownLeavesNothing(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newLabEnv(t)
		if keep {
			e.s.stop(t, syscall.SIGTERM)
			e.start(e.s.dataDir, "--keep-lab")
		}
		vpc, def := e.vpc("10.21.0.0/16")
		sn := e.subnet(vpc, "10.21.1.0/24")
		a, b := e.launch(sn, def), e.launch(sn, def)
		e.consoleUntil(a.ID, "booting")
		e.consoleUntil(b.ID, "booting")
		sandboxes := func() int { // the instances' sleeping first processes, still there or not
			out, _ := exec.Command("pgrep", "-f", "-c", "^sleep infinity$").Output()
			n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			return n
		}
		before := sandboxes()
		e.s.stop(t, syscall.SIGTERM)
		if code := e.s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("server exit status %d\n%s", code, e.s.stderr.String())
		}
		left, _ := netlab.List(e.prefix + "-")
		// Kept: the two instances, the router and its operator attachment.
		if want := map[bool]int{false: 0, true: 4}[keep]; len(left) != want {
			t.Errorf("keep-lab=%v: %d namespaces left (%v), want %d", keep, len(left), left, want)
		}
		if gone := before - sandboxes(); keep != (gone == 0) || !keep && gone < 2 {
			t.Errorf("keep-lab=%v: %d of the sandboxes ended with the server", keep, gone)
		}
	}
}
