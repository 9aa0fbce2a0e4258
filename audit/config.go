package audit

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
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
	// Disabled checks do not run.
	Disabled []string `yaml:"disabled"`
	// Suppressions hide findings, each with a reason and an expiry.
	Suppressions []Suppression `yaml:"suppressions"`
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
		SprawlWarn: 50, SprawlHigh: 100, FlapWindow: time.Hour}
}

// LoadConfig reads a YAML configuration over the defaults. Unknown keys, a suppression
// without a check, a reason or an expiry, and a check ID the catalogue does not have are
// errors: a typo must not silently audit less.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("audit configuration: %w", err)
	}
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("audit configuration %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, c := range catalogue {
		known[c.ID] = true
	}
	for _, id := range cfg.Disabled {
		if !known[id] {
			return Config{}, fmt.Errorf("audit configuration %s: disabled: no check %q", path, id)
		}
	}
	for i, s := range cfg.Suppressions {
		switch {
		case !known[s.Check]:
			return Config{}, fmt.Errorf("audit configuration %s: suppression %d: no check %q", path, i+1, s.Check)
		case s.Reason == "":
			return Config{}, fmt.Errorf("audit configuration %s: suppression %d (%s): a reason is required", path, i+1, s.Check)
		case s.Expires.IsZero():
			return Config{}, fmt.Errorf("audit configuration %s: suppression %d (%s): an expiry is required", path, i+1, s.Check)
		}
	}
	return cfg, nil
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
