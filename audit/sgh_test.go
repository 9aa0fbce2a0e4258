package audit

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// defaultGroup adds the VPC's default group with rules.
func defaultGroup(w *world, rules ...model.Rule) *model.Group {
	g := w.group(model.DefaultGroupName, rules...)
	g.Default, g.Description = true, model.DefaultGroupDescription
	return g
}

func TestSGEChecks(t *testing.T) {
	runCases(t, []checkCase{
		{"SGE-001", "AWS's default egress rule", func(w *world) string { return attached(w, awsEgress) }, nil, true},
		{"SGE-001", "all tcp to ::/0", func(w *world) string { return attached(w, out("tcp", 0, 65535, cidr("::/0"))) }, nil, true},
		{"SGE-001", "egress halves union to /0", func(w *world) string {
			return attached(w, out("-1", -1, -1, cidr("0.0.0.0/1")), out("-1", -1, -1, cidr("128.0.0.0/1")))
		}, nil, true},
		{"SGE-001", "https only", func(w *world) string { return attached(w, out("tcp", 443, 443, cidr("0.0.0.0/0"))) }, nil, false},
		{"SGE-002", "egress to a /12", func(w *world) string { return attached(w, out("tcp", 443, 443, cidr("52.0.0.0/12"))) }, nil, true},
		{"SGE-002", "egress to a /28", func(w *world) string { return attached(w, out("tcp", 443, 443, cidr("52.0.0.0/28"))) }, nil, false},
	})
}

func TestSGHChecks(t *testing.T) {
	runCases(t, []checkCase{
		{"SGH-001", "default group with AWS's rules", func(w *world) string {
			g := defaultGroup(w, all(ref("self")), awsEgress)
			return g.ID
		}, nil, true},
		{"SGH-001", "empty default group", func(w *world) string { return defaultGroup(w).ID }, nil, false},

		{"SGH-002", "interfaces on the default group", func(w *world) string {
			d := defaultGroup(w)
			w.eni(0, "10.0.1.5", d)
			w.eni(0, "10.0.1.6", d, w.group("web"))
			return d.ID
		}, nil, true},
		{"SGH-002", "nobody on the default group", func(w *world) string {
			d := defaultGroup(w)
			w.eni(0, "10.0.1.5", w.group("web"))
			return d.ID
		}, nil, false},

		{"SGH-003", "a group nothing uses", func(w *world) string { return w.group("old", tcp(443, cidr("10.0.0.0/16"))).ID }, nil, true},
		{"SGH-003", "a group another group names", func(w *world) string {
			g := w.group("old")
			attached(w, tcp(443, ref(g.ID)))
			return g.ID
		}, nil, false},
		{"SGH-003", "a group a launch template names", func(w *world) string {
			g := w.group("asg")
			w.versions = append(w.versions, &model.LaunchTemplateVersion{TemplateID: "lt-1", Number: 2,
				Data: model.LaunchTemplateData{Interfaces: []model.LaunchTemplateENI{{Groups: []string{g.ID}}}}})
			return g.ID
		}, nil, false},
		{"SGH-003", "a group carried by an interface", func(w *world) string { return attached(w) }, nil, false},

		{"SGH-004", "launch-wizard-1 with members and references", func(w *world) string {
			g := w.group("launch-wizard-1", tcp(22, cidr("81.2.69.160/32")), all(ref("self")))
			w.eni(0, "10.0.1.5", g, w.group("web"))
			w.group("db", tcp(5432, ref(g.ID)))
			return g.ID
		}, nil, true},
		{"SGH-004", "launch-wizard without AWS's egress", func(w *world) string {
			return w.group("launch-wizard-2", tcp(22, cidr("81.2.69.160/32")), out("tcp", 443, 443, cidr("0.0.0.0/0"))).ID
		}, nil, true},
		{"SGH-004", "a named group", func(w *world) string { return w.group("web-launch-wizard").ID }, nil, false},

		{"SGH-005", "51 egress rules", func(w *world) string {
			g := w.group("many")
			for i := range 51 {
				w.add(g, out("tcp", 443, 443, cidr(fmt.Sprintf("81.2.%d.0/24", i))))
			}
			return g.ID
		}, nil, true},
		{"SGH-005", "a configured threshold", func(w *world) string {
			return w.group("few", tcp(1, cidr("10.0.0.0/16")), tcp(2, cidr("10.0.0.0/16"))).ID
		}, func(c *Config) { c.MaxRules = 1 }, true},

		{"SGH-006", "rules without descriptions", func(w *world) string {
			g := w.group("web")
			w.add(g, tcp(443, cidr("0.0.0.0/0"))).Description = " "
			w.add(g, out("tcp", 5432, 5432, cidr("10.0.2.0/24"))).Description = ""
			g.Egress[0].Description = ""
			return g.ID
		}, nil, true},
		{"SGH-006", "the wizard's description", func(w *world) string {
			g := w.group("x")
			g.Description = "launch-wizard-3 created 2026-11-30T10:00:00.000Z"
			return g.ID
		}, nil, true},
		{"SGH-006", "everything described", func(w *world) string { return w.group("web", tcp(443, cidr("0.0.0.0/0"))).ID }, nil, false},

		{"SGH-007", "no tags at all", func(w *world) string {
			g := w.group("web")
			g.Tags = model.Tags{"aws:cloudformation:stack-name": "x"}
			return g.ID
		}, nil, true},
		{"SGH-007", "a required tag missing", func(w *world) string { return w.group("web").ID },
			func(c *Config) { c.RequiredTags = []string{"owner", "env"} }, true},
		{"SGH-007", "required tags present", func(w *world) string { return w.group("web").ID },
			func(c *Config) { c.RequiredTags = []string{"owner"} }, false},

		{"SGH-008", "a name outside the convention", func(w *world) string { return w.group("Web_Servers").ID },
			func(c *Config) { c.NameRegex = &Regexp{regexp.MustCompile(`^[a-z]+-(web|db)$`)} }, true},
		{"SGH-008", "a conforming name", func(w *world) string { return w.group("shop-web").ID },
			func(c *Config) { c.NameRegex = &Regexp{regexp.MustCompile(`^[a-z]+-(web|db)$`)} }, false},
		{"SGH-008", "no convention", func(w *world) string { return w.group("Web_Servers").ID }, nil, false},

		{"SGH-009", "more groups than the warning threshold", func(w *world) string {
			for i := range 4 {
				w.group(fmt.Sprint("g", i))
			}
			return w.vpc.ID
		}, func(c *Config) { c.SprawlWarn, c.SprawlHigh = 3, 10 }, true},
		{"SGH-009", "under the threshold", func(w *world) string { w.group("g"); return w.vpc.ID }, nil, false},

		{"SGH-010", "a copy of another group", func(w *world) string {
			a := w.group("a", tcp(443, cidr("10.0.0.0/16")), all(ref("self")))
			b := w.group("b", tcp(443, cidr("10.0.0.0/16")), all(ref("self")))
			w.eni(0, "10.0.1.5", a)
			w.eni(0, "10.0.1.6", b)
			w.eni(0, "10.0.1.7", a, b)
			return b.ID
		}, nil, true},
		{"SGH-010", "a copy with its rules in another order", func(w *world) string {
			w.group("a", tcp(443, cidr("10.0.0.0/16")), tcp(22, cidr("10.0.9.0/24")), all(ref("self")))
			return w.group("b", all(ref("self")), tcp(22, cidr("10.0.9.0/24")), tcp(443, cidr("10.0.0.0/16"))).ID
		}, nil, true},
		{"SGH-010", "one group per instance", func(w *world) string {
			for i := range 6 {
				w.eni(0, fmt.Sprintf("10.0.1.%d", 10+i), w.group(fmt.Sprint("i", i), tcp(int32(1000+i), cidr("10.0.0.0/16"))))
			}
			return w.vpc.ID
		}, nil, true},
		{"SGH-010", "different rules", func(w *world) string {
			w.group("a", tcp(443, cidr("10.0.0.0/16")))
			return w.group("b", tcp(80, cidr("10.0.0.0/16"))).ID
		}, nil, false},

		{"SGH-011", "one group across three subnets", func(w *world) string {
			g := w.group("everything")
			for i := range 3 {
				w.eni(i, fmt.Sprintf("10.0.%d.5", i+1), g)
			}
			w.eni(0, "10.0.1.6", w.group("other"))
			return g.ID
		}, nil, true},
		{"SGH-011", "one group in one subnet among many", func(w *world) string {
			g := w.group("web")
			w.eni(0, "10.0.1.5", g)
			for i := range 4 {
				w.eni(1, fmt.Sprintf("10.0.2.%d", 5+i), w.group(fmt.Sprint("o", i)))
			}
			return g.ID
		}, nil, false},

		{"SGH-012", "a port inside a range of the same peer", func(w *world) string {
			return attached(w, in("tcp", 8000, 8100, cidr("10.0.0.0/16")), tcp(8080, cidr("10.0.1.0/24")))
		}, nil, true},
		{"SGH-012", "a rule inside a prefix list's entries", func(w *world) string {
			pl := w.prefixList("10.0.0.0/16")
			return attached(w, tcp(443, model.Peer{PrefixListID: pl.ID}), tcp(443, cidr("10.0.1.0/24")))
		}, nil, true},
		{"SGH-012", "anything under protocol -1", func(w *world) string {
			return attached(w, all(cidr("10.0.0.0/16")), in("icmp", 8, -1, cidr("10.0.0.0/16")))
		}, nil, true},
		{"SGH-012", "covered by another group on every member", func(w *world) string {
			base := w.group("base", tcp(443, cidr("10.0.0.0/16")))
			g := w.group("web", tcp(443, cidr("10.0.1.0/24")))
			w.eni(0, "10.0.1.5", g, base)
			w.eni(0, "10.0.1.6", base, g)
			return g.ID
		}, nil, true},
		{"SGH-012", "covered elsewhere on one member only", func(w *world) string {
			base := w.group("base", tcp(443, cidr("10.0.0.0/16")))
			g := w.group("web", tcp(443, cidr("10.0.1.0/24")))
			w.eni(0, "10.0.1.5", g, base)
			w.eni(0, "10.0.1.6", g)
			return g.ID
		}, nil, false},
		{"SGH-012", "overlapping but neither inside the other", func(w *world) string {
			return attached(w, in("tcp", 8000, 8100, cidr("10.0.0.0/16")), in("tcp", 8050, 8200, cidr("10.0.0.0/16")))
		}, nil, false},
		{"SGH-012", "same ports, other protocol", func(w *world) string {
			return attached(w, in("tcp", 53, 53, cidr("10.0.0.0/16")), in("udp", 53, 53, cidr("10.0.0.0/16")))
		}, nil, false},

		{"SGH-013", "a reference to a deleted group", func(w *world) string { return attached(w, tcp(5432, ref("sg-0dead"))) }, nil, true},
		{"SGH-013", "a reference to another account's group", func(w *world) string {
			return attached(w, tcp(5432, model.Peer{GroupID: "sg-0other", UserID: "444455556666"}))
		}, nil, false},
		{"SGH-013", "a reference to a live group", func(w *world) string { return attached(w, tcp(5432, ref(w.group("app").ID))) }, nil, false},
	})
}

// TestRedundantKeepsOneOfEqualRules: of two equal rules (an offline snapshot can hold them)
// only the later is redundant; of equal rules in two groups that always go together, only
// the one of the higher group ID; so revoking every finding's rule keeps the access.
func TestRedundantKeepsOneOfEqualRules(t *testing.T) {
	w := newWorld(t)
	g := w.group("web", tcp(443, cidr("10.0.0.0/16")), tcp(443, cidr("10.0.0.0/16")))
	h := w.group("twin", tcp(443, cidr("10.0.0.0/16")))
	w.eni(0, "10.0.1.5", g, h)
	r := w.audit(DefaultConfig())
	var got []string
	for _, f := range r.Findings {
		if f.Check == "SGH-012" {
			got = append(got, f.Rules...)
		}
	}
	if diff := cmp.Diff([]string{g.Ingress[1].ID, h.Ingress[0].ID}, got); diff != "" {
		t.Errorf("redundant rules (-want +got):\n%s", diff)
	}
}

// TestUnusedNeedsLaunchTemplates: without the launch templates SGH-003 cannot tell a group a
// template names from an unused one, and says so instead of guessing.
func TestUnusedNeedsLaunchTemplates(t *testing.T) {
	w := newWorld(t)
	w.group("old")
	in := w.input()
	in.LaunchTemplates = nil
	r, err := Run(in, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped["SGH-003"] == "" {
		t.Errorf("SGH-003 ran without launch templates: %+v", r.Skipped)
	}
}

// TestSGCatalogue: every SGA, SGE and SGH check of audit-checks §2.1 is registered, once.
func TestSGCatalogue(t *testing.T) {
	var want []string
	for fam, n := range map[string]int{"SGA": 15, "SGE": 2, "SGH": 13} {
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf("%s-%03d", fam, i))
		}
	}
	got := map[string]int{}
	for _, c := range Catalogue() {
		got[c.ID]++
		if c.Title == "" || c.Run == nil {
			t.Errorf("%s: no title or no Run", c.ID)
		}
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("%s registered %d times", id, got[id])
		}
	}
}

// TestRuleSetKeyIsTheSortedIdentities: SGH-010's key of a group is its rules' identities (a
// reference to the group itself as "self"), one a line, sorted — checked against building it
// field by field on generated groups and on groups referencing themselves, in both directions.
func TestRuleSetKeyIsTheSortedIdentities(t *testing.T) {
	s := genNet(11, 3, 60, 20, 10)
	self := *s.Groups[0]
	self.Egress = append(slices.Clone(self.Egress), model.Rule{ID: "sgr-self", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1,
		Peer: model.Peer{GroupID: self.ID}}, model.Rule{ID: "sgr-v6", Egress: true, Protocol: "udp", FromPort: 53, ToPort: 53,
		Peer: model.Peer{CIDR: netip.MustParsePrefix("2001:db8::/32")}})
	for _, g := range append(s.Groups, &self) {
		var ks []string
		for _, egress := range []bool{false, true} {
			for _, r := range g.Rules(egress) {
				id := r.Identity()
				if r.Peer.GroupID == g.ID {
					id.Peer = "self"
				}
				ks = append(ks, fmt.Sprint(id.Egress, " ", id.Protocol, " ", id.FromPort, " ", id.ToPort, " ", id.Peer))
			}
		}
		slices.Sort(ks)
		if diff := cmp.Diff(strings.Join(ks, "\n"), ruleSetKey(g)); diff != "" {
			t.Fatalf("%s (-fields +ruleSetKey):\n%s", g.ID, diff)
		}
	}
}

// TestRuleSetHashFollowsTheKey: SGH-010 builds the rule-set key only of groups whose
// ruleSetHash another group shares, so groups with equal keys — their rules in any order,
// self references included — must have equal hashes, and different keys (in practice)
// different ones.
func TestRuleSetHashFollowsTheKey(t *testing.T) {
	s := genNet(12, 3, 90, 20, 10)
	rnd := rand.New(rand.NewPCG(12, 12))
	groups := slices.Clone(s.Groups)
	for _, g := range s.Groups[:30] {
		c := *g
		c.ID = g.ID + "-copy"
		c.Ingress = slices.Clone(g.Ingress)
		rnd.Shuffle(len(c.Ingress), func(i, j int) { c.Ingress[i], c.Ingress[j] = c.Ingress[j], c.Ingress[i] })
		for i := range c.Ingress {
			if c.Ingress[i].Peer.GroupID == g.ID {
				c.Ingress[i].Peer.GroupID = c.ID // its own reference: "self" in both
			}
		}
		groups = append(groups, &c)
	}
	byKey := map[string]uint64{}
	hashes := map[uint64]string{}
	for _, g := range groups {
		k, h := ruleSetKey(g), ruleSetHash(g)
		if prev, ok := byKey[k]; ok && prev != h {
			t.Fatalf("%s: the same rules as a group before it, another hash", g.ID)
		}
		byKey[k] = h
		if prev, ok := hashes[h]; ok && prev != k {
			t.Fatalf("%s: the hash of another rule set", g.ID)
		}
		hashes[h] = k
	}
	if len(byKey) < 90 {
		t.Fatalf("%d rule sets among 90 generated groups and their copies", len(byKey))
	}
}

// TestSGH006Finding: the rules without a description are the finding's rules, counted by
// direction in why, and each direction's fix names its rules with the placeholder.
func TestSGH006Finding(t *testing.T) {
	w := newWorld(t)
	g := w.group("web", tcp(443, cidr("0.0.0.0/0")), tcp(80, cidr("0.0.0.0/0")), tcp(22, cidr("10.0.0.0/8")))
	g.Ingress[0].Description, g.Ingress[2].Description = "", " "
	e := w.add(g, out("tcp", 5432, 5432, cidr("10.0.2.0/24")))
	e.Description = ""
	fs := of(w.audit(DefaultConfig()), "SGH-006", g.ID)
	if len(fs) != 1 {
		t.Fatalf("SGH-006 findings on %s: %+v", g.ID, fs)
	}
	want := Finding{Rules: []string{g.Ingress[0].ID, g.Ingress[2].ID, e.ID},
		Why: fmt.Sprintf("Group %s: 2 ingress rules have no description; 1 egress rule has no description.", g.ID),
		Fix: []string{
			fmt.Sprintf("aws ec2 update-security-group-rule-descriptions-ingress --group-id %s --security-group-rule-descriptions "+
				"'SecurityGroupRuleId=%s,Description=<why: ticket and owner>' 'SecurityGroupRuleId=%s,Description=<why: ticket and owner>'",
				g.ID, g.Ingress[0].ID, g.Ingress[2].ID),
			fmt.Sprintf("aws ec2 update-security-group-rule-descriptions-egress --group-id %s --security-group-rule-descriptions "+
				"'SecurityGroupRuleId=%s,Description=<why: ticket and owner>'", g.ID, e.ID),
		}}
	got := Finding{Rules: fs[0].Rules, Why: fs[0].Why, Fix: fs[0].Fix}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SGH-006 (-want +got):\n%s", diff)
	}
}

// TestWholeFindingsStayOpen: SGH-001 and SGH-006 are about their group as a whole. A rule
// added without a description changes the findings' rules, not which findings they are: an
// incremental audit neither opens nor closes one, and its report has the new rules. A check
// whose findings are its rules' (SGA-002) opens a finding for the new rule.
func TestWholeFindingsStayOpen(t *testing.T) {
	w := newWorld(t)
	def := w.group("default", tcp(443, cidr("10.0.0.0/8")))
	def.Default = true
	g := w.group("web", tcp(80, cidr("10.0.0.0/8")))
	g.Ingress[0].Description = ""
	x, _, err := NewIncremental(w.input(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ check, group string }{{"SGH-001", def.ID}, {"SGH-006", g.ID}} {
		if fs := of(x.Report(), c.check, c.group); len(fs) != 1 {
			t.Fatalf("%s on %s before: %+v", c.check, c.group, fs)
		}
	}

	for _, id := range []string{def.ID, g.ID} {
		r := w.add(w.mutable(id), tcp(22, cidr("0.0.0.0/0")))
		r.Description = ""
	}
	d, err := x.Update(w.input())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range slices.Concat(d.Opened, d.Closed) {
		// (The default group's first undescribed rule opens its SGH-006, rightly.)
		if f.Check == "SGH-001" || (f.Check == "SGH-006" && f.Resource == g.ID) {
			t.Errorf("the new rule opened or closed %s on %s", f.Check, f.Resource)
		}
	}
	if !slices.ContainsFunc(d.Opened, func(f Finding) bool { return f.Check == "SGA-002" && f.Resource == g.ID }) {
		t.Errorf("SSH from the internet on %s opened no SGA-002: %+v", g.ID, d.Opened)
	}
	for _, c := range []struct {
		check string
		group *model.Group
		rules int
	}{{"SGH-001", w.findGroup(def.ID), 2}, {"SGH-006", w.findGroup(g.ID), 2}} {
		fs := of(x.Report(), c.check, c.group.ID)
		if len(fs) != 1 || len(fs[0].Rules) != c.rules || !slices.Contains(fs[0].Rules, c.group.Ingress[1].ID) {
			t.Errorf("%s on %s after: %+v, want one finding naming %d rules, the new one among them", c.check, c.group.ID, fs, c.rules)
		}
	}
}
