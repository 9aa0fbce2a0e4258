package cloudinit

import (
	"bytes"
	"testing"
)

// FuzzScript: any user data within the limit gives a plan, never an error or a panic, and a
// rendered cloud-config is whole (it ends with its exit).
func FuzzScript(f *testing.F) {
	for _, s := range []string{"#cloud-config\nruncmd: [ls]\n", "#!/bin/sh\n", "echo hi",
		"#cloud-config\nusers: [default, {name: bob, uid: 2000}]\nwrite_files: [{path: /a, encoding: b64, content: aGk=}]\n",
		"Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/cloud-config\n\n#cloud-config\n--XX--\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxUserData {
			return
		}
		p, err := Script(data, Instance{ID: "i-1", Hostname: "ip-10-0-1-4"})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(data, []byte("#cloud-config\n")) && !bytes.HasSuffix(p.Script, []byte("exit 1\n")) &&
			!bytes.HasSuffix(p.Script, []byte("exit $status\n")) {
			t.Fatalf("a cloud-config script does not end with its exit:\n%s", p.Script)
		}
	})
}
