package policy

import (
	"encoding/binary"
	"net/netip"

	"go4.org/netipx"
)

// This file holds the flat structures Verdict reads per packet. They are built once by Compile
// next to the netipx sets and maps that Explain, Access and exposure use, and say the same
// thing: each is checked against its source in index_test.go, and the differential tests check
// the whole fast path against the naive oracle.

// eniTable finds an interface by ID on the fast path. A Go map of strings spends most of a
// verdict hashing the ID with the runtime's general hash; interface IDs are "eni-" and random
// hex, so a few multiplies over eight-byte words spread them as well. The table is open
// addressed (linear probing), at most half full, and compares the whole ID on a hit, so odd
// IDs of offline snapshots cost at most a longer probe, never a wrong answer.
type eniTable struct {
	slots []eniSlot // len is a power of two; a nil f is an empty slot
	shift uint      // 64 - log2(len(slots)): the hash's top bits pick the first slot
}

type eniSlot struct {
	id string
	f  *iface
}

func newENITable(enis map[string]*iface) eniTable {
	size := 2
	for size < 2*len(enis) {
		size *= 2
	}
	t := eniTable{slots: make([]eniSlot, size), shift: 64}
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	for id, f := range enis {
		i := t.first(id)
		for t.slots[i].f != nil {
			i = (i + 1) & (len(t.slots) - 1)
		}
		t.slots[i] = eniSlot{id, f}
	}
	return t
}

func (t *eniTable) first(id string) int { return int(idHash(id) >> t.shift) }

// get is the interface with ID id, or nil.
func (t *eniTable) get(id string) *iface {
	mask := len(t.slots) - 1
	for i := t.first(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.f == nil || s.id == id {
			return s.f
		}
	}
}

// idHash mixes every byte of s with its length. Each eight-byte word (the last overlapping
// the one before it) is multiplied by its own odd constant, which carries every bit of the word
// into the product's top bits, the ones the table uses; the products do not depend on each
// other, so the processor computes them side by side.
func idHash(s string) uint64 {
	const k = 0x9e3779b97f4a7c15
	n := len(s)
	if n < 8 {
		h := uint64(n) * k
		for i := 0; i < n; i++ {
			h = (h ^ uint64(s[i])) * k
		}
		return h
	}
	h := uint64(n) ^ le64(s[n-8:])*k
	for i := 0; i+8 < n; i += 8 {
		h ^= le64(s[i:]) * (k + 2*uint64(i+1))
	}
	return h
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// v4Range is an inclusive range of IPv4 addresses as integers.
type v4Range struct{ lo, hi uint32 }

// v4Ranges are the IPv4 part of a set, sorted and disjoint (netipx keeps a set's ranges so,
// IPv4 before IPv6).
func v4Ranges(s *netipx.IPSet, into []v4Range) []v4Range {
	for _, r := range s.Ranges() {
		if !r.From().Is4() {
			break
		}
		into = append(into, v4Range{u32(r.From()), u32(r.To())})
	}
	return into
}

// probe is an address being looked up, with its IPv4 form worked out once per check.
type probe struct {
	a   netip.Addr
	v4  uint32 // a as an integer, if is4
	is4 bool
}

// probeOf reads an IPv4 address through AsSlice, which inlines and stores and loads the same
// four bytes. As16 stores two words that the copy of its result loads as one, which the
// processor cannot forward from its store buffer: it stalls, about 8 ns a call here; As4's
// panics put probeOf over the inlining budget.
func probeOf(a netip.Addr) probe {
	if !a.Is4() {
		return probe{a: a}
	}
	return probe{a, binary.BigEndian.Uint32(a.AsSlice()), true}
}

func u32(a netip.Addr) uint32 { return probeOf(a).v4 }

// contains4 reports whether x is in one of rs.
func contains4(rs []v4Range, x uint32) bool {
	i := above(rs, x)
	return i > 0 && x <= rs[i-1].hi
}

// above is the index of the first of rs (sorted, disjoint) that starts above x: the one
// before it is the only range that can hold x.
func above(rs []v4Range, x uint32) int {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].lo <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// fastSet is a netipx.IPSet with its IPv4 ranges flattened for contains; IPv6 addresses are
// answered by the set itself.
type fastSet struct {
	v4  []v4Range
	set *netipx.IPSet
}

func newFastSet(s *netipx.IPSet) fastSet { return fastSet{v4Ranges(s, nil), s} }

func (s *fastSet) contains(p probe) bool {
	if p.is4 {
		return contains4(s.v4, p.v4)
	}
	return s.set.Contains(p.a)
}
