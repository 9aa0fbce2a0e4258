package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
)

// ConsoleTail is the most GetConsoleOutput returns: EC2's last 64 KiB of console output.
const ConsoleTail = 64 << 10

// DefaultConsoleLimit is the most a console log keeps on disk by default.
const DefaultConsoleLimit = 1 << 20

// truncated starts a console log whose earlier output was dropped to keep it under its limit.
const truncated = "[stockade] earlier output truncated\n"

// Console files: <instance>.log (what it printed), <instance>.user-data (the script) and
// <instance>.booted (the first boot happened: user data runs once, as on EC2, not again when a
// restarted server rebuilds the instance's namespace). They live in the host's directory, opened through an os.Root so that a symlink planted there
// cannot send a write, a read or a removal outside it; a console log must moreover be a
// regular file (os.Root follows a symlink that stays inside the directory).
func logName(instance string) string      { return instance + ".log" }
func userDataName(instance string) string { return instance + ".user-data" }
func bootedName(instance string) string   { return instance + ".booted" }

// tailFile is a console log that never grows past limit bytes: when a write would take it
// past, the file is rewritten as a marker and the most recent half of the limit. EC2 shows the
// most recent output, so the tail is what is worth keeping; rewriting half the limit at a time
// costs at most one extra write of every byte.
type tailFile struct {
	mu    sync.Mutex
	f     *os.File
	size  int64
	limit int64
}

// openTail opens (or creates) a console log for appending, refusing a symlink in its place.
func openTail(dir *os.Root, name string, limit int64) (*tailFile, error) {
	if fi, err := dir.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("console log %s is not a regular file", name)
	}
	f, err := dir.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &tailFile{f: f, size: fi.Size(), limit: limit}, nil
}

func (t *tailFile) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.size+int64(len(p)) <= t.limit {
		n, err := t.f.WriteAt(p, t.size)
		t.size += int64(n)
		return n, err
	}
	keep := max(t.limit/2-int64(len(truncated)), 0)
	var tail []byte
	if int64(len(p)) >= keep {
		tail = p[int64(len(p))-keep:]
	} else {
		old := min(keep-int64(len(p)), t.size)
		tail = make([]byte, old, old+int64(len(p)))
		if _, err := t.f.ReadAt(tail, t.size-old); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		tail = append(tail, p...)
	}
	data := append([]byte(truncated), tail...)
	if err := t.f.Truncate(0); err != nil {
		return 0, err
	}
	n, err := t.f.WriteAt(data, 0)
	t.size = int64(n)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *tailFile) Close() error { return t.f.Close() }

// readTail returns the last n bytes of a file in dir (nil when it does not exist).
func readTail(dir *os.Root, name string, n int64) ([]byte, error) {
	if fi, err := dir.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("console log %s is not a regular file", name)
	}
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("console log %s is not a regular file", name)
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	m, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}

// writeNew writes a file in dir, replacing whatever was there (a symlink included) rather
// than writing through it.
func writeNew(dir *os.Root, name string, data []byte, perm os.FileMode) error {
	if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// removeFiles removes an instance's console log, user data, first-boot mark, host key, PID
// and saved writable layer.
func removeFiles(dir *os.Root, instance string) error {
	var errs []error
	for _, name := range []string{logName(instance), userDataName(instance), bootedName(instance), hostKeyName(instance), pidName(instance),
		layerName(instance), tmpLayerName(instance)} {
		if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// instanceOfFile is the instance a file of the directory belongs to, or "".
func instanceOfFile(name string) string {
	for _, ext := range []string{".log", ".user-data", ".booted", ".hostkey", ".pid", ".root.tar", ".root.tmp"} {
		if id, ok := strings.CutSuffix(name, ext); ok && strings.HasPrefix(id, "i-") {
			return id
		}
	}
	return ""
}

// pidName is where the host PID of an instance's sandbox (its first process inside) is kept,
// with the process's start time, for `stockade lab exec` and for a restart that adopts it.
func pidName(instance string) string { return instance + ".pid" }
