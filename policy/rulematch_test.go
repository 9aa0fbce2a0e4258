package policy

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestOpeningPorts pins the protocol and port half of the canonical matcher against the
// anchors' defects (audit-checks §3.1–3.3): a range holds every port inside it, 0-65535 and
// 1-65535 are both "all ports", UDP is a protocol like TCP, -1 is everything, and ICMP type
// and code are never ports.
func TestOpeningPorts(t *testing.T) {
	rule := func(proto string, from, to int32) *model.Rule {
		return &model.Rule{Protocol: proto, FromPort: from, ToPort: to}
	}
	for _, c := range []struct {
		name       string
		r          *model.Rule
		proto      int
		port       uint16
		want, all  bool
		allOfProto bool
	}{
		{"a range holds 22 (ScoutSuite compares for equality)", rule("tcp", 0, 1024), 6, 22, true, false, false},
		{"a range from above misses it", rule("tcp", 23, 1024), 6, 22, false, false, false},
		{"0-65535 is all ports", rule("tcp", 0, 65535), 6, 3389, true, true, true},
		{"1-65535 is all ports too (Prowler counts 65536)", rule("tcp", 1, 65535), 6, 22, true, true, true},
		{"2-65535 is not", rule("tcp", 2, 65535), 6, 22, true, false, false},
		{"UDP 3389 is RDP too (Prowler looks at TCP only)", rule("udp", 3389, 3389), 17, 3389, true, false, false},
		{"a UDP rule opens no TCP port", rule("udp", 22, 22), 6, 22, false, false, false},
		{"a TCP rule in its number spelling", rule("6", 22, 22), 6, 22, true, false, false},
		{"protocol -1 opens every port", rule("-1", -1, -1), 17, 53, true, true, true},
		{"ICMP type 22 is not port 22", rule("icmp", 22, -1), 6, 22, false, false, false},
		{"ICMP any/any is not all ports", rule("icmp", -1, -1), 6, 22, false, false, false},
		{"ICMPv6 type 3389 is not port 3389", rule("icmpv6", 3389, 3389), 17, 3389, false, false, false},
		{"another protocol has no ports", rule("47", -1, -1), 6, 22, false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := OpeningOf(c.r)
			if got := o.Port(c.proto, c.port); got != c.want {
				t.Errorf("Port(%d, %d) = %v, want %v", c.proto, c.port, got, c.want)
			}
			if got := o.AllPorts(); got != c.all {
				t.Errorf("AllPorts = %v, want %v", got, c.all)
			}
			if got := o.AllPortsOf(c.proto); got != c.allOfProto {
				t.Errorf("AllPortsOf(%d) = %v, want %v", c.proto, got, c.allOfProto)
			}
		})
	}
}

// TestInternetOpen pins the peer half: the internet is a set of addresses, not a spelling.
// Each family is judged on its own; a prefix list's entries and several rules' CIDRs that
// union to /0 are the internet (nobody's check resolves them, §3.4); the expanded IPv6
// spelling is ::/0; a group reference is its members; and the rules named are the ones whose
// removal closes it (not the private ones that merely add to the union).
func TestInternetOpen(t *testing.T) {
	w := newWorld()
	sn := w.subnet("10.0.1.0/24", nil)
	everyone := &model.PrefixList{ID: "pl-00000001", Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("0.0.0.0/2")},
		{CIDR: netip.MustParsePrefix("64.0.0.0/2")}, {CIDR: netip.MustParsePrefix("128.0.0.0/1")}}}
	office := &model.PrefixList{ID: "pl-00000002", Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("198.51.100.0/24")}}}
	w.s.PrefixLists = []*model.PrefixList{everyone, office}
	expanded, err := model.ParseCIDR("0000:0000:0000:0000:0000:0000:0000:0000/0", true, "CidrIpv6")
	if err != nil {
		t.Fatal(err)
	}
	peers := w.group("peers")
	w.eni(sn, "10.0.1.5", peers)
	ssh := func(p model.Peer) model.Rule { return tcp(22, 22, p) }
	cases := []struct {
		name   string
		rules  []model.Rule
		v4, v6 []int // indexes of the rules named
	}{
		{"0.0.0.0/0", []model.Rule{ssh(cidr("0.0.0.0/0"))}, []int{0}, nil},
		{"::/0 alone is not the IPv4 internet", []model.Rule{ssh(cidr("::/0"))}, nil, []int{0}},
		{"expanded ::/0", []model.Rule{ssh(model.Peer{CIDR: expanded})}, nil, []int{0}},
		{"two halves", []model.Rule{ssh(cidr("0.0.0.0/1")), ssh(cidr("128.0.0.0/1")), ssh(cidr("10.0.0.0/8"))}, []int{0, 1}, nil},
		{"one half", []model.Rule{ssh(cidr("0.0.0.0/1")), ssh(cidr("10.0.0.0/8"))}, nil, nil},
		{"halves on different ports", []model.Rule{ssh(cidr("0.0.0.0/1")), tcp(23, 23, cidr("128.0.0.0/1"))}, nil, nil},
		{"prefix list covering /0", []model.Rule{ssh(model.Peer{PrefixListID: everyone.ID})}, []int{0}, nil},
		{"prefix list of one office", []model.Rule{ssh(model.Peer{PrefixListID: office.ID})}, nil, nil},
		{"prefix list not in the snapshot", []model.Rule{ssh(model.Peer{PrefixListID: "pl-00000009"})}, nil, nil},
		{"group reference", []model.Rule{ssh(ref(peers))}, nil, nil},
		{"protocol -1 from the world", []model.Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, Peer: cidr("0.0.0.0/0")}}, []int{0}, nil},
		{"ICMP type 22 from the world", []model.Rule{{Protocol: "icmp", FromPort: 22, ToPort: -1, Peer: cidr("0.0.0.0/0")}}, nil, nil},
		{"UDP 22 from the world is not TCP 22", []model.Rule{{Protocol: "udp", FromPort: 22, ToPort: 22, Peer: cidr("0.0.0.0/0")}}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := w.group(c.name, c.rules...)
			p := mustCompile(t, w.s)
			v4, v6 := p.InternetOpen(g.Ingress, func(o Opening) bool { return o.Port(model.ProtoNumTCP, 22) })
			ids := func(ix []int) []string {
				var out []string
				for _, i := range ix {
					out = append(out, g.Ingress[i].ID)
				}
				return out
			}
			if diff := cmp.Diff(ids(c.v4), v4); diff != "" {
				t.Errorf("IPv4 rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ids(c.v6), v6); diff != "" {
				t.Errorf("IPv6 rules (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGlobalAndBroad: which CIDRs are the internet's, and which of those are broad
// (audit-checks §1.5).
func TestGlobalAndBroad(t *testing.T) {
	for _, c := range []struct {
		cidr                   string
		global, broad, private bool
	}{
		{"0.0.0.0/0", true, false, false},
		{"0.0.0.0/1", true, true, false},
		{"8.0.0.0/8", true, true, false},
		{"52.94.0.0/23", true, true, false},
		{"52.94.0.0/24", true, false, false},
		{"203.0.113.7/32", false, false, false},
		{"10.0.0.0/8", false, false, true},
		{"100.64.0.0/10", false, false, true},
		{"169.254.0.0/16", false, false, false},
		{"224.0.0.0/8", false, false, false},
		{"2600:1f00::/24", true, true, false},
		{"2600:1f00::/48", true, false, false},
		{"fd00::/8", false, false, true},
		{"2001:db8::/32", false, false, false},
	} {
		pr := netip.MustParsePrefix(c.cidr)
		if Global(pr) != c.global || Broad(pr) != c.broad || Private(pr) != c.private {
			t.Errorf("%s: global %v broad %v private %v, want %v %v %v", c.cidr, Global(pr), Broad(pr), Private(pr), c.global, c.broad, c.private)
		}
	}
}

// TestSpecialMatchesTheSet: the flattened IPv4 search answers as the special-purpose set does,
// on the blocks' edges and on random prefixes of every length.
func TestSpecialMatchesTheSet(t *testing.T) {
	var ps []netip.Prefix
	for _, r := range specialSet.Ranges() {
		for _, a := range []netip.Addr{r.From(), r.To(), r.From().Prev(), r.To().Next()} {
			if a.IsValid() {
				for bits := 0; bits <= a.BitLen(); bits++ {
					ps = append(ps, netip.PrefixFrom(a, bits).Masked())
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		ps = append(ps, netip.PrefixFrom(a, r.IntN(33)).Masked())
	}
	for _, p := range ps {
		if got, want := special(p), specialSet.ContainsPrefix(p); got != want {
			t.Fatalf("special(%v) = %v, the set says %v", p, got, want)
		}
	}
}
