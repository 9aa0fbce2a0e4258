package audit

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// expNet is naclNet with a web interface (instance i-1) in subnet-1 carrying sg-web: SSH from
// 0.0.0.0/0, HTTPS from 0.0.0.0/0, 8100-8200 from ::/0. Without route tables every address
// outside the VPC counts as the internet (policy.Exposure).
func expNet(t *testing.T, entries ...string) netmap.Snapshot {
	s := naclNet(t, entries...)
	s.VPCs[0].IPv6CIDR = netip.MustParsePrefix("2600:1f18:1::/56")
	s.Subnets[0].IPv6CIDR = netip.MustParsePrefix("2600:1f18:1:1::/64")
	rule := func(id, proto string, from, to int32, cidr string) model.Rule {
		return model.Rule{ID: id, Protocol: proto, FromPort: from, ToPort: to, Peer: model.Peer{CIDR: netip.MustParsePrefix(cidr)}}
	}
	g := &model.Group{ID: "sg-web", VpcID: "vpc-1", Name: "web",
		Ingress: []model.Rule{rule("sgr-ssh", "tcp", 22, 22, "0.0.0.0/0"), rule("sgr-https", "tcp", 443, 443, "0.0.0.0/0"),
			rule("sgr-alt", "tcp", 8100, 8200, "::/0")},
		Egress: []model.Rule{rule("sgr-out", "-1", -1, -1, "0.0.0.0/0"), rule("sgr-out6", "-1", -1, -1, "::/0")}}
	s.Groups = []*model.Group{g}
	s.ENIs = []*model.NetworkInterface{{ID: "eni-web", VpcID: "vpc-1", SubnetID: "subnet-1", PrivateIP: netip.MustParseAddr("10.0.1.10"),
		IPv6: []netip.Addr{netip.MustParseAddr("2600:1f18:1:1::10")}, Groups: []string{"sg-web"},
		Attachment: &model.Attachment{ID: "eni-attach-1", InstanceID: "i-1"}}}
	return s
}

// revokeIn carries out revoke-security-group-ingress commands on the snapshot.
func revokeIn(t *testing.T, s *netmap.Snapshot, cmd string) {
	t.Helper()
	f := strings.Fields(cmd)
	if len(f) != 7 || f[2] != "revoke-security-group-ingress" || f[3] != "--group-id" || f[5] != "--security-group-rule-ids" {
		t.Fatalf("not a revoke: %s", cmd)
	}
	for _, g := range s.Groups {
		if g.ID == f[4] {
			n := len(g.Ingress)
			g.Ingress = slices.DeleteFunc(g.Ingress, func(r model.Rule) bool { return r.ID == f[6] })
			if len(g.Ingress) == n {
				t.Fatalf("%s: no rule", cmd)
			}
			return
		}
	}
	t.Fatalf("%s: no group", cmd)
}

// TestExposureChecks: EXP-001 names the sensitive port the internet reaches with the path as
// reach prints it, EXP-002 the non-authorized one (IPv6 too), the authorized 443 is neither;
// their fixes, run, clear them. A path whose replies an ACL drops is no exposure.
func TestExposureChecks(t *testing.T) {
	allowAll := []string{"100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0", "101 in allow -1 - ::/0", "101 out allow -1 - ::/0"}
	s := expNet(t, allowAll...)
	cfg := DefaultConfig()
	got := findings(t, s, cfg, "EXP-", "")
	want := []brief{{"EXP-001", Critical, "eni-web", "acl-1/ingress/100 sgr-ssh"}, {"EXP-002", High, "eni-web", "acl-1/ingress/101 sgr-alt"}}
	if d := cmp.Diff(want, briefs(got)); d != "" {
		t.Fatalf("findings (-want +got):\n%s", d)
	}
	for _, w := range []string{"eni-web (i-1) on tcp/22 over IPv4", "destination ingress allowed by: sg-web sgr-ssh", "REACHABLE"} {
		if !strings.Contains(got[0].Why, w) {
			t.Errorf("EXP-001 why lacks %q:\n%s", w, got[0].Why)
		}
	}
	if !strings.Contains(got[1].Why, "tcp/8100 over IPv6") {
		t.Errorf("EXP-002 why:\n%s", got[1].Why)
	}
	for _, f := range got {
		for _, c := range f.Fix {
			revokeIn(t, &s, c)
		}
	}
	if left := findings(t, s, cfg, "EXP-", ""); len(left) > 0 {
		t.Fatalf("after the fixes: %v", briefs(left))
	}

	// Replies to the internet denied by the ACL: the connection never completes.
	s = expNet(t, "100 in allow -1 - 0.0.0.0/0", "100 out allow 6 0-1023 0.0.0.0/0")
	if got := findings(t, s, cfg, "EXP-", ""); len(got) > 0 {
		t.Fatalf("exposure with replies denied: %v", briefs(got))
	}
}

// TestOpenRuleReachable: EXP-003's answer for the SG checks — the SSH rule is reachable until
// the subnet's ACL denies 22 ahead of its allow-all; then it is not, and says so.
func TestOpenRuleReachable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []string
		rule    int
		want    bool
	}{
		{"ssh open", []string{"100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0"}, 0, true},
		{"ssh denied by the ACL", []string{"90 in deny 6 22-22 0.0.0.0/0", "100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0"}, 0, false},
		{"https still open", []string{"90 in deny 6 22-22 0.0.0.0/0", "100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0"}, 1, true},
		{"ipv6 rule, ACL without IPv6 entries", []string{"100 in allow -1 - 0.0.0.0/0", "100 out allow -1 - 0.0.0.0/0"}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := expNet(t, tc.entries...)
			a := &Audit{In: Input{Snapshot: s}, Config: DefaultConfig(), members: map[string][]*model.NetworkInterface{"sg-web": s.ENIs}}
			r := &s.Groups[0].Ingress[tc.rule]
			why, ok := a.OpenRuleReachable("sg-web", r)
			if ok != tc.want {
				t.Fatalf("reachable %v, want %v: %s", ok, tc.want, why)
			}
			if !ok && !strings.Contains(why, "EXP-003") {
				t.Fatalf("why: %s", why)
			}
		})
	}
	if Lower(Critical) != High || Lower(Info) != Info {
		t.Fatal("Lower")
	}
}

// TestFirstCommonIsTheIntersectionsFirst: the walk over two sets' ranges finds the first
// address of their intersection, as building it does, on random sets of both families.
func TestFirstCommonIsTheIntersectionsFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	randomSet := func() *netipx.IPSet {
		var b netipx.IPSetBuilder
		for range r.IntN(6) {
			if r.IntN(4) == 0 {
				b.AddPrefix(netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, byte(r.IntN(4)), 15: byte(r.IntN(256))}), 8+r.IntN(120)).Masked())
				continue
			}
			b.AddPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, 0}), r.IntN(25)).Masked())
		}
		s, _ := b.IPSet()
		return s
	}
	sets := []*netipx.IPSet{internet4, internet6}
	for range 2000 {
		sets = append(sets, randomSet())
	}
	for i := 2; i < len(sets); i++ {
		x, y := sets[i], sets[r.IntN(len(sets))]
		var b netipx.IPSetBuilder
		b.AddSet(x)
		b.Intersect(y)
		both, _ := b.IPSet()
		var want netip.Addr
		if rs := both.Ranges(); len(rs) > 0 {
			want = rs[0].From()
		}
		got, ok := firstCommon(x.Ranges(), y.Ranges())
		if got != want || ok != want.IsValid() {
			t.Fatalf("firstCommon(%v, %v) = %v, %v; the intersection starts at %v", x.Prefixes(), y.Prefixes(), got, ok, want)
		}
	}
}

// TestStretches: EXP-002's probes are the first port of each stretch of a grant's range
// without a skipped port, as walking the range port by port finds them.
func TestStretches(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		var skip []int
		for range rnd.IntN(8) {
			skip = append(skip, rnd.IntN(40))
		}
		skip = append(skip, 0)
		slices.Sort(skip)
		skip = slices.Compact(skip)
		from := rnd.IntN(40)
		to := from - 1 + rnd.IntN(40)
		var want []uint16
		in := false
		for p := from; p <= to; p++ {
			if slices.Contains(skip, p) {
				in = false
				continue
			}
			if !in {
				want = append(want, uint16(p))
				in = true
			}
		}
		if got := stretches(from, to, skip); !slices.Equal(got, want) {
			t.Fatalf("stretches(%d, %d, %v) = %v, want %v", from, to, skip, got, want)
		}
	}
}

// TestRangesOfRemembersPerSet: the exposures read a grant's ranges once per audit and set,
// and each set gets its own.
func TestRangesOfRemembersPerSet(t *testing.T) {
	var sets []*netipx.IPSet
	for _, ps := range [][]string{{"0.0.0.0/0"}, {"0.0.0.0/1", "::/0"}, {"198.51.100.0/24", "203.0.113.7/32"}} {
		var b netipx.IPSetBuilder
		for _, p := range ps {
			b.AddPrefix(netip.MustParsePrefix(p))
		}
		s, err := b.IPSet()
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
	}
	a := &Audit{}
	for round := range 2 {
		for i, s := range sets {
			if d := cmp.Diff(s.Ranges(), a.rangesOf(s), cmp.Comparer(func(x, y netipx.IPRange) bool { return x == y })); d != "" {
				t.Fatalf("round %d, set %d (-Ranges +rangesOf):\n%s", round, i, d)
			}
		}
	}
	if len(a.setRanges) != len(sets) {
		t.Fatalf("%d sets remembered, want %d", len(a.setRanges), len(sets))
	}
}
