package audit

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// randomRule is a rule of every shape SGH-012 compares: TCP and UDP single ports, ranges
// (every port as 0-65535 and 1-65535, and written backwards), ICMP with and without -1, other
// protocols (by name and by number), protocol -1; CIDR, prefix-list and group peers.
func randomRule(rnd *rand.Rand, i int) model.Rule {
	r := model.Rule{ID: fmt.Sprintf("sgr-%d", i)}
	ports := []int32{-1, 0, 1, 22, 80, 443, 1000, 2000, 65535}
	switch rnd.IntN(9) {
	case 0, 1, 2:
		r.Protocol = []string{model.ProtoTCP, model.ProtoUDP, "6"}[rnd.IntN(3)]
		p := ports[rnd.IntN(len(ports))]
		r.FromPort, r.ToPort = p, p
	case 3:
		r.Protocol = []string{model.ProtoTCP, model.ProtoUDP}[rnd.IntN(2)]
		r.FromPort, r.ToPort = ports[rnd.IntN(len(ports))], ports[rnd.IntN(len(ports))] // backwards too
	case 4:
		r.Protocol = model.ProtoTCP
		r.FromPort, r.ToPort = int32(rnd.IntN(2)), 65535
	case 5:
		r.Protocol = []string{model.ProtoICMP, model.ProtoICMPv6, "1"}[rnd.IntN(3)]
		r.FromPort, r.ToPort = []int32{-1, 3, 8}[rnd.IntN(3)], []int32{-1, 0, 4}[rnd.IntN(3)]
	case 6:
		r.Protocol = []string{"47", "50", "132"}[rnd.IntN(3)]
		r.FromPort, r.ToPort = []int32{-1, 0, 5}[rnd.IntN(3)], []int32{-1, 0, 9}[rnd.IntN(3)]
	default:
		r.Protocol, r.FromPort, r.ToPort = model.ProtoAll, -1, -1
	}
	switch x := rnd.IntN(10); {
	case x < 5:
		r.Peer.CIDR = netip.MustParsePrefix([]string{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "198.51.100.0/24",
			"198.51.100.0/25", "::/0", "2001:db8::/32"}[rnd.IntN(7)])
	case x < 8:
		r.Peer.PrefixListID = []string{"pl-one", "pl-two", "pl-empty", "pl-missing"}[rnd.IntN(4)]
	default:
		r.Peer.GroupID = []string{"sg-a", "sg-b"}[rnd.IntN(2)]
	}
	return r
}

// TestCoverIndexCandidates: for every pair of rules where one's opening holds the other's,
// the coverIndex names the holder among the candidates of the held; the candidate lists are
// in index order, and first finds the rule a scan of every rule finds.
func TestCoverIndexCandidates(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	for round := range 300 {
		rs := make([]model.Rule, 1+rnd.IntN(40))
		for i := range rs {
			rs[i] = randomRule(rnd, i)
		}
		x := newCoverIndex(rs)
		for i := range rs {
			o := policy.OpeningOf(&rs[i])
			same, wide, all := x.candidates(o)
			var cand []int
			if all {
				for j := range rs {
					cand = append(cand, j)
				}
			}
			for _, n := range same {
				cand = append(cand, int(n.i))
			}
			if !slices.IsSorted(cand) {
				t.Fatalf("round %d, rule %d: narrow candidates %v not in index order", round, i, cand)
			}
			ws := make([]int, len(wide))
			for k, j := range wide {
				ws[k] = int(j)
			}
			if !slices.IsSorted(ws) {
				t.Fatalf("round %d, rule %d: wide candidates %v not in index order", round, i, ws)
			}
			cand = append(cand, ws...)
			for j := range rs {
				if o.Within(policy.OpeningOf(&rs[j])) && !slices.Contains(cand, j) {
					t.Fatalf("round %d: rule %d (%s %d-%d) holds rule %d (%s %d-%d) but is not among its candidates %v",
						round, j, rs[j].Protocol, rs[j].FromPort, rs[j].ToPort, i, rs[i].Protocol, rs[i].FromPort, rs[i].ToPort, cand)
				}
			}
			// first: the lowest index a predicate holds for, among the rules that hold o.
			pick := func(j int) bool { return o.Within(x.ops[j]) && (j*7+i)%3 != 0 }
			want := -1
			for j := range rs {
				if pick(j) {
					want = j
					break
				}
			}
			if got := x.first(o, pick); got != want {
				t.Fatalf("round %d, rule %d: first = %d, a scan finds %d", round, i, got, want)
			}
		}
	}
}

// TestCoversAsIsContainment: coversAs answers as the definition does — q's opening holds r's,
// and q's peer holds every address of r's (which holds at least one), groups compared by ID —
// for every pair of random rules, prefix lists of several entries, an empty and a missing
// one included; asked twice, so that the second answers from the prefixes remembered.
func TestCoversAsIsContainment(t *testing.T) {
	s := netmap.Snapshot{PrefixLists: []*model.PrefixList{
		{ID: "pl-one", OwnerID: account, MaxEntries: 5, Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("198.51.100.0/25")}}},
		{ID: "pl-two", OwnerID: account, MaxEntries: 5, Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("10.1.2.0/24")},
			{CIDR: netip.MustParsePrefix("198.51.100.0/24")}}},
		{ID: "pl-empty", OwnerID: account, MaxEntries: 5},
	}}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	a := newAudit(Input{Account: account, Snapshot: s}, DefaultConfig(), p)
	want := func(q, r *model.Rule) bool {
		if !policy.OpeningOf(r).Within(policy.OpeningOf(q)) {
			return false
		}
		if r.Peer.Key() == q.Peer.Key() {
			return true
		}
		if r.Peer.GroupID != "" || q.Peer.GroupID != "" {
			return false
		}
		rs, qs := p.PeerSet(r), p.PeerSet(q)
		if rs == nil || qs == nil || len(rs.Prefixes()) == 0 {
			return false
		}
		for _, pr := range rs.Prefixes() {
			if !qs.ContainsPrefix(pr) {
				return false
			}
		}
		return true
	}
	rnd := rand.New(rand.NewPCG(8, 8))
	rs := make([]model.Rule, 120)
	for i := range rs {
		rs[i] = randomRule(rnd, i)
	}
	for round := range 2 {
		for i := range rs {
			for j := range rs {
				q, r := &rs[j], &rs[i]
				if got, w := a.coversAs(q, policy.OpeningOf(q), r, policy.OpeningOf(r)), want(q, r); got != w {
					t.Fatalf("round %d: coversAs(%s %d-%d %s, %s %d-%d %s) = %v, want %v", round, q.Protocol, q.FromPort, q.ToPort, q.Peer.Key(),
						r.Protocol, r.FromPort, r.ToPort, r.Peer.Key(), got, w)
				}
			}
		}
	}
	if len(a.setPrefixes) == 0 {
		t.Fatal("coversAs remembered no prefix list's prefixes")
	}
}
