package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
)

// ent is one tar entry of a test archive.
type ent struct {
	name     string
	typ      byte
	body     string
	link     string
	mode     int64
	uid, gid int
}

func tarball(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists what is under dir: "path" for files (with their content), "path/" for
// directories, "path -> target" for symlinks.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportSafety imports broken and malicious archives: each is refused (and leaves no image
// and nothing in the catalogue) or neutralised (confined to the image), and nothing is ever
// written outside the image, where a canary directory sits next to the catalogue.
func TestImportSafety(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, outside, "secret", []byte("host"))
	small := Limits{Bytes: 100, Entries: 5, Layers: 2}
	tests := []struct {
		name    string
		ents    []ent
		limits  Limits
		wantErr string   // "" when the archive is neutralised
		want    []string // the image's tree when it is
	}{
		{name: "dot-dot", ents: []ent{{name: "../outside/evil", body: "x"}}, wantErr: "escape"},
		{name: "dot-dot inside", ents: []ent{{name: "a/../../outside/evil", body: "x"}}, wantErr: "escape"},
		{name: "absolute name", ents: []ent{{name: "/etc/passwd", body: "root"}},
			want: []string{"etc/", "etc/passwd=root"}},
		{name: "absolute symlink then through it", ents: []ent{
			{name: "link", typ: tar.TypeSymlink, link: outside}, {name: "link/evil", body: "x"}}, wantErr: "link/evil"},
		{name: "relative symlink out then through it", ents: []ent{
			{name: "up", typ: tar.TypeSymlink, link: "../../../../../../../.." + outside}, {name: "up/evil", body: "x"}}, wantErr: "up/evil"},
		{name: "symlink then a file of its name", ents: []ent{
			{name: "s", typ: tar.TypeSymlink, link: filepath.Join(outside, "secret")}, {name: "s", body: "mine"}},
			want: []string{"s=mine"}},
		{name: "symlinked directory then a file through a dot-dot-free path", ents: []ent{
			{name: "d", typ: tar.TypeSymlink, link: "/"}, {name: "d/secret", body: "x"}}, wantErr: "d/secret"},
		{name: "hard link out by dot-dot", ents: []ent{{name: "hl", typ: tar.TypeLink, link: "../outside/secret"}}, wantErr: "escape"},
		{name: "hard link to an absolute host path", ents: []ent{{name: "hl", typ: tar.TypeLink, link: filepath.Join(outside, "secret")}}, wantErr: "hard link"},
		{name: "hard link through a symlink out", ents: []ent{
			{name: "o", typ: tar.TypeSymlink, link: outside}, {name: "hl", typ: tar.TypeLink, link: "o/secret"}}, wantErr: "hard link"},
		{name: "hard link inside", ents: []ent{{name: "f", body: "a"}, {name: "g", typ: tar.TypeLink, link: "f"}},
			want: []string{"f=a", "g=a"}},
		{name: "devices and fifos skipped", ents: []ent{
			{name: "dev/", typ: tar.TypeDir}, {name: "dev/null", typ: tar.TypeChar}, {name: "dev/sda", typ: tar.TypeBlock}, {name: "p", typ: tar.TypeFifo}},
			want: []string{"dev/"}},
		{name: "owner beyond the mapped range", ents: []ent{{name: "f", body: "x", uid: 65536}}, wantErr: "outside 0–65535"},
		{name: "group beyond the mapped range", ents: []ent{{name: "f", body: "x", gid: 1 << 20}}, wantErr: "outside 0–65535"},
		{name: "too many entries", limits: small, ents: []ent{{name: "1"}, {name: "2"}, {name: "3"}, {name: "4"}, {name: "5"}, {name: "6"}}, wantErr: "entry limit"},
		{name: "too many bytes", limits: small, ents: []ent{{name: "big", body: strings.Repeat("x", 101)}}, wantErr: "size limit"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := Open(filepath.Join(base, fmt.Sprintf("images%d", i)))
			src := writeFile(t, t.TempDir(), "rootfs.tar", tarball(t, tt.ents...))
			im, _, err := cat.Import("img-"+strings.Repeat("x", i+1), src, ImportOptions{Limits: tt.limits})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("import: %v, want an error with %q", err, tt.wantErr)
				}
				if n := len(cat.List()); n != 1 {
					t.Errorf("a refused import left %d images", n-1)
				}
			} else {
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				if diff := cmp.Diff(tt.want, tree(t, im.RootFS)); diff != "" {
					t.Errorf("image tree (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff([]string{"secret=host"}, tree(t, outside)); diff != "" {
				t.Errorf("outside the image (-want +got):\n%s", diff)
			}
			left, _ := os.ReadDir(cat.Dir())
			for _, e := range left {
				if strings.HasPrefix(e.Name(), ".import-") {
					t.Errorf("temporary directory %s left behind", e.Name())
				}
			}
		})
	}
}

func owner(t *testing.T, p string) (int, int, fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), fi.Mode()
}

// TestImportOwnershipAndModes checks that owners are shifted by HostIDBase (the root
// filesystem's top too), that setuid and setgid are dropped and sticky kept, and that a
// gzipped tarball is read.
func TestImportOwnershipAndModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("shifting ownership needs root")
	}
	cat := Open(filepath.Join(t.TempDir(), "images"))
	src := writeFile(t, t.TempDir(), "rootfs.tar.gz", gz(t, tarball(t,
		ent{name: "./", typ: tar.TypeDir},
		ent{name: "./home/ec2-user/", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000},
		ent{name: "./home/ec2-user/.profile", body: "PS1=$ ", uid: 1000, gid: 1001},
		ent{name: "./usr/bin/su", body: "elf", mode: 0o4755},
		ent{name: "./usr/bin/wall", body: "elf", mode: 0o2755, gid: 5},
		ent{name: "./tmp/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "./bin", typ: tar.TypeSymlink, link: "usr/bin", uid: 7, gid: 8},
	)))
	im, rep, err := cat.Import("shifted", src, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		UID, GID int
		Mode     fs.FileMode
	}
	check := func(name string, want got) {
		t.Helper()
		u, g, m := owner(t, filepath.Join(im.RootFS, name))
		if m&fs.ModeSymlink == 0 {
			m &= fs.ModePerm | fs.ModeSticky | fs.ModeSetuid | fs.ModeSetgid | fs.ModeDir
		} else {
			m = fs.ModeSymlink
		}
		if diff := cmp.Diff(want, got{u, g, m}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	check(".", got{200000, 200000, fs.ModeDir | 0o755})
	check("home", got{200000, 200000, fs.ModeDir | 0o755}) // made for its child
	check("home/ec2-user", got{201000, 201000, fs.ModeDir | 0o700})
	check("home/ec2-user/.profile", got{201000, 201001, 0o644})
	check("usr/bin/su", got{200000, 200000, 0o755})
	check("usr/bin/wall", got{200000, 200005, 0o755})
	check("tmp", got{200000, 200000, fs.ModeDir | fs.ModeSticky | 0o777})
	check("bin", got{200007, 200008, fs.ModeSymlink})
	if rep.SetIDCleared != 2 {
		t.Errorf("setid cleared on %d files, want 2", rep.SetIDCleared)
	}
	if im.Size != int64(len("PS1=$ ")+6) {
		t.Errorf("size %d", im.Size)
	}
	sum := sha256.Sum256(mustRead(t, src))
	if want := "sha256:" + hex.EncodeToString(sum[:]); im.SourceDigest != want || im.Architecture != HostArchitecture() {
		t.Errorf("digest %s arch %s, want %s %s", im.SourceDigest, im.Architecture, want, HostArchitecture())
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ociLayout writes an OCI image layout of the layers to dir: index.json, a manifest, a config
// with the architecture, blobs named by digest.
func ociLayout(t *testing.T, dir, arch string, layers ...[]byte) {
	t.Helper()
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		writeFile(t, filepath.Join(dir, "blobs", "sha256"), h, b)
		return "sha256:" + h
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	type desc = map[string]any
	var ls []desc
	for _, l := range layers {
		ls = append(ls, desc{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(l), "size": len(l)})
	}
	cfg := blob(js(map[string]any{"architecture": arch, "os": "linux"}))
	man := blob(js(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg}, "layers": ls}))
	writeFile(t, dir, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	writeFile(t, dir, "index.json", js(map[string]any{"schemaVersion": 2,
		"manifests": []desc{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man}}}))
}

// dirTar is a tar of a directory's files, as `tar -C dir -cf - .` makes.
func dirTar(t *testing.T, dir string) []byte {
	t.Helper()
	var ents []ent
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			ents = append(ents, ent{name: "./" + rel + "/", typ: tar.TypeDir})
		} else {
			ents = append(ents, ent{name: "./" + rel, body: string(mustRead(t, p))})
		}
		return nil
	})
	return tarball(t, ents...)
}

// TestImportOCILayout applies a two-layer image, as a directory and as a tar of one: the
// second layer's whiteout deletes a file of the first and its opaque directory hides the
// first layer's contents but keeps its own, in whatever order its entries come.
func TestImportOCILayout(t *testing.T) {
	l1 := gz(t, tarball(t,
		ent{name: "etc/", typ: tar.TypeDir}, ent{name: "etc/a", body: "1a"}, ent{name: "etc/b", body: "1b"},
		ent{name: "var/x/", typ: tar.TypeDir}, ent{name: "var/x/old", body: "1"}, ent{name: "var/x/sub/deep", body: "1"},
		ent{name: "keep", body: "k"}, ent{name: "gone/", typ: tar.TypeDir}, ent{name: "gone/f", body: "g"},
	))
	l2 := tarball(t, // uncompressed, as a layer may be
		ent{name: "var/x/new", body: "2"},
		ent{name: "etc/.wh.a"},
		ent{name: "var/x/.wh..wh..opq"},
		ent{name: ".wh.gone"},
		ent{name: "etc/b", body: "2b"},
	)
	want := []string{"etc/", "etc/b=2b", "keep=k", "var/", "var/x/", "var/x/new=2"}
	layout := t.TempDir()
	ociLayout(t, layout, "arm64", l1, l2)
	tarOf := writeFile(t, t.TempDir(), "layout.tar", dirTar(t, layout))
	cat := Open(filepath.Join(t.TempDir(), "images"))
	for _, src := range []string{layout, tarOf} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			im, _, err := cat.Import("oci-"+filepath.Base(src), src, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, tree(t, im.RootFS)); diff != "" {
				t.Errorf("image (-want +got):\n%s", diff)
			}
			if im.Architecture != "arm64" || !strings.HasPrefix(im.SourceDigest, "sha256:") {
				t.Errorf("architecture %q digest %q", im.Architecture, im.SourceDigest)
			}
			if entries, _ := os.ReadDir(filepath.Dir(im.RootFS)); len(entries) != 2 {
				t.Errorf("image directory holds %v, want image.json and rootfs", entries)
			}
		})
	}
	t.Run("corrupt blob", func(t *testing.T) {
		bad := t.TempDir()
		ociLayout(t, bad, "amd64", l1)
		blobs, _ := filepath.Glob(filepath.Join(bad, "blobs", "sha256", "*"))
		for _, b := range blobs {
			if bytes.Equal(mustRead(t, b), l1) {
				os.WriteFile(b, gz(t, tarball(t, ent{name: "evil", body: "x"})), 0o644)
			}
		}
		if _, _, err := cat.Import("corrupt", bad, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("import of a layout with a wrong blob: %v", err)
		}
	})
	t.Run("digest that is a path", func(t *testing.T) {
		bad := t.TempDir()
		writeFile(t, bad, "index.json", []byte(`{"manifests":[{"digest":"sha256:../../../etc/passwd"}]}`))
		if _, _, err := cat.Import("pathy", bad, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "digest") {
			t.Errorf("import: %v", err)
		}
	})
	t.Run("too many layers", func(t *testing.T) {
		if _, _, err := cat.Import("layered", layout, ImportOptions{Limits: Limits{Bytes: 1 << 20, Entries: 100, Layers: 1}}); err == nil || !strings.Contains(err.Error(), "layers") {
			t.Errorf("import: %v", err)
		}
	})
}

// TestCatalog checks the default image, names, and that List sees an import at once and keeps
// the metadata it wrote.
func TestCatalog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	cat := Open(dir)
	if diff := cmp.Diff([]Image{Default()}, cat.List()); diff != "" {
		t.Fatalf("a catalogue without a directory (-want +got):\n%s", diff)
	}
	if im, ok := cat.Get(DefaultID); !ok || im.RootFS != "" || im.Name != DefaultName || !ValidID(im.ID) || len(im.ID) != 21 {
		t.Errorf("default image %+v %v", im, ok)
	}
	src := writeFile(t, t.TempDir(), "r.tar", tarball(t, ent{name: "hello", body: "hi"}))
	now := time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC)
	im, _, err := cat.Import("alpine-3.20", src, ImportOptions{Description: "Alpine", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if !ValidID(im.ID) || len(im.ID) != 21 || im.ID == DefaultID {
		t.Errorf("new image ID %q", im.ID)
	}
	got, ok := cat.Get(im.ID)
	if !ok {
		t.Fatalf("Get(%s) after import: not found; list %v", im.ID, cat.List())
	}
	if diff := cmp.Diff(im, got); diff != "" {
		t.Errorf("listed image (-import +list):\n%s", diff)
	}
	want := Image{ID: im.ID, Name: "alpine-3.20", Description: "Alpine", Architecture: HostArchitecture(), Created: now,
		SourceDigest: im.SourceDigest, Size: 2, RootFS: filepath.Join(dir, im.ID, "rootfs")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image (-want +got):\n%s", diff)
	}
	// A second catalogue on the same directory (the server, while the CLI imports) sees it too.
	if ids := idsOf(Open(dir).List()); !slices.Equal(ids, []string{DefaultID, im.ID}) {
		t.Errorf("another catalogue lists %v", ids)
	}
	for _, name := range []string{"alpine-3.20", DefaultName, "x", "bad|name", strings.Repeat("n", 129)} {
		if _, _, err := cat.Import(name, src, ImportOptions{}); err == nil {
			t.Errorf("import named %q: no error", name)
		}
	}
	if n := len(cat.List()); n != 2 {
		t.Errorf("%d images after refused imports, want 2", n)
	}
	// Something that is not an image in the directory is not listed.
	os.MkdirAll(filepath.Join(dir, "ami-0123456789abcdef0"), 0o755)
	os.WriteFile(filepath.Join(dir, "ami-0123456789abcdef0", metaFile), []byte("{"), 0o644)
	if n := len(cat.List()); n != 2 {
		t.Errorf("%d images with a broken entry, want 2", n)
	}
}

func idsOf(ims []Image) []string {
	var out []string
	for _, im := range ims {
		out = append(out, im.ID)
	}
	return out
}
