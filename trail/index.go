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
// never scans the slots. A value named by one record alone — most are: the IDs of the rules
// each authorize creates — has no list: its record's slot number stands in the map of values
// (valueRef), and it costs its key and map entry, about 60 bytes for a rule ID and no object
// but the key. Records that name 20 values of their own each cost about 1.3 KB apiece: 26 MB
// for 20,000 (BenchmarkScopeIndex), where a list for each value took 39 MB.

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
	values map[Attribute]map[string]valueRef
	// lists holds the slot lists of the values named by two records or more, each in time
	// order; dropBefore rebuilds it, so that it holds the lists of living values only.
	lists [][]uint32
}

var idSeed = maphash.MakeSeed()

// valueRef is what the index keeps of one attribute value. Most values are named by one
// record (the IDs of the rules an authorize creates): their ref is that record's slot number,
// and the value costs the index its map entry and key, nothing more. A value named by two
// records or more has a list in lists, and its ref is the list's index with listBit set.
type valueRef uint32

const listBit valueRef = 1 << 31

// maxRefs bounds slot numbers and list indexes, which must stay below listBit (one short of
// it, an int on 32-bit platforms too; a variable: the tests lower it). The slots are the
// scope's records in the log, which LogOptions.MaxBytes bounds: 4 GiB by default, tens of
// millions of records, where 2³¹ slots would take 120 GB of heap for the slots alone. add
// refuses a record past the bound rather than give it a number that reads as a list's: the
// record stays in the log and is exported, and lookups miss it.
var maxRefs = int(listBit - 1)

func slotRef(n uint32) valueRef      { return valueRef(n) }
func (r valueRef) isList() bool      { return r&listBit != 0 }
func (r valueRef) slot() uint32      { return uint32(r) }            // of a ref that is not a list
func (r valueRef) listIndex() uint32 { return uint32(r &^ listBit) } // of a ref that is a list

func newScopeIndex() *scopeIndex { return &scopeIndex{values: map[Attribute]map[string]valueRef{}} }

// add indexes the record h at pos and reports whether it did: a record past maxRefs is
// refused, and the index left as it was (its lookups miss that record).
func (x *scopeIndex) add(h *header, pos position) bool {
	if !x.hasRoom(h) {
		return false
	}
	x.slots = append(x.slots, slot{time: h.time, id: idOf(h.fields[hEventID]), pos: pos})
	x.ids = append(x.ids, maphash.Bytes(idSeed, h.fields[hEventID]))
	n := uint32(len(x.slots) - 1)
	x.all = x.insert(x.all, n)
	h.attributeValues(func(a Attribute, v []byte) {
		if len(v) == 0 || len(v) > maxAttributeValue {
			return
		}
		x.addValue(a, v, n)
	})
	return true
}

// hasRoom reports whether the record h can be indexed with every number below maxRefs: its
// slot, and the lists its values may start (one each at most).
func (x *scopeIndex) hasRoom(h *header) bool {
	return len(x.slots) < maxRefs && valueCount(h) <= maxRefs-len(x.lists)
}

// valueCount is how many values h.attributeValues yields: five, and two for each resource.
func valueCount(h *header) int { return 5 + 2*h.nres }

// addValue records that slot n, the newest, names the value v of a.
func (x *scopeIndex) addValue(a Attribute, v []byte, n uint32) {
	m := x.values[a]
	if m == nil {
		m = map[string]valueRef{}
		x.values[a] = m
	}
	r, ok := m[string(v)] // a lookup: the key is not allocated
	switch {
	case !ok:
		m[string(v)] = slotRef(n)
	case r.isList():
		list := &x.lists[r.listIndex()]
		if !x.holds(*list, n) { // a record may name a value twice (a group in two rules)
			*list = x.insert(*list, n)
		}
	case r.slot() != n: // the value's second record: it gets a list (and its key is allocated anew)
		m[string(v)] = x.newList(x.insert(append(make([]uint32, 0, 2), r.slot()), n))
	}
}

// newList adds list to lists and returns its ref.
func (x *scopeIndex) newList(list []uint32) valueRef {
	x.lists = append(x.lists, list)
	return listBit | valueRef(len(x.lists)-1)
}

// slotsOf returns the slots of the records that name the value v of a, in time order: the
// value's list, or one[:] holding the slot of a value named by one record.
func (x *scopeIndex) slotsOf(a Attribute, v string, one *[1]uint32) []uint32 {
	r, ok := x.values[a][v]
	switch {
	case !ok:
		return nil
	case r.isList():
		return x.lists[r.listIndex()]
	default:
		one[0] = r.slot()
		return one[:]
	}
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
// are appended in order) and renumbers the rest. A value no record names any more goes; a
// value down to one record is a slot again; the lists of the others are gathered in a new
// lists, so that the lists of values gone do not stay behind.
func (x *scopeIndex) dropBefore(seg uint32) {
	k := sort.Search(len(x.slots), func(i int) bool { return x.slots[i].pos.seg >= seg })
	if k == 0 {
		return
	}
	drop := uint32(k)
	x.slots = slices.Clone(x.slots[k:])
	x.ids = slices.Clone(x.ids[k:])
	x.all = renumber(x.all, drop)
	lists := x.lists
	x.lists = nil
	for a, m := range x.values {
		for v, r := range m {
			if r, ok := x.renumbered(r, lists, drop); ok {
				m[v] = r
			} else {
				delete(m, v)
			}
		}
		if len(m) == 0 {
			delete(x.values, a)
		}
	}
}

// renumbered returns what r, a ref into lists, becomes once the slots below drop are gone, a
// new list added to x.lists, or false when no slot of r's stays.
func (x *scopeIndex) renumbered(r valueRef, lists [][]uint32, drop uint32) (valueRef, bool) {
	if !r.isList() {
		if r.slot() < drop {
			return 0, false
		}
		return slotRef(r.slot() - drop), true
	}
	switch left := renumber(lists[r.listIndex()], drop); len(left) {
	case 0:
		return 0, false
	case 1:
		return slotRef(left[0]), true // named by one record again: its list goes
	default:
		return x.newList(left), true
	}
}

// renumber returns the slots of list from drop on, renumbered from 0, in list's array.
func renumber(list []uint32, drop uint32) []uint32 {
	out := list[:0]
	for _, n := range list {
		if n >= drop {
			out = append(out, n-drop)
		}
	}
	return slices.Clip(out)
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
	var one [1]uint32 // the list of a value named by one record, not allocated
	list := x.all
	if q.attr != "" {
		list = x.slotsOf(q.attr, q.value, &one)
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
