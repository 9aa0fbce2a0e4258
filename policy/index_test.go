package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// TestENITableMatchesMap checks the fast path's interface table against the map it is built
// from, with real IDs and the odd ones an offline snapshot may hold (short, empty, sharing a
// prefix or a suffix, differing only in the middle), and with IDs that are not there.
func TestENITableMatchesMap(t *testing.T) {
	odd := []string{"", "e", "eni-1", "eni-0001", "eni-00000001", "eni-00000002", "eni-1234567",
		"eni-12345678", "eni-123456789", "x-eni-00000001", "eni-00000001-x", "eni-aaaaaXaaaaaaaaaaaaa",
		"eni-aaaaaYaaaaaaaaaaaaa", strings.Repeat("eni-", 20)}
	for n := 0; n <= 70; n += 7 {
		enis := map[string]*iface{}
		for i := 0; i < n; i++ {
			id := model.NewID("eni")
			if i < len(odd) {
				id = odd[i]
			}
			enis[id] = &iface{n: &model.NetworkInterface{ID: id}}
		}
		tab := newENITable(enis)
		for id, want := range enis {
			if got := tab.get(id); got != want {
				t.Errorf("%d interfaces: get(%q) = %v, want the interface", n, id, got)
			}
			for _, other := range []string{id + "0", "0" + id, model.NewID("eni")} {
				if _, ok := enis[other]; !ok && tab.get(other) != nil {
					t.Errorf("%d interfaces: get(%q) found an interface that is not there", n, other)
				}
			}
		}
		for _, id := range odd {
			if _, ok := enis[id]; !ok && tab.get(id) != nil {
				t.Errorf("%d interfaces: get(%q) found an interface that is not there", n, id)
			}
		}
	}
}

// randomSet is a union of random IPv4 and IPv6 prefixes, dense around a few bases so that
// ranges touch, nest and merge.
func randomSet(r *rand.Rand) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for i := 0; i < r.IntN(12); i++ {
		pfx, _ := randomAddr(r).Prefix(r.IntN(33))
		b.AddPrefix(pfx)
		if r.IntN(3) == 0 {
			a := netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(r.IntN(256))})
			b.AddPrefix(netip.PrefixFrom(a, 120+r.IntN(9)).Masked())
		}
	}
	s, _ := b.IPSet()
	return s
}

func randomAddr(r *rand.Rand) netip.Addr {
	bases := [][4]byte{{0, 0, 0, 0}, {10, 0, 1, 0}, {10, 0, 1, 128}, {172, 16, 0, 0}, {255, 255, 255, 0}}
	a := bases[r.IntN(len(bases))]
	a[3] += byte(r.IntN(256))
	return netip.AddrFrom4(a)
}

// TestFastSetMatchesIPSet checks the flattened IPv4 ranges against the set they come from, at
// random addresses and at every range's edges and their neighbours.
func TestFastSetMatchesIPSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		set := randomSet(r)
		fs := newFastSet(set)
		var probes []netip.Addr
		for _, rg := range set.Ranges() {
			probes = append(probes, rg.From(), rg.To(), rg.From().Prev(), rg.To().Next())
		}
		for j := 0; j < 50; j++ {
			probes = append(probes, randomAddr(r))
		}
		probes = append(probes, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("2001:db8::1"))
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			if got, want := fs.contains(probeOf(a)), set.Contains(a); got != want {
				t.Fatalf("set %v: fast contains(%v) = %v, IPSet says %v", set.Prefixes(), a, got, want)
			}
		}
	}
}

// TestPortIndexMatchesSets checks that every segment's flattened ranges answer as its set does,
// on every port, for random rules over a small port space.
func TestPortIndexMatchesSets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		var items []portItem
		for j := 0; j < r.IntN(8); j++ {
			from := uint32(r.IntN(40))
			items = append(items, portItem{from, from + uint32(r.IntN(10)), randomSet(r)})
		}
		if r.IntN(5) == 0 {
			items = append(items, portItem{0, 65535, randomSet(r)})
		}
		x, err := buildPorts(items)
		if err != nil {
			t.Fatal(err)
		}
		for port := 0; port < 60; port++ {
			a := randomAddr(r)
			want := false
			for _, it := range items {
				if it.from <= uint32(port) && uint32(port) <= it.to && it.set.Contains(a) {
					want = true
				}
			}
			if got := x.contains(uint16(port), probeOf(a)); got != want {
				t.Fatalf("case %d: contains(%d, %v) = %v, want %v (items %s)", i, port, a, got, want, fmt.Sprint(items))
			}
		}
	}
}

// TestNACLOpenMatchesWalk checks the shortcut Verdict takes for a NACL open to a family against
// the walk of its entries, on the random NACLs of the differential test and on AWS's default.
func TestNACLOpenMatchesWalk(t *testing.T) {
	w := newWorld()
	w.subnet("10.0.1.0/24", defaultNACL(w))
	for _, idx := range mustCompile(t, w.s).nacls {
		if want := (families{v4: true, v6: true}); idx.inOpen != want || idx.egressOpen != want {
			t.Errorf("default NACL: open %+v in, %+v out; want %+v", idx.inOpen, idx.egressOpen, want)
		}
	}
	opened := 0
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		w := randomWorld(r)
		p := mustCompile(t, w.s)
		for _, idx := range p.nacls {
			if idx.inOpen.v4 || idx.inOpen.v6 || idx.egressOpen.v4 || idx.egressOpen.v6 {
				opened++
			}
			for i := 0; i < 50; i++ {
				_, _, f := randomFlow(r, w)
				for _, egress := range []bool{false, true} {
					for _, remote := range []netip.Addr{f.Src, f.Dst} {
						if got, want := idx.allows(egress, f, remote), naclDecision(idx, egress, f, remote).Allow; got != want {
							t.Fatalf("seed %d, %s egress=%v, flow %+v remote %v: shortcut says %v, the walk %v (entries %+v)",
								seed, idx.acl.ID, egress, f, remote, got, want, idx.acl.Entries)
						}
					}
				}
			}
		}
	}
	if opened == 0 {
		t.Error("no random NACL was open to a family: the shortcut went untested")
	}
}
