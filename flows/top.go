package flows

import (
	"cmp"
	"fmt"
	"slices"
)

// Talker is one line of a top-talkers table: a key and the traffic of its records.
type Talker struct {
	Key     string `json:"key"`
	Records int    `json:"records"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// TopBy are the keys Top groups by, as AWS's Athena queries do (§A5.1): the source address,
// the address pair, the interface, and the protocol and destination port.
var TopBy = []string{"addr", "pair", "eni", "port"}

// Top sums the bytes and packets of the period's traffic records (NODATA and SKIPDATA carry
// none) by key and returns the n largest by bytes (n <= 0: all). Like the Athena queries it
// reads every record as it is in the files, so a flow seen on two logged interfaces counts
// twice, and the result equals what Athena computes over the same objects.
func Top(recs []Record, by string, n int) ([]Talker, error) {
	if !slices.Contains(TopBy, by) {
		return nil, fmt.Errorf("top by %q: one of %v", by, TopBy)
	}
	sums := map[string]*Talker{}
	for i := range recs {
		r := &recs[i]
		if !r.OK() {
			continue
		}
		var k string
		switch by {
		case "addr":
			k = r.Src.String()
		case "pair":
			k = r.Src.String() + " > " + r.Dst.String()
		case "eni":
			k = r.Interface
		case "port":
			k = protoPort(r.Proto, r.DstPort)
		}
		t := sums[k]
		if t == nil {
			t = &Talker{Key: k}
			sums[k] = t
		}
		t.Records++
		t.Packets += r.Packets
		t.Bytes += r.Bytes
	}
	out := make([]Talker, 0, len(sums))
	for _, t := range sums {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Talker) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Key, b.Key))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

func protoPort(proto uint8, port uint16) string {
	switch proto {
	case 6:
		return fmt.Sprintf("tcp/%d", port)
	case 17:
		return fmt.Sprintf("udp/%d", port)
	}
	return fmt.Sprintf("%d/%d", proto, port)
}

// DefaultAdminPorts are the ports rejected attempts on are listed first (§A5.2): SSH, RDP,
// WinRM over HTTP and HTTPS, Telnet.
var DefaultAdminPorts = []uint16{22, 3389, 5985, 5986, 23}

// Attempts are the rejected inbound packets of one source to one port of one interface.
type Attempts struct {
	Port      string `json:"port"` // "tcp/22"
	Source    string `json:"source"`
	Interface string `json:"interface"`
	Admin     bool   `json:"admin"`
	Records   int    `json:"records"`
	Packets   uint64 `json:"packets"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
}

// Rejected groups the period's inbound REJECT records by port, source and interface and keeps
// the groups with at least threshold packets, admin ports first (TCP to one of admin), then
// by packets. A record of unknown direction counts when its destination is not its source
// (a reject is almost always inbound).
func Rejected(recs []Record, admin []uint16, threshold uint64) []Attempts {
	type key struct{ port, src, iface string }
	sums := map[key]*Attempts{}
	for i := range recs {
		r := &recs[i]
		if !r.OK() || r.Action != "REJECT" || r.Dir == Egress {
			continue
		}
		k := key{protoPort(r.Proto, r.DstPort), r.Src.String(), r.Interface}
		a := sums[k]
		if a == nil {
			a = &Attempts{Port: k.port, Source: k.src, Interface: k.iface, First: r.Start,
				Admin: r.Proto == 6 && slices.Contains(admin, r.DstPort)}
			sums[k] = a
		}
		a.Records++
		a.Packets += r.Packets
		a.First, a.Last = min(a.First, r.Start), max(a.Last, r.End)
	}
	out := []Attempts{}
	for _, a := range sums {
		if a.Packets >= threshold {
			out = append(out, *a)
		}
	}
	slices.SortFunc(out, func(a, b Attempts) int {
		return cmp.Or(-boolCmp(a.Admin, b.Admin), cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.Interface, b.Interface))
	})
	return out
}
