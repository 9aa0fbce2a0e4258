package audit

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// mutate makes one random change to s (copy on write, as the server's snapshots are: a
// changed object is a new one, the others are shared) and says what it did.
func mutate(rnd *rand.Rand, s *netmap.Snapshot, in *Input, n *int) string {
	*n++
	s.Groups = slices.Clone(s.Groups)
	pick := func() (int, *model.Group) {
		i := rnd.IntN(len(s.Groups))
		g := *s.Groups[i]
		g.Ingress, g.Egress, g.Tags = slices.Clone(g.Ingress), slices.Clone(g.Egress), g.Tags.Clone()
		s.Groups[i] = &g
		return i, &g
	}
	switch x := rnd.IntN(100); {
	case x < 30:
		_, g := pick()
		r := genRule(rnd, fmt.Sprintf("sgr-new%08x", *n), 0, len(s.Groups)+2)
		if rnd.IntN(3) == 0 {
			r.Peer = model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}
		}
		g.Ingress = append(g.Ingress, r)
		return "authorize " + g.ID + " " + ruleText(&r)
	case x < 50:
		_, g := pick()
		if len(g.Ingress) == 0 {
			return "nothing to revoke on " + g.ID
		}
		j := rnd.IntN(len(g.Ingress))
		g.Ingress = slices.Delete(g.Ingress, j, j+1)
		return "revoke a rule of " + g.ID
	case x < 55:
		_, g := pick()
		g.Egress = nil
		return "revoke egress of " + g.ID
	case x < 60:
		_, g := pick()
		g.Name = fmt.Sprintf("launch-wizard-%d", *n)
		return "rename " + g.ID
	case x < 65:
		_, g := pick()
		g.Tags = nil
		g.Description = ""
		return "untag " + g.ID
	case x < 72:
		v := s.VPCs[rnd.IntN(len(s.VPCs))]
		g := &model.Group{ID: fmt.Sprintf("sg-new%08x", *n), Name: "new", Description: "new", VpcID: v.ID, OwnerID: account}
		g.Ingress = []model.Rule{genRule(rnd, fmt.Sprintf("sgr-n%08x", *n), 0, len(s.Groups))}
		s.Groups = append(s.Groups, g)
		return "create " + g.ID
	case x < 78:
		i := rnd.IntN(len(s.Groups))
		id := s.Groups[i].ID
		for _, e := range s.ENIs {
			if slices.Contains(e.Groups, id) {
				return "cannot delete " + id + ": in use"
			}
		}
		s.Groups = slices.Delete(s.Groups, i, i+1)
		return "delete " + id
	case x < 84: // topology: an interface changes its groups
		s.ENIs = slices.Clone(s.ENIs)
		i := rnd.IntN(len(s.ENIs))
		e := *s.ENIs[i]
		g := s.Groups[rnd.IntN(len(s.Groups))]
		if g.VpcID != e.VpcID {
			return "no group of the interface's VPC picked"
		}
		e.Groups = []string{g.ID}
		s.ENIs[i] = &e
		return "modify " + e.ID + " groups " + g.ID
	case x < 88: // topology: a public address
		s.ENIs = slices.Clone(s.ENIs)
		i := rnd.IntN(len(s.ENIs))
		e := *s.ENIs[i]
		e.PublicIP = netip.AddrFrom4([4]byte{198, 18, 200, byte(*n)})
		s.ENIs[i] = &e
		return "public address on " + e.ID
	case x < 90:
		in.AlertPatterns = append(slices.Clone(in.AlertPatterns), json.RawMessage(`{"source":["aws.ec2"]}`))
		return "alert rule"
	case x < 93: // topology: a prefix list's entries union to the internet
		pl := *s.PrefixLists[0]
		pl.Entries = []model.PLEntry{{CIDR: netip.MustParsePrefix("0.0.0.0/1")}, {CIDR: netip.MustParsePrefix("128.0.0.0/1")}}
		if rnd.IntN(2) == 0 {
			pl.Entries = []model.PLEntry{{CIDR: netip.MustParsePrefix("198.51.100.0/24")}}
		}
		s.PrefixLists = []*model.PrefixList{&pl}
		return "prefix list entries"
	case x < 95: // topology: an ACL denies SSH ahead of its allow-all
		s.NACLs = slices.Clone(s.NACLs)
		i := rnd.IntN(len(s.NACLs))
		acl := *s.NACLs[i]
		acl.Entries = append([]model.NACLEntry{{RuleNumber: 50, Protocol: model.ProtoTCP, CIDR: netip.MustParsePrefix("0.0.0.0/0"),
			HasPorts: true, FromPort: 22, ToPort: 22}}, acl.Entries...)
		s.NACLs[i] = &acl
		return "ACL denies SSH: " + acl.ID
	default:
		in.Now = in.Now.Add(time.Duration(rnd.IntN(90)) * time.Minute)
		return "time passes"
	}
}

// TestIncrementalMatchesFull: after each change of random sequences — rules authorized and
// revoked, groups created, deleted, renamed, untagged, interfaces regrouped or made public,
// prefix lists and ACLs changed, alert rules added, time passing — the incremental audit's
// report is the full audit's, and its delta is what opens and closes between the full ones.
func TestIncrementalMatchesFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Suppressions = []Suppression{{Check: "SGH-006", Reason: "test", Expires: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)}}
	for seed := range uint64(6) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		s := genNet(seed, 3, 24, 4, 30)
		in := knownInput(s)
		x, delta, err := NewIncremental(in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Run(in, cfg)
		if d := cmp.Diff(want, x.Report()); d != "" {
			t.Fatalf("seed %d: first audit differs from Run (-full +incremental):\n%s", seed, d)
		}
		if len(delta.Closed) != 0 || len(delta.Opened) != len(want.Findings)+len(want.Suppressed) {
			t.Fatalf("seed %d: first delta opens %d and closes %d, want %d and none", seed, len(delta.Opened), len(delta.Closed), len(want.Findings)+len(want.Suppressed))
		}
		prev := want
		n := 0
		var log []string
		for step := range 60 {
			log = append(log, mutate(rnd, &s, &in, &n))
			in.Snapshot = s
			delta, err := x.Update(in)
			if err != nil {
				t.Fatal(err)
			}
			prev = matchesFull(t, x, in, cfg, prev, delta, fmt.Sprintf("seed %d, step %d, after %q", seed, step, log))
		}
	}
}

// knownInput is an input of s with everything the checks may need known (none of it there).
func knownInput(s netmap.Snapshot) Input {
	return Input{Account: account, Region: "us-east-1", Snapshot: s, AlertPatterns: []json.RawMessage{},
		Changes: []RuleChange{}, LaunchTemplates: []*model.LaunchTemplate{}, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

// matchesFull fails the test unless x's report is the full audit's of in and delta is what
// opens and closes from prev (the full report before) to it, which it returns.
func matchesFull(t *testing.T, x *Incremental, in Input, cfg Config, prev *Report, delta Delta, when string) *Report {
	t.Helper()
	want, err := Run(in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, x.Report()); d != "" {
		t.Fatalf("%s:\n(-full +incremental):\n%s", when, d)
	}
	if d := cmp.Diff(keyDiff(prev, want), keyDiff2(delta)); d != "" {
		t.Fatalf("%s: delta (-full +incremental):\n%s", when, d)
	}
	if kept := memories(x.a); len(kept) > 0 {
		t.Fatalf("%s: the audit kept its memories %v until the next one (forget)", when, kept)
	}
	return want
}

// memories names what a holds that forget drops.
func memories(a *Audit) []string {
	var out []string
	for name, kept := range map[string]bool{"memo": a.memo != nil, "setPrefixes": a.setPrefixes != nil, "setRanges": a.setRanges != nil,
		"enis": a.enis != nil, "naclTaken": a.naclTaken != nil, "referencedIDs": a.referencedIDs != nil, "exp": a.exp != nil,
		"cidrs": a.cidrs[0].made || a.cidrs[1].made} {
		if kept {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// keyDiff is what opens and closes from one full report to the next, by key.
func keyDiff(before, after *Report) [2][]string {
	keys := func(r *Report) map[string]bool {
		m := map[string]bool{}
		for _, f := range slices.Concat(r.Findings, r.Suppressed) {
			m[f.Key()] = true
		}
		return m
	}
	b, a := keys(before), keys(after)
	var out [2][]string
	for k := range a {
		if !b[k] {
			out[0] = append(out[0], k)
		}
	}
	for k := range b {
		if !a[k] {
			out[1] = append(out[1], k)
		}
	}
	slices.Sort(out[0])
	slices.Sort(out[1])
	return out
}

func keyDiff2(d Delta) [2][]string {
	var out [2][]string
	for _, f := range d.Opened {
		out[0] = append(out[0], f.Key())
	}
	for _, f := range d.Closed {
		out[1] = append(out[1], f.Key())
	}
	slices.Sort(out[0])
	slices.Sort(out[1])
	return out
}

// TestEveryCheckClassified: every check of the catalogue has its dependency rule (a class or
// what it reads): a new check must say what it depends on, or the continuous audit re-runs it
// every time.
func TestEveryCheckClassified(t *testing.T) {
	for _, c := range Catalogue() {
		_, other := otherReads[c.ID]
		if !other && !classified(c.ID) {
			t.Errorf("%s has no dependency rule in incremental.go", c.ID)
		}
	}
	if !rerunOther("XYZ-001", 0) {
		t.Error("a check without a rule is not re-run")
	}
}
