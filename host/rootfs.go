package host

// An instance launched from an imported image (package image) runs on that image's root
// filesystem: the image's files, read-only and shared by every instance of the image, under a
// writable layer of the instance's own — an overlay whose upper directory is on a tmpfs of
// the instance's disk size (its pages count towards the instance's memory limit, like the
// default image's tmpfs root). The host mounts both in the data directory and hands the
// overlay to bwrap as a descriptor (the sandbox's user cannot walk the data directory). The
// layer lives as long as the instance runs on this host: a restart without --keep-lab gives it
// a fresh one, as a reboot does an instance store.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/image"
)

// Images is where the host finds the root filesystem of an instance's image.
type Images interface {
	Get(id string) (image.Image, bool)
}

func rootName(instance string) string { return instance + ".root" }
func diskName(instance string) string { return instance + ".disk" }

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
	disk := filepath.Join(h.cfg.Dir, diskName(in.ID))
	merged := filepath.Join(h.cfg.Dir, rootName(in.ID))
	if !isMount(merged) {
		if err := h.mountRoot(img.RootFS, disk, merged); err != nil {
			return nil, errors.Join(fmt.Errorf("root filesystem of image %s: %w", img.ID, err), unmountRoot(h.cfg.Dir, in.ID))
		}
	}
	return os.OpenFile(merged, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// mountRoot mounts the instance's writable layer (a tmpfs at disk) and the overlay of it on
// the image's files (at merged).
func (h *Host) mountRoot(lower, disk, merged string) error {
	for _, d := range []string{disk, merged} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	base := strconv.FormatUint(uint64(h.cfg.Sandbox.UIDBase), 10)
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
		if err := os.Chown(d, int(h.cfg.Sandbox.UIDBase), int(h.cfg.Sandbox.UIDBase)); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// unmountRoot unmounts and removes an instance's root filesystem, if it has one.
func unmountRoot(dir, instance string) error {
	var errs []error
	for _, name := range []string{rootName(instance), diskName(instance)} {
		p := filepath.Join(dir, name)
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

// isMount reports whether path is a mount point (its device differs from its parent's).
func isMount(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
