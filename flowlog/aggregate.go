package flowlog

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultWindow is the aggregation window: 60 s, aligned to the minute. AWS's Nitro instances
// aggregate over at most 60 s whatever MaxAggregationInterval asks (60 or 600, which is
// stored and described as given), and Stockade behaves like Nitro (A2.1).
const DefaultWindow = 60 * time.Second

// Obs is what a kernel source saw of one flow on one interface in one direction since its
// last report: deltas, never running totals. First and Last are Unix seconds of the first and
// last packet when the source knows them (conntrack timestamps, NFLOG arrival); 0 means
// "some time in the window". Flags is the OR of TCPFlags of the packets it saw.
type Obs struct {
	Iface   string
	Dir     Direction
	Action  Action
	Flow    Flow
	Packets uint64
	Bytes   uint64
	First   int64
	Last    int64
	Flags   uint8
}

type aggKey struct {
	iface  string
	dir    Direction
	action Action
	flow   Flow
}

// Aggregator sums observations of the current window per (interface, direction, action,
// 5-tuple) and closes windows into records. It is safe for concurrent use: kernel sources
// add while the window ticker closes.
type Aggregator struct {
	mu    sync.Mutex
	flows map[aggKey]*Record
	lost  map[string]bool
	flags map[aggKey]uint8
	// dropped are packets a filter dropped after connection tracking counted them, by the
	// key of the ACCEPT record they would otherwise inflate.
	dropped map[aggKey]Counts
	limit   int
}

// NewAggregator returns an aggregator that keeps at most maxFlows flows per window (0: no
// bound); a flow beyond the bound marks its interface as having lost data (SKIPDATA), it is
// never dropped silently.
func NewAggregator(maxFlows int) *Aggregator {
	return &Aggregator{flows: map[aggKey]*Record{}, lost: map[string]bool{}, flags: map[aggKey]uint8{}, dropped: map[aggKey]Counts{}, limit: maxFlows}
}

// Add adds an observation to the current window. Observations without packets add nothing
// (a conntrack entry idle since the last dump), so an interface they name can still be NODATA.
func (a *Aggregator) Add(o Obs) {
	if o.Packets == 0 {
		return
	}
	k := aggKey{o.Iface, o.Dir, o.Action, o.Flow}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.flows[k]
	if r == nil {
		if a.limit > 0 && len(a.flows) >= a.limit {
			a.lost[o.Iface] = true
			return
		}
		r = &Record{Dir: o.Dir, Action: o.Action, Flow: o.Flow, Start: o.First, End: o.Last}
		a.flows[k] = r
	} else {
		if o.First != 0 && (r.Start == 0 || o.First < r.Start) {
			r.Start = o.First
		}
		r.End = max(r.End, o.Last)
	}
	r.Packets += o.Packets
	r.Bytes += o.Bytes
	r.Flags |= o.Flags
}

// Dropped records packets of a flow that a filter dropped on their way through iface in
// direction dir after connection tracking counted them (a reply a network ACL refuses, a
// packet of a connection whose untracked rule was revoked): they are taken off the window's
// ACCEPT record of that flow, so that ACCEPT counts only what was delivered.
func (a *Aggregator) Dropped(iface string, dir Direction, flow Flow, c Counts) {
	k := aggKey{iface, dir, Accept, flow}
	a.mu.Lock()
	d := a.dropped[k]
	a.dropped[k] = Counts{d.Packets + c.Packets, d.Bytes + c.Bytes}
	a.mu.Unlock()
}

// Lost records that a source lost events of iface in the current window (netlink overrun,
// rate guard hit): the window gets a SKIPDATA record for it.
func (a *Aggregator) Lost(iface string) {
	a.mu.Lock()
	a.lost[iface] = true
	a.mu.Unlock()
}

// Close ends the window [start, start+width) and returns its records for the interfaces in
// ifaces (those on this host covered by some flow log); observations of other interfaces are
// discarded. Every interface gets its OK records, a SKIPDATA record when events were lost,
// and a NODATA record when it had neither. start and end of OK records are clamped into the
// window (A2.7: start ≤ end, both inside it); NODATA and SKIPDATA carry the window's bounds
// (start, start+width-1), so a window's end never reaches the next one's start.
// Records are ordered by interface, then direction, action and flow, so output is stable.
func (a *Aggregator) Close(start time.Time, width time.Duration, ifaces []*Interface) []Record {
	a.mu.Lock()
	flows, lost, flags, dropped := a.flows, a.lost, a.flags, a.dropped
	a.flows, a.lost, a.flags, a.dropped = make(map[aggKey]*Record, len(flows)), map[string]bool{}, map[aggKey]uint8{}, map[aggKey]Counts{}
	a.mu.Unlock()

	ws := start.Unix()
	we := start.Add(width).Unix() - 1 // the last second inside the window
	byID := make(map[string]*Interface, len(ifaces))
	for _, ifc := range ifaces {
		byID[ifc.ID] = ifc
	}
	var out []Record
	seen := map[string]bool{}
	for k, r := range flows {
		ifc := byID[k.iface]
		if ifc == nil {
			continue
		}
		rec := *r
		rec.Iface = ifc
		rec.Flags |= flags[k]
		if d, ok := dropped[k]; ok && k.action == Accept {
			// Conntrack counted these before the filter dropped them (A4.1): they were
			// not delivered, so they are not accepted traffic.
			rec.Packets -= min(rec.Packets, d.Packets)
			rec.Bytes -= min(rec.Bytes, d.Bytes)
			if rec.Packets == 0 {
				continue
			}
		}
		seen[k.iface] = true
		if rec.Start < ws || rec.Start > we {
			rec.Start = ws
		}
		if rec.End < rec.Start || rec.End > we {
			rec.End = we
		}
		out = append(out, rec)
	}
	for _, ifc := range ifaces {
		switch {
		case lost[ifc.ID]:
			out = append(out, Record{Iface: ifc, Status: SkipData, Start: ws, End: we})
		case !seen[ifc.ID]:
			out = append(out, Record{Iface: ifc, Status: NoData, Start: ws, End: we})
		}
	}
	slices.SortFunc(out, compareRecords)
	return out
}

func compareRecords(x, y Record) int {
	if c := strings.Compare(x.Iface.ID, y.Iface.ID); c != 0 {
		return c
	}
	if x.Status != y.Status {
		return int(x.Status) - int(y.Status)
	}
	if x.Dir != y.Dir {
		return int(x.Dir) - int(y.Dir)
	}
	if x.Action != y.Action {
		return int(x.Action) - int(y.Action)
	}
	fx, fy := x.Flow, y.Flow
	if c := fx.Src.Compare(fy.Src); c != 0 {
		return c
	}
	if c := fx.Dst.Compare(fy.Dst); c != 0 {
		return c
	}
	if fx.Proto != fy.Proto {
		return int(fx.Proto) - int(fy.Proto)
	}
	if fx.SrcPort != fy.SrcPort {
		return int(fx.SrcPort) - int(fy.SrcPort)
	}
	return int(fx.DstPort) - int(fy.DstPort)
}

// WindowStart is the start of the window of width that holds t, aligned to the epoch (so
// 60 s windows start on the minute).
func WindowStart(t time.Time, width time.Duration) time.Time {
	return t.Truncate(width).UTC()
}

// AddFlags ORs the TCP flags of accepted packets into a flow's record without counting
// them: the flag source (NFLOG of SYN, FIN and RST packets) sees a few packets per
// connection as they pass, conntrack counts them all at the window's end. Flags of a flow
// that no source counted in the window are dropped at Close.
func (a *Aggregator) AddFlags(iface string, dir Direction, flow Flow, flags uint8) {
	k := aggKey{iface, dir, Accept, flow}
	a.mu.Lock()
	a.flags[k] |= flags
	a.mu.Unlock()
}
