package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stockade/stockade/image"
)

func runImageCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(t, imageCmd(), args...)
}

// TestImageImportCommand imports a small gzipped tarball with `stockade image import`, lists
// it, and checks that the files landed under <data-dir>/images with shifted owners and that a
// second import of the same name fails.
func TestImageImportCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("image import shifts owners: needs root")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, Uid: 0},
		{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("ID=tiny\n"))
		}
	}
	tw.Close()
	zw.Close()
	src := filepath.Join(t.TempDir(), "tiny.tar.gz")
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := runImageCmd(t, "import", "--data-dir", dir, "--description", "a tiny image", "tiny-1", src)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	id := strings.Fields(out)[0]
	if !image.ValidID(id) || !strings.Contains(out, "tiny-1") || !strings.Contains(out, "skipped 1 device") {
		t.Errorf("import printed %q", out)
	}
	p := filepath.Join(dir, "images", id, "rootfs", "etc", "os-release")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "ID=tiny\n" {
		t.Fatalf("imported file: %q, %v", b, err)
	}
	fi, _ := os.Stat(p)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != image.HostIDBase || st.Gid != image.HostIDBase {
		t.Errorf("owner %d:%d, want the shifted %d", st.Uid, st.Gid, image.HostIDBase)
	}
	out, err = runImageCmd(t, "list", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], image.DefaultID) || !strings.HasPrefix(lines[2], id+"  tiny-1") {
		t.Errorf("list:\n%s", out)
	}
	if out, err := runImageCmd(t, "import", "--data-dir", dir, "tiny-1", src); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second import of the name: %v\n%s", err, out)
	}
	if _, err := runImageCmd(t, "import", "--data-dir", dir, "other", filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("import of a missing file: no error")
	}
}
