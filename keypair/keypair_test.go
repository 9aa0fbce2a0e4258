package keypair

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerate(t *testing.T) {
	for _, tt := range []struct{ typ, format, header string }{
		{"rsa", "pem", "-----BEGIN RSA PRIVATE KEY-----"},
		{"ed25519", "pem", "-----BEGIN OPENSSH PRIVATE KEY-----"},
		{"rsa", "ppk", "PuTTY-User-Key-File-2: ssh-rsa"},
		{"ed25519", "ppk", "PuTTY-User-Key-File-2: ssh-ed25519"},
	} {
		t.Run(tt.typ+"-"+tt.format, func(t *testing.T) {
			c, err := Generate(tt.typ, tt.format, "my-key")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.Material, tt.header) || c.Type != tt.typ {
				t.Fatalf("material %.60q, type %s", c.Material, c.Type)
			}
			if tt.format == "pem" {
				priv, err := ssh.ParseRawPrivateKey([]byte(c.Material))
				if err != nil {
					t.Fatal(err)
				}
				signer, _ := ssh.NewSignerFromKey(priv)
				if authorizedKey(signer.PublicKey()) != c.PublicKey {
					t.Error("public key does not belong to the private key")
				}
			}
		})
	}
	for _, bad := range [][2]string{{"dsa", "pem"}, {"rsa", "der"}} {
		if _, err := Generate(bad[0], bad[1], ""); err == nil {
			t.Errorf("Generate(%v) accepted", bad)
		}
	}
}

// TestRSAFingerprintsAgainstOpenSSL checks AWS's RSA fingerprint recipes with openssl.
func TestRSAFingerprintsAgainstOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the cross-check of AWS's fingerprint recipes needs it")
	}
	c, err := Generate("rsa", "pem", "k")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	os.WriteFile(keyFile, []byte(c.Material), 0o600)
	// Created keys: openssl pkcs8 -in k.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c
	der, err := exec.Command("openssl", "pkcs8", "-in", keyFile, "-inform", "PEM", "-outform", "DER", "-topk8", "-nocrypt").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := opensslDigest(t, "sha1", der); got != c.Fingerprint {
		t.Errorf("created fingerprint %s, openssl says %s", c.Fingerprint, got)
	}
	// Imported keys: openssl rsa -in k.pem -pubout -outform DER | openssl md5 -c
	pubDER, err := exec.Command("openssl", "rsa", "-in", keyFile, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Import([]byte(c.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := opensslDigest(t, "md5", pubDER); got != imp.Fingerprint {
		t.Errorf("imported fingerprint %s, openssl says %s", imp.Fingerprint, got)
	}
}

func opensslDigest(t *testing.T, alg string, data []byte) string {
	cmd := exec.Command("openssl", alg, "-c")
	cmd.Stdin = strings.NewReader(string(data))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	return f[len(f)-1]
}

func TestEd25519FingerprintAgainstSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed: the cross-check of the ED25519 fingerprint needs it")
	}
	c, err := Generate("ed25519", "pem", "k")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(f, []byte(c.PublicKey+"\n"), 0o600)
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	// ssh-keygen prints SHA256:<base64 without padding>; EC2 reports the padded base64.
	want := strings.TrimPrefix(strings.Fields(string(out))[1], "SHA256:")
	if strings.TrimRight(c.Fingerprint, "=") != want {
		t.Errorf("fingerprint %s, ssh-keygen says %s", c.Fingerprint, want)
	}
}

func TestImportFormats(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rpub, _ := ssh.NewPublicKey(&rk.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	epk, _, _ := ed25519.GenerateKey(rand.Reader)
	epub, _ := ssh.NewPublicKey(epk)
	rfc4716 := "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"a long \\\ncomment\"\n" + wrap(base64.StdEncoding.EncodeToString(rpub.Marshal())) + "---- END SSH2 PUBLIC KEY ----\n"
	small, _ := rsa.GenerateKey(rand.Reader, 1536)
	spub, _ := ssh.NewPublicKey(&small.PublicKey)
	tests := []struct {
		name, in, typ string
		ok            bool
	}{
		{"openssh rsa", authorizedKey(rpub) + " me@host", "rsa", true},
		{"openssh ed25519", authorizedKey(epub), "ed25519", true},
		{"rfc4716", rfc4716, "rsa", true},
		{"base64 spki", base64.StdEncoding.EncodeToString(spki), "rsa", true},
		{"base64 pkcs1", base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&rk.PublicKey)), "rsa", true},
		{"rsa 1536 bits", authorizedKey(spub), "", false},
		{"garbage", "not a key", "", false},
		{"pem private key", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})), "", false},
		{"ecdsa", "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp, err := Import([]byte(tt.in))
			if !tt.ok {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("want ErrFormat, got %+v %v", imp, err)
				}
				return
			}
			if err != nil || imp.Type != tt.typ || imp.Fingerprint == "" {
				t.Fatalf("Import = %+v, %v", imp, err)
			}
		})
	}
	a, _ := Import([]byte(authorizedKey(rpub)))
	b, _ := Import([]byte(rfc4716))
	if a != b {
		t.Errorf("the same key in two formats imports differently: %+v %+v", a, b)
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 70 {
		b.WriteString(s[:70] + "\n")
		s = s[70:]
	}
	return b.String() + s + "\n"
}

func TestPPKWithPuttygen(t *testing.T) {
	if _, err := exec.LookPath("puttygen"); err != nil {
		t.Skip("puttygen not installed (apt-get install putty-tools): cannot cross-check .ppk files")
	}
	for _, typ := range []string{"rsa", "ed25519"} {
		c, err := Generate(typ, "ppk", "k")
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "k.ppk")
		os.WriteFile(f, []byte(c.Material), 0o600)
		out, err := exec.Command("puttygen", f, "-O", "public-openssh").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: puttygen rejects our .ppk: %v %s", typ, err, out)
		}
		if got := strings.Join(strings.Fields(string(out))[:2], " "); got != c.PublicKey {
			t.Errorf("%s: puttygen reads public key %q, want %q", typ, got, c.PublicKey)
		}
	}
}

func FuzzImport(f *testing.F) {
	f.Add([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"))
	f.Add([]byte("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----"))
	f.Add([]byte("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		imp, err := Import(b)
		if err == nil && (imp.Type != "rsa" && imp.Type != "ed25519" || imp.Fingerprint == "") {
			t.Fatalf("accepted %q as %+v", b, imp)
		}
	})
}
