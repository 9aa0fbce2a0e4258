package keypair

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportedKeysAgainstTools imports keys made by ssh-keygen, in each format ImportKeyPair
// takes (OpenSSH, RFC 4716 from ssh-keygen -e, base64 DER from ssh-keygen -e -m PKCS8), and
// checks every import gives the fingerprint AWS's user guide computes for imported keys
// ("Verify the fingerprint of your key pair"): for RSA,
//
//	ssh-keygen -ef key -m PEM | openssl rsa -RSAPublicKey_in -outform DER | openssl md5 -c
//
// (the MD5 of the DER public key), and for ED25519 the SHA-256 that ssh-keygen -l prints.
func TestImportedKeysAgainstTools(t *testing.T) {
	for _, tool := range []string{"ssh-keygen", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the cross-check of imported fingerprints needs it", tool)
		}
	}
	dir := t.TempDir()
	run := func(t *testing.T, stdin string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out)
	}
	// EC2 imports RSA keys of 1024, 2048 and 4096 bits only (EC2 User Guide, "Create a key
	// pair using a third-party tool and import the public key to Amazon EC2").
	big := filepath.Join(dir, "rsa3072")
	run(t, "", "ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", big)
	if pub, err := os.ReadFile(big + ".pub"); err != nil {
		t.Fatal(err)
	} else if _, err := Import(pub); err == nil {
		t.Error("a 3072-bit RSA key was imported")
	}
	for _, typ := range []string{"rsa", "ed25519"} {
		t.Run(typ, func(t *testing.T) {
			key := filepath.Join(dir, typ)
			// 2048 bits: ssh-keygen's default of 3072 is not among the lengths EC2 imports.
			run(t, "", "ssh-keygen", "-q", "-t", typ, "-b", "2048", "-N", "", "-C", "me@host", "-f", key)
			openssh, err := os.ReadFile(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			var want string
			if typ == "rsa" {
				pkcs1 := run(t, "", "ssh-keygen", "-e", "-f", key, "-m", "PEM")
				der := run(t, pkcs1, "openssl", "rsa", "-RSAPublicKey_in", "-outform", "DER")
				want = opensslDigest(t, "md5", []byte(der))
			} else {
				f := strings.Fields(run(t, "", "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))[1]
				want = strings.TrimPrefix(f, "SHA256:")
			}
			formats := map[string]string{
				"openssh": string(openssh),
				"rfc4716": run(t, "", "ssh-keygen", "-e", "-f", key+".pub"),
			}
			if typ == "rsa" { // ssh-keygen writes no PKCS8 for ED25519; AWS documents DER for RSA
				formats["pkcs8der"] = pemBody(run(t, "", "ssh-keygen", "-e", "-m", "PKCS8", "-f", key+".pub"))
			}
			for name, material := range formats {
				imp, err := Import([]byte(material))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got := imp.Fingerprint
				if typ == "ed25519" {
					got = strings.TrimRight(got, "=") // EC2 pads the base64; ssh-keygen does not
				}
				if got != want || imp.Type != typ {
					t.Errorf("%s: fingerprint %s (%s), AWS's recipe gives %s", name, imp.Fingerprint, imp.Type, want)
				}
			}
		})
	}
}

// pemBody is the base64 between a PEM block's BEGIN and END lines, joined: base64 DER.
func pemBody(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			b.WriteString(l)
		}
	}
	return b.String()
}
