package main

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// TestLiveRecordsRoundTrip: what the agent's writer delivers to a data directory — an S3
// flow log in a custom format and a CloudWatch Logs one in the default format — is what
// `stockade flows` and the live audit read back, each flow log's own records only.
func TestLiveRecordsRoundTrip(t *testing.T) {
	const acct, region = "123456789012", "us-east-1"
	dir := t.TempDir()
	objs, err := objstore.Open(filepath.Join(dir, datadir.S3), objstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	lgs, err := logstore.Open(filepath.Join(dir, datadir.Logs), logstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.CreateBucket(acct, region, "flows"); err != nil {
		t.Fatal(err)
	}
	ifc := &flowlog.Interface{ID: "eni-a", Account: acct, VPC: "vpc-1", Primary: netip.MustParseAddr("10.0.1.10")}
	ws := time.Date(2026, 12, 1, 16, 24, 0, 0, time.UTC)
	recs := []flowlog.Record{
		{Iface: ifc, Dir: flowlog.Ingress, Action: flowlog.Accept, Packets: 3, Bytes: 180, Start: ws.Unix(), End: ws.Unix() + 2, Flags: 2,
			Flow: flowlog.Flow{Proto: 6, Src: netip.MustParseAddr("192.0.2.5"), Dst: netip.MustParseAddr("10.0.1.10"), SrcPort: 50000, DstPort: 22}},
		{Iface: ifc, Status: flowlog.NoData, Start: ws.Unix(), End: ws.Unix() + 59},
	}
	s3 := &model.FlowLog{ID: "fl-s3", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "s3", Destination: "arn:aws:s3:::flows",
		Format: "${interface-id} ${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"}
	cw := &model.FlowLog{ID: "fl-cw", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "cloud-watch-logs", LogGroupName: "flows"}
	other := &model.FlowLog{ID: "fl-other", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "s3", Destination: "arn:aws:s3:::flows"}
	w := &flowlog.Writer{Objects: objs, Logs: lgs}
	w.Deliver(context.Background(), []flowlog.Log{{Def: s3, Account: acct, Region: region}, {Def: cw, Account: acct, Region: region}}, recs, ws)
	for _, l := range []*model.FlowLog{s3, cw} {
		if d := w.Status(l.ID); d.Status != "SUCCESS" {
			t.Fatalf("%s: %+v", l.ID, d)
		}
	}
	a, p := netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("10.0.1.10")
	ok := flows.Record{Interface: "eni-a", Src: a, Dst: p, PktSrc: a, PktDst: p, SrcPort: 50000, DstPort: 22, Proto: 6,
		Packets: 3, Bytes: 180, Start: ws.Unix(), End: ws.Unix() + 2, Action: "ACCEPT", Status: "OK", Flags: 2, Dir: flows.Ingress}
	nodata := flows.Record{Interface: "eni-a", Start: ws.Unix(), End: ws.Unix() + 59, Status: "NODATA", Flags: -1}
	for _, tt := range []struct {
		log  *model.FlowLog
		want []flows.Record
	}{
		{s3, []flows.Record{ok, nodata}},
		{cw, func() []flows.Record {
			// The default format has neither direction nor flags, and names the account.
			o, n := ok, nodata
			o.Dir, o.Flags, o.Account, n.Account = flows.Unknown, -1, acct, acct
			return []flows.Record{o, n}
		}()},
		{other, nil},
	} {
		got, err := liveRecords(dir, acct, region, []*model.FlowLog{tt.log})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.log.ID, d)
		}
	}
}
