package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// TestMaintainTrail: one pass prunes the record past 90 days and exports the recent one as a
// CloudTrail log file (AWSLogs/<account>/CloudTrail/<region>/…json.gz holding
// {"Records":[…]}), which a plain gunzip and JSON decode read back.
func TestMaintainTrail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "s.db"), bolt.Options{Unwatched: []string{trail.Prefix}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tlog, err := trail.OpenLog(filepath.Join(dir, "log"), trail.LogOptions{SegmentBytes: 1}) // a segment per record
	if err != nil {
		t.Fatal(err)
	}
	defer tlog.Close()
	rec := trail.NewRecorder(tlog, st, trail.RecorderOptions{})
	now := time.Date(2025, 3, 4, 10, 5, 0, 0, time.UTC)
	id := trail.Identity{Kind: trail.Root, AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE"}
	for _, at := range []time.Time{now.Add(-trail.Retention - time.Hour), now.Add(-10 * time.Minute)} {
		r, err := trail.Build(trail.Call{Service: trail.EC2, Action: "DescribeVpcs", Identity: id, Region: "eu-west-1",
			RequestID: "r", Time: at})
		if err != nil {
			t.Fatal(err)
		}
		rec.Record(r)
		rec.Flush(ctx)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	maintainTrail(ctx, st, tlog, root, now, slog.New(slog.DiscardHandler))

	var files []string
	filepath.WalkDir(filepath.Join(dir, "AWSLogs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("exported files %v, want one", files)
	}
	if want := filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/eu-west-1/2025/03/04"); filepath.Dir(files[0]) != want {
		t.Errorf("exported to %s, want under %s", files[0], want)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var log struct{ Records []trail.Record }
	if err := json.NewDecoder(zr).Decode(&log); err != nil {
		t.Fatal(err)
	}
	if len(log.Records) != 1 || log.Records[0].EventTime != now.Add(-10*time.Minute).Format(time.RFC3339) {
		t.Errorf("exported records %+v, want only the recent one", log.Records)
	}
	for at, want := range map[time.Time]int{now.Add(-time.Hour): 0, now: 1} { // an hour ago, the old record would be in the window
		l, err := trail.NewLookup(ctx, st, tlog, trail.LookupOptions{Rate: -1, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		res := l.Serve(ctx, trail.Scope{Account: "111122223333", Region: "eu-west-1"}, trail.Target, []byte(`{}`))
		var found struct{ Events []struct{ EventTime float64 } }
		json.Unmarshal(res.Body, &found)
		if len(found.Events) != want {
			t.Errorf("lookup at %v: %s, want %d events (the old record pruned)", at, res.Body, want)
		}
	}
}
