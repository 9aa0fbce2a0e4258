package host

// An instance launched from an imported image (package image) runs on that image's root
// filesystem: the image's files, read-only and shared by every instance of the image, under a
// writable layer of the instance's own — an overlay whose upper directory is on a tmpfs of
// the instance's disk size (its pages count towards the instance's memory limit, like the
// default image's tmpfs root). The host mounts both under RootsDir, in a directory of the
// instance's that only the sandbox's root may enter (bwrap, running as that user, resolves
// the path of what it binds: the data directory, 0700, is out of its reach). The layer lives
// as long as the instance runs on this host: a restart without --keep-lab gives it a fresh
// one, as a reboot does an instance store.

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

// imageRoot returns the image root filesystem of an instance (an open directory), or nil when
// it runs on the default image (an unknown ID, as --any-image launches, is the default image).
func (h *Host) imageRoot(in Instance) (*os.File, error) {
	if h.cfg.Images == nil {
		return nil, nil
	}
	img, ok := h.cfg.Images.Get(in.ImageID)
	if !ok || img.IsDefault() || img.RootFS == "" {
		return nil, nil
	}
	base := filepath.Join(RootsDir, in.Namespace)
	disk, merged := filepath.Join(base, "disk"), filepath.Join(base, "root")
	if !isMount(merged) {
		if err := h.mountRoot(img.RootFS, base, disk, merged); err != nil {
			return nil, errors.Join(fmt.Errorf("root filesystem of image %s: %w", img.ID, err), unmountRoot(in.Namespace))
		}
	}
	return os.OpenFile(merged, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// mountRoot mounts the instance's writable layer (a tmpfs at disk) and the overlay of it on
// the image's files (at merged).
func (h *Host) mountRoot(lower, dir, disk, merged string) error {
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
	base := strconv.Itoa(owner)
	if !isMount(disk) {
		opts := fmt.Sprintf("size=%dm,mode=0755,uid=%s,gid=%s", DefaultDiskMiB, base, base)
		if err := unix.Mount("tmpfs", disk, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("writable layer: %w", err)
		}
	}
	upper, work := filepath.Join(disk, "upper"), filepath.Join(disk, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Chown(d, owner, owner); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
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
// down.
func unmountRoots(prefix string, wanted map[string]bool) error {
	ents, err := os.ReadDir(RootsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && !wanted[e.Name()] {
			errs = append(errs, unmountRoot(e.Name()))
		}
	}
	return errors.Join(errs...)
}

// isMount reports whether path is a mount point (its device differs from its parent's).
func isMount(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
