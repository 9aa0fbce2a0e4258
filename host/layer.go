package host

// An instance's writable layer outlives a stop, as an EBS root volume does on EC2 (it is gone
// only at termination): while the instance runs the layer is a tmpfs of DefaultDiskMiB
// (rootfs.go), and when its sandbox goes down without the instance going (a stop, a reboot,
// the server shutting down without --keep-lab) the host saves it as a tar archive in the
// data directory, <Dir>/<instance>.root.tar, and the next boot restores it into a fresh tmpfs.
// The archive is bounded by what the tmpfs can hold (its size and its number of inodes), so a
// tenant fills no more of the host's disk than of its memory.
//
// The archive is the layer exactly as the kernel keeps it: for an overlay's upper directory
// that includes whiteouts (character devices 0/0) and opaque directories (the
// trusted.overlay.opaque attribute), so every extended attribute is kept, as PAX records
// (SCHILY.xattr.<name>, GNU tar's and archive/tar's convention). Owners are the host's IDs
// (the sandbox's range) and are restored as they are.
//
// Restoring runs as the host's root over files a tenant named, so it trusts nothing in the
// archive: every name must be local, and its parent a directory made by the same restore
// (never a symlink); only whiteouts, not other devices, are made; a hard link must point at a
// regular file restored before it.

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// xattrPrefix is how archive/tar names an extended attribute among a header's PAX records.
const xattrPrefix = "SCHILY.xattr."

// layerName is where an instance's saved writable layer is in the data directory; tmpLayerName
// is where it is written before it replaces the previous one.
func layerName(instance string) string    { return instance + ".root.tar" }
func tmpLayerName(instance string) string { return instance + ".root.tmp" }

// writeLayer writes the tree at root (not root itself) to w as a tar archive. Sockets are
// left out: nothing can restore one (a process that listens makes it again).
func writeLayer(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{} // (device, inode) → first name, for hard links
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		name, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		target := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		hdr.Name, hdr.Format = filepath.ToSlash(name), tar.FormatPAX
		hdr.Uname, hdr.Gname = "", "" // the numeric IDs are what counts
		if d.IsDir() {
			hdr.Name += "/"
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = hdr.Name
			}
		}
		if hdr.Typeflag != tar.TypeLink {
			if hdr.PAXRecords, err = xattrs(path); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			return copyFile(tw, path, hdr.Size)
		}
		return nil
	})
	return errors.Join(err, tw.Close())
}

// copyFile copies the size bytes of the regular file at path to w, without following a
// symlink in its place.
func copyFile(w io.Writer, path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(w, f, size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// xattrs returns the extended attributes of the file at path (not following a symlink) as
// PAX records, or nil when it has none.
func xattrs(path string) (map[string]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(path, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(path, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list extended attributes: %w", err)
	}
	var out map[string]string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		sz, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, fmt.Errorf("extended attribute %s: %w", name, err)
		}
		val := make([]byte, sz)
		if sz, err = unix.Lgetxattr(path, name, val); err != nil {
			return nil, fmt.Errorf("extended attribute %s: %w", name, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[xattrPrefix+name] = string(val[:sz])
	}
	return out, nil
}

// readLayer restores the archive r (written by writeLayer) into the empty directory root.
func readLayer(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	dirs := map[string]bool{".": true} // made by this restore: the only parents allowed
	files := map[string]bool{}         // regular files restored: the only link targets allowed
	var times []*tar.Header            // directories' times, set last (their entries change them)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if !filepath.IsLocal(name) || name == "." || !dirs[filepath.Dir(name)] {
			return fmt.Errorf("layer archive: entry %q is outside the layer or under no directory of it", hdr.Name)
		}
		path := filepath.Join(root, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.Mkdir(path, 0o700)
			dirs[name] = true
			times = append(times, hdr)
		case tar.TypeReg:
			err = restoreFile(path, tr)
			files[name] = true
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, path)
		case tar.TypeLink:
			target := filepath.Clean(filepath.FromSlash(hdr.Linkname))
			if !files[target] {
				return fmt.Errorf("layer archive: hard link %q to %q, not a file restored before it", hdr.Name, hdr.Linkname)
			}
			if err := os.Link(filepath.Join(root, target), path); err != nil {
				return err
			}
			continue // the inode's owner, mode and attributes are its first name's
		case tar.TypeChar:
			if hdr.Devmajor != 0 || hdr.Devminor != 0 {
				return fmt.Errorf("layer archive: device %q is not a whiteout", hdr.Name)
			}
			err = unix.Mknod(path, unix.S_IFCHR, 0)
		case tar.TypeFifo:
			err = unix.Mkfifo(path, 0o600)
		default:
			return fmt.Errorf("layer archive: entry %q of unknown type %q", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			return err
		}
		if err := restoreAttrs(path, hdr); err != nil {
			return fmt.Errorf("layer archive: %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag != tar.TypeDir {
			if err := setTimes(path, hdr); err != nil {
				return err
			}
		}
	}
	for i := len(times) - 1; i >= 0; i-- { // children before parents
		if err := setTimes(filepath.Join(root, filepath.Clean(times[i].Name)), times[i]); err != nil {
			return err
		}
	}
	return nil
}

// restoreFile makes the regular file at path with the contents r holds.
func restoreFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

// restoreAttrs gives the file at path the owner, mode and extended attributes of hdr. The mode
// comes after the owner: a change of owner clears the set-user-ID and set-group-ID bits.
func restoreAttrs(path string, hdr *tar.Header) error {
	if err := os.Lchown(path, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, path, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("mode: %w", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if err := unix.Lsetxattr(path, name, []byte(v), 0); err != nil {
				return fmt.Errorf("extended attribute %s: %w", name, err)
			}
		}
	}
	return nil
}

// setTimes gives the file at path (a symlink itself, not its target) hdr's times.
func setTimes(path string, hdr *tar.Header) error {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// saveLayer saves the writable layer at upper as the instance's archive in dir: written to a
// temporary file, synced, renamed over the previous archive, and the directory synced, so that
// a crash leaves the previous archive or the new one, never half of one.
func saveLayer(dir *os.Root, instance, upper string) error {
	tmp := tmpLayerName(instance)
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = writeLayer(bw, upper)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = dir.Rename(tmp, layerName(instance))
	}
	if err != nil {
		return errors.Join(fmt.Errorf("save the writable layer of %s: %w", instance, err), removeIfExists(dir, tmp))
	}
	return syncDir(dir)
}

// restoreLayer restores the instance's saved layer, if it has one, into upper (empty).
func restoreLayer(dir *os.Root, instance, upper string) error {
	f, err := dir.OpenFile(layerName(instance), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	if err := readLayer(bufio.NewReaderSize(f, 1<<20), upper); err != nil {
		return fmt.Errorf("restore the writable layer of %s: %w", instance, err)
	}
	return nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir *os.Root) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func removeIfExists(dir *os.Root, name string) error {
	if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
