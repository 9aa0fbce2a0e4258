package datadir

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	tests := []struct{ env, xdg, home, want string }{
		{"/srv/stockade", "/x", "/home/u", "/srv/stockade"},
		{"", "/x", "/home/u", "/x/stockade"},
		{"", "", "/home/u", "/home/u/.local/share/stockade"},
	}
	for _, tt := range tests {
		t.Setenv(Env, tt.env)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		if got := Default(); got != tt.want {
			t.Errorf("%s=%q XDG_DATA_HOME=%q HOME=%q: %s, want %s", Env, tt.env, tt.xdg, tt.home, got, tt.want)
		}
	}
}

// wantErr fails unless err mentions every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error mentioning %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func TestCheck(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	if err := Prepare(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("made with mode %v", fi.Mode().Perm())
	}
	// A link to a good directory is fine: the directory is what is checked.
	link := filepath.Join(parent, "link")
	os.Symlink(dir, link)
	if err := Check(link); err != nil {
		t.Errorf("link to the data directory: %v", err)
	}

	os.Chmod(dir, 0o770)
	wantErr(t, Check(dir), dir, "writable by group or others", "chmod go-w")
	os.Chmod(dir, 0o755)
	if err := Check(dir); err != nil {
		t.Errorf("0755: %v", err)
	}

	os.Chmod(parent, 0o777)
	wantErr(t, Check(dir), parent, "without the sticky bit")
	os.Chmod(parent, 0o777|fs.ModeSticky)
	if err := Check(dir); err != nil {
		t.Errorf("parent with the sticky bit (as /tmp): %v", err)
	}
	os.Chmod(parent, 0o700)

	if os.Geteuid() != 0 {
		t.Skip("the ownership cases need root to chown (kernel tier)")
	}
	os.Chown(dir, 65534, 65534)
	wantErr(t, Check(dir), dir, "owned by uid 65534", "chown 0")
	os.Chown(dir, 0, 0)
	os.Chown(parent, 65534, 65534)
	wantErr(t, Check(dir), parent, "owned by uid 65534")
	os.Chown(parent, 0, 0)
}

// TestPrepareRefusesPlantedFiles is the security review's 4.4: a store, credentials file or
// socket that is a link, or a file of another user, is refused before anything opens it.
func TestPrepareRefusesPlantedFiles(t *testing.T) {
	for _, name := range []string{Store, Credentials, Socket, Lab} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			loot := filepath.Join(t.TempDir(), "loot")
			os.WriteFile(loot, nil, 0o666)
			os.Symlink(loot, filepath.Join(dir, name))
			wantErr(t, Prepare(dir), filepath.Join(dir, name), "symbolic link")
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, Store), 0o700)
		wantErr(t, Prepare(dir), Store, "is a directory, not a regular file")
	})
	t.Run("socket", func(t *testing.T) {
		dir := t.TempDir()
		l, err := net.Listen("unix", filepath.Join(dir, Socket))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := Prepare(dir); err != nil {
			t.Errorf("a socket of ours: %v", err)
		}
	})
	if os.Geteuid() != 0 {
		t.Skip("the ownership case needs root to chown (kernel tier)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Store), nil, 0o600)
	os.Chown(filepath.Join(dir, Store), 65534, 65534)
	wantErr(t, Prepare(dir), Store, "owned by uid 65534")
}

func TestRootFiles(t *testing.T) {
	dir := t.TempDir()
	root, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteFile(root, "credentials", []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "credentials")); string(b) != "secret" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "credentials")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, []byte("theirs"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "out"))
	os.Symlink("credentials", filepath.Join(dir, "in"))
	for _, name := range []string{"out", "in", "../outside", outside} {
		if f, err := OpenFile(root, name, os.O_RDONLY, 0); err == nil {
			f.Close()
			t.Errorf("%s opened", name)
		}
	}
	// A link where a file is written is replaced, not followed.
	if err := WriteFile(root, "out", []byte("ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "theirs" {
		t.Errorf("the write followed the link: %q", b)
	}
	if _, err := Open(filepath.Join(dir, "credentials")); err == nil {
		t.Error("a file opened as a data directory")
	}
}
