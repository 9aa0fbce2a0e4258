package audit

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// entry builds an ACL entry: "100 in allow 6 22-22 0.0.0.0/0", "90 out deny -1 - ::/0",
// "80 in allow 1 8:0 0.0.0.0/0" (ICMP type:code, -1 for any).
func entry(t *testing.T, s string) model.NACLEntry {
	t.Helper()
	f := strings.Fields(s)
	n, _ := strconv.Atoi(f[0])
	e := model.NACLEntry{RuleNumber: n, Egress: f[1] == "out", Allow: f[2] == "allow", Protocol: f[3], CIDR: netip.MustParsePrefix(f[5])}
	switch {
	case strings.Contains(f[4], ":"):
		ty, co, _ := strings.Cut(f[4], ":")
		a, _ := strconv.Atoi(ty)
		b, _ := strconv.Atoi(co)
		e.HasICMP, e.ICMPType, e.ICMPCode = true, int32(a), int32(b)
	case f[4] != "-":
		lo, hi, _ := strings.Cut(f[4], "-")
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		e.HasPorts, e.FromPort, e.ToPort = true, int32(a), int32(b)
	}
	return e
}

// naclNet is one VPC with subnet-1 on a custom ACL acl-1 (the entries given) and subnet-2 on
// the untouched default ACL acl-d; both tagged, so NACL-008 stays quiet unless asked.
func naclNet(t *testing.T, entries ...string) netmap.Snapshot {
	t.Helper()
	acl := &model.NACL{ID: "acl-1", VpcID: "vpc-1", Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-1"}}, Tags: model.Tags{"owner": "net"}}
	for _, s := range entries {
		acl.Entries = append(acl.Entries, entry(t, s))
	}
	def := &model.NACL{ID: "acl-d", VpcID: "vpc-1", Default: true, Assocs: []model.NACLAssoc{{ID: "aclassoc-2", SubnetID: "subnet-2"}}, Tags: model.Tags{"owner": "net"},
		Entries: []model.NACLEntry{entry(t, "100 in allow -1 - 0.0.0.0/0"), entry(t, "100 out allow -1 - 0.0.0.0/0")}}
	return netmap.Snapshot{
		VPCs: []*model.VPC{{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
		Subnets: []*model.Subnet{{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")},
			{ID: "subnet-2", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.2.0/24")}},
		NACLs: []*model.NACL{acl, def},
	}
}

// findings runs the audit and keeps the findings of checks with prefix on resource (all
// resources when "").
func findings(t *testing.T, s netmap.Snapshot, cfg Config, prefix, resource string) []Finding {
	t.Helper()
	r, err := Run(Input{Account: "111122223333", Region: "us-east-1", Snapshot: s}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fixLinesRunnable(t, r)
	var out []Finding
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Check, prefix) && (resource == "" || f.Resource == resource) {
			out = append(out, f)
		}
	}
	return out
}

type brief struct {
	Check    string
	Severity Severity
	Resource string
	Rules    string
}

func briefs(fs []Finding) []brief {
	out := []brief{}
	for _, f := range fs {
		out = append(out, brief{f.Check, f.Severity, f.Resource, strings.Join(f.Rules, " ")})
	}
	return out
}

// applyFix carries out the network-ACL commands of a fix on a snapshot, as EC2 would: a test
// that a fix clears its finding must not trust the fix's own reading of the state.
func applyFix(t *testing.T, s *netmap.Snapshot, cmd string) {
	t.Helper()
	args := map[string]string{}
	f := strings.Fields(cmd)
	for i := 3; i < len(f); i++ {
		k := strings.TrimPrefix(f[i], "--")
		if i+1 < len(f) && !strings.HasPrefix(f[i+1], "--") {
			args[k] = f[i+1]
			i++
		} else {
			args[k] = "true"
		}
	}
	find := func(id string) *model.NACL {
		for _, n := range s.NACLs {
			if n.ID == id {
				return n
			}
		}
		t.Fatalf("%s: no ACL %s", cmd, id)
		return nil
	}
	num, _ := strconv.Atoi(args["rule-number"])
	egress := args["egress"] == "true"
	switch f[2] {
	case "create-network-acl-entry":
		acl := find(args["network-acl-id"])
		if acl.Find(egress, num) >= 0 {
			t.Fatalf("%s: rule %d exists", cmd, num)
		}
		cidr := args["cidr-block"]
		if cidr == "" {
			cidr = args["ipv6-cidr-block"]
		}
		e := model.NACLEntry{RuleNumber: num, Egress: egress, Protocol: args["protocol"], Allow: args["rule-action"] == "allow", CIDR: netip.MustParsePrefix(cidr)}
		if pr := args["port-range"]; pr != "" {
			var lo, hi int32
			for _, kv := range strings.Split(pr, ",") {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.Atoi(v)
				if k == "From" {
					lo = int32(n)
				} else {
					hi = int32(n)
				}
			}
			e.HasPorts, e.FromPort, e.ToPort = true, lo, hi
		}
		acl.Entries = append(acl.Entries, e)
	case "delete-network-acl-entry":
		acl := find(args["network-acl-id"])
		i := acl.Find(egress, num)
		if i < 0 {
			t.Fatalf("%s: no rule %d", cmd, num)
		}
		acl.Entries = slices.Delete(acl.Entries, i, i+1)
	case "delete-network-acl":
		s.NACLs = slices.DeleteFunc(s.NACLs, func(n *model.NACL) bool { return n.ID == args["network-acl-id"] })
	case "replace-network-acl-association":
		to := find(args["network-acl-id"])
		for _, n := range s.NACLs {
			for i, as := range n.Assocs {
				if as.ID == args["association-id"] {
					n.Assocs = slices.Delete(n.Assocs, i, i+1)
					to.Assocs = append(to.Assocs, model.NACLAssoc{ID: as.ID + "-new", SubnetID: as.SubnetID})
					return
				}
			}
		}
		t.Fatalf("%s: no association", cmd)
	default:
		t.Fatalf("applyFix: %s", cmd)
	}
}

// TestNACLChecks: each check positive and negative, the defects of audit-checks §3 that
// concern ACLs (order, UDP, CIDR unions, IPv6 spelled out) among them; and the fix of every
// finding, carried out, clears it.
func TestNACLChecks(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		name    string
		entries []string
		check   string
		want    []brief
	}{
		{"ssh from the world", []string{"100 in allow 6 22-22 0.0.0.0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"a range containing 22", []string{"100 in allow 6 0-1024 0.0.0.0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"rdp over udp (Prowler ignores UDP)", []string{"100 in allow 17 3389-3389 0.0.0.0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"ssh from ::/0 spelled out", []string{"100 in allow 6 22-22 0:0:0:0:0:0:0:0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"half the internet, in order", []string{"90 in deny 6 22-22 0.0.0.0/1", "100 in allow -1 - 0.0.0.0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"denied by two halves first (Prowler misses this)", []string{"90 in deny -1 - 0.0.0.0/1", "91 in deny -1 - 128.0.0.0/1", "100 in allow 6 22-22 0.0.0.0/0"}, "NACL-001", []brief{}},
		{"allowed after a deny of 22 only: 3389 still open", []string{"50 in deny 6 22-22 0.0.0.0/0", "100 in allow 6 0-65535 0.0.0.0/0"}, "NACL-001",
			[]brief{{"NACL-001", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"private range only", []string{"100 in allow 6 22-22 10.0.0.0/8"}, "NACL-001", []brief{}},
		{"allow after a lower-numbered deny of everything", []string{"10 in deny -1 - 0.0.0.0/0", "100 in allow 6 22-22 0.0.0.0/0"}, "NACL-001", []brief{}},
		{"allow-all in a custom ACL", []string{"100 in allow -1 - 0.0.0.0/0"}, "NACL-002",
			[]brief{{"NACL-002", Medium, "acl-1", "acl-1/ingress/100"}}},
		{"allow-all behind a deny of all protocols", []string{"90 in deny -1 - 0.0.0.0/0", "100 in allow -1 - 0.0.0.0/0"}, "NACL-002", []brief{}},
		{"per-port allows only", []string{"100 in allow 6 443-443 0.0.0.0/0"}, "NACL-002", []brief{}},
		{"egress allow-all in a custom ACL", []string{"100 out allow -1 - 0.0.0.0/0"}, "NACL-003",
			[]brief{{"NACL-003", Low, "acl-1", "acl-1/egress/100"}}},
		{"egress allow-all after a deny", []string{"90 out deny 6 25-25 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0"}, "NACL-003", []brief{}},
		{"ingress allow-all is NACL-002's, not again NACL-003's", []string{"100 in allow -1 - 0.0.0.0/0"}, "NACL-003", []brief{}},
		{"replies denied", []string{"100 in allow 6 443-443 0.0.0.0/0"}, "NACL-006",
			[]brief{{"NACL-006", Low, "acl-1", "acl-1/ingress/100 acl-1/egress/*"}}},
		{"replies allowed", []string{"100 in allow 6 443-443 0.0.0.0/0", "100 out allow 6 1024-65535 0.0.0.0/0"}, "NACL-006", []brief{}},
		{"egress-initiated replies denied", []string{"100 out allow 6 443-443 0.0.0.0/0", "100 in allow 6 1024-65535 10.0.0.0/8"}, "NACL-006",
			[]brief{{"NACL-006", Low, "acl-1", "acl-1/egress/100 acl-1/ingress/*"}}},
		{"shadowed by a wider entry", []string{"100 in allow 6 0-65535 0.0.0.0/0", "110 in deny 6 22-22 0.0.0.0/0"}, "NACL-007",
			[]brief{{"NACL-007", Info, "acl-1", "acl-1/ingress/110"}}},
		{"shadowed by two halves", []string{"100 in deny 6 22-22 0.0.0.0/1", "101 in deny 6 22-22 128.0.0.0/1", "110 in allow 6 22-22 203.0.113.0/24"}, "NACL-007",
			[]brief{{"NACL-007", Info, "acl-1", "acl-1/ingress/110"}}},
		{"shadowed by adjacent port ranges", []string{"100 in allow 6 0-1000 0.0.0.0/0", "101 in deny 6 1001-65535 0.0.0.0/0", "110 in deny -1 - 0.0.0.0/0", "120 in allow 6 80-80 0.0.0.0/0"}, "NACL-007",
			[]brief{{"NACL-007", Info, "acl-1", "acl-1/ingress/120"}}},
		{"the implicit deny an export lists is never reported", []string{"100 in allow -1 - 0.0.0.0/0", "32767 in deny -1 - 0.0.0.0/0"}, "NACL-007", []brief{}},
		{"not shadowed: other protocols get through", []string{"100 in allow 6 0-65535 0.0.0.0/0", "110 in deny -1 - 0.0.0.0/0"}, "NACL-007", []brief{}},
		{"not shadowed: icmp type 3 not covered by type 8", []string{"100 in allow 1 8:-1 0.0.0.0/0", "110 in allow 1 -1:-1 0.0.0.0/0"}, "NACL-007", []brief{}},
		{"shadowed: icmp any after icmp any", []string{"100 in allow 1 -1:-1 0.0.0.0/0", "110 in deny 1 3:4 0.0.0.0/0"}, "NACL-007",
			[]brief{{"NACL-007", Info, "acl-1", "acl-1/ingress/110"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := naclNet(t, tc.entries...)
			got := findings(t, s, cfg, tc.check, "acl-1")
			if d := cmp.Diff(tc.want, briefs(got)); d != "" {
				t.Fatalf("findings (-want +got):\n%s\n%v", d, got)
			}
			for _, f := range got {
				if len(f.Fix) == 0 {
					t.Fatalf("%s has no fix", f.Check)
				}
				for _, c := range f.Fix {
					applyFix(t, &s, c)
				}
			}
			if left := findings(t, s, cfg, tc.check, "acl-1"); len(left) > 0 {
				t.Fatalf("after the fixes %v: %v", got, left)
			}
		})
	}
}

// TestNACLDefaultAndUnused: the untouched default ACL's allow-all is Info, a changed one's
// Medium; NACL-001 reports the default ACL too (named as such); an unassociated custom ACL is
// NACL-004; a subnet on the default ACL NACL-005, its fix moving it to the VPC's one custom ACL;
// NACL-008 follows the configured tag keys.
func TestNACLDefaultAndUnused(t *testing.T) {
	cfg := DefaultConfig()
	s := naclNet(t, "100 in allow 6 443-443 0.0.0.0/0", "100 out allow 6 1024-65535 0.0.0.0/0")
	got := briefs(findings(t, s, cfg, "NACL-00", "acl-d"))
	want := []brief{{"NACL-001", Medium, "acl-d", "acl-d/ingress/100"}, {"NACL-002", Info, "acl-d", "acl-d/ingress/100"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("default ACL (-want +got):\n%s", d)
	}
	if f := findings(t, s, cfg, "NACL-001", "acl-d"); !strings.Contains(f[0].Why, "default network ACL") {
		t.Fatalf("NACL-001 on the default ACL does not say so: %s", f[0].Why)
	}
	s.NACLs[1].Entries = append(s.NACLs[1].Entries, entry(t, "32767 in deny -1 - 0.0.0.0/0")) // as exports list it
	if f := findings(t, s, cfg, "NACL-002", "acl-d"); len(f) != 1 || f[0].Severity != Info {
		t.Fatalf("the untouched default ACL as exported: %v", briefs(f))
	}
	s.NACLs[1].Entries = append(s.NACLs[1].Entries, entry(t, "50 in deny 6 25-25 0.0.0.0/0"))
	if f := findings(t, s, cfg, "NACL-002", "acl-d"); len(f) != 1 || f[0].Severity != Medium {
		t.Fatalf("a changed default ACL's allow-all: %v", briefs(f))
	}

	sub := findings(t, s, cfg, "NACL-005", "")
	if d := cmp.Diff([]brief{{"NACL-005", Info, "subnet-2", "acl-d"}}, briefs(sub)); d != "" {
		t.Fatalf("NACL-005 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"aws ec2 replace-network-acl-association --association-id aclassoc-2 --network-acl-id acl-1"}, sub[0].Fix); d != "" {
		t.Fatalf("NACL-005 fix (-want +got):\n%s", d)
	}
	// With two custom ACLs the operator chooses: the fix holds a placeholder, quoted (findings
	// checks that every placeholder is).
	two := s
	two.NACLs = append(append([]*model.NACL{}, s.NACLs...), &model.NACL{ID: "acl-3", VpcID: "vpc-1", Tags: model.Tags{"owner": "x"}})
	if f := findings(t, two, cfg, "NACL-005", ""); len(f) != 1 ||
		f[0].Fix[0] != "aws ec2 replace-network-acl-association --association-id aclassoc-2 --network-acl-id '<reviewed-acl-id>'" {
		t.Fatalf("NACL-005 with two custom ACLs: %v", f)
	}
	applyFix(t, &s, sub[0].Fix[0])
	if f := findings(t, s, cfg, "NACL-005", ""); len(f) > 0 {
		t.Fatalf("NACL-005 after its fix: %v", briefs(f))
	}

	if f := findings(t, s, cfg, "NACL-004", ""); len(f) != 1 || f[0].Resource != "acl-d" && f[0].Resource != "acl-1" {
		// acl-d is default: never NACL-004, however unused.
		if len(f) != 0 {
			t.Fatalf("NACL-004 with every custom ACL in use: %v", briefs(f))
		}
	}
	s.NACLs = append(s.NACLs, &model.NACL{ID: "acl-2", VpcID: "vpc-1", Tags: model.Tags{"owner": "x"}})
	un := findings(t, s, cfg, "NACL-004", "")
	if d := cmp.Diff([]brief{{"NACL-004", Low, "acl-2", ""}}, briefs(un)); d != "" {
		t.Fatalf("NACL-004 (-want +got):\n%s", d)
	}
	applyFix(t, &s, un[0].Fix[0])
	if f := findings(t, s, cfg, "NACL-004", ""); len(f) > 0 {
		t.Fatalf("NACL-004 after its fix: %v", briefs(f))
	}

	if f := findings(t, s, cfg, "NACL-008", ""); len(f) > 0 {
		t.Fatalf("NACL-008 on tagged ACLs: %v", briefs(f))
	}
	s.NACLs[0].Tags = model.Tags{"aws:cloudformation:stack-name": "x"}
	if f := findings(t, s, cfg, "NACL-008", ""); len(f) != 1 || f[0].Resource != "acl-1" {
		t.Fatalf("NACL-008 with only system tags: %v", briefs(f))
	}
	cfg.RequiredTags = []string{"owner", "env"}
	tagged := findings(t, s, cfg, "NACL-008", "")
	if len(tagged) != 2 || tagged[1].Fix[0] != "aws ec2 create-tags --resources "+tagged[1].Resource+" --tags 'Key=env,Value=<env>'" {
		t.Fatalf("NACL-008 with required keys: %v", tagged)
	}
}

// TestNACLFixesDoNotCollide: on one ACL several findings' fixes create entries; run in report
// order, none takes a number another has taken, and all their findings go.
func TestNACLFixesDoNotCollide(t *testing.T) {
	s := naclNet(t, "100 in allow -1 - 0.0.0.0/0", "101 in allow -1 - ::/0", "100 out allow -1 - 0.0.0.0/0")
	cfg := DefaultConfig()
	got := findings(t, s, cfg, "NACL-00", "acl-1")
	if len(got) < 4 {
		t.Fatalf("findings: %v", briefs(got))
	}
	for _, f := range got {
		for _, c := range f.Fix {
			applyFix(t, &s, c)
		}
	}
	for _, c := range []string{"NACL-001", "NACL-002", "NACL-003"} {
		if left := findings(t, s, cfg, c, "acl-1"); len(left) > 0 {
			t.Fatalf("after every fix: %v", briefs(left))
		}
	}
}
