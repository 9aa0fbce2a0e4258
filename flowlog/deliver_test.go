package flowlog

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

const acct = "123456789010"

func TestS3Key(t *testing.T) {
	at := time.Date(2018, 6, 20, 16, 23, 7, 0, time.UTC)
	const file = "123456789010_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz"
	for _, tt := range []struct {
		dest        string
		hive, hour  bool
		bucket, key string
	}{
		{"arn:aws:s3:::my-bucket", false, false, "my-bucket", "AWSLogs/123456789010/vpcflowlogs/us-east-1/2018/06/20/" + file},
		{"arn:aws:s3:::my-bucket/", false, false, "my-bucket", "AWSLogs/123456789010/vpcflowlogs/us-east-1/2018/06/20/" + file},
		{"arn:aws:s3:::my-bucket/prod/vpc/", false, true, "my-bucket", "prod/vpc/AWSLogs/123456789010/vpcflowlogs/us-east-1/2018/06/20/16/" + file},
		{"arn:aws:s3:::my-bucket/prod", true, false, "my-bucket", "prod/AWSLogs/aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=us-east-1/year=2018/month=06/day=20/" + file},
		{"arn:aws:s3:::my-bucket", true, true, "my-bucket", "AWSLogs/aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=us-east-1/year=2018/month=06/day=20/hour=16/" + file},
	} {
		l := Log{Def: &model.FlowLog{ID: "fl-1234abcd", DestType: "s3", Destination: tt.dest, HivePartitions: tt.hive, PerHour: tt.hour}, Account: acct, Region: "us-east-1"}
		b, k := S3Key(l, at, "fe123456")
		if b != tt.bucket || k != tt.key {
			t.Errorf("%s hive=%v hour=%v: %s %s, want %s %s", tt.dest, tt.hive, tt.hour, b, k, tt.bucket, tt.key)
		}
	}
}

// TestDeliverS3 writes a window to a bucket and reads it back as flowlogs-reader and the
// OpenTelemetry collector do: the file name's timestamp is the second-to-last '_' part, the
// gzip holds exactly one header line, then lines with as many single-space values as it.
// A flow log whose bucket is missing fails with "Access error" and recovers.
func TestDeliverS3(t *testing.T) {
	objs, err := objstore.Open(t.TempDir(), objstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	if err := objs.CreateBucket(acct, "us-east-1", "flows"); err != nil {
		t.Fatal(err)
	}
	w := &Writer{Objects: objs}
	ws := time.Date(2026, 12, 1, 16, 24, 0, 0, time.UTC)
	recs := []Record{
		{Iface: ifcA, Dir: Egress, Action: Accept, Flow: tcp("10.0.1.10", 5, "10.0.2.20", 80), Packets: 2, Bytes: 120, Start: ws.Unix(), End: ws.Unix() + 1},
		{Iface: ifcA, Dir: Ingress, Action: Reject, Flow: tcp("10.0.2.20", 6, "10.0.1.10", 22), Packets: 1, Bytes: 60, Start: ws.Unix(), End: ws.Unix()},
		{Iface: ifcB, Status: NoData, Start: ws.Unix(), End: ws.Unix() + 59},
	}
	accept := Log{Def: &model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ACCEPT", DestType: "s3", Destination: "arn:aws:s3:::flows/p", Format: model.DefaultFlowLogFormat}, Account: acct, Region: "us-east-1"}
	eniOnly := Log{Def: &model.FlowLog{ID: "fl-2", ResourceID: "eni-0a", TrafficType: "REJECT", DestType: "s3", Destination: "arn:aws:s3:::flows", Format: "${interface-id} ${action} ${dstport}"}, Account: acct, Region: "us-east-1"}
	missing := Log{Def: &model.FlowLog{ID: "fl-3", ResourceID: "subnet-a", TrafficType: "ALL", DestType: "s3", Destination: "arn:aws:s3:::gone", Format: model.DefaultFlowLogFormat}, Account: acct, Region: "us-east-1"}
	w.Deliver(context.Background(), []Log{accept, eniOnly, missing}, recs, ws)

	got := map[string][]string{}
	list, err := objs.List(acct, "flows", objstore.ListQuery{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Objects {
		parts := strings.Split(o.Key[strings.LastIndex(o.Key, "/")+1:], "_")
		if _, err := time.Parse("20060102T1504Z", parts[len(parts)-2]); err != nil {
			t.Errorf("%s: flowlogs-reader cannot parse the file name's time: %v", o.Key, err)
		}
		got[o.Key[:strings.LastIndex(o.Key, "_")]] = readGzipLines(t, objs, o.Key)
	}
	want := map[string][]string{
		"p/AWSLogs/123456789010/vpcflowlogs/us-east-1/2026/12/01/123456789010_vpcflowlogs_us-east-1_fl-1_20261201T1620Z": {
			"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
			"2 123456789010 eni-0a 10.0.1.10 10.0.2.20 5 80 6 2 120 " + itoa(ws.Unix()) + " " + itoa(ws.Unix()+1) + " ACCEPT OK",
			"2 123456789010 eni-0b - - - - - - - " + itoa(ws.Unix()) + " " + itoa(ws.Unix()+59) + " - NODATA",
		},
		"AWSLogs/123456789010/vpcflowlogs/us-east-1/2026/12/01/123456789010_vpcflowlogs_us-east-1_fl-2_20261201T1620Z": {
			"interface-id action dstport",
			"eni-0a REJECT 22",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got)\n%s", diff)
	}
	for k, ls := range got {
		n := len(strings.Split(ls[0], " "))
		for _, l := range ls[1:] {
			if len(strings.Split(l, " ")) != n {
				t.Errorf("%s: %q has not the header's %d values", k, l, n)
			}
		}
	}
	for id, want := range map[string]Delivery{"fl-1": {"SUCCESS", ""}, "fl-2": {"SUCCESS", ""}, "fl-3": {"FAILED", "Access error"}} {
		if got := w.Status(id); got != want {
			t.Errorf("%s: %+v, want %+v", id, got, want)
		}
	}
	if err := objs.CreateBucket(acct, "us-east-1", "gone"); err != nil {
		t.Fatal(err)
	}
	w.Deliver(context.Background(), []Log{missing}, recs, ws.Add(time.Minute))
	if got := w.Status("fl-3"); got.Status != "SUCCESS" {
		t.Errorf("after the bucket exists: %+v", got)
	}
}

func readGzipLines(t *testing.T, objs *objstore.Store, key string) []string {
	t.Helper()
	f, _, err := objs.Get(acct, "flows", key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "\n") {
		t.Errorf("%s does not end in a newline", key)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestDeliverCloudWatch: one stream per interface, one event per record without header,
// stamped with the record's start; the group is created as AWS does with the role.
func TestDeliverCloudWatch(t *testing.T) {
	logs, err := logstore.Open(t.TempDir(), logstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Logs: logs}
	ws := time.Date(2026, 12, 1, 16, 24, 0, 0, time.UTC)
	recs := []Record{
		{Iface: ifcA, Dir: Egress, Action: Accept, Flow: tcp("10.0.1.10", 5, "10.0.2.20", 80), Packets: 2, Bytes: 120, Start: ws.Unix() + 3, End: ws.Unix() + 4},
		{Iface: ifcB, Status: NoData, Start: ws.Unix(), End: ws.Unix() + 59},
	}
	l := Log{Def: &model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "cloud-watch-logs", LogGroupName: "vpc/flows", Format: "${interface-id} ${packets} ${log-status}"}, Account: acct, Region: "us-east-1"}
	w.Deliver(context.Background(), []Log{l}, recs, ws)
	sc := logstore.Scope{Account: acct, Region: "us-east-1"}
	got := map[string][]logstore.Event{}
	for _, s := range []string{"eni-0a-all", "eni-0b-all"} {
		evs, err := logs.Events(sc, "vpc/flows", s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for i := range evs {
			evs[i].IngestionTime = 0
		}
		got[s] = evs
	}
	want := map[string][]logstore.Event{
		"eni-0a-all": {{Timestamp: (ws.Unix() + 3) * 1000, Message: "eni-0a 2 OK"}},
		"eni-0b-all": {{Timestamp: ws.Unix() * 1000, Message: "eni-0b - NODATA"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if d := w.Status("fl-1"); d.Status != "SUCCESS" {
		t.Errorf("status %+v", d)
	}
}
