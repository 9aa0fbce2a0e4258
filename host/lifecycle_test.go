package host_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// setState gives instance i-N a new state and boot count (a copy: the model is
// copy-on-write).
func (s *source) setState(n int, state model.InstanceState, boots int) int64 {
	return s.commit(func(net *netmap.Network) {
		for i, in := range net.Instances {
			if in.ID == "i-"+string(rune('0'+n)) {
				c := *in
				c.State, c.Boots = state, boots
				net.Instances[i] = &c
			}
		}
	})
}

// TestStopStartReboot: a stopped instance runs nothing (no namespace, no link, and the
// router goes with the last running instance of its VPC) but keeps its files; a start wires
// it again on the same address without running user data again; a reboot (a new boot count)
// takes the sandbox down and up again; a termination removes the files.
func TestStopStartReboot(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	e := newEnv(t, nil, nil)
	e.src.launch(1, "#!/bin/sh\necho boot >> "+runs+"\necho first boot\n")
	e.src.launch(2, "")
	reconcile := func() {
		t.Helper()
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	poll(t, "user data finished", func() bool { out, _ := e.h.Console("i-1"); return bytes.Contains(out, []byte("finished")) })
	running := []string{"instance t-i-1 eth0 10.0.1.1/24", "instance t-i-2 eth0 10.0.1.2/24",
		"router t-vpc-1 forwarding=on links=" + link("eni-1") + ">t-i-1," + link("eni-2") + ">t-i-2"}
	e.dump(running...)

	e.src.setState(1, model.StateStopped, 0)
	reconcile()
	e.dump("instance t-i-2 eth0 10.0.1.2/24", "router t-vpc-1 forwarding=on links="+link("eni-2")+">t-i-2")
	if out, _ := e.h.Console("i-1"); !bytes.Contains(out, []byte("first boot")) {
		t.Errorf("a stop lost the console output: %q", out)
	}
	for _, in := range e.h.Instances() {
		if in.ID == "i-1" {
			t.Errorf("a stopped instance is listed as running: %+v", in)
		}
	}
	e.src.setState(2, model.StateStopped, 0)
	reconcile()
	e.dump() // nothing runs in the VPC: no router either

	e.src.setState(1, model.StateRunning, 1)
	e.src.setState(2, model.StateRunning, 1)
	reconcile()
	e.dump(running...)
	ups := func() int { return strings.Count(e.logs.String(), "lab instance up") }
	before := ups()
	e.src.setState(1, model.StateRunning, 2) // a reboot
	reconcile()
	e.dump(running...)
	if got := ups() - before; got != 1 {
		t.Errorf("a reboot brought %d instances up, want 1 (i-1 only)", got)
	}
	if err := e.h.Close(context.Background(), false); err != nil { // waits for any script
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(runs); string(b) != "boot\n" {
		t.Errorf("user data ran %d times across a stop, a start and a reboot, want once", bytes.Count(b, []byte("boot")))
	}
}

// TestStoppedInstanceFilesSurviveSweep: a host that starts while an instance is stopped
// sweeps what no running instance wants, but not the stopped instance's files.
func TestStoppedInstanceFilesSurviveSweep(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.src.setState(1, model.StateStopped, 0)
	for _, f := range []string{"i-1.log", "i-9.log"} {
		if err := os.WriteFile(filepath.Join(e.dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "i-1.log")); err != nil {
		t.Errorf("the stopped instance's console was swept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "i-9.log")); !os.IsNotExist(err) {
		t.Errorf("an unknown instance's console was kept: %v", err)
	}
}

// TestBooted: an instance is booted once the host wired it (no sandboxes here), and not while
// it is stopped or unknown.
func TestBooted(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	if e.h.Booted("i-1") {
		t.Error("booted before any reconcile")
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if !e.h.Booted("i-1") || e.h.Booted("i-2") {
		t.Errorf("Booted(i-1) = %v, Booted(i-2) = %v after reconcile", e.h.Booted("i-1"), e.h.Booted("i-2"))
	}
	e.src.setState(1, model.StateStopped, 0)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if e.h.Booted("i-1") {
		t.Error("a stopped instance is booted")
	}
}
