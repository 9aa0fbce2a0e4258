package host

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRemoveRoots: the root filesystems of a prefix's instances, mounted as a kept lab leaves
// them, are unmounted and removed; another prefix's stay.
func TestRemoveRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting an instance's root filesystem needs root")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	prefix, other := "t"+hex.EncodeToString(b)+"-", "u"+hex.EncodeToString(b)+"-"
	mount := func(ns string) string {
		base := filepath.Join(RootsDir, ns)
		for _, d := range []string{filepath.Join(base, "disk"), filepath.Join(base, "root")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("tmpfs", d, "tmpfs", 0, "size=1m"); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { _ = unmountRoot(ns) })
		return base
	}
	theirs := mount(other + "i-1")
	mount(prefix + "i-1")
	mount(prefix + "i-2")
	if err := RemoveRoots(prefix); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{prefix + "i-1", prefix + "i-2"} {
		if _, err := os.Stat(filepath.Join(RootsDir, ns)); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", ns, err)
		}
	}
	if !isMount(filepath.Join(theirs, "root")) {
		t.Errorf("another prefix's root was unmounted")
	}
}
