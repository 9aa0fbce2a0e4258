package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirIsRefused: the server does not start on a data directory another user could
// change, nor through a planted link (security review 4.4), and says what to do.
func TestDataDirIsRefused(t *testing.T) {
	start := func(dir string) (string, int) {
		t.Helper()
		// A server that wrongly starts is stopped by the context, and fails the test.
		cmd := exec.CommandContext(ctx(t), binary, "server", "--listen", "127.0.0.1:0", "--data-dir", dir, "--enforce=false")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	open := t.TempDir()
	os.Chmod(open, 0o777)
	if out, code := start(open); code == 0 || !strings.Contains(out, "writable by group or others") || !strings.Contains(out, "chmod go-w "+open) {
		t.Errorf("group/other-writable data dir: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	loot := filepath.Join(t.TempDir(), "loot")
	os.WriteFile(loot, nil, 0o666)
	os.Symlink(loot, filepath.Join(dir, "stockade.db"))
	if out, code := start(dir); code == 0 || !strings.Contains(out, filepath.Join(dir, "stockade.db")+" is a symbolic link") {
		t.Errorf("linked store: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(loot); err != nil || fi.Size() != 0 {
		t.Errorf("the server wrote through the link: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials")); err == nil {
		t.Error("credentials written into a refused data dir")
	}
}
