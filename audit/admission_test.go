package audit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

var admissionNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// edit returns a copy of s in which the group id is replaced by a clone that change edits:
// the snapshot a write would leave, s itself unchanged.
func edit(s netmap.Snapshot, id string, change func(g *model.Group)) netmap.Snapshot {
	s.Groups = slices.Clone(s.Groups)
	for i, g := range s.Groups {
		if g.ID == id {
			c := g.Clone()
			change(c)
			s.Groups[i] = c
		}
	}
	return s
}

// TestAdmit: Admit returns exactly the forbidden findings a write introduces on what it
// changed — new findings, and old ones that name a new rule — and nothing for findings that
// were there, on resources the write did not change, suppressed or exempt.
func TestAdmit(t *testing.T) {
	w := newWorld(t)
	web := w.group("web", tcp(22, cidr("10.0.0.0/8")))
	open := w.group("legacy", tcp(22, cidr("0.0.0.0/0")))                                // a finding from before the policy
	half := w.group("half", tcp(22, cidr("128.0.0.0/1")))                                // half the internet
	tagged := w.group("bastion", tcp(443, cidr("10.0.0.0/8")))                           // exempt by tag
	tagged.Tags = model.Tags{"owner": "team", "admission": "exempt"}                     //
	named := w.group("named", tcp(443, cidr("10.0.0.0/8")))                              // exempt by ID
	def := &model.Group{ID: w.id("sg"), Name: "default", VpcID: w.vpc.ID, Default: true} // SGH-002
	w.s.Groups = append(w.s.Groups, def)
	n := w.eni(0, "10.0.1.10", web)
	before := w.s

	pol := &AdmissionPolicy{Forbid: []string{"SGA-001", "SGA-002", "SGH-002"}, Config: DefaultConfig(),
		Exemptions: []Exemption{{Tag: "admission=exempt", Reason: "bastion hosts"}, {Resource: named.ID, Reason: "lab"}}}
	pol.Suppressions = []Suppression{{Check: "SGA-001", Resource: web.ID, Reason: "ticket 1", Expires: admissionNow.AddDate(0, 0, 1)}}
	addRule := func(id string, r model.Rule) netmap.Snapshot {
		return edit(before, id, func(g *model.Group) { w.add(g, r) })
	}
	cases := []struct {
		name    string
		after   netmap.Snapshot
		changed []string
		want    []string // "check resource rules"
	}{
		{"ssh from the world", addRule(web.ID, tcp(22, cidr("0.0.0.0/0"))), []string{web.ID}, []string{"SGA-002 " + web.ID + " new"}},
		{"ssh from a private range", addRule(web.ID, tcp(22, cidr("10.1.0.0/16"))), []string{web.ID}, nil},
		{"a range holding 22 from the world", addRule(web.ID, in("tcp", 20, 30, cidr("0.0.0.0/0"))), []string{web.ID}, []string{"SGA-002 " + web.ID + " new"}},
		{"the other half of the internet", addRule(half.ID, tcp(22, cidr("0.0.0.0/1"))), []string{half.ID}, []string{"SGA-002 " + half.ID + " " + half.Ingress[0].ID + ",new"}},
		{"an unrelated rule beside a finding from before", addRule(open.ID, tcp(443, cidr("10.0.0.0/8"))), []string{open.ID}, nil},
		{"a second admin rule beside a finding from before", addRule(open.ID, tcp(3389, cidr("0.0.0.0/0"))), []string{open.ID}, []string{"SGA-002 " + open.ID + " new"}},
		{"suppressed", addRule(web.ID, all(cidr("0.0.0.0/0"))), []string{web.ID}, []string{"SGA-002 " + web.ID + " new"}}, // SGA-001 suppressed, SGA-002 not
		{"exempt by tag", addRule(tagged.ID, tcp(22, cidr("0.0.0.0/0"))), []string{tagged.ID}, nil},
		{"exempt by ID", addRule(named.ID, tcp(22, cidr("0.0.0.0/0"))), []string{named.ID}, nil},
		{"a resource the write did not change", addRule(web.ID, tcp(22, cidr("0.0.0.0/0"))), []string{named.ID}, nil},
		{"an interface joins the default group", func() netmap.Snapshot {
			s := before
			s.ENIs = slices.Clone(s.ENIs)
			c := *n
			c.Groups = []string{def.ID}
			s.ENIs[0] = &c
			return s
		}(), []string{n.ID, web.ID, def.ID}, []string{"SGH-002 " + def.ID + " "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, err := pol.Admit(netmap.Tenant{Account: account, Region: "us-east-1"}, before, c.after, c.changed, admissionNow)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				var rules []string
				for _, r := range f.Rules {
					if !slices.ContainsFunc(before.Groups, func(g *model.Group) bool { return g.ID == f.Resource && ruleByID(g, false, r) != nil }) {
						r = "new" // the rule the write added: its ID is not the before snapshot's
					}
					rules = append(rules, r)
				}
				got = append(got, f.Check+" "+f.Resource+" "+strings.Join(rules, ","))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("new findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdmissionHook: a refusal is OperationNotPermitted naming the check, the group and the
// rule; an allowed write is nil.
func TestAdmissionHookMessage(t *testing.T) {
	w := newWorld(t)
	g := w.group("web")
	before := w.s
	after := edit(before, g.ID, func(c *model.Group) { w.add(c, tcp(22, cidr("0.0.0.0/0"))) })
	hook := (&AdmissionPolicy{Forbid: []string{"SGA-002"}, Config: DefaultConfig()}).Hook(func() time.Time { return admissionNow })
	tn := netmap.Tenant{Account: account, Region: "us-east-1"}
	err := hook(tn, before, after, []string{g.ID})
	var me *model.Error
	if !errors.As(err, &me) || me.Code != model.OperationNotPermitted.Name {
		t.Fatalf("refusal %v, want OperationNotPermitted", err)
	}
	for _, want := range []string{"The request would introduce audit finding SGA-002", "on " + g.ID, "admission policy forbids", "tcp 22 from 0.0.0.0/0"} {
		if !strings.Contains(me.Message, want) {
			t.Errorf("message %q lacks %q", me.Message, want)
		}
	}
	if err := hook(tn, before, before, []string{g.ID}); err != nil {
		t.Errorf("a write that introduces nothing: %v", err)
	}
}

// TestLoadAdmissionPolicy: forbid, exemptions and the audit configuration's keys in one file;
// every mistake is an error naming it.
func TestLoadAdmissionPolicy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "admission.yaml")
	write := func(body string) string {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pol, err := LoadAdmissionPolicy(write(`
forbid: [SGA-001, SGA-002, SGA-003, SGA-005]
adminPorts: [22, 3389, 5900]
exemptions:
  - tag: admission=exempt
    reason: bastion hosts, reviewed by security
  - resource: sg-0123456789abcdef0
    reason: lab
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint16{22, 3389, 5900}, pol.AdminPorts); diff != "" || pol.MaxRules != 50 || len(pol.Exemptions) != 2 {
		t.Errorf("policy %+v", pol)
	}
	for body, want := range map[string]string{
		"adminPorts: [22]":                                      "forbid",
		"forbid: [SGA-999]":                                     "SGA-999",
		"forbid: [SGH-009]":                                     "SGH-009",
		"forbid: [SGA-002]\nfrobid: [SGA-001]":                  "frobid",
		"forbid: [SGA-002]\nexemptions: [{tag: a=b}]":           "reason",
		"forbid: [SGA-002]\nexemptions: [{tag: ab, reason: r}]": "key=value",
		"forbid: [SGA-002]\nexemptions: [{reason: r}]":          "exactly one",
		"forbid: [SGA-002]\ndisabled: [SGA-999]":                "SGA-999",
	} {
		if _, err := LoadAdmissionPolicy(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", body, err, want)
		}
	}
}
