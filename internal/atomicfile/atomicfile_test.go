package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: the file appears with its content and mode, replacing an older one; a failed
// write (the temporary name taken) leaves the old file as it was and no temporary behind.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, body := range []string{"first", "second"} {
		if err := Write(root, "f", "f.tmp", []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != body {
			t.Errorf("content %q, want %q", b, body)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "f")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	os.Mkdir(filepath.Join(dir, "busy.tmp"), 0o700) // a name that cannot be created as a file
	if err := Write(root, "f", "busy.tmp", []byte("third"), 0o640); err == nil {
		t.Error("a write through a taken temporary name succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "second" {
		t.Errorf("a failed write changed the file: %q", b)
	}
}
