package trail

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// indexHeader is the header of e as the log indexes it: encoded and read back in place.
func indexHeader(tb testing.TB, e *entry) *header {
	tb.Helper()
	h, err := decodeHeader(e.encode(nil))
	if err != nil {
		tb.Fatal(err)
	}
	return &h
}

// benchIndexHeaders are n authorize records, two a second, as a server of many security
// groups writes them: each names 20 rule IDs of its own (values named by one record), its
// group (named by two records), and values every record shares (event name, source, resource
// types) or a tenth of them do (username, access key).
func benchIndexHeaders(b *testing.B, n int) []*header {
	hs := make([]*header, n)
	for i := range hs {
		e := &entry{Time: benchNow.Unix() + int64(i/2), Account: acct, Region: "eu-west-1", EventID: newUUID(),
			EventName: "AuthorizeSecurityGroupIngress", Username: fmt.Sprintf("user-%d", i%10),
			EventSource: "ec2.amazonaws.com", AccessKeyID: fmt.Sprintf("AKIABENCH%011d", i%10)}
		e.Lookup = append(e.Lookup, Resource{"AWS::EC2::SecurityGroup", fmt.Sprintf("sg-%017x", i/2)})
		for r := range 20 {
			e.Lookup = append(e.Lookup, Resource{"AWS::EC2::SecurityGroupRule", fmt.Sprintf("sgr-%017x", i*20+r)})
		}
		hs[i] = indexHeader(b, e)
	}
	return hs
}

func buildIndex(hs []*header) *scopeIndex {
	x := newScopeIndex()
	for i, h := range hs {
		x.add(h, position{seg: uint32(i / 1000), off: uint32(i % 1000 * 100), n: 100})
	}
	return x
}

// BenchmarkScopeIndex is the lookup index of 20,000 records of 20 values of their own each
// (index.go): index-bytes and index-objects are what the built index holds on the heap,
// Build's ns/op and allocs/op what building it costs, and the Lookup cases one page of 50 for
// a value named by one record, by two, and by 2,000.
//
//	go test -run '^$' -bench ScopeIndex -benchmem ./trail/
func BenchmarkScopeIndex(b *testing.B) {
	const records = 20_000
	hs := benchIndexHeaders(b, records)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := buildIndex(hs)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	b.Run("Build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buildIndex(hs)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "index-bytes")
		b.ReportMetric(float64(after.HeapObjects-before.HeapObjects), "index-objects")
	})
	to := benchNow.Add(time.Duration(records) * time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	lookups := []struct {
		name  string
		attr  Attribute
		value func() string
	}{
		{"LookupOneRecord", ResourceNameAttr, func() string { return fmt.Sprintf("sgr-%017x", rng.IntN(records*20)) }},
		{"LookupTwoRecords", ResourceNameAttr, func() string { return fmt.Sprintf("sg-%017x", rng.IntN(records/2)) }},
		{"LookupShared", UsernameAttr, func() string { return fmt.Sprintf("user-%d", rng.IntN(10)) }},
	}
	for _, l := range lookups {
		qs := make([]query, 1024) // made beforehand: ns/op is find's alone
		for i := range qs {
			qs[i] = query{attr: l.attr, value: l.value(), to: to, limit: 50}
		}
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q := qs[i%len(qs)]
				if got := x.find(q); len(got) == 0 {
					b.Fatalf("%s %q: nothing found", q.attr, q.value)
				}
				i++
			}
		})
	}
}

// indexModel is a scopeIndex beside the records it was given: what a lookup must return is
// found by a scan of those records, not by an index.
type indexModel struct {
	t    *testing.T
	x    *scopeIndex
	recs []modelRecord // every record added, in order
	seg  uint32        // the segment of the next record
	kept uint32        // records of older segments are dropped
}

type modelRecord struct {
	time   int64
	id     string
	seg    uint32
	values map[Attribute]map[string]bool
}

func newIndexModel(t *testing.T) *indexModel { return &indexModel{t: t, x: newScopeIndex()} }

// add indexes e in the current segment.
func (m *indexModel) add(e *entry) {
	h := indexHeader(m.t, e)
	if !m.x.add(h, position{seg: m.seg, off: uint32(len(m.recs))}) {
		m.t.Fatalf("record %s refused", e.EventID)
	}
	r := modelRecord{time: e.Time, id: e.EventID, seg: m.seg, values: map[Attribute]map[string]bool{}}
	h.attributeValues(func(a Attribute, v []byte) {
		if len(v) > 0 {
			if r.values[a] == nil {
				r.values[a] = map[string]bool{}
			}
			r.values[a][string(v)] = true
		}
	})
	m.recs = append(m.recs, r)
}

func (m *indexModel) dropBefore(seg uint32) {
	m.x.dropBefore(seg)
	m.kept = max(m.kept, seg)
}

// want is the eventIDs of the records kept that name v of a (every record when a is ""),
// inside [from, to], newest first and by eventID descending within a second.
func (m *indexModel) want(a Attribute, v string, from, to int64) []string {
	var rs []modelRecord
	for _, r := range m.recs {
		if r.seg >= m.kept && r.time >= from && r.time <= to && (a == "" || r.values[a][v]) {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(p, q modelRecord) int {
		if p.time != q.time {
			return cmp.Compare(q.time, p.time)
		}
		return strings.Compare(q.id, p.id)
	})
	ids := []string{}
	for _, r := range rs {
		ids = append(ids, r.id)
	}
	return ids
}

// pages is the eventIDs find returns for v of a inside [from, to], page after page of limit.
func (m *indexModel) pages(a Attribute, v string, from, to int64, limit int) []string {
	ids := []string{}
	q := query{attr: a, value: v, from: time.Unix(from, 0), to: time.Unix(to, 0), limit: limit}
	for range len(m.recs) + 2 {
		got := m.x.find(q)
		for i, s := range got[:min(len(got), limit)] {
			ids = append(ids, strings.TrimRight(string(s.id[:]), "\x00"))
			if i == limit-1 {
				q.cursor = fmt.Sprintf("%012d/%s", s.time, ids[len(ids)-1])
			}
		}
		if len(got) <= limit {
			return ids
		}
	}
	m.t.Fatalf("%s %q: paging does not end", a, v)
	return nil
}

// check compares every lookup with the scan of the records, and the index's own invariants.
func (m *indexModel) check(when string) {
	m.t.Helper()
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	values := map[Attribute]map[string]bool{"": {"": true}}
	for _, r := range m.recs {
		lo, hi = min(lo, r.time), max(hi, r.time)
		for a, vs := range r.values {
			if values[a] == nil {
				values[a] = map[string]bool{}
			}
			for v := range vs {
				values[a][v] = true
			}
		}
		if got, want := m.x.contains(r.time, r.id), r.seg >= m.kept; got != want {
			m.t.Errorf("%s: contains(%s) = %v, want %v", when, r.id, got, want)
		}
	}
	windows := [][2]int64{{lo, hi}, {lo + 3, hi - 3}, {(lo + hi) / 2, (lo + hi) / 2}}
	for a, vs := range values {
		for v := range vs {
			for _, w := range windows {
				want := m.want(a, v, w[0], w[1])
				for _, limit := range []int{1, 2, 3, 1000} {
					if got := m.pages(a, v, w[0], w[1], limit); !slices.Equal(got, want) {
						m.t.Errorf("%s: %s %q in [%d, %d], pages of %d: got %v, want %v", when, a, v, w[0], w[1], limit, got, want)
					}
				}
			}
		}
	}
	m.checkInvariants(when, values)
}

// checkInvariants checks that the index keeps exactly the values of the records kept, each
// named once as a slot or by a list of two slots or more in time order, and every list of
// lists for one value.
func (m *indexModel) checkInvariants(when string, values map[Attribute]map[string]bool) {
	m.t.Helper()
	x := m.x
	lists := map[uint32]string{}
	for a, vs := range x.values {
		for v, r := range vs {
			named := len(m.want(a, v, math.MinInt64, math.MaxInt64))
			switch {
			case named == 0:
				m.t.Errorf("%s: %s %q is indexed, and no record names it", when, a, v)
			case !r.isList() && named != 1:
				m.t.Errorf("%s: %s %q is a slot, and %d records name it", when, a, v, named)
			case !r.isList() && int(r.slot()) >= len(x.slots):
				m.t.Errorf("%s: %s %q is slot %d of %d", when, a, v, r.slot(), len(x.slots))
			case r.isList() && int(r.listIndex()) >= len(x.lists):
				m.t.Errorf("%s: %s %q is list %d of %d", when, a, v, r.listIndex(), len(x.lists))
			case r.isList():
				if other, ok := lists[r.listIndex()]; ok {
					m.t.Errorf("%s: %s %q shares list %d with %s", when, a, v, r.listIndex(), other)
				}
				lists[r.listIndex()] = fmt.Sprintf("%s %q", a, v)
				list := x.lists[r.listIndex()]
				if len(list) < 2 || len(list) != named {
					m.t.Errorf("%s: %s %q has a list of %d, and %d records name it", when, a, v, len(list), named)
				}
				if !slices.IsSortedFunc(list, func(p, q uint32) int { return cmp.Compare(x.slots[p].time, x.slots[q].time) }) {
					m.t.Errorf("%s: %s %q: list %v not in time order", when, a, v, list)
				}
			}
		}
	}
	if len(lists) != len(x.lists) {
		m.t.Errorf("%s: %d lists, %d of them a value's", when, len(x.lists), len(lists))
	}
	for a, vs := range values {
		for v := range vs {
			if _, ok := x.values[a][v]; !ok && a != "" && len(m.want(a, v, math.MinInt64, math.MaxInt64)) > 0 {
				m.t.Errorf("%s: %s %q is named and not indexed", when, a, v)
			}
		}
	}
}

// modelEntry is the i-th record of TestScopeIndexValues: two a second, every seventh a few
// seconds late (as a batch brings it), eventIDs out of append order. It names a value of its
// own once (own-i) and twice (twice-i), one that it shares with the next record (pair-…),
// one that it shares with the record 25 later (far-…, in another segment), one that four
// records name twice each (dup-…), and a third of a username.
func modelEntry(i int, ids []int) *entry {
	t := benchNow.Unix() + int64(i/2)
	if i%7 == 6 {
		t -= 3
	}
	e := &entry{Time: t, Account: acct, Region: "eu-west-1", EventID: fmt.Sprintf("e-%04d", ids[i%len(ids)]+i/len(ids)*len(ids)),
		EventName: benchActions[i%2], ReadOnly: i%2 == 1, Username: fmt.Sprintf("user-%d", i%3), EventSource: "ec2.amazonaws.com",
		AccessKeyID: "AKIAMODEL"}
	for _, name := range []string{fmt.Sprintf("own-%d", i), fmt.Sprintf("twice-%d", i), fmt.Sprintf("twice-%d", i),
		fmt.Sprintf("pair-%d", i/2), fmt.Sprintf("far-%d", i%25), fmt.Sprintf("dup-%d", i/4), fmt.Sprintf("dup-%d", i/4)} {
		e.Lookup = append(e.Lookup, Resource{"AWS::EC2::SecurityGroup", name})
	}
	return e
}

// TestScopeIndexValues checks lookups by values named by one record, by two and by more, and
// by one record twice, against a scan of the records, as records are added and the oldest
// segments dropped; and that the lists of values gone do not stay behind.
func TestScopeIndexValues(t *testing.T) {
	m := newIndexModel(t)
	ids := rand.New(rand.NewPCG(3, 4)).Perm(100)
	i := 0
	addSegment := func() {
		for range 10 {
			m.add(modelEntry(i, ids))
			i++
		}
		m.seg++
	}
	for range 6 {
		addSegment()
	}
	m.check("built")
	m.dropBefore(0)
	m.check("nothing dropped")
	m.dropBefore(2) // far- values down to one record, pair- and dup- values of the first segments gone
	m.check("two segments dropped")
	addSegment() // far- values named by two records again
	m.check("a segment added after a drop")
	m.dropBefore(2)
	m.check("the same drop again")
	for cycle := range 30 {
		addSegment()
		m.dropBefore(m.seg - 5)
		m.check(fmt.Sprintf("cycle %d of adds and drops", cycle))
		if len(m.x.lists) > 80 { // 50 records name 73 values of more than one record
			t.Fatalf("cycle %d: %d lists for 50 records", cycle, len(m.x.lists))
		}
	}
	m.dropBefore(m.seg - 1)
	m.check("one segment left")
	m.dropBefore(m.seg)
	m.check("everything dropped")
	if len(m.x.slots) != 0 || len(m.x.lists) != 0 || len(m.x.values) != 0 {
		t.Errorf("an empty index holds %d slots, %d lists, values of %d attributes", len(m.x.slots), len(m.x.lists), len(m.x.values))
	}
	addSegment()
	m.check("a segment added to an empty index")
}

// TestScopeIndexRefusesPastMaxRefs checks that a record the index cannot number, its slot
// or the lists its values may start, is refused and leaves the index as it was.
func TestScopeIndexRefusesPastMaxRefs(t *testing.T) {
	defer func(n int) { maxRefs = n }(maxRefs)
	ids := rand.New(rand.NewPCG(5, 6)).Perm(100)
	for _, c := range []struct {
		maxRefs, resources int
		slotsFull          bool // the slots are what runs out, not the lists
	}{
		{maxRefs: 20, resources: 0, slotsFull: true}, // no more than 9 lists: 20 slots come first
		{maxRefs: 40, resources: 7},                  // a record may start 19 lists: 2 or 3 records
	} {
		maxRefs = c.maxRefs
		m := newIndexModel(t)
		for i := 0; ; i++ {
			e := modelEntry(i, ids)
			e.Lookup = e.Lookup[:c.resources]
			h := indexHeader(t, e)
			if full := len(m.x.slots) == maxRefs || len(m.x.lists)+valueCount(h) > maxRefs; !full {
				m.add(e)
				continue
			}
			if (len(m.x.slots) == maxRefs) != c.slotsFull {
				t.Errorf("maxRefs %d: full at %d slots and %d lists", c.maxRefs, len(m.x.slots), len(m.x.lists))
			}
			before := fmt.Sprint(m.x.slots, m.x.all, m.x.values, m.x.lists)
			if m.x.add(h, position{}) {
				t.Errorf("maxRefs %d: record %d indexed, with %d slots and %d lists", c.maxRefs, i, len(m.x.slots), len(m.x.lists))
			}
			if after := fmt.Sprint(m.x.slots, m.x.all, m.x.values, m.x.lists); after != before {
				t.Errorf("maxRefs %d: a refused record changed the index:\n%s\n%s", c.maxRefs, before, after)
			}
			break
		}
		m.check(fmt.Sprintf("maxRefs %d", c.maxRefs))
	}
}

// TestValueCount checks that valueCount, by which add bounds the lists a record may start,
// is how many values the record has.
func TestValueCount(t *testing.T) {
	for _, n := range []int{0, 1, 7} {
		e := modelEntry(0, []int{0})
		e.Lookup = e.Lookup[:n]
		h := indexHeader(t, e)
		yielded := 0
		h.attributeValues(func(Attribute, []byte) { yielded++ })
		if got := valueCount(h); got != yielded {
			t.Errorf("%d resources: valueCount %d, attributeValues yields %d", n, got, yielded)
		}
	}
}
