package trail

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readLogFile reads an exported file with nothing but the standard gzip and JSON readers.
func readLogFile(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var content struct{ Records []map[string]any }
	if err := json.NewDecoder(zr).Decode(&content); err != nil {
		t.Fatal(err)
	}
	return content.Records
}

var logFileName = regexp.MustCompile(`^AWSLogs/111122223333/CloudTrail/eu-west-1/2025/03/04/111122223333_CloudTrail_eu-west-1_20250304T1005Z_[A-Za-z0-9]{16}\.json\.gz$`)

// TestWriteLogFile: §8.3's file for a 10:05 delivery, read back with gzip+JSON, the records as
// the record JSON; names that would leave the root are refused.
func TestWriteLogFile(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	delivered := time.Date(2025, 3, 4, 10, 5, 59, 0, time.UTC)
	a, _ := Build(goldenCalls["authorize-ip-permissions"])
	b, _ := Build(goldenCalls["denied"])
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	name, err := WriteLogFile(root, acct, "eu-west-1", delivered, []json.RawMessage{ja, jb})
	if err != nil {
		t.Fatal(err)
	}
	if !logFileName.MatchString(name) {
		t.Errorf("file name %s", name)
	}
	got := readLogFile(t, filepath.Join(dir, name))
	var want []map[string]any
	for _, r := range []*Record{a, b} {
		var m map[string]any
		j, _ := json.Marshal(r)
		json.Unmarshal(j, &m)
		want = append(want, m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	other, _ := WriteLogFile(root, acct, "eu-west-1", delivered, []json.RawMessage{ja})
	if other == name {
		t.Error("two deliveries in one minute share a name")
	}
	for _, bad := range [][2]string{{"../../x", "eu-west-1"}, {acct, "../../../etc"}, {acct, "eu/west"}, {"1234", "eu-west-1"}} {
		if _, err := WriteLogFile(root, bad[0], bad[1], delivered, []json.RawMessage{ja}); err == nil {
			t.Errorf("account %q region %q accepted", bad[0], bad[1])
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "AWSLogs/*/CloudTrail/*/*/*/*/*"))
	if len(matches) != 2 {
		t.Errorf("files under the root: %v", matches)
	}
}

// TestExport: records are delivered once each, a file per account and region, at most
// MaxRecordsPerFile per call, and the cursor survives a reopen.
func TestExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	log := openLog(t, filepath.Join(dir, "log"), LogOptions{SegmentBytes: 64 << 10})
	out := t.TempDir()
	root, _ := os.OpenRoot(out)
	defer root.Close()
	now := callTime.Add(10 * time.Minute)
	var n int
	add := func(region string, at time.Time) {
		r := rec(t, "DeleteSecurityGroup", "sg-1", at, fmt.Sprintf("e-%04d", n))
		r.AWSRegion = region
		n++
		appendRecords(t, log, r)
	}
	add("eu-west-1", callTime)
	add("us-east-1", callTime.Add(time.Second))
	add("eu-west-1", callTime.Add(2*time.Second))

	files, more, err := Export(ctx, st, log, root, now)
	if err != nil || more || len(files) != 2 {
		t.Fatalf("Export = %v, %v, %v", files, more, err)
	}
	counts := map[string]int{}
	for _, f := range files {
		for _, r := range readLogFile(t, filepath.Join(out, f)) {
			counts[r["awsRegion"].(string)]++
		}
	}
	if diff := cmp.Diff(map[string]int{"eu-west-1": 2, "us-east-1": 1}, counts); diff != "" {
		t.Errorf("records per region (-want +got):\n%s", diff)
	}
	if files, _, _ := Export(ctx, st, log, root, now); len(files) != 0 {
		t.Errorf("second delivery repeats: %v", files)
	}
	st.Close()

	st = openStore(t, filepath.Join(dir, "s.db"))
	for range MaxRecordsPerFile + 5 { // across several segments
		add("eu-west-1", now)
	}
	later := now.Add(5 * time.Minute)
	var total int
	for i := 0; ; i++ {
		files, more, err := Export(ctx, st, log, root, later)
		if err != nil || i > 3 {
			t.Fatalf("Export: %v", err)
		}
		for _, f := range files {
			total += len(readLogFile(t, filepath.Join(out, f)))
		}
		if !more {
			break
		}
	}
	if total != MaxRecordsPerFile+5 {
		t.Errorf("after reopen %d records delivered, want %d (the new ones)", total, MaxRecordsPerFile+5)
	}
}

// TestRecordsDocument: a log file's document is what json.Encoder writes for
// {"Records": records} with the records as json.RawMessage, for the records the Log holds
// (every golden call's), for one, and for none.
func TestRecordsDocument(t *testing.T) {
	var all []json.RawMessage
	for _, c := range goldenCalls {
		r, _ := Build(c)
		all = append(all, r.JSON())
	}
	for _, records := range [][]json.RawMessage{all, all[:1], {}, nil} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(struct {
			Records []json.RawMessage `json:"Records"`
		}{records}); err != nil {
			t.Fatal(err)
		}
		if got := recordsDocument(records); string(got) != want.String() {
			t.Errorf("%d records:\ngot  %.300s\nwant %.300s", len(records), got, want.String())
		}
	}
}

// BenchmarkWriteLogFile is the export of a thousand authorize records (one delivery's worst):
// every record the trail keeps is compressed into a log file once.
func BenchmarkWriteLogFile(b *testing.B) {
	c := goldenCalls["authorize-ip-permissions"]
	records := make([]json.RawMessage, MaxRecordsPerFile)
	for i := range records {
		c.EventID = ""
		r, _ := Build(c)
		records[i] = r.JSON()
	}
	root, err := os.OpenRoot(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	for b.Loop() {
		if _, err := WriteLogFile(root, acct, "eu-west-1", time.Now(), records); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/record")
}
