package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openRoot(t *testing.T) (*os.Root, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

// TestTailFileKeepsTheTail: a console log written past its limit stays under it, starts with
// the truncation marker and ends with the most recent output, whatever the write sizes.
func TestTailFileKeepsTheTail(t *testing.T) {
	for _, chunk := range []int{1, 100, 4096, 700_000} {
		r, dir := openRoot(t)
		const limit = 64 << 10
		f, err := openTail(r, "i-1.log", limit)
		if err != nil {
			t.Fatal(err)
		}
		var all bytes.Buffer
		for i := 0; all.Len() < 3*limit+chunk; i++ {
			p := bytes.Repeat([]byte{byte('a' + i%26)}, chunk)
			if chunk > 1 {
				p[len(p)-1] = '\n'
			}
			if n, err := f.Write(p); err != nil || n != len(p) {
				t.Fatalf("chunk %d: Write = %d, %v", chunk, n, err)
			}
			all.Write(p)
		}
		f.Close()
		got, err := os.ReadFile(filepath.Join(dir, "i-1.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Errorf("chunk %d: file is %d bytes, limit %d", chunk, len(got), limit)
		}
		rest, ok := strings.CutPrefix(string(got), truncated)
		if !ok {
			t.Fatalf("chunk %d: no truncation marker at the start: %.60q", chunk, got)
		}
		if len(rest) == 0 || !bytes.HasSuffix(all.Bytes(), []byte(rest)) {
			t.Errorf("chunk %d: the file's %d bytes after the marker are not the end of the output", chunk, len(rest))
		}
	}
}

// TestTailFileUnderLimit: below the limit, a console log is exactly what was written.
func TestTailFileUnderLimit(t *testing.T) {
	r, dir := openRoot(t)
	f, err := openTail(r, "i-1.log", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello\n"))
	f.Write([]byte("world\n"))
	f.Close()
	if got, _ := os.ReadFile(filepath.Join(dir, "i-1.log")); string(got) != "hello\nworld\n" {
		t.Errorf("log = %q", got)
	}
}

// TestReadTail: what GetConsoleOutput gets is the last n bytes, or all of a shorter log, or
// nothing for an instance without one.
func TestReadTail(t *testing.T) {
	r, dir := openRoot(t)
	big := bytes.Repeat([]byte("0123456789"), ConsoleTail/5) // twice the tail
	os.WriteFile(filepath.Join(dir, "big.log"), big, 0o600)
	os.WriteFile(filepath.Join(dir, "small.log"), []byte("hi"), 0o600)
	if got, err := readTail(r, "big.log", ConsoleTail); err != nil || !bytes.Equal(got, big[len(big)-ConsoleTail:]) {
		t.Errorf("big: %d bytes, %v; want the last %d", len(got), err, ConsoleTail)
	}
	if got, err := readTail(r, "small.log", ConsoleTail); err != nil || string(got) != "hi" {
		t.Errorf("small: %q, %v", got, err)
	}
	if got, err := readTail(r, "none.log", ConsoleTail); err != nil || got != nil {
		t.Errorf("none: %q, %v", got, err)
	}
}

// TestConsoleFilesRefuseSymlinks: a symlink planted in the lab directory is neither read nor
// written through, nor followed out of the directory.
func TestConsoleFilesRefuseSymlinks(t *testing.T) {
	r, dir := openRoot(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	for _, name := range []string{"i-1.log", "i-1.user-data", "inside.log"} {
		if err := os.Symlink(secret, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "target.log"), []byte("inside"), 0o600)
	os.Remove(filepath.Join(dir, "inside.log"))
	os.Symlink("target.log", filepath.Join(dir, "inside.log")) // a symlink within the directory
	if got, err := readTail(r, "i-1.log", ConsoleTail); err == nil || strings.Contains(string(got), "secret") {
		t.Errorf("read through a symlink out of the directory: %q, %v", got, err)
	}
	if got, err := readTail(r, "inside.log", ConsoleTail); err == nil {
		t.Errorf("read through a symlink: %q", got)
	}
	if _, err := openTail(r, "i-1.log", 1<<20); err == nil {
		t.Error("opened a symlink as a console log")
	}
	if err := writeNew(r, "i-1.user-data", []byte("echo"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(secret); string(got) != "secret" {
		t.Errorf("user data written through a symlink: %q", got)
	}
	if err := removeFiles(r, "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("removal followed a symlink: %v", err)
	}
}
