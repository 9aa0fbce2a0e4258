package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func b64s(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParseConfig(t *testing.T) {
	hello := gz(t, "hello\n")
	tests := []struct {
		name, yaml string
		want       config
	}{
		{"empty", "", config{}},
		{"null", "~\n", config{}},
		{"runcmd strings and lists", `
runcmd:
  - echo one; cd /tmp
  - [touch, "it's a $(file)"]
  - []
`, config{Runcmd: []command{{Line: "echo one; cd /tmp"}, {Argv: []string{"touch", "it's a $(file)"}}, {Argv: []string{}}}}},
		{"bootcmd", "bootcmd: [mkdir /x, [ls, -l]]", config{Bootcmd: []command{{Line: "mkdir /x"}, {Argv: []string{"ls", "-l"}}}}},
		{"write_files defaults", "write_files: [{path: /etc/a, content: x}]",
			config{Files: []file{{Path: "/etc/a", Content: []byte("x"), Mode: 0o644, Owner: "root:root"}}}},
		{"write_files every key", `
write_files:
  - path: /etc/../etc/b
    content: aGk=
    encoding: b64
    permissions: '0600'
    owner: alice:staff
    append: true
    defer: yes
  - {path: /c, content: "` + b64s(hello) + `", encoding: gz+b64, permissions: 0755, owner: "1001"}
  - {path: /d, content: !!binary "` + b64s(hello) + `", encoding: gzip}
  - {path: /e, content: "aGk=", encoding: base64, permissions: 420}
  - {path: /f, content: "` + b64s(hello) + `", encoding: gzip+base64, permissions: 0o700}
  - {path: /g, content: "a\nb", encoding: text}
  - {path: /h, content: "` + b64s(hello) + `", encoding: gz+base64}
  - {path: /i}
`, config{Files: []file{
			{Path: "/etc/b", Content: []byte("hi"), Mode: 0o600, Owner: "alice:staff", Append: true, Defer: true},
			{Path: "/c", Content: []byte("hello\n"), Mode: 0o755, Owner: "1001"},
			{Path: "/d", Content: []byte("hello\n"), Mode: 0o644, Owner: "root:root"},
			{Path: "/e", Content: []byte("hi"), Mode: 0o644, Owner: "root:root"},
			{Path: "/f", Content: []byte("hello\n"), Mode: 0o700, Owner: "root:root"},
			{Path: "/g", Content: []byte("a\nb"), Mode: 0o644, Owner: "root:root"},
			{Path: "/h", Content: []byte("hello\n"), Mode: 0o644, Owner: "root:root"},
			{Path: "/i", Mode: 0o644, Owner: "root:root"},
		}}},
		{"users", `
users:
  - default
  - bob
  - name: alice
    gecos: Alice A.
    groups: [wheel, adm]
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys: [ssh-ed25519 AAAA alice@laptop]
    lock_passwd: false
    uid: 2000
    primary_group: staff
  - {name: carol, groups: "x, y", sudo: [a, b], homedir: /srv/carol, no_create_home: true, uid: "3000"}
  - {name: dave, sudo: false, passwd: secret}
`, config{UsersGiven: true, Users: []user{
			{Default: true},
			{Name: "bob", Home: "/home/bob", Shell: "/bin/sh", LockPasswd: true},
			{Name: "alice", UID: "2000", Gecos: "Alice A.", Home: "/home/alice", Shell: "/bin/bash", PrimaryGroup: "staff",
				Groups: []string{"wheel", "adm"}, Sudo: []string{"ALL=(ALL) NOPASSWD:ALL"}, Keys: []string{"ssh-ed25519 AAAA alice@laptop"}},
			{Name: "carol", UID: "3000", Home: "/srv/carol", Shell: "/bin/sh", Groups: []string{"x", "y"}, Sudo: []string{"a", "b"}, LockPasswd: true, NoCreateHome: true},
			{Name: "dave", Home: "/home/dave", Shell: "/bin/sh", LockPasswd: true},
		}, Ignored: []string{"users[4].passwd"}}},
		{"users as a string", "users: default, bob", config{UsersGiven: true, Users: []user{
			{Default: true}, {Name: "bob", Home: "/home/bob", Shell: "/bin/sh", LockPasswd: true}}}},
		{"no users", "users: []", config{UsersGiven: true}},
		{"groups", "groups: [admins: [root, bob], cloud-users]", config{Groups: []group{
			{Name: "admins", Members: []string{"root", "bob"}}, {Name: "cloud-users"}}}},
		{"groups mapping", "groups: {admins: bob}", config{Groups: []group{{Name: "admins", Members: []string{"bob"}}}}},
		{"keys", "ssh_authorized_keys: [ssh-rsa AAA a, '  ssh-ed25519 BBB b  ']", config{Keys: []string{"ssh-rsa AAA a", "ssh-ed25519 BBB b"}}},
		{"hostname", "hostname: web\nfqdn: web.example.com\nmanage_etc_hosts: true", config{Hostname: "web", FQDN: "web.example.com", EtcHosts: "template"}},
		{"manage_etc_hosts localhost", "manage_etc_hosts: localhost", config{EtcHosts: "localhost"}},
		{"manage_etc_hosts false", "manage_etc_hosts: false", config{}},
		{"packages", "packages: [nginx, [libc6, 2.36]]\npackage_update: true\npackage_upgrade: false",
			config{Packages: []string{"nginx", "libc6=2.36"}, PackageUpdate: true}},
		{"unknown keys", "timezone: UTC\nruncmd: [ls]\nchpasswd: {expire: false}",
			config{Runcmd: []command{{Line: "ls"}}, Ignored: []string{"timezone", "chpasswd"}}},
		{"unknown write_files key", "write_files: [{path: /a, source: {uri: 'http://x'}}]",
			config{Files: []file{{Path: "/a", Mode: 0o644, Owner: "root:root"}}, Ignored: []string{"write_files[0].source"}}},
		{"aliases", "runcmd: &r [ls]\nbootcmd: *r", config{Runcmd: []command{{Line: "ls"}}, Bootcmd: []command{{Line: "ls"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseConfig([]byte("#cloud-config\n" + tt.yaml))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseConfigErrors: every bad value is reported, with where it is, and nothing of the
// config is applied (render prints the errors only).
func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"not YAML", "runcmd: [ls\n", "cloud-config is not valid YAML: "},
		{"not a mapping", "- ls", "cloud-config is not a mapping"},
		{"uid too big", "users: [{name: a, uid: 65536}]", `users[0].uid: "65536" is not a user id from 1 to 65535`},
		{"uid root", "users: [{name: a, uid: 0}]", `users[0].uid: "0" is not a user id`},
		{"uid text", "users: [{name: a, uid: abc}]", `users[0].uid: "abc" is not a user id`},
		{"user without name", "users: [{gecos: x}]", "users[0]: a user needs a name"},
		{"user name with colon", "users: ['a:b']", `users[0]: "a:b" is not a user or group name`},
		{"user name with newline", "users: [{name: \"a\\nroot::0:0::/:/bin/sh\"}]", "users[0].name: "},
		{"user name too long", "users: [" + strings.Repeat("a", 33) + "]", "is not a user or group name"},
		{"gecos with colon", "users: [{name: a, gecos: 'x:0:0'}]", "users[0].gecos: \"x:0:0\" holds a colon"},
		{"relative home", "users: [{name: a, homedir: home/a}]", `users[0].homedir: "home/a" is not an absolute path`},
		{"group name", "groups: ['bad group']", `groups[0]: "bad group" is not a user or group name`},
		{"key on two lines", "ssh_authorized_keys: [\"a\\nb\"]", "ssh_authorized_keys[0]: must be one line"},
		{"sudo on two lines", "users: [{name: a, sudo: \"ALL\\nevil ALL\"}]", "users[0].sudo: must be one line"},
		{"path relative", "write_files: [{path: etc/x}]", `write_files[0].path: "etc/x" is not an absolute path`},
		{"no path", "write_files: [{content: x}]", "write_files[0]: a file needs a path"},
		{"path with NUL", "write_files: [{path: \"/a\\0b\"}]", "write_files[0].path: contains a NUL byte"},
		{"encoding", "write_files: [{path: /a, content: x, encoding: rot13}]", `write_files[0].content: unknown encoding "rot13"`},
		{"encoding without content", "write_files: [{path: /a, encoding: rot13}]", `write_files[0].encoding: unknown encoding "rot13"`},
		{"bad base64", "write_files: [{path: /a, content: '!!!', encoding: b64}]", "write_files[0].content: not base64"},
		{"bad gzip", "write_files: [{path: /a, content: aGk=, encoding: gz+b64}]", "write_files[0].content: not gzip"},
		{"mode", "write_files: [{path: /a, permissions: '0999'}]", `write_files[0].permissions: "0999" is not a file mode`},
		{"mode too big", "write_files: [{path: /a, permissions: '17777'}]", "is not a file mode"},
		{"owner", "write_files: [{path: /a, owner: 'a b:c'}]", `write_files[0].owner: "a b:c" is not user:group`},
		{"runcmd NUL", "runcmd: [\"ls\\0\"]", "runcmd[0]: contains a NUL byte"},
		{"runcmd argv NUL", "runcmd: [[ls, \"\\0\"]]", "runcmd[0][1]: contains a NUL byte"},
		{"runcmd mapping", "runcmd: {a: b}", "runcmd: want a list"},
		{"hostname", "hostname: 'a b'", `hostname: "a b" is not a host name`},
		{"fqdn", "fqdn: -a.com", `fqdn: "-a.com" is not a host name`},
		{"bool", "package_update: maybe", `package_update: want true or false, not "maybe"`},
		{"write_files not a list", "write_files: /etc/x", "write_files: want a list"},
		{"billion laughs", laughs(), "more than 100000 YAML nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseConfig([]byte("#cloud-config\n" + tt.yaml))
			if !strings.Contains(strings.Join(c.Errors, "\n"), tt.want) {
				t.Errorf("errors %q; want one with %q", c.Errors, tt.want)
			}
			p := render(c, nil, Instance{DefaultUser: DefaultUser, Hostname: "h"})
			if bytes.Contains(p.Script, []byte("umask")) || !bytes.HasSuffix(p.Script, []byte("exit 1\n")) {
				t.Errorf("an invalid cloud-config renders more than its errors:\n%s", p.Script)
			}
		})
	}
}

// laughs is a YAML billion laughs: a thousand aliases of a list of 200 words make 200,000
// words to walk in 4 KiB.
func laughs() string {
	return "a: &a [" + strings.Repeat("x, ", 199) + "x]\nruncmd: [" + strings.Repeat("*a, ", 999) + "*a]\n"
}
