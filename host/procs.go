package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// procIdentity is "PID STARTTIME": a process ID with the time the process started (field 22
// of /proc/PID/stat, in clock ticks since boot), which tells it from a later process that got
// the same ID.
func procIdentity(pid int) string {
	return strconv.Itoa(pid) + " " + procStart(pid)
}

// procStart is the start time of process pid, or "" when there is no such process or it has
// ended and waits to be reaped (a zombie: where the host's init does not reap orphans, an
// instance's killed sandbox stays one).
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from
	// after its closing one.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 19 && f[0] != "Z" && f[0] != "X" {
			return f[19] // field 22 of the line is the 20th after the name
		}
	}
	return ""
}

// SandboxPID is the host PID of an instance's sandbox (its first process inside), or 0 when
// it is not running.
func (h *Host) SandboxPID(instance string) int {
	b, err := h.dir.ReadFile(pidName(instance))
	if err != nil {
		return 0
	}
	pid, start, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.Atoi(pid)
	if !ok || err != nil || n <= 0 || start == "" || procStart(n) != start {
		return 0
	}
	return n
}

// sandboxRunning reports whether an instance's sandbox is running.
func (h *Host) sandboxRunning(instance string) bool { return h.SandboxPID(instance) != 0 }

// readChildPID reads what bwrap --info-fd writes once the sandbox is set up: JSON with the
// host PID of the process it runs inside. bwrap closes it then; a sandbox that fails earlier
// closes it without a word.
func readChildPID(r io.Reader) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var info struct {
			ChildPID int `json:"child-pid"`
		}
		err := json.NewDecoder(r).Decode(&info)
		if err == nil && info.ChildPID <= 0 {
			err = errors.New("bwrap reported no child PID")
		}
		done <- result{info.ChildPID, err}
	}()
	select {
	case res := <-done:
		return res.pid, res.err
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("bwrap did not report its child within 10 s")
	}
}

// waitForRoot waits until the process pid sees path in its root filesystem: a sandbox's
// first process is reported before bwrap has finished building its root. It looks again after
// 5 ms, then twice as long each time up to rootPollMax: a thousand sandboxes starting at once,
// each looking every 5 ms, were 200,000 reads of /proc a second, which took the cores from
// the bwraps building the roots, so that most roots took longer than the limit and their
// sandboxes' PIDs were never published (lab exec could not reach those instances).
func waitForRoot(pid int, path string, limit time.Duration) error {
	p := "/proc/" + strconv.Itoa(pid) + "/root" + path
	wait := 5 * time.Millisecond
	for deadline := time.Now().Add(limit); ; wait = min(2*wait, rootPollMax) {
		if _, err := os.Stat(p); err == nil {
			return nil
		} else if procStart(pid) == "" {
			return fmt.Errorf("the sandbox (PID %d) ended while it was set up", pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sandbox (PID %d) has no %s after %v", pid, path, limit)
		}
		time.Sleep(wait)
	}
}

// rootPollMax is the longest waitForRoot waits between two looks: a root that is slow to
// appear is published at most this long after it is ready.
const rootPollMax = 250 * time.Millisecond
