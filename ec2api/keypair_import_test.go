package ec2api

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestImportKeyPairFormats imports one RSA key as an OpenSSH line, an RFC 4716 block and base64
// DER: each gives the same 16-byte MD5 fingerprint (the imported-RSA rule) and the same public
// key; the second import of a name is InvalidKeyPair.Duplicate and changes nothing; tags from
// TagSpecification show in the reply and in DescribeKeyPairs, whose filters (tag:, tag-key,
// key-pair-id, key-type, fingerprint) and KeyPairId.N work; IncludePublicKey shows the key only
// when true.
func TestImportKeyPairFormats(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(&rk.PublicKey)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	spki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	// RFC 4716 §3: a header, then the key's base64 in lines of at most 72 bytes.
	body := regexp.MustCompile(`.{1,70}`).ReplaceAllString(base64.StdEncoding.EncodeToString(pub.Marshal()), "$0\n")
	rfc4716 := "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"me@host\"\n" + body + "---- END SSH2 PUBLIC KEY ----\n"
	md5Hex := regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){15}$`)
	var fps []string
	for i, material := range []string{line + " me@host", rfc4716, base64.StdEncoding.EncodeToString(spki)} {
		name := "k" + itoa(i)
		body := c.ok("ImportKeyPair", "KeyName", name, "PublicKeyMaterial", b64(material),
			"TagSpecification.1.ResourceType", "key-pair", "TagSpecification.1.Tag.1.Key", "format", "TagSpecification.1.Tag.1.Value", itoa(i))
		fp := field(body, "keyFingerprint")
		if !md5Hex.MatchString(fp) || field(body, "keyName") != name || !strings.HasPrefix(field(body, "keyPairId"), "key-") || field(body, "value") != itoa(i) {
			t.Errorf("import %d: %s", i, body)
		}
		fps = append(fps, fp)
		if got := field(c.ok("DescribeKeyPairs", "KeyName.1", name, "IncludePublicKey", "true"), "publicKey"); got != line {
			t.Errorf("import %d stored public key %q, want %q", i, got, line)
		}
	}
	if fps[0] != fps[1] || fps[0] != fps[2] {
		t.Errorf("one key, three fingerprints: %v", fps)
	}

	before := c.ok("DescribeKeyPairs")
	r := c.fails("InvalidKeyPair.Duplicate", "ImportKeyPair", "KeyName", "k0", "PublicKeyMaterial", b64(line))
	if msg := field(r.Body, "Message"); msg != "The keypair 'k0' already exists." {
		t.Errorf("duplicate message %q", msg)
	}
	c.fails("InvalidKeyPair.Duplicate", "CreateKeyPair", "KeyName", "k1")
	c.fails("InvalidKeyPair.Format", "ImportKeyPair", "KeyName", "dsa", "PublicKeyMaterial", b64("ssh-dss AAAAB3NzaC1kc3MAAACBAP"))
	c.fails("MissingParameter", "ImportKeyPair", "KeyName", "nokey")
	c.fails("InvalidParameterValue", "ImportKeyPair", "KeyName", "badtag", "PublicKeyMaterial", b64(line), "TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "k")
	if after := c.ok("DescribeKeyPairs"); normalise(after, c.acct.ID) != normalise(before, c.acct.ID) {
		t.Error("a refused import changed the key pairs")
	}

	id1 := field(c.ok("DescribeKeyPairs", "KeyName.1", "k1"), "keyPairId")
	created := c.ok("CreateKeyPair", "KeyName", "made", "KeyType", "ed25519", "TagSpecification.1.ResourceType", "key-pair", "TagSpecification.1.Tag.1.Key", "origin", "TagSpecification.1.Tag.1.Value", "ec2")
	if field(created, "key") != "origin" {
		t.Errorf("CreateKeyPair reply lacks its tags: %s", created)
	}
	for _, tt := range []struct {
		name   string
		params []string
		want   []string
	}{
		{"tag:", kv("Filter.1.Name", "tag:format", "Filter.1.Value.1", "2"), []string{"k2"}},
		{"tag-key", kv("Filter.1.Name", "tag-key", "Filter.1.Value.1", "origin"), []string{"made"}},
		{"key-pair-id", kv("Filter.1.Name", "key-pair-id", "Filter.1.Value.1", id1), []string{"k1"}},
		{"KeyPairId.N", kv("KeyPairId.1", id1), []string{"k1"}},
		{"key-type", kv("Filter.1.Name", "key-type", "Filter.1.Value.1", "ed25519"), []string{"made"}},
		{"fingerprint", kv("Filter.1.Name", "fingerprint", "Filter.1.Value.1", fps[0]), []string{"k0", "k1", "k2"}},
		{"key-name wildcard", kv("Filter.1.Name", "key-name", "Filter.1.Value.1", "k*"), []string{"k0", "k1", "k2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := xmlFields(c.ok("DescribeKeyPairs", tt.params...), "keyName"); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if strings.Contains(c.ok("DescribeKeyPairs", "KeyName.1", "k0"), "publicKey") || strings.Contains(c.ok("DescribeKeyPairs", "KeyName.1", "k0", "IncludePublicKey", "false"), "publicKey") {
		t.Error("the public key is shown without IncludePublicKey=true")
	}
	c.fails("InvalidKeyPair.NotFound", "DescribeKeyPairs", "KeyPairId.1", "key-0123456789abcdef0")
}
