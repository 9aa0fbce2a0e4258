package trail

import (
	"hash/maphash"
	"slices"
	"sort"
	"strings"
)

// The lookup index of the log, in memory: per account and region, every record's slot in
// append order, and lists of slot numbers in time order — one of every record, and one per
// attribute value. A lookup is a binary search and a walk back along one list: its cost does
// not depend on how many records the account has. It is rebuilt from the log when the log is
// opened.
//
// LookupEvents orders records of the same second by eventID (§2.3), and eventIDs are random:
// keeping the lists in that order would move each new record back past the others of its
// second, thousands of places on a busy server. The lists are kept in time order only (a new
// record goes at the end, or a few places before it when a batch brought it late), and a
// lookup sorts the records of each second it returns by eventID.
//
// A slot is a fixed-size value without pointers (about 60 bytes, and 8 for its ID's hash) and
// a list entry four bytes, so a million records cost about 100 MB, and the garbage collector
// never scans the slots.

// maxEventID is the longest eventID the index holds: a UUID. Build always makes one; longer
// IDs are refused by Append.
const maxEventID = 36

// position is where a record's frame is in the log.
type position struct {
	seg uint32 // the segment's sequence number
	off uint32 // the frame's offset in it
	n   uint32 // the frame's length
}

// slot is one record in the index.
type slot struct {
	time int64
	id   [maxEventID]byte // the eventID, zero-padded: ordered as the string is
	pos  position
}

func idOf[T string | []byte](s T) (id [maxEventID]byte) {
	copy(id[:], s)
	return id
}

// scopeIndex is the index of one account and region.
type scopeIndex struct {
	slots []slot
	// ids holds a hash of each slot's eventID: an EventId lookup scans 8 bytes a record
	// rather than a slot's 60, and compares the IDs of the few that match.
	ids    []uint64
	all    []uint32
	values map[Attribute]map[string]*posting
}

var idSeed = maphash.MakeSeed()

// posting is the list of one attribute value; a pointer in the map, so that adding to an
// existing list looks its value up without allocating a string.
type posting struct{ list []uint32 }

func newScopeIndex() *scopeIndex { return &scopeIndex{values: map[Attribute]map[string]*posting{}} }

// add indexes the record h at pos.
func (x *scopeIndex) add(h *header, pos position) {
	x.slots = append(x.slots, slot{time: h.time, id: idOf(h.fields[hEventID]), pos: pos})
	x.ids = append(x.ids, maphash.Bytes(idSeed, h.fields[hEventID]))
	n := uint32(len(x.slots) - 1)
	x.all = x.insert(x.all, n)
	h.attributeValues(func(a Attribute, v []byte) {
		if len(v) == 0 || len(v) > maxAttributeValue {
			return
		}
		m := x.values[a]
		if m == nil {
			m = map[string]*posting{}
			x.values[a] = m
		}
		p := m[string(v)]
		if p == nil {
			p = &posting{}
			m[string(v)] = p
		}
		if !x.holds(p.list, n) { // a record may name a value twice (a group in two rules)
			p.list = x.insert(p.list, n)
		}
	})
}

// insert adds slot n to a list kept in time order, after every slot of the same second.
func (x *scopeIndex) insert(list []uint32, n uint32) []uint32 {
	list = append(list, n)
	t := x.slots[n].time
	for i := len(list) - 1; i > 0 && x.slots[list[i-1]].time > t; i-- {
		list[i-1], list[i] = list[i], list[i-1]
	}
	return list
}

// holds reports whether list, in time order, holds slot n, which insert put after every slot
// of its second or before: found by walking back past the later seconds only.
func (x *scopeIndex) holds(list []uint32, n uint32) bool {
	t := x.slots[n].time
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == n {
			return true
		}
		if x.slots[list[i]].time <= t {
			return false
		}
	}
	return false
}

// dropBefore removes the slots of segments older than seg (a prefix of the slots: segments
// are appended in order) and renumbers the lists.
func (x *scopeIndex) dropBefore(seg uint32) {
	k := sort.Search(len(x.slots), func(i int) bool { return x.slots[i].pos.seg >= seg })
	if k == 0 {
		return
	}
	x.slots = slices.Clone(x.slots[k:])
	x.ids = slices.Clone(x.ids[k:])
	renumber := func(list []uint32) []uint32 {
		out := list[:0]
		for _, v := range list {
			if v >= uint32(k) {
				out = append(out, v-uint32(k))
			}
		}
		return slices.Clip(out)
	}
	x.all = renumber(x.all)
	for _, m := range x.values {
		for v, p := range m {
			if p.list = renumber(p.list); len(p.list) == 0 {
				delete(m, v)
			}
		}
	}
}

// find returns the slots of up to limit+1 records of q, newest first and, within a second, by
// eventID descending: the extra one tells the caller that another page follows.
func (x *scopeIndex) find(q query) []slot {
	top, below := q.to.Unix(), [maxEventID]byte{} // below: only IDs under it in the top second
	if q.cursor != "" {
		t, id, _ := strings.Cut(q.cursor, "/")
		top, below = parseTimeKey(t), idOf(id)
	}
	admits := func(s *slot) bool {
		return s.time < top || below == [maxEventID]byte{} || slices.Compare(s.id[:], below[:]) < 0
	}
	lowest := q.from.Unix()
	var out []slot
	if q.attr == EventIDAttr { // one record at most: a scan of the slots, not an index
		id, hash := idOf(q.value), maphash.String(idSeed, q.value)
		for i, h := range x.ids {
			if s := &x.slots[i]; h == hash && s.id == id && s.time >= lowest && s.time <= top && admits(s) {
				out = append(out, *s)
			}
		}
		return out
	}
	list := x.all
	if q.attr != "" {
		list = nil
		if p := x.values[q.attr][q.value]; p != nil {
			list = p.list
		}
	}
	hi := sort.Search(len(list), func(i int) bool { return x.slots[list[i]].time > top })
	for hi > 0 && len(out) <= q.limit {
		t := x.slots[list[hi-1]].time
		if t < lowest {
			break
		}
		lo := sort.Search(hi, func(i int) bool { return x.slots[list[i]].time >= t })
		second := make([]slot, 0, hi-lo)
		for _, n := range list[lo:hi] {
			if s := &x.slots[n]; admits(s) {
				second = append(second, *s)
			}
		}
		slices.SortFunc(second, func(a, b slot) int { return slices.Compare(b.id[:], a.id[:]) })
		out = append(out, second...)
		hi = lo
	}
	if len(out) > q.limit+1 {
		out = out[:q.limit+1]
	}
	return out
}

// contains reports whether the record of time and id is indexed.
func (x *scopeIndex) contains(time int64, id string) bool {
	want := idOf(id)
	lo := sort.Search(len(x.all), func(i int) bool { return x.slots[x.all[i]].time >= time })
	for i := lo; i < len(x.all) && x.slots[x.all[i]].time == time; i++ {
		if x.slots[x.all[i]].id == want {
			return true
		}
	}
	return false
}
