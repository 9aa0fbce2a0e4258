package trail

import (
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
// A slot is a fixed-size value without pointers (about 60 bytes) and a list entry four bytes,
// so a million records cost about 100 MB, and the garbage collector never scans the slots.

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

func idOf(s string) (id [maxEventID]byte) {
	copy(id[:], s)
	return id
}

// scopeIndex is the index of one account and region.
type scopeIndex struct {
	slots  []slot
	all    []uint32
	values map[attrValue][]uint32
}

type attrValue struct {
	attr  Attribute
	value string
}

// add indexes e at pos.
func (x *scopeIndex) add(e *entry, pos position) {
	x.slots = append(x.slots, slot{time: e.Time, id: idOf(e.EventID), pos: pos})
	n := uint32(len(x.slots) - 1)
	x.all = x.insert(x.all, n)
	var seen []attrValue // a record has a handful of values: a slice beats a map
	e.attributeValues(func(a Attribute, v string) {
		k := attrValue{a, v}
		if v == "" || len(v) > maxAttributeValue || slices.Contains(seen, k) {
			return
		}
		seen = append(seen, k)
		x.values[k] = x.insert(x.values[k], n)
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

// dropBefore removes the slots of segments older than seg (a prefix of the slots: segments
// are appended in order) and renumbers the lists.
func (x *scopeIndex) dropBefore(seg uint32) {
	k := sort.Search(len(x.slots), func(i int) bool { return x.slots[i].pos.seg >= seg })
	if k == 0 {
		return
	}
	x.slots = slices.Clone(x.slots[k:])
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
	for key, list := range x.values {
		if list = renumber(list); len(list) == 0 {
			delete(x.values, key)
		} else {
			x.values[key] = list
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
		id := idOf(q.value)
		for i := range x.slots {
			if s := &x.slots[i]; s.id == id && s.time >= lowest && s.time <= top && admits(s) {
				out = append(out, *s)
			}
		}
		return out
	}
	list := x.all
	if q.attr != "" {
		list = x.values[attrValue{q.attr, q.value}]
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
