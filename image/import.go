package image

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ImportOptions are Import's optional settings; the zero value means the defaults.
type ImportOptions struct {
	Description string
	Limits      Limits           // zero: DefaultLimits
	Now         func() time.Time // the creation time; nil: time.Now
}

// ValidName checks an image name as EC2 does for CreateImage: 3 to 128 characters, letters,
// digits and ( ) [ ] space . / - ' @ _.
func ValidName(name string) error {
	if len(name) < 3 || len(name) > 128 {
		return fmt.Errorf("image name %q: must be 3 to 128 characters", name)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("()[] ./-'@_", c)) {
			return fmt.Errorf("image name %q: only letters, digits and ( ) [ ] space . / - ' @ _ are allowed", name)
		}
	}
	return nil
}

// Import adds an image named name from src: a root-filesystem tarball (tar, tar.gz, tar.bz2),
// an OCI image layout directory, or a tar of one. The root filesystem is extracted into a
// temporary directory of the catalogue and renamed into place with its metadata once complete,
// so a failed or interrupted import leaves no image (and a running server never sees half of
// one). A name already in the catalogue is an error.
func (c *Catalog) Import(name, src string, opt ImportOptions) (Image, Report, error) {
	if err := ValidName(name); err != nil {
		return Image{}, Report{}, err
	}
	if opt.Limits == (Limits{}) {
		opt.Limits = DefaultLimits
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return Image{}, Report{}, err
	}
	// One import at a time: the name check and the rename are then atomic together.
	unlock, err := lockDir(c.dir)
	if err != nil {
		return Image{}, Report{}, err
	}
	defer unlock()
	if err := c.nameFree(name); err != nil {
		return Image{}, Report{}, err
	}
	tmp, err := os.MkdirTemp(c.dir, ".import-")
	if err != nil {
		return Image{}, Report{}, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	im, rep, err := extractInto(tmp, src, opt.Limits)
	if err != nil {
		return Image{}, rep, fmt.Errorf("import %s: %w", src, err)
	}
	im.ID, err = c.newID()
	if err != nil {
		return Image{}, rep, err
	}
	im.Name, im.Description, im.Created = name, opt.Description, opt.Now().UTC().Truncate(time.Second)
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return Image{}, rep, err
	}
	if err := os.WriteFile(filepath.Join(tmp, metaFile), append(b, '\n'), 0o644); err != nil {
		return Image{}, rep, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Image{}, rep, err
	}
	final := filepath.Join(c.dir, im.ID)
	if err := os.Rename(tmp, final); err != nil {
		return Image{}, rep, err
	}
	done = true
	im.RootFS, _ = filepath.Abs(filepath.Join(final, rootfsDir))
	return im, rep, nil
}

func (c *Catalog) nameFree(name string) error {
	for _, im := range c.List() {
		if im.Name == name {
			return fmt.Errorf("an image named %q exists already (%s)", name, im.ID)
		}
	}
	return nil
}

// newID returns an image ID no image of the catalogue has.
func (c *Catalog) newID() (string, error) {
	for {
		var b [9]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		id := "ami-" + hex.EncodeToString(b[:])[:17]
		if _, err := os.Lstat(filepath.Join(c.dir, id)); errors.Is(err, os.ErrNotExist) && id != DefaultID {
			return id, nil
		}
	}
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// extractInto extracts src into dir/rootfs, returning the image's architecture, source digest
// and size.
func extractInto(dir, src string, lim Limits) (Image, Report, error) {
	rootfs := filepath.Join(dir, rootfsDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return Image{}, Report{}, err
	}
	if err := os.Chown(rootfs, HostIDBase, HostIDBase); err != nil {
		return Image{}, Report{}, fmt.Errorf("shift the owner of the root filesystem: %w", err)
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return Image{}, Report{}, err
	}
	defer root.Close()
	x := &extractor{root: root, lim: lim, shift: true}
	fi, err := os.Stat(src)
	if err != nil {
		return Image{}, Report{}, err
	}
	var im Image
	switch {
	case fi.IsDir():
		im, err = applyLayout(x, src)
	default:
		var layout bool
		var digest string
		if layout, digest, err = scanTar(src); err != nil {
			return Image{}, x.rep, err
		}
		if layout {
			// A tar of a layout: unpack the layout (its blobs are files, nothing else), then
			// read it as a directory.
			ldir := filepath.Join(dir, "layout")
			if err := unpackLayout(ldir, src, lim); err != nil {
				return Image{}, x.rep, err
			}
			im, err = applyLayout(x, ldir)
			os.RemoveAll(ldir)
		} else {
			im = Image{Architecture: HostArchitecture(), SourceDigest: digest}
			err = applyFile(x, src)
		}
	}
	im.Size = x.bytes
	return im, x.rep, err
}

func applyFile(x *extractor, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return x.apply(f)
}

// scanTar reads a tarball once: whether it holds an OCI image layout (oci-layout or index.json
// at its top) and the sha256 of the file.
func scanTar(src string) (layout bool, digest string, err error) {
	f, err := os.Open(src)
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	h := sha256.New()
	r, closeFn, err := decompress(io.TeeReader(f, h))
	if err != nil {
		return false, "", err
	}
	defer closeFn()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, "", fmt.Errorf("read tar: %w", err)
		}
		if n, _ := cleanName(hdr.Name); n == "oci-layout" || n == "index.json" {
			layout = true
		}
	}
	if _, err := io.Copy(io.Discard, f); err != nil { // the digest is of the whole file
		return false, "", err
	}
	return layout, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// unpackLayout extracts a tar of an OCI layout into dir: no ownership shift, no whiteouts (the
// layout's files are blobs, not a root filesystem), the same confinement and limits.
func unpackLayout(dir, src string, lim Limits) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return applyFile(&extractor{root: root, lim: lim}, src)
}
