package dataplane_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/netlab"
)

// The flow-log benchmarks (BENCHMARKS.md, "Flow logs"): they take the kernel tier and
// minutes at full size; run each alone, e.g.
//
//	go test -run '^$' -bench 'BenchmarkConntrackDumpZero$' -benchtime 1x ./dataplane

// BenchmarkConntrackDumpZero is the cost of a window's read of accepted traffic: one dump of
// a router's connection-tracking table that zeroes its counters in the same operation
// (dataplane.NFT.Conns with zero, what the agent does once a window), at 10,000 and 100,000
// entries. The entries are made with ctnetlink creates in a router namespace the benchmark
// makes (UDP between 10,000 addresses of 10.0.0.0/8 and one server, timeout 10 minutes, so
// that none expires during the run), not with real connections; accounting and timestamps
// are on as on a router (netlab.EnableForwarding).
func BenchmarkConntrackDumpZero(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			l := newKernelLab(b)
			if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
				b.Fatal(err)
			}
			h, err := netns.GetFromPath(netlab.Path(l.router))
			if err != nil {
				b.Fatal(err)
			}
			c, err := conntrack.Dial(&netlink.Config{NetNS: int(h)})
			h.Close()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			server := netip.MustParseAddr("192.168.0.1")
			for i := range n {
				src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				f := conntrack.NewFlow(unix.IPPROTO_UDP, 0, src, server, uint16(1024+i%60000), 53, 600, 0)
				if err := c.Create(f); err != nil {
					b.Fatalf("entry %d: %v", i, err)
				}
			}
			for b.Loop() {
				conns, err := l.k.Conns(l.router, true)
				if err != nil {
					b.Fatal(err)
				}
				if len(conns) != n {
					b.Fatalf("dumped %d entries, made %d", len(conns), n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n)*1000, "ns/entry")
		})
	}
}

// BenchmarkRejectFlood floods refused SYNs at an interface covered by a flow log of rejected
// traffic (web's SYNs to db:8080, which db's group refuses, from a raw socket in web's
// namespace, each from its own source port: every one a new flow) and drains the router's
// NFLOG group as the agent does, into the agent's aggregator. It reports the SYNs sent per
// second, the packets logged, the REJECT records of the window and whether the window has a
// SKIPDATA record: the rate guard holds the copies to its rate and says so ("stk:over",
// netlink overruns), so a flood costs the host a bounded number of copies, never silent
// loss.
func BenchmarkRejectFlood(b *testing.B) {
	const flood = 200_000
	n := withFlowLogs(threeTier())
	web, db := n.Snapshot.ENIs[0], n.Snapshot.ENIs[2]
	l, nss := forwardingLab(b, n, 0, 2)
	ifcWeb := &flowlog.Interface{ID: web.ID, VPC: web.VpcID, Primary: web.PrivateIP}
	ifcDB := &flowlog.Interface{ID: db.ID, VPC: db.VpcID, Primary: db.PrivateIP}
	var sentPPS, logged, records, skip float64
	for b.Loop() {
		r, err := l.k.OpenLog(l.router, dataplane.LogGroupRejected)
		if err != nil {
			b.Fatal(err)
		}
		agg := flowlog.NewAggregator(1 << 20)
		start := time.Now()
		done := make(chan int)
		go func() {
			got := 0
			for {
				r.SetDeadline(time.Now().Add(2 * time.Second))
				pkts, err := r.Read()
				if errors.Is(err, dataplane.ErrLogOverrun) {
					agg.Lost(db.ID)
					continue
				}
				if err != nil { // the deadline after the flood: drained
					done <- got
					return
				}
				for _, p := range pkts {
					if p.Prefix == dataplane.LogPrefixOver {
						agg.Lost(db.ID)
						continue
					}
					if pkt, ok := flowlog.ParsePacket(p.Payload); ok {
						got++
						agg.AddDrop(flowlog.Drop{From: ifcWeb, To: ifcDB, SenderAdmitted: true, Packet: pkt, Time: p.Time.Unix()})
					}
				}
			}
		}()
		t0 := time.Now()
		if err := netlab.Do(nss[0], func() error { return floodSYNs(web.PrivateIP, db.PrivateIP, 8080, flood) }); err != nil {
			b.Fatal(err)
		}
		sentPPS = flood / time.Since(t0).Seconds()
		logged = float64(<-done)
		r.Close()
		records, skip = 0, 0
		for _, rec := range agg.Close(flowlog.WindowStart(start, 10*time.Minute), 10*time.Minute, []*flowlog.Interface{ifcDB}) {
			switch {
			case rec.Status == flowlog.SkipData:
				skip = 1
			case rec.Action == flowlog.Reject:
				records++
			}
		}
	}
	b.ReportMetric(sentPPS, "sent-pps")
	b.ReportMetric(logged, "logged")
	b.ReportMetric(records, "reject-records")
	b.ReportMetric(skip, "skipdata")
}

// floodSYNs sends count TCP SYNs from src to dst:port through a raw socket of the current
// namespace, source ports cycling through 1024–65535.
func floodSYNs(src, dst netip.Addr, port uint16, count int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	seg := make([]byte, 20)
	for i := range count {
		sport := uint16(1024 + i%64512)
		binary.BigEndian.PutUint16(seg[0:], sport)
		binary.BigEndian.PutUint16(seg[2:], port)
		binary.BigEndian.PutUint32(seg[4:], uint32(i)) // sequence
		binary.BigEndian.PutUint32(seg[8:], 0)
		seg[12], seg[13] = 5<<4, 0x02 // header length 20, SYN
		binary.BigEndian.PutUint16(seg[14:], 64240)
		seg[16], seg[17], seg[18], seg[19] = 0, 0, 0, 0
		binary.BigEndian.PutUint16(seg[16:], tcpChecksum(src, dst, seg))
		if err := unix.Sendto(fd, seg, 0, to); err != nil && !errors.Is(err, unix.ENOBUFS) {
			return os.NewSyscallError("sendto", err)
		}
	}
	return nil
}

// tcpChecksum is the TCP checksum of seg (its checksum field zero) over the IPv4 pseudo-header.
func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	var sum uint32
	s, d := src.As4(), dst.As4()
	for _, w := range [][]byte{s[:], d[:], {0, unix.IPPROTO_TCP}, {byte(len(seg) >> 8), byte(len(seg))}, seg} {
		for i := 0; i+1 < len(w); i += 2 {
			sum += uint32(w[i])<<8 | uint32(w[i+1])
		}
		if len(w)%2 == 1 {
			sum += uint32(w[len(w)-1]) << 8
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
