package auth

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/store/bolt"
)

func openRegistry(t *testing.T, path string) (*Registry, func()) {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), st)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return r, func() { st.Close() }
}

// TestAccountsPersist: accounts get AWS-shaped IDs and keys, are found by key, survive a
// reopen, and names are unique and validated.
func TestAccountsPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stockade.db")
	r, closeStore := openRegistry(t, path)
	admin, err := r.Create(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := r.Create(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[1-9][0-9]{11}$`).MatchString(alice.ID) || !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(alice.AccessKeyID) || len(alice.SecretAccessKey) != 40 {
		t.Errorf("account shape: %+v", alice)
	}
	if alice.ARN() != "arn:aws:iam::"+alice.ID+":user/alice" {
		t.Errorf("ARN = %s", alice.ARN())
	}
	for _, bad := range []string{"", "alice", "has space", strings.Repeat("a", 65), "ünicode"} {
		if _, err := r.Create(ctx, bad, false); err == nil {
			t.Errorf("Create(%q) succeeded", bad)
		}
	}
	closeStore()

	r, closeStore = openRegistry(t, path)
	defer closeStore()
	got, ok := r.Lookup(alice.AccessKeyID)
	if !ok || got.ID != alice.ID || got.Name != "alice" || got.Admin {
		t.Errorf("Lookup after reopen = %+v, %v", got, ok)
	}
	if s, ok := r.Secret(alice.AccessKeyID); !ok || s != alice.SecretAccessKey {
		t.Error("Secret after reopen differs")
	}
	if a, ok := r.Admin(); !ok || a.ID != admin.ID {
		t.Errorf("Admin = %+v, %v", a, ok)
	}
	var names []string
	for _, a := range r.List() {
		names = append(names, a.Name)
	}
	slices.Sort(names) // List is in ID order, and IDs are random
	if diff := cmp.Diff([]string{"admin", "alice"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, ok := r.Lookup("AKIAAAAAAAAAAAAAAAAA"); ok {
		t.Error("an unknown key was found")
	}
}

// TestCredentialsFileIsPrivate: the file is written whole with mode 0600, replacing (never
// following) what was at the path.
func TestCredentialsFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credentials")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	a := Account{ID: "123456789012", Name: "admin", AccessKeyID: "AKIAEXAMPLEEXAMPLE23", SecretAccessKey: "s"}
	if err := WriteCredentials(path, "default", a); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("mode %v, want a regular file with 0600", fi.Mode())
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE23\n") {
		t.Errorf("credentials file:\n%s", b)
	}
}

// TestReadCredentials reads back what WriteCredentials wrote, from its profile only.
func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	a := Account{ID: "123456789012", Name: "admin", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr=t"}
	if err := WriteCredentials(path, "default", a); err != nil {
		t.Fatal(err)
	}
	other := CredentialsFile("alice", Account{ID: "210987654321", Name: "alice", AccessKeyID: "AKIAALICE", SecretAccessKey: "alice"})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(other)
	f.Close()
	for _, tt := range []struct{ profile, key, secret string }{
		{"default", "AKIAEXAMPLE", "s3cr=t"},
		{"alice", "AKIAALICE", "alice"},
		{"bob", "", ""},
	} {
		key, secret, err := ReadCredentials(path, tt.profile)
		if key != tt.key || secret != tt.secret || (err != nil) != (tt.key == "") {
			t.Errorf("[%s]: %q %q %v, want %q %q", tt.profile, key, secret, err, tt.key, tt.secret)
		}
	}
	if _, _, err := ReadCredentials(filepath.Join(dir, "none"), "default"); err == nil {
		t.Error("a missing file read")
	}
}
