package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLoadConfig: a file overrides the defaults it names and keeps the rest; a typo (an
// unknown key, an unknown check) or a suppression without reason or expiry is an error that
// names it.
func TestLoadConfig(t *testing.T) {
	register(Check{ID: "TEST-001", Title: "test", Run: func(*Audit) []Finding { return nil }})
	t.Cleanup(func() { catalogue = catalogue[:len(catalogue)-1] })
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "audit.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadConfig(write(`
authorizedTCP: [443]
nameRegex: "^[a-z]+-(web|db)$"
suppressions:
  - check: TEST-001
    resource: sg-1
    reason: accepted until the migration, TICKET-12
    expires: 2030-01-01T00:00:00Z
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint16{443}, cfg.AuthorizedTCP); diff != "" || cfg.MaxRules != 50 || !cfg.NameRegex.MatchString("shop-web") {
		t.Errorf("config %+v", cfg)
	}
	f := Finding{Check: "TEST-001", Resource: "sg-1"}
	if s := cfg.suppression(&f, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)); s == nil {
		t.Error("the suppression does not apply before its expiry")
	}
	if s := cfg.suppression(&f, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)); s != nil {
		t.Error("an expired suppression still applies")
	}
	for body, want := range map[string]string{
		"maxrules: 3":         "maxrules",
		"disabled: [SGA-999]": "SGA-999",
		"suppressions: [{check: TEST-001, expires: 2030-01-01T00:00:00Z}]": "reason",
		"suppressions: [{check: TEST-001, reason: r}]":                     "expiry",
		`nameRegex: "("`: "nameRegex",
	} {
		if _, err := LoadConfig(write(body)); err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
			t.Errorf("%q: %v, want an error naming %s", body, err, want)
		}
	}
}
