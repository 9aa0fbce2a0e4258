package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// HostIDBase is where a sandbox's users start on the host: every sandbox maps its uids and
// gids 0..65535 to HostIDBase..HostIDBase+65535, so an image's files are owned by their tar
// owner plus HostIDBase, and root inside the instance owns what root owned in the tarball
// while being no one on the host.
const HostIDBase = 200000

// MaxID is the first uid or gid a sandbox cannot map: a file owned by it is refused.
const MaxID = 65536

// Limits bound an import. The operator is trusted, but a tarball can be broken (or a decompression
// bomb): an import that would pass a limit fails and leaves nothing behind.
type Limits struct {
	// Bytes is the most bytes of regular-file content written, over every layer (and, for an
	// OCI layout in a tar, again for the layout's own files).
	Bytes int64
	// Entries is the most tar entries read, over every layer.
	Entries int
	// Layers is the most layers an OCI image may have.
	Layers int
}

// DefaultLimits are 16 GiB of file content, a million entries and 128 layers: well above any
// distribution image, well below what fills a host's disk or inode table by accident.
var DefaultLimits = Limits{Bytes: 16 << 30, Entries: 1_000_000, Layers: 128}

// Report says what an import left out.
type Report struct {
	Entries int // tar entries applied
	// Skipped counts entries that are not regular files, directories, symlinks or hard links
	// (device nodes, fifos, sockets): a sandbox gets its devices from the host, not the image.
	Skipped int
	// SetIDCleared counts files whose setuid or setgid bit was dropped.
	SetIDCleared int
}

// extractor applies tar streams to a directory through an os.Root, so that no entry, and no
// symlink an earlier entry made, can reach outside it.
type extractor struct {
	root  *os.Root
	lim   Limits
	shift bool // chown entries to their owner + HostIDBase, and apply whiteouts (a root filesystem)
	bytes int64
	rep   Report
	layer map[string]bool // paths the current layer wrote, which an opaque whiteout keeps
}

// decompress returns the stream of a possibly compressed tar: gzip and bzip2 are read, zstd and
// xz are refused by name (they would need a dependency).
func decompress(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, zr.Close, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), func() error { return nil }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, nil, errors.New("zstd-compressed archives are not supported; decompress it first (zstd -d)")
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, nil, errors.New("xz-compressed archives are not supported; decompress it first (xz -d)")
	}
	return br, func() error { return nil }, nil
}

// apply extracts one tar stream (a layer) on top of what is there.
func (x *extractor) apply(r io.Reader) error {
	r, closeFn, err := decompress(r)
	if err != nil {
		return err
	}
	defer closeFn()
	x.layer = map[string]bool{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if x.rep.Entries++; x.rep.Entries > x.lim.Entries {
			return fmt.Errorf("more than %d entries (the import's entry limit)", x.lim.Entries)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

// cleanName makes a tar name relative to the root: a leading / and . components are dropped
// (GNU tar does the same), and a .. component is refused, since it can only mean to escape.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("NUL in a name")
	}
	var out []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", errors.New("a name with .. would escape the image")
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return ".", nil
	}
	return strings.Join(out, "/"), nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if x.shift && (hdr.Uid < 0 || hdr.Uid >= MaxID || hdr.Gid < 0 || hdr.Gid >= MaxID) {
		return fmt.Errorf("owner %d:%d is outside 0–%d, the ids a sandbox maps", hdr.Uid, hdr.Gid, MaxID-1)
	}
	if name == "." { // the root itself: it stays as Import made it
		return nil
	}
	base := path.Base(name)
	if x.shift && strings.HasPrefix(base, ".wh.") {
		return x.whiteout(path.Dir(name), base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.parent(name); err != nil {
			return err
		}
		if fi, err := x.root.Lstat(name); err != nil || !fi.IsDir() {
			if err := x.remove(name); err != nil {
				return err
			}
			if err := x.root.Mkdir(name, 0o700); err != nil {
				return err
			}
		}
		return x.finish(name, hdr, true)
	case tar.TypeReg, tar.TypeRegA:
		if x.bytes += hdr.Size; x.bytes > x.lim.Bytes {
			return fmt.Errorf("more than %d bytes of files (the import's size limit)", x.lim.Bytes)
		}
		if err := x.replace(name); err != nil {
			return err
		}
		// O_EXCL: the name was just removed, so nothing, a symlink least of all, is followed.
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, io.LimitReader(r, hdr.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return x.finish(name, hdr, true)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return errors.New("symlink without a valid target")
		}
		if err := x.replace(name); err != nil {
			return err
		}
		// The target is stored as it is (absolute targets are normal in a root filesystem):
		// it is resolved inside the sandbox's mount namespace, and every later entry of the
		// import is resolved through the os.Root, which never follows it out.
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		return x.finish(name, hdr, false)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		if target == name {
			return nil
		}
		if err := x.replace(name); err != nil {
			return err
		}
		// Both names are resolved in the root: a link can only join two files of the image.
		if err := x.root.Link(target, name); err != nil {
			return fmt.Errorf("hard link: %w", err)
		}
		x.layer[name] = true
		return nil
	default: // device nodes, fifos and anything else
		x.rep.Skipped++
		return nil
	}
}

// parent makes the directories above name that are missing, owned by the sandbox's root
// (as a tar implies them), marking them as the layer's.
func (x *extractor) parent(name string) error {
	x.layer[name] = true
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	for d := dir; d != "."; d = path.Dir(d) {
		x.layer[d] = true
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		d := strings.Join(parts[:i+1], "/")
		if _, err := x.root.Stat(d); err == nil {
			continue // a directory, or a symlink the root resolves inside it
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := x.root.Mkdir(d, 0o755); err != nil {
			return err
		}
		if x.shift {
			if err := x.root.Lchown(d, HostIDBase, HostIDBase); err != nil {
				return err
			}
		}
	}
	return nil
}

// replace makes name's parents and removes whatever is at name: a later layer's entry
// replaces an earlier one's, whatever its type.
func (x *extractor) replace(name string) error {
	if err := x.parent(name); err != nil {
		return err
	}
	return x.remove(name)
}

func (x *extractor) remove(name string) error {
	if _, err := x.root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return x.root.RemoveAll(name)
}

// finish sets an entry's permissions, without setuid and setgid, and its shifted owner.
func (x *extractor) finish(name string, hdr *tar.Header, chmod bool) error {
	if chmod {
		mode := fs.FileMode(hdr.Mode & 0o777)
		if hdr.Mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		if hdr.Mode&0o6000 != 0 {
			x.rep.SetIDCleared++
		}
		if err := x.root.Chmod(name, mode); err != nil {
			return err
		}
	}
	if !x.shift {
		return nil
	}
	return x.root.Lchown(name, HostIDBase+hdr.Uid, HostIDBase+hdr.Gid)
}

// whiteout applies an OCI whiteout: .wh.NAME deletes NAME from the layers below, and
// .wh..wh..opq empties its directory of what the layers below put there (what this layer
// wrote stays, whatever the order of the entries).
func (x *extractor) whiteout(dir, base string) error {
	if base == ".wh..wh..opq" {
		if dir != "." {
			if err := x.parent(dir + "/x"); err != nil { // the directory itself and its parents
				return err
			}
			if fi, err := x.root.Lstat(dir); err != nil || !fi.IsDir() {
				return nil
			}
		}
		f, err := x.root.Open(dir)
		if err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			p := path.Join(dir, n)
			if !x.layer[p] {
				if err := x.root.RemoveAll(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	victim := strings.TrimPrefix(base, ".wh.")
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("whiteout of %q", victim)
	}
	return x.remove(path.Join(dir, victim))
}
