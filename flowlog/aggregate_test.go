package flowlog

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func lines(f Format, recs []Record) []string {
	var out []string
	for i := range recs {
		out = append(out, f.Line(&recs[i]))
	}
	return out
}

// TestWorkedExample is A2.2: A opens HTTP to B and closes inside one window; each ENI gets
// its egress and ingress record, with SYN+FIN on the initiator's direction and SYN-ACK+FIN on
// the reply's. A third interface with no traffic gets NODATA.
func TestWorkedExample(t *testing.T) {
	ifcC := &Interface{ID: "eni-0c", Account: "123456789010", VPC: "vpc-1", Subnet: "subnet-a"}
	ws := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	s := ws.Unix()
	req, rep := tcp("10.0.1.10", 51000, "10.0.2.20", 80), tcp("10.0.2.20", 80, "10.0.1.10", 51000)
	a := NewAggregator(0)
	// What the kernel sources report: conntrack gives packets and bytes per direction of
	// the connection, NFLOG the SYN/FIN/RST packets' flags (no counts).
	for _, o := range []Obs{
		{Iface: "eni-0a", Dir: Egress, Flow: req, Packets: 6, Bytes: 400, First: s + 5, Last: s + 7},
		{Iface: "eni-0a", Dir: Ingress, Flow: rep, Packets: 4, Bytes: 900, First: s + 5, Last: s + 7},
		{Iface: "eni-0b", Dir: Ingress, Flow: req, Packets: 6, Bytes: 400, First: s + 5, Last: s + 7},
		{Iface: "eni-0b", Dir: Egress, Flow: rep, Packets: 4, Bytes: 900, First: s + 5, Last: s + 7},
	} {
		a.Add(o)
	}
	for _, fl := range []struct {
		flow  Flow
		flags uint8
	}{{req, FlagSYN}, {rep, FlagSYNACK}, {req, FlagFIN}, {rep, FlagFIN}} {
		egress, ingress := "eni-0a", "eni-0b"
		if fl.flow == rep {
			egress, ingress = ingress, egress
		}
		a.AddFlags(egress, Egress, fl.flow, fl.flags)
		a.AddFlags(ingress, Ingress, fl.flow, fl.flags)
	}
	f, _ := ParseFormat("${interface-id} ${flow-direction} ${srcaddr} ${srcport} ${dstaddr} ${dstport} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}")
	got := lines(f, a.Close(ws, time.Minute, []*Interface{ifcA, ifcB, ifcC}))
	st, en := itoa(s+5), itoa(s+7)
	want := []string{
		"eni-0a ingress 10.0.2.20 80 10.0.1.10 51000 4 " + st + " " + en + " ACCEPT 19 OK",
		"eni-0a egress 10.0.1.10 51000 10.0.2.20 80 6 " + st + " " + en + " ACCEPT 3 OK",
		"eni-0b ingress 10.0.1.10 51000 10.0.2.20 80 6 " + st + " " + en + " ACCEPT 3 OK",
		"eni-0b egress 10.0.2.20 80 10.0.1.10 51000 4 " + st + " " + en + " ACCEPT 19 OK",
		"eni-0c - - - - - - " + itoa(s) + " " + itoa(s+59) + " - - NODATA",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func itoa(n int64) string {
	return string(Format{Fields: []string{"start"}}.Append(nil, &Record{Start: n}))
}

// TestDeltasPerWindow: a flow that spans windows gets one record per window with that
// window's counts; times are clamped into the window; a new window starts empty.
func TestDeltasPerWindow(t *testing.T) {
	a := NewAggregator(0)
	w1 := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	w2 := w1.Add(time.Minute)
	fl := tcp("10.0.1.10", 40000, "10.0.2.20", 443)
	a.Add(Obs{Iface: "eni-0a", Dir: Egress, Flow: fl, Packets: 3, Bytes: 200, First: w1.Unix() - 100, Flags: FlagSYN}) // began before the window
	a.Add(Obs{Iface: "eni-0a", Dir: Egress, Flow: fl, Packets: 2, Bytes: 100, Last: w1.Unix() + 30})
	a.Add(Obs{Iface: "eni-0a", Dir: Egress, Flow: fl, Packets: 0, Bytes: 0, Flags: FlagFIN}) // no packets: adds nothing
	f, _ := ParseFormat("${packets} ${bytes} ${start} ${end} ${tcp-flags} ${log-status}")
	got1 := lines(f, a.Close(w1, time.Minute, []*Interface{ifcA}))
	a.Add(Obs{Iface: "eni-0a", Dir: Egress, Flow: fl, Packets: 1, Bytes: 52, First: w2.Unix() + 2, Last: w2.Unix() + 2, Flags: FlagFIN})
	got2 := lines(f, a.Close(w2, time.Minute, []*Interface{ifcA}))
	got3 := lines(f, a.Close(w2.Add(time.Minute), time.Minute, []*Interface{ifcA}))
	want := [][]string{
		{"5 300 " + itoa(w1.Unix()) + " " + itoa(w1.Unix()+30) + " 2 OK"},
		{"1 52 " + itoa(w2.Unix()+2) + " " + itoa(w2.Unix()+2) + " 1 OK"},
		{"- - " + itoa(w2.Unix()+60) + " " + itoa(w2.Unix()+119) + " - NODATA"},
	}
	if diff := cmp.Diff(want, [][]string{got1, got2, got3}); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestSkipData: lost events and a full table give SKIPDATA, never silence; interfaces not
// covered are not reported.
func TestSkipData(t *testing.T) {
	ws := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	a := NewAggregator(1)
	a.Add(Obs{Iface: "eni-0a", Dir: Egress, Flow: tcp("10.0.1.10", 1, "10.0.2.20", 2), Packets: 1, Bytes: 60})
	a.Add(Obs{Iface: "eni-0b", Dir: Ingress, Flow: tcp("10.0.1.10", 3, "10.0.2.20", 4), Packets: 1, Bytes: 60}) // table full
	a.Add(Obs{Iface: "eni-0z", Dir: Ingress, Flow: tcp("10.0.1.10", 3, "10.0.2.20", 4), Packets: 1, Bytes: 60}) // not covered
	a.Lost("eni-0a")
	f, _ := ParseFormat("${interface-id} ${packets} ${log-status}")
	got := lines(f, a.Close(ws, time.Minute, []*Interface{ifcA, ifcB}))
	want := []string{"eni-0a 1 OK", "eni-0a - SKIPDATA", "eni-0b - SKIPDATA"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestWindowStart(t *testing.T) {
	at := time.Date(2026, 12, 1, 16, 24, 59, 999, time.FixedZone("x", 3600))
	if got, want := WindowStart(at, time.Minute), time.Date(2026, 12, 1, 15, 24, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("WindowStart = %v, want %v", got, want)
	}
}

// TestDroppedAfterCounting is AWS's ping example (A2.3): B's network ACL lets the request
// in and refuses the reply. Conntrack counted the replies before the ACL dropped them; the
// window shows B ingress ACCEPT and B egress REJECT, A egress ACCEPT and no ACCEPT reply on A.
func TestDroppedAfterCounting(t *testing.T) {
	ws := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	req := Flow{Proto: 1, Src: ifcA.Primary, Dst: ifcB.Primary}
	rep := mirror(req)
	a := NewAggregator(0)
	for _, o := range Accepted(req, rep, Counts{4, 336}, Counts{4, 336}, ws.Unix(), ws.Unix()+3, func(x netip.Addr) *Interface {
		return map[netip.Addr]*Interface{ifcA.Primary: ifcA, ifcB.Primary: ifcB}[x]
	}) {
		a.Add(o)
	}
	// What the NFLOG source reports for each dropped reply: B's egress REJECT, and the
	// correction for A, which never received it.
	for range 4 {
		a.Add(Obs{Iface: "eni-0b", Dir: Egress, Action: Reject, Flow: rep, Packets: 1, Bytes: 84, First: ws.Unix() + 1, Last: ws.Unix() + 1})
		a.Dropped("eni-0b", Egress, rep, Counts{1, 84})
		a.Dropped("eni-0a", Ingress, rep, Counts{1, 84})
	}
	f, _ := ParseFormat("${interface-id} ${flow-direction} ${packets} ${action} ${log-status}")
	got := lines(f, a.Close(ws, time.Minute, []*Interface{ifcA, ifcB}))
	want := []string{"eni-0a egress 4 ACCEPT OK", "eni-0b ingress 4 ACCEPT OK", "eni-0b egress 4 REJECT OK"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
