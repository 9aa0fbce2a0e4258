package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// TestBackground: work given to the background runs on one thread, of nice 10 (or the
// process's, if higher), every time; the caller's thread keeps its priority; a nil
// background runs the work on the caller's goroutine.
func TestBackground(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := syscall.Gettid()
	base, err := procNice(own)
	if err != nil {
		t.Fatal(err)
	}
	want := max(base, backgroundNice)
	b, nice, err := startBackground()
	if err != nil {
		t.Fatal(err)
	}
	defer b.stop()
	if nice != want {
		t.Errorf("startBackground: nice %d, want %d", nice, want)
	}
	var tids []int
	for range 3 {
		var seen int
		var err error
		b.do(func() {
			runtime.Gosched()
			tid := syscall.Gettid()
			tids = append(tids, tid)
			seen, err = procNice(tid)
		})
		if err != nil || seen != want {
			t.Errorf("background work: nice %d (%v), want %d", seen, err, want)
		}
	}
	if tids[0] == own || tids[1] != tids[0] || tids[2] != tids[0] {
		t.Errorf("background work ran on threads %v (the caller's is %d), want one thread of its own", tids, own)
	}
	if now, err := procNice(own); err != nil || now != base {
		t.Errorf("the caller's thread: nice %d (%v), want %d as before", now, err, base)
	}
	var inline int
	(*background)(nil).do(func() { inline = syscall.Gettid() })
	if inline != own {
		t.Errorf("a nil background ran the work on thread %d, want the caller's %d", inline, own)
	}
}

// procNice is a thread's nice value as /proc reports it (the stat file's 19th field), read
// independently of threadNice's system call.
func procNice(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count after it.
	rest := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(rest) < 17 {
		return 0, fmt.Errorf("short stat for thread %d: %q", tid, b)
	}
	return strconv.Atoi(rest[16]) // field 19: the third field is rest[0]
}
