package host

// Every instance runs on a root filesystem the host mounts for it under RootsDir, in a
// directory of the instance's that only the sandbox's root may enter (bwrap, running as that
// user, resolves the path of what it binds: the data directory, 0700, is out of its reach).
// Its writable layer is a tmpfs of the instance's disk size (DefaultDiskMiB, DiskInodes; its
// pages count towards the instance's memory limit). On the default image the layer is the
// root itself, with the host's /usr bound read-only into it by bwrap; an imported image
// (package image) is an overlay of the image's files, read-only and shared by every instance
// of the image, under the layer. The layer outlives a stop, a reboot and a restart of the
// server as the instance's archive in the data directory (layer.go), and ends with the
// instance, as an EBS root volume does.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/image"
)

// Images is where the host finds the root filesystem of an instance's image.
type Images interface {
	Get(id string) (image.Image, bool)
}

// RootsDir is where instances' root filesystems are mounted: /run/stockade/roots/<namespace>/
// {disk,root}. /run/stockade and roots are 0711 (traversable, not listable); each instance's
// directory is 0700 and the sandbox root's.
const RootsDir = "/run/stockade/roots"

// rootFS mounts the root filesystem of an instance, unless it is mounted already (a restart
// with --keep-lab adopts it), and returns it open, with whether it is the default image (an
// unknown image ID, as --any-image launches, is the default image).
func (h *Host) rootFS(in Instance) (root *os.File, defaultImage bool, err error) {
	lower := ""
	if h.cfg.Images != nil {
		if img, ok := h.cfg.Images.Get(in.ImageID); ok && !img.IsDefault() && img.RootFS != "" {
			lower = img.RootFS
		}
	}
	base := filepath.Join(RootsDir, in.Namespace)
	disk, merged := filepath.Join(base, "disk"), filepath.Join(base, "root")
	if err := h.mountRoot(in.ID, lower, base, disk, merged); err != nil {
		return nil, false, errors.Join(fmt.Errorf("root filesystem: %w", err), unmountRoot(in.Namespace))
	}
	path := merged
	if lower == "" {
		path = filepath.Join(disk, "upper")
	}
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	return f, lower == "", err
}

// DiskInodes bounds how many files an instance's writable layer holds (a 1 GiB ext4 volume
// has 65,536), so that its saved archive, a header of at most a few KiB per file, stays
// within a few hundred MiB more than DefaultDiskMiB.
const DiskInodes = 1 << 17

// defaultLinks are the links of the default image's root into the host's /usr.
var defaultLinks = [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}}

// mountRoot mounts the writable layer of instance (a tmpfs at disk, with the saved layer
// restored into its upper directory) and, when the instance has an image (lower), the
// overlay of the layer on the image's files (at merged).
func (h *Host) mountRoot(instance, lower, dir, disk, merged string) error {
	for _, d := range []string{filepath.Dir(RootsDir), RootsDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	owner := int(h.cfg.Sandbox.UIDBase)
	for _, d := range []string{dir, disk, merged} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if err := os.Chown(dir, owner, owner); err != nil {
		return err
	}
	upper, work := filepath.Join(disk, "upper"), filepath.Join(disk, "work")
	if !isMount(disk) {
		base := strconv.Itoa(owner)
		opts := fmt.Sprintf("size=%dm,nr_inodes=%d,mode=0755,uid=%s,gid=%s", DefaultDiskMiB, DiskInodes, base, base)
		if err := unix.Mount("tmpfs", disk, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("writable layer: %w", err)
		}
		// The layer's root is the archive's, or, for a first boot, a directory of the
		// sandbox's root.
		if err := os.Mkdir(upper, 0o755); err != nil {
			return err
		}
		if err := os.Chown(upper, owner, owner); err != nil {
			return err
		}
		if err := restoreLayer(h.dir, instance, upper); err != nil {
			return err
		}
	}
	if lower == "" {
		// bwrap refuses to make a symlink that exists, so the host makes them once.
		for _, l := range defaultLinks {
			p := filepath.Join(upper, l[0])
			if err := os.Symlink(l[1], p); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if err := os.Lchown(p, owner, owner); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.Mkdir(work, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.Chown(work, owner, owner); err != nil {
		return err
	}
	if isMount(merged) {
		return nil
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// saveRoot saves the writable layer of a running instance whose sandbox goes down (it is
// stopped, rebooted, or the server shuts down) as its archive. An instance with no layer
// mounted (it never booted) keeps the archive it has.
func (h *Host) saveRoot(in Instance) error {
	disk := filepath.Join(RootsDir, in.Namespace, "disk")
	if !isMount(disk) {
		return nil
	}
	return saveLayer(h.dir, in.ID, filepath.Join(disk, "upper"))
}

// unmountRoot unmounts and removes the root filesystem of the instance whose namespace is ns,
// if it has one.
func unmountRoot(ns string) error {
	base := filepath.Join(RootsDir, ns)
	var errs []error
	for _, p := range []string{filepath.Join(base, "root"), filepath.Join(base, "disk"), base} {
		if isMount(p) {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
				continue
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unmountRoots unmounts the root filesystems of instances whose namespaces start with
// prefix and are not wanted: left by a crash or an instance terminated while the server was
// down. keep, when it says so, saves an instance's layer first; a layer that could not be
// saved stays mounted, for the instance's next start.
func unmountRoots(prefix string, wanted map[string]bool, keep func(ns string) error) error {
	ents, err := os.ReadDir(RootsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || wanted[e.Name()] {
			continue
		}
		if err := keep(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, unmountRoot(e.Name()))
	}
	return errors.Join(errs...)
}

// RemoveRoots unmounts and removes the root filesystems of every instance whose namespace
// starts with prefix, without saving their layers: what `stockade testbed down` and the
// tests' cleanup do for labs kept mounted (--keep-lab), which no server removes.
func RemoveRoots(prefix string) error {
	return unmountRoots(prefix, nil, func(string) error { return nil })
}

// isMount reports whether path is a mount point (its device differs from its parent's).
func isMount(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
