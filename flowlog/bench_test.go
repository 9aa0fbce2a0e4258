package flowlog

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// BenchmarkWindow measures the agent's user-space side of one window: the observations of
// n connections (each seen four times, as A2.2's worked example: both directions on both
// interfaces) added to the aggregator, the window closed into records, and the records
// rendered and delivered to an S3 flow log in a custom format and a CloudWatch Logs flow log
// in the default one. records/s is the sustained rate; ms/window at 10,000 flows is to be
// compared with the 60 s window the records must be written within.
func BenchmarkWindow(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(strconv.Itoa(n)+"flows", func(b *testing.B) {
			dir := b.TempDir()
			lim := objstore.Limits{MaxObjectBytes: 64 << 20, MaxAccountBytes: 64 << 30, MaxBuckets: 10, MaxObjectsPerBucket: 1 << 30}
			objs, err := objstore.Open(dir+"/s3", lim)
			if err != nil {
				b.Fatal(err)
			}
			defer objs.Close()
			llim := logstore.DefaultLimits()
			llim.MaxAccountBytes = 64 << 30
			lgs, err := logstore.Open(dir+"/logs", llim)
			if err != nil {
				b.Fatal(err)
			}
			if err := objs.CreateBucket(acct, "us-east-1", "flows"); err != nil {
				b.Fatal(err)
			}
			logs := []Log{
				{Def: &model.FlowLog{ID: "fl-s3", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "s3", Destination: "arn:aws:s3:::flows",
					Format: "${version} ${interface-id} ${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${tcp-flags} ${log-status}"}, Account: acct, Region: "us-east-1"},
				{Def: &model.FlowLog{ID: "fl-cw", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "cloud-watch-logs", LogGroupName: "flows"}, Account: acct, Region: "us-east-1"},
			}
			w := &Writer{Objects: objs, Logs: lgs}
			ifaces := []*Interface{ifcA, ifcB}
			obs := make([]Obs, 0, 4*n)
			for i := range n {
				src := netip.AddrFrom4([4]byte{10, 0, 1, 10})
				dst := netip.AddrFrom4([4]byte{10, 0, 2, 20})
				fwd := Flow{Proto: 6, Src: src, Dst: dst, SrcPort: uint16(1024 + i%60000), DstPort: uint16(80 + i/60000)}
				rev := Flow{Proto: 6, Src: dst, Dst: src, SrcPort: fwd.DstPort, DstPort: fwd.SrcPort}
				obs = append(obs,
					Obs{Iface: ifcA.ID, Dir: Egress, Flow: fwd, Packets: 5, Bytes: 400, Flags: FlagSYN | FlagFIN},
					Obs{Iface: ifcA.ID, Dir: Ingress, Flow: rev, Packets: 4, Bytes: 3000, Flags: FlagSYNACK | FlagFIN},
					Obs{Iface: ifcB.ID, Dir: Ingress, Flow: fwd, Packets: 5, Bytes: 400, Flags: FlagSYN | FlagFIN},
					Obs{Iface: ifcB.ID, Dir: Egress, Flow: rev, Packets: 4, Bytes: 3000, Flags: FlagSYNACK | FlagFIN})
			}
			ws := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
			agg := NewAggregator(0)
			records := 0
			b.ResetTimer()
			for b.Loop() {
				for _, o := range obs {
					agg.Add(o)
				}
				recs := agg.Close(ws, DefaultWindow, ifaces)
				w.Deliver(context.Background(), logs, recs, ws)
				records += len(recs)
				ws = ws.Add(DefaultWindow)
			}
			b.StopTimer()
			for _, l := range logs {
				if d := w.Status(l.Def.ID); d.Status != "SUCCESS" {
					b.Fatalf("%s: %+v", l.Def.ID, d)
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/window")
		})
	}
}
