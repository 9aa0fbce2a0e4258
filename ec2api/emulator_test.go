package ec2api

import (
	"testing"

	"github.com/stockade/stockade/auth"
)

// TestEmulatorDefaultAccount: in emulator mode an access key that is not 12 digits, or no
// credentials at all, act as the configured default account (moto's 123456789012 here); a
// 12-digit key still names its own account; without the setting the default is 000000000000.
func TestEmulatorDefaultAccount(t *testing.T) {
	whoami := func(api *testAPI, key string) string {
		t.Helper()
		c := &client{api: api, acct: auth.Account{ID: "ignored", AccessKeyID: key, SecretAccessKey: "anything"}, region: "us-east-1", service: "sts"}
		return field(c.ok("GetCallerIdentity"), "Account")
	}
	moto := newEdgeAPI(t, func(c *Config) { c.Emulator, c.EmulatorDefaultAccount = true, "123456789012" })
	plain := newEdgeAPI(t, func(c *Config) { c.Emulator = true })
	for _, tt := range []struct {
		name string
		api  *testAPI
		key  string
		want string
	}{
		{"moto key", moto, "testing", "123456789012"},
		{"AWS-shaped key", moto, "AKIAIOSFODNN7EXAMPLE", "123456789012"},
		{"12-digit key names its account", moto, "210987654321", "210987654321"},
		{"default stays 000000000000", plain, "testing", "000000000000"},
		{"12-digit key without the setting", plain, "210987654321", "210987654321"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := whoami(tt.api, tt.key); got != tt.want {
				t.Errorf("account %q, want %s", got, tt.want)
			}
		})
	}
	// A resource made with a moto key is owned by the default account.
	c := &client{api: moto, acct: auth.Account{AccessKeyID: "testing", SecretAccessKey: "x"}, region: "us-east-1"}
	if owner := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "ownerId"); owner != "123456789012" {
		t.Errorf("VPC owner %q", owner)
	}
}

func TestCheckEmulatorAccount(t *testing.T) {
	for id, ok := range map[string]bool{"123456789012": true, "000000000000": true, "12345678901": false, "1234567890123": false, "12345678901x": false, "": false} {
		if err := CheckEmulatorAccount(id); (err == nil) != ok {
			t.Errorf("CheckEmulatorAccount(%q) = %v", id, err)
		}
	}
}
