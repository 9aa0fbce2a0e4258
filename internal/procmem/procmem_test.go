package procmem

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMappedKB: a file mapped and read is counted, in full; once unmapped, nothing is.
func TestMappedKB(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, 1<<20, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for i := 0; i < len(b); i += 4096 {
		sum += int(b[i])
	}
	if sum != 0 {
		t.Fatal("a file of zeros read non-zero")
	}
	if kb, err := MappedKB(path); err != nil || kb != 1024 {
		t.Errorf("read 1 MiB mapped: %d KB resident (%v), want 1024", kb, err)
	}
	if err := syscall.Munmap(b); err != nil {
		t.Fatal(err)
	}
	if kb, err := MappedKB(path); err != nil || kb != 0 {
		t.Errorf("unmapped: %d KB resident (%v), want 0", kb, err)
	}
}
