package audit

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is what an organisation tells the auditor (a YAML file, LoadConfig): its authorized
// and admin ports, required tags, naming convention, thresholds and suppressions. The zero
// value is not useful; DefaultConfig gives the catalogue's defaults.
type Config struct {
	// AdminPorts drive SGA-002/003 and NACL-001 (default 22 and 3389).
	AdminPorts []uint16 `yaml:"adminPorts"`
	// AuthorizedTCP and AuthorizedUDP are the ports internet ingress may use without an
	// SGA-007 finding (default TCP 80 and 443, UDP none: Security Hub EC2.18).
	AuthorizedTCP []uint16 `yaml:"authorizedTCP"`
	AuthorizedUDP []uint16 `yaml:"authorizedUDP"`
	// KnownCIDRs are the organisation's own public ranges (SGA-009 ignores them).
	KnownCIDRs []netip.Prefix `yaml:"knownCIDRs"`
	// RequiredTags are the tag keys SGH-007 and NACL-008 require; empty means "some tag
	// that is not the system's".
	RequiredTags []string `yaml:"requiredTags"`
	// NameRegex is SGH-008's convention; nil means no convention, no finding.
	NameRegex *Regexp `yaml:"nameRegex"`
	// MaxRules is SGH-005's threshold per direction (default 50).
	MaxRules int `yaml:"maxRules"`
	// SprawlWarn and SprawlHigh are SGH-009's group counts per VPC (defaults 50 and 100).
	SprawlWarn int `yaml:"sprawlWarn"`
	SprawlHigh int `yaml:"sprawlHigh"`
	// FlapWindow is MON-003's: exposure opened and closed within it is a finding (default
	// 60 minutes).
	FlapWindow time.Duration `yaml:"flapWindow"`
	// UnusedDays is MON-005's N: an allow rule with no accepted flow in the flow-log records
	// of the last N days is a finding (default 90 [ours: the catalogue leaves N open]).
	UnusedDays int `yaml:"unusedDays"`
	// Disabled checks do not run.
	Disabled []string `yaml:"disabled"`
	// Suppressions hide findings, each with a reason and an expiry.
	Suppressions []Suppression `yaml:"suppressions"`
	// Workers bounds the goroutines an audit computes on at once (0: one per P, the fastest
	// answer). It is the caller's to set, not the file's: the server's continuous audit runs
	// on one, so that it never holds every P while the API and the agent have a change to
	// enforce.
	Workers int `yaml:"-"`
}

// Suppression hides the findings of Check (on Resource, when set) until Expires, for Reason.
type Suppression struct {
	Check    string    `yaml:"check"`
	Resource string    `yaml:"resource"`
	Reason   string    `yaml:"reason"`
	Expires  time.Time `yaml:"expires"`
}

// Regexp is a regular expression read from the configuration.
type Regexp struct{ *regexp.Regexp }

func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	re, err := regexp.Compile(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: nameRegex: %w", n.Line, err)
	}
	r.Regexp = re
	return nil
}

// DefaultConfig is the catalogue's defaults.
func DefaultConfig() Config {
	return Config{AdminPorts: []uint16{22, 3389}, AuthorizedTCP: []uint16{80, 443}, MaxRules: 50,
		SprawlWarn: 50, SprawlHigh: 100, FlapWindow: time.Hour, UnusedDays: 90}
}

// LoadConfig reads a YAML configuration over the defaults. Unknown keys, a suppression
// without a check, a reason or an expiry, and a check ID the catalogue does not have are
// errors: a typo must not silently audit less.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if err := decodeFile(path, "audit configuration", &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("audit configuration %s: %w", path, err)
	}
	return cfg, nil
}

// decodeFile decodes the YAML file at path into v, over what v holds; unknown keys are
// errors. what names the file in errors.
func decodeFile(path, what string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	return nil
}

// knownCheck reports whether the catalogue has a check id.
func knownCheck(id string) bool {
	return slices.ContainsFunc(catalogue, func(c Check) bool { return c.ID == id })
}

// validate refuses disabled checks and suppressions the catalogue does not have, and
// suppressions without a reason or an expiry.
func (c *Config) validate() error {
	if c.UnusedDays < 1 {
		return fmt.Errorf("unusedDays: %d is not a number of days (at least 1)", c.UnusedDays)
	}
	for _, id := range c.Disabled {
		if !knownCheck(id) {
			return fmt.Errorf("disabled: no check %q", id)
		}
	}
	for i, s := range c.Suppressions {
		switch {
		case !knownCheck(s.Check):
			return fmt.Errorf("suppression %d: no check %q", i+1, s.Check)
		case s.Reason == "":
			return fmt.Errorf("suppression %d (%s): a reason is required", i+1, s.Check)
		case s.Expires.IsZero():
			return fmt.Errorf("suppression %d (%s): an expiry is required", i+1, s.Check)
		}
	}
	return nil
}

// suppression returns the suppression that hides f at now, nil when none does (an expired one
// hides nothing).
func (c *Config) suppression(f *Finding, now time.Time) *Suppression {
	for i := range c.Suppressions {
		s := &c.Suppressions[i]
		if s.Check == f.Check && (s.Resource == "" || s.Resource == f.Resource) && now.Before(s.Expires) {
			return s
		}
	}
	return nil
}
