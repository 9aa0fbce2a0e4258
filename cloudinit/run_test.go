package cloudinit

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newRoot makes an instance root as the sandbox makes it: /etc with root and ec2-user.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh\n",
		"etc/group":    "root:x:0:\nec2-user:x:1000:\n",
		"etc/hostname": "ip-10-0-1-4\n",
		"etc/hosts":    "127.0.0.1 localhost\n10.0.1.4 ip-10-0-1-4\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// run renders userData for an instance whose root is root and runs the plan with /bin/sh,
// returning the console output and the exit status.
func run(t *testing.T, root string, userData string) (string, int) {
	t.Helper()
	p, err := Script([]byte(userData), Instance{ID: "i-0123456789abcdef0", Hostname: "ip-10-0-1-4", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != Shell {
		t.Fatalf("plan kind %v, want shell", p.Kind)
	}
	script := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(script, p.Script, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.Argv(script)[0], p.Argv(script)[1:]...)
	cmd.Dir = root
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), status
}

func read(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// meta is a file's mode and, when the test runs as root (only root can give files away),
// its owner.
func meta(t *testing.T, root, name string) string {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	s := fi.Mode().Perm().String()
	if os.Geteuid() == 0 {
		st := fi.Sys().(*syscall.Stat_t)
		s += " " + strconv.FormatUint(uint64(st.Uid), 10) + ":" + strconv.FormatUint(uint64(st.Gid), 10)
	}
	return s
}

func owner(uid, gid string) string {
	if os.Geteuid() == 0 {
		return " " + uid + ":" + gid
	}
	return ""
}

// TestRunCloudConfig runs a cloud-config with every key in a directory root and checks what
// it wrote: the files with their modes, contents and owners, the users in /etc/passwd and
// /etc/group, the keys, the hostname, the console, and cloud-init's order.
func TestRunCloudConfig(t *testing.T) {
	root := newRoot(t)
	log := filepath.Join(t.TempDir(), "order.log")
	hostile := `it's "$(touch pwned)" ` + "`touch pwned2`" + ` ${HOME} \n` + "\nline two\n"
	userData := `#cloud-config
bootcmd:
  - echo "boot $INSTANCE_ID $([ -e ` + root + `/etc/app.conf ] && echo after || echo before) write_files" >> ` + log + `
write_files:
  - path: /etc/app.conf
    content: |
      ` + strings.ReplaceAll(strings.TrimSuffix(hostile, "\n"), "\n", "\n      ") + `
    permissions: '0640'
  - path: "/srv/it's $(touch pwned)/x"
    content: aGVsbG8K
    encoding: b64
    permissions: 0755
  - path: /etc/motd
    content: "second\n"
    append: true
  - path: /home/bob/notes
    content: ` + b64s(gz(t, "lab\n")) + `
    encoding: gz+b64
    owner: bob:bob
    permissions: '600'
    defer: true
hostname: web
fqdn: web.example.com
manage_etc_hosts: true
groups:
  - admins: [ec2-user]
users:
  - default
  - name: bob
    gecos: Bob B.
    groups: [admins, wheel]
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys: [ssh-ed25519 AAAAbob bob@x]
  - {name: alice, uid: 2000, shell: /bin/bash, no_create_home: true}
  - {name: carol, primary_group: admins}
ssh_authorized_keys:
  - ssh-ed25519 AAAAdefault me@laptop
packages: [nginx, [curl, 8.0]]
package_update: true
timezone: Europe/Paris
runcmd:
  - cd /tmp
  - echo "run $(pwd) $(cat ` + root + `/home/bob/notes)" >> ` + log + `
  - [sh, -c, 'printf "%s|" "$@" >> ` + log + `', argv0, "it's", "$(touch pwned)", "a b"]
`
	if err := os.WriteFile(filepath.Join(root, "etc/motd"), []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, status := run(t, root, userData)
	if status != 0 {
		t.Fatalf("exit status %d:\n%s", status, out)
	}
	for _, want := range []string{
		"[stockade] cloud-config keys not supported in a lab instance, ignored: timezone\n",
		"[stockade] cloud-config packages are not installed in a lab instance: nginx curl=8.0\n",
		"[stockade] cloud-config package_update and package_upgrade are not run in a lab instance\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if got, want := read(t, "/", log), "boot i-0123456789abcdef0 before write_files\nrun /tmp lab\nit's|$(touch pwned)|a b|"; got != want {
		t.Errorf("bootcmd and runcmd logged %q, want %q", got, want)
	}
	files := map[string]string{
		"etc/app.conf":                       hostile,
		"srv/it's $(touch pwned)/x":          "hello\n",
		"etc/motd":                           "first\nsecond\n",
		"home/bob/notes":                     "lab\n",
		"etc/hostname":                       "web\n",
		"etc/hosts":                          "127.0.1.1 web.example.com web\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
		"etc/passwd":                         "root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh\nbob:x:1002:1002:Bob B.:/home/bob:/bin/sh\nalice:x:2000:2000::/home/alice:/bin/bash\ncarol:x:1004:1001::/home/carol:/bin/sh\n",
		"etc/group":                          "root:x:0:\nec2-user:x:1000:\nadmins:x:1001:ec2-user,bob\nbob:x:1002:\nwheel:x:1003:bob\nalice:x:2000:\n",
		"etc/sudoers.d/90-cloud-init-users":  "# Created by stockade's cloud-init from the instance's user data\nbob ALL=(ALL) NOPASSWD:ALL\n",
		"home/bob/.ssh/authorized_keys":      "ssh-ed25519 AAAAbob bob@x\n",
		"home/ec2-user/.ssh/authorized_keys": "ssh-ed25519 AAAAdefault me@laptop\n",
	}
	for name, want := range files {
		if got := read(t, root, name); got != want {
			t.Errorf("%s:\n%s", name, cmp.Diff(want, got))
		}
	}
	modes := map[string]string{
		"etc/app.conf":                       "-rw-r-----" + owner("0", "0"),
		"srv/it's $(touch pwned)/x":          "-rwxr-xr-x" + owner("0", "0"),
		"home/bob/notes":                     "-rw-------" + owner("1002", "1002"),
		"home/bob":                           "-rwx------" + owner("1002", "1002"),
		"home/bob/.ssh":                      "-rwx------" + owner("1002", "1002"),
		"home/bob/.ssh/authorized_keys":      "-rw-------" + owner("1002", "1002"),
		"home/carol":                         "-rwx------" + owner("1004", "1001"),
		"home/ec2-user/.ssh/authorized_keys": "-rw-------" + owner("1000", "1000"),
		"etc/sudoers.d/90-cloud-init-users":  "-r--r-----" + owner("0", "0"),
	}
	for name, want := range modes {
		if got := meta(t, root, name); got != want {
			t.Errorf("%s is %s, want %s", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "home/alice")); err == nil {
		t.Error("no_create_home: alice has a home")
	}
	noPwned(t, root)
}

// noPwned: nothing of the user data ran but what it asked to run.
func noPwned(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range append(dirs, "/tmp") {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), "pwned") {
				t.Errorf("%s exists: a hostile string ran", p)
			}
			if err == nil && d.IsDir() && p != dir && dir == "/tmp" {
				return fs.SkipDir
			}
			return nil
		})
	}
}

// TestRunInvalid: a cloud-config that is not valid YAML, or holds a bad value, prints why,
// exits 1 and changes nothing.
func TestRunInvalid(t *testing.T) {
	tests := []struct{ name, userData, want string }{
		{"yaml", "#cloud-config\nruncmd: [touch /x\n", "[stockade] cloud-config is not valid YAML: yaml: line 1: did not find expected ',' or ']'\n"},
		{"uid", "#cloud-config\nwrite_files: [{path: /etc/x, content: y}]\nusers: [{name: bob, uid: 70000}]\n",
			"[stockade] cloud-config: users[0].uid: \"70000\" is not a user id from 1 to 65535\n"},
		{"gzip", "\x1f\x8bnot gzip", "[stockade] user data is gzip-compressed but does not decompress: gzip: invalid header\n"},
		{"include", "#include\nhttp://example.com/x\n", "[stockade] user data in cloud-init's #include format is not supported in a lab instance\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			before := tree(t, root)
			out, status := run(t, root, tt.userData)
			if status != 1 || out != tt.want {
				t.Errorf("status %d, console %q; want 1, %q", status, out, tt.want)
			}
			if diff := cmp.Diff(before, tree(t, root)); diff != "" {
				t.Errorf("the root changed:\n%s", diff)
			}
		})
	}
}

// tree is every file under root with its contents.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// TestRunMIME runs a multi-part message as cloud-init devel make-mime makes it: the merged
// cloud-config parts, then the shell parts in order, after runcmd.
func TestRunMIME(t *testing.T) {
	root := newRoot(t)
	log := filepath.Join(t.TempDir(), "order.log")
	msg := strings.ReplaceAll(`Content-Type: multipart/mixed; boundary="===============4291038100093059247=="
MIME-Version: 1.0

--===============4291038100093059247==
Content-Type: text/cloud-config; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="a.yaml"

#cloud-config
runcmd: [echo first runcmd >> LOG]
write_files: [{path: /etc/a, content: a}]

--===============4291038100093059247==
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="b.sh"

`+b64s([]byte("#!/bin/sh\necho part one >> "+log+"\n"))+`

--===============4291038100093059247==
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0

echo part two "$0" >> LOG

--===============4291038100093059247==
Content-Type: text/cloud-config; charset="us-ascii"
MIME-Version: 1.0

#cloud-config
runcmd: [echo second runcmd >> LOG]

--===============4291038100093059247==
Content-Type: text/x-include-url; charset="us-ascii"

http://example.com/

--===============4291038100093059247==--
`, "LOG", log)
	out, status := run(t, root, msg)
	if status != 0 {
		t.Fatalf("status %d:\n%s", status, out)
	}
	want := "second runcmd\npart one\npart two " + root + "/var/lib/cloud/instance/scripts/part-002\n"
	if got := read(t, "/", log); got != want {
		t.Errorf("ran %q, want %q", got, want)
	}
	if got := read(t, root, "etc/a"); got != "a" {
		t.Errorf("/etc/a = %q", got)
	}
	if !strings.Contains(out, "ignored: MIME part text/x-include-url") {
		t.Errorf("console does not list the ignored part:\n%s", out)
	}
}

// TestScript checks how each format is planned.
func TestScript(t *testing.T) {
	in := Instance{ID: "i-1", Hostname: "ip-10-0-1-4"}
	bomb := gz(t, strings.Repeat("\x00", MaxDecompressed+1))
	tests := []struct {
		name     string
		userData []byte
		kind     Kind
		script   string // the whole script, or with a trailing "…" its start
	}{
		{"empty", nil, None, ""},
		{"shebang", []byte("#!/usr/bin/python3\nprint(1)\n"), Exec, "#!/usr/bin/python3\nprint(1)\n"},
		{"plain", []byte("echo hi\n"), Shell, "echo hi\n"},
		{"boothook", []byte("#cloud-boothook\necho hi\n"), Shell, "#cloud-boothook\necho hi\n"},
		{"gzip shebang", gz(t, "#!/bin/bash\necho hi\n"), Exec, "#!/bin/bash\necho hi\n"},
		{"gzip plain", gz(t, "echo hi\n"), Shell, "echo hi\n"},
		{"gzip cloud-config", gz(t, "#cloud-config\nruncmd: [ls]\n"), Shell, "#!/bin/sh\n# Generated by stockade…"},
		{"gzip bomb", bomb, Shell, "#!/bin/sh\nprintf '[stockade] %s\\n' 'user data is gzip-compressed but does not decompress: it decompresses to more than 1048576 bytes'\nexit 1\n"},
		{"archive", []byte("#cloud-config-archive\n- type: text/x-shellscript\n"), Shell, "#!/bin/sh\nprintf '[stockade] %s\\n' 'user data in cloud-init'\\''s #cloud-config-archive format…"},
		{"jinja", []byte("## template: jinja\n#cloud-config\n"), Shell, "#!/bin/sh\nprintf '[stockade] %s\\n' 'user data in cloud-init'\\''s ## template: format is not supported in a lab instance'\nexit 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Script(tt.userData, in)
			if err != nil {
				t.Fatal(err)
			}
			got := string(p.Script)
			if prefix, ok := strings.CutSuffix(tt.script, "…"); ok && strings.HasPrefix(got, prefix) {
				got = tt.script
			}
			if p.Kind != tt.kind || got != tt.script {
				t.Errorf("plan %v %q; want %v %q", p.Kind, p.Script, tt.kind, tt.script)
			}
		})
	}
}

func TestScriptContract(t *testing.T) {
	if _, err := Script(bytes.Repeat([]byte("x"), MaxUserData+1), Instance{}); err == nil {
		t.Error("user data over MaxUserData: no error")
	}
	if _, err := Script([]byte("x"), Instance{DefaultUser: "a:b"}); err == nil {
		t.Error("a default user with a colon: no error")
	}
	if _, err := Script([]byte("x"), Instance{Hostname: "a b"}); err == nil {
		t.Error("a host name with a space: no error")
	}
	if p, err := Script(bytes.Repeat([]byte("x"), MaxUserData), Instance{}); err != nil || p.Kind != Shell {
		t.Errorf("user data of MaxUserData: %v %v", p.Kind, err)
	}
}

func TestArgv(t *testing.T) {
	for _, tt := range []struct {
		p    Plan
		want []string
	}{
		{Plan{}, nil},
		{Plan{Kind: Shell}, []string{"/bin/sh", "/u"}},
		{Plan{Kind: Exec}, []string{"/u"}},
	} {
		if diff := cmp.Diff(tt.want, tt.p.Argv("/u")); diff != "" {
			t.Errorf("%v: %s", tt.p.Kind, diff)
		}
	}
}
