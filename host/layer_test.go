package host

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// needRoot skips a test that makes whiteouts, changes owners or sets trusted.* attributes.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making whiteouts, owners and trusted.overlay attributes needs root")
	}
}

// TestLayerRoundTrip: a writable layer comes back from its archive as it was — an overlay's
// whiteouts and opaque directories, owners in the sandbox's range, modes with set-ID and
// sticky bits, symlinks, hard links, FIFOs, extended attributes and times — and a socket,
// which nothing can restore, is left out.
func TestLayerRoundTrip(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	mtime := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(src, name) }
	must(os.MkdirAll(p("etc/opaque/sub"), 0o755))
	must(unix.Setxattr(p("etc/opaque"), "trusted.overlay.opaque", []byte("y"), 0))
	must(unix.Mknod(p("etc/removed"), unix.S_IFCHR, 0)) // a whiteout
	must(os.WriteFile(p("etc/hostname"), []byte("ip-10-0-1-4\n"), 0o644))
	must(os.WriteFile(p("etc/opaque/sub/secret"), []byte("s3cret"), 0o600))
	must(os.WriteFile(p("setuid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chown(p("setuid"), 200000, 200000))
	must(unix.Chmod(p("setuid"), 0o4755))
	must(os.Mkdir(p("tmp"), 0o755))
	must(unix.Chmod(p("tmp"), 0o1777))
	must(os.Symlink("../etc/hostname", p("tmp/link")))
	must(os.Lchown(p("tmp/link"), 201000, 201000))
	must(os.Link(p("etc/hostname"), p("tmp/hard")))
	must(unix.Mkfifo(p("tmp/fifo"), 0o640))
	must(unix.Setxattr(p("etc/hostname"), "user.note", []byte("kept"), 0))
	must(os.Chown(p("etc/opaque/sub/secret"), 201000, 201001))
	must(os.WriteFile(p("empty"), nil, 0o400))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	defer unix.Close(sock)
	must(unix.Bind(sock, &unix.SockaddrUnix{Name: p("tmp/sock")}))
	for _, name := range []string{"etc/hostname", "tmp/link", "etc/opaque", "etc", "tmp"} {
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p(name), ts, unix.AT_SYMLINK_NOFOLLOW))
	}

	var archive bytes.Buffer
	must(writeLayer(&archive, src))
	dst := t.TempDir()
	must(readLayer(bytes.NewReader(archive.Bytes()), dst))

	want := describeTree(t, src)
	if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "tmp/sock ") }) {
		t.Fatal("the source has no socket: the test proves nothing about them")
	}
	want = slices.DeleteFunc(want, func(s string) bool { return strings.HasPrefix(s, "tmp/sock ") })
	if diff := cmp.Diff(want, describeTree(t, dst)); diff != "" {
		t.Errorf("the restored layer differs (-saved +restored):\n%s", diff)
	}
	a, err := os.Stat(filepath.Join(dst, "etc/hostname"))
	must(err)
	b, err := os.Stat(filepath.Join(dst, "tmp/hard"))
	must(err)
	if !os.SameFile(a, b) {
		t.Error("the hard link came back as a copy")
	}
}

// describeTree is one line per file under root: its name, type, mode, owner, device, times,
// link target, contents and extended attributes.
func describeTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		name, _ := filepath.Rel(root, path)
		line := fmt.Sprintf("%s mode=%o owner=%d:%d rdev=%d", name, st.Mode, st.Uid, st.Gid, st.Rdev)
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || name == "etc" || name == "tmp" || name == "etc/opaque" {
			line += fmt.Sprintf(" mtime=%d", st.Mtim.Nano())
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			target, _ := os.Readlink(path)
			line += " -> " + target
		case syscall.S_IFREG:
			b, _ := os.ReadFile(path)
			line += fmt.Sprintf(" %q", b)
		}
		attrs, err := xattrs(path)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range attrs {
				if !yield(k) {
					return
				}
			}
		}) {
			line += fmt.Sprintf(" %s=%q", k, attrs[k])
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLayerRestoreRefusesEscapes: the restore runs as the host's root over names a tenant
// chose, so an archive that reaches outside the layer, through a symlink, to a device or to a
// file it did not restore is refused and nothing is written outside the layer.
func TestLayerRestoreRefusesEscapes(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	for _, tc := range []struct {
		name    string
		entries []*tar.Header
	}{
		{"dot-dot", []*tar.Header{{Name: "../escaped", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"absolute", []*tar.Header{{Name: filepath.Join(outside, "escaped"), Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"through a symlink", []*tar.Header{
			{Name: "up", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "up/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		}},
		{"parent never made", []*tar.Header{{Name: "nodir/escaped", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"a real device", []*tar.Header{{Name: "mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666}}},
		{"a block device", []*tar.Header{{Name: "disk", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o666}}},
		{"hard link to the host", []*tar.Header{{Name: "shadow", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}}},
		{"hard link out", []*tar.Header{{Name: "x", Typeflag: tar.TypeLink, Linkname: "../escaped"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.entries {
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "upper")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := readLayer(&buf, dst); err == nil {
				t.Error("the archive was restored")
			}
			for _, p := range []string{filepath.Join(outside, "escaped"), filepath.Join(filepath.Dir(dst), "escaped"), filepath.Join(dst, "mem"), filepath.Join(dst, "shadow")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was made", p)
				}
			}
		})
	}
}

// TestSaveLayerReplacesAtomically: a save replaces the archive whole and leaves no temporary
// file; a save that fails (here: a layer that cannot be read) keeps the previous archive.
func TestSaveLayerReplacesAtomically(t *testing.T) {
	needRoot(t)
	dir, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	upper := t.TempDir()
	if err := os.WriteFile(filepath.Join(upper, "f"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveLayer(dir, "i-1", upper); err != nil {
		t.Fatal(err)
	}
	if err := saveLayer(dir, "i-1", filepath.Join(upper, "missing")); err == nil {
		t.Fatal("a layer that does not exist was saved")
	}
	if _, err := dir.Lstat(tmpLayerName("i-1")); err == nil {
		t.Error("the temporary archive was left behind")
	}
	back := t.TempDir()
	if err := restoreLayer(dir, "i-1", back); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(back, "f")); err != nil || string(b) != "one" {
		t.Errorf("after a failed save the archive holds %q, %v; want the previous one", b, err)
	}
	if id := instanceOfFile(layerName("i-1")); id != "i-1" {
		t.Errorf("the archive belongs to %q: the sweep would not know it", id)
	}
	if err := removeFiles(dir, "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Lstat(layerName("i-1")); err == nil {
		t.Error("the archive outlived its instance's files")
	}
	// No archive: a first boot, nothing to restore.
	if err := restoreLayer(dir, "i-2", back); err != nil {
		t.Error(err)
	}
}
