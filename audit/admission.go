package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// AdmissionPolicy names the checks whose findings a write must never introduce (audit-checks
// §5.8): the server refuses a write that would make one of them report a finding that is not
// already there, and the write changes nothing. It is read from a YAML file
// (LoadAdmissionPolicy) that holds, beside forbid and exemptions, an audit configuration
// (Config: admin ports, authorized ports, suppressions …), in the same keys as LoadConfig's.
type AdmissionPolicy struct {
	// Forbid are the check IDs ("SGA-002").
	Forbid []string `yaml:"forbid"`
	// Exemptions are resources the policy does not judge, each with its reason.
	Exemptions []Exemption `yaml:"exemptions"`
	Config     `yaml:",inline"`
}

// Exemption exempts one resource (Resource: a group or network ACL ID) or every resource
// carrying a tag (Tag: "key=value") from the admission policy, for Reason.
type Exemption struct {
	Resource string `yaml:"resource"`
	Tag      string `yaml:"tag"`
	Reason   string `yaml:"reason"`
}

// accountWide are the checks that judge the account as a whole — counts and shares over a
// VPC, or every interface of a range — which admission, seeing only what a write touched,
// cannot answer; and SGH-003, which needs launch templates. A policy naming one is refused
// rather than enforced wrongly.
var accountWide = map[string]string{
	"SGA-015": "it needs every interface in the rule's range",
	"SGH-003": "it needs every group's references and the launch templates",
	"SGH-009": "it counts every group of a VPC",
	"SGH-010": "it counts every group of the account",
	"SGH-011": "it counts every interface of a VPC",
}

// LoadAdmissionPolicy reads an admission policy. An unknown key, an unknown check, a check
// admission cannot judge (accountWide), an empty forbid list and an exemption without a
// reason or with neither or both of resource and tag are errors naming what is wrong.
func LoadAdmissionPolicy(path string) (*AdmissionPolicy, error) {
	p := &AdmissionPolicy{Config: DefaultConfig()}
	if err := decodeFile(path, "admission policy", p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("admission policy %s: %w", path, err)
	}
	return p, nil
}

func (p *AdmissionPolicy) validate() error {
	if len(p.Forbid) == 0 {
		return errors.New("forbid: at least one check is required")
	}
	for _, id := range p.Forbid {
		if !knownCheck(id) {
			return fmt.Errorf("forbid: no check %q", id)
		}
		if why, ok := accountWide[id]; ok {
			return fmt.Errorf("forbid: %s cannot be judged at admission: %s", id, why)
		}
	}
	for i, e := range p.Exemptions {
		k, _, hasValue := strings.Cut(e.Tag, "=")
		switch {
		case (e.Resource == "") == (e.Tag == ""):
			return fmt.Errorf("exemption %d: exactly one of resource and tag is required", i+1)
		case e.Tag != "" && (!hasValue || k == ""):
			return fmt.Errorf("exemption %d: tag %q is not key=value", i+1, e.Tag)
		case e.Reason == "":
			return fmt.Errorf("exemption %d: a reason is required", i+1)
		}
	}
	return p.Config.validate()
}

// Admit runs the forbidden checks on before and after — the part of one tenant's network a
// write touched, as it was and as the write would leave it — and returns the findings the
// write would introduce, worst first: a finding on a resource of changed that before did not
// have, or that now names a rule it did not name (a second rule opening SSH to the world is
// new although the group already had one). Findings on other resources, suppressed ones and
// exempt resources' do not count. Each returned finding's Rules are its new rules.
func (p *AdmissionPolicy) Admit(t netmap.Tenant, before, after netmap.Snapshot, changed []string, now time.Time) ([]Finding, error) {
	was, err := p.findings(t, before, changed, now)
	if err != nil {
		return nil, err
	}
	is, err := p.findings(t, after, changed, now)
	if err != nil {
		return nil, err
	}
	old := map[string][]string{}
	for _, f := range was {
		k := f.Check + " " + f.Resource
		old[k] = append(old[k], f.Rules...)
	}
	var out []Finding
	for _, f := range is {
		prev, had := old[f.Check+" "+f.Resource]
		if had && len(f.Rules) == 0 {
			continue
		}
		var added []string
		for _, r := range f.Rules {
			if !slices.Contains(prev, r) {
				added = append(added, r)
			}
		}
		if had && len(added) == 0 {
			continue
		}
		if p.exempt(f.Resource, after) != nil {
			continue
		}
		f.Rules = added
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) })
	return out, nil
}

// findings are the forbidden checks' findings on the resources of changed, suppressions
// applied.
func (p *AdmissionPolicy) findings(t netmap.Tenant, s netmap.Snapshot, changed []string, now time.Time) ([]Finding, error) {
	pol, err := policy.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	a := newAudit(Input{Account: t.Account, Region: t.Region, Snapshot: s, Now: now}, p.Config, pol)
	// The checks judge the groups that changed; the others are context (peers, groups on the
	// same interfaces), which the compiled policy and the indexes already hold. Their findings
	// would be dropped below anyway.
	a.In.Snapshot.Groups = slices.DeleteFunc(slices.Clone(s.Groups), func(g *model.Group) bool { return !slices.Contains(changed, g.ID) })
	var out []Finding
	for _, c := range catalogue {
		if !slices.Contains(p.Forbid, c.ID) {
			continue
		}
		for _, f := range c.Run(a) {
			if slices.Contains(changed, f.Resource) && p.suppression(&f, a.In.Now) == nil {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// exempt returns the exemption that covers resource id in s, nil when none does.
func (p *AdmissionPolicy) exempt(id string, s netmap.Snapshot) *Exemption {
	var tags model.Tags
	if i := slices.IndexFunc(s.Groups, func(g *model.Group) bool { return g.ID == id }); i >= 0 {
		tags = s.Groups[i].Tags
	} else if i := slices.IndexFunc(s.NACLs, func(a *model.NACL) bool { return a.ID == id }); i >= 0 {
		tags = s.NACLs[i].Tags
	}
	for i := range p.Exemptions {
		e := &p.Exemptions[i]
		if e.Resource == id {
			return e
		}
		if k, v, _ := strings.Cut(e.Tag, "="); e.Tag != "" && tags != nil {
			if got, ok := tags[k]; ok && got == v {
				return e
			}
		}
	}
	return nil
}

// Hook is the policy as the control service's admission hook (control.Admission): it refuses
// a write that would introduce a forbidden finding with OperationNotPermitted, naming the
// check, the resource and the rules. now is the clock suppressions expire by.
//
// AWS has no admission policies, so no error code of its own for this refusal. EC2's
// OperationNotPermitted (400) refuses requests that are well formed but forbidden by a
// setting of the account or resource (TerminateInstances with disableApiTermination,
// aws-behaviour.md), which is this case: SDKs raise it as a client error that is not
// retried, CLI users and Terraform see the code and the message, and it is not confused with
// IAM (UnauthorizedOperation, 403, would send people to their policies and to
// DecodeAuthorizationMessage) or with a malformed parameter (InvalidParameterValue).
func (p *AdmissionPolicy) Hook(now func() time.Time) func(t netmap.Tenant, before, after netmap.Snapshot, changed []string) error {
	return func(t netmap.Tenant, before, after netmap.Snapshot, changed []string) error {
		fs, err := p.Admit(t, before, after, changed, now())
		if err != nil {
			// Fail closed: a policy that cannot be evaluated must not let the write through.
			return model.Internal(fmt.Errorf("admission: %w", err))
		}
		if len(fs) == 0 {
			return nil
		}
		return model.OperationNotPermitted.Errorf("%s", refusal(fs))
	}
}

// refusal is the message of a refused write: the worst new finding, and how many more.
func refusal(fs []Finding) string {
	f := fs[0]
	msg := fmt.Sprintf("The request would introduce audit finding %s (%s) on %s, which the admission policy forbids: %s",
		f.Check, f.Title, f.Resource, f.Why)
	if len(fs) > 1 {
		msg += fmt.Sprintf(" (and %d more finding(s))", len(fs)-1)
	}
	return msg
}
