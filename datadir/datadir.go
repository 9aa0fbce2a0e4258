// Package datadir finds and guards Stockade's data directory, where the store, the
// administrator's credentials, the admin socket and the lab's files live. The server refuses a
// data directory that another user could change (as OpenSSH's StrictModes refuses a home
// directory), refuses a symbolic link where it expects one of its own files, and opens files
// beneath the directory through an os.Root so that neither a link nor ".." leads out of it.
//
// It is a leaf package: it imports nothing of Stockade's, so that every part that touches the
// data directory (the binary, the lab, the admin socket) can use it.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Env names the environment variable that points every subcommand at a data directory;
// --data-dir wins over it.
const Env = "STOCKADE_DATA_DIR"

// The files the server keeps in its data directory.
const (
	Store       = "stockade.db"
	Credentials = "credentials"
	Socket      = "admin.sock"
	Lab         = "lab"
	Images      = "images" // the image catalogue (package image), one directory per image
	// Trail is where the change trail is exported as CloudTrail log files
	// (AWSLogs/<account>/CloudTrail/<region>/…, package trail).
	Trail = "trail"
	// TrailLog holds the change trail's records: segment files of an append-only log
	// (package trail, log.go).
	TrailLog = "trail-log"
	// S3 holds the S3 API's buckets, one directory each (package objstore).
	S3 = "s3"
	// Logs holds the CloudWatch Logs API's log groups, per account and region (package logstore).
	Logs = "logs"
)

// Default is the data directory when --data-dir is not given: $STOCKADE_DATA_DIR, else
// $XDG_DATA_HOME/stockade, else ~/.local/share/stockade (the XDG base-directory default).
func Default() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "stockade")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "stockade")
	}
	return "stockade-data"
}

// Prepare makes dir (mode 0700) if it does not exist and checks it and the server's files in it
// (Check, CheckFile): the server calls it before it opens anything there.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := Check(dir); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		typ  fs.FileMode
	}{{Store, 0}, {Credentials, 0}, {Socket, fs.ModeSocket}, {Lab, fs.ModeDir}, {Trail, fs.ModeDir}, {TrailLog, fs.ModeDir}} {
		if err := CheckFile(dir, f.name, f.typ); err != nil {
			return err
		}
	}
	return nil
}

// Check refuses a data directory that someone other than this process's user could change:
// it must be a directory owned by the effective user and not writable by group or others, and
// every directory above it must be owned by that user or root and, when writable by group or
// others, have the sticky bit (as /tmp does), so that nobody can swap the directory itself.
// A symbolic link to the directory is followed, and the directory it leads to is checked.
func Check(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	me := os.Geteuid()
	if uid := owner(fi); uid != me {
		return fmt.Errorf("data directory %s is owned by uid %d, not by this server's user (uid %d), who alone must be able to change it: "+
			"chown %d %s, or use another --data-dir (or %s)", resolved, uid, me, me, resolved, Env)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("data directory %s is writable by group or others (mode %04o), so another user could replace the store or the credentials: chmod go-w %s",
			resolved, fi.Mode().Perm(), resolved)
	}
	for p := filepath.Dir(resolved); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		uid := owner(fi)
		switch {
		case uid != me && uid != 0:
			return fmt.Errorf("data directory %s is inside %s, which is owned by uid %d, who could move it away and put another in its place: use a data directory on a path owned by root or uid %d",
				resolved, p, uid, me)
		case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
			return fmt.Errorf("data directory %s is inside %s, which is writable by group or others (mode %04o) without the sticky bit: chmod go-w %s, or use another data directory",
				resolved, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// CheckFile refuses name in dir when it is a symbolic link, is not of type typ (0 for a
// regular file, fs.ModeDir, fs.ModeSocket), or is not owned by this process's user. A file
// that does not exist passes: the server creates it. Files that are opened by path (the bbolt
// store) rely on this check, made when the data directory is known to be the user's own.
func CheckFile(dir, name string, typ fs.FileMode) error {
	path := filepath.Join(dir, name)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link; Stockade follows no links in its data directory: remove it (and check who made it)", path)
	case fi.Mode().Type() != typ:
		return fmt.Errorf("%s is a %s, not a %s: remove it or use another data directory", path, typeName(fi.Mode().Type()), typeName(typ))
	case owner(fi) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by this server's user (uid %d): remove it (and check who made it)", path, owner(fi), os.Geteuid())
	}
	return nil
}

// Open returns the data directory as an os.Root after Check: names opened through it cannot
// lead out of the directory, whether by "..", an absolute path or a symbolic link.
func Open(dir string) (*os.Root, error) {
	if err := Check(dir); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// OpenFile opens name beneath root like os.OpenFile, but refuses a final symbolic link even
// when it points inside the root: nothing in the data directory is opened through a link.
func OpenFile(root *os.Root, name string, flag int, perm fs.FileMode) (*os.File, error) {
	if fi, err := root.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w", filepath.Join(root.Name(), name), errSymlink)
	}
	f, err := root.OpenFile(name, flag|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// WriteFile replaces name beneath root with data, atomically: a temporary file in the same
// directory is written, synced and renamed over name, so that a reader sees the old or the
// new content and a symbolic link at name is replaced rather than followed.
func WriteFile(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp")
	root.Remove(tmp)
	f, err := OpenFile(root, tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer root.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // the umask must not widen or narrow what the caller asked for
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return root.Rename(tmp, name)
}

var errSymlink = errors.New("is a symbolic link; Stockade follows no links in its data directory")

func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func typeName(t fs.FileMode) string {
	switch t {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeSymlink:
		return "symbolic link"
	}
	return "special file"
}
