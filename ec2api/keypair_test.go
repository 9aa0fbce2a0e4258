package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestKeyPairs(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	body := c.ok("CreateKeyPair", "KeyName", "deploy", "KeyType", "ed25519")
	if !strings.Contains(field(body, "keyMaterial"), "PRIVATE KEY") || field(body, "keyPairId") == "" {
		t.Errorf("CreateKeyPair: %s", body)
	}
	c.fails("InvalidKeyPair.Duplicate", "CreateKeyPair", "KeyName", "deploy")
	c.fails("InvalidParameterValue", "CreateKeyPair", "KeyName", "x", "KeyType", "dsa")
	desc := c.ok("DescribeKeyPairs", "KeyName.1", "deploy", "IncludePublicKey", "true")
	if field(desc, "keyType") != "ed25519" || !strings.HasPrefix(field(desc, "publicKey"), "ssh-ed25519 ") || strings.Contains(desc, "PRIVATE") {
		t.Errorf("DescribeKeyPairs: %s", desc)
	}
	c.fails("InvalidKeyPair.NotFound", "DescribeKeyPairs", "KeyName.1", "nope")
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl imported"
	c.ok("ImportKeyPair", "KeyName", "mine", "PublicKeyMaterial", b64(pub))
	c.fails("InvalidKeyPair.Format", "ImportKeyPair", "KeyName", "bad", "PublicKeyMaterial", b64("not a key"))
	c.ok("DeleteKeyPair", "KeyName", "mine")
	c.ok("DeleteKeyPair", "KeyName", "never-existed")
	c.fails("InvalidKeyPair.NotFound", "DeleteKeyPair", "KeyPairId", "key-0123456789abcdef0")
	if got := xmlFields(c.ok("DescribeKeyPairs"), "keyName"); !slices.Equal(got, []string{"deploy"}) {
		t.Errorf("key pairs left: %v", got)
	}
}
