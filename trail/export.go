package trail

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"time"

	"github.com/stockade/stockade/internal/atomicfile"

	"github.com/stockade/stockade/store"
)

// The S3 layout of exported trails (§2.6), under a directory the caller opens as an os.Root:
//
//	AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
//
// The date and time are the delivery's, not the events'; UNIQUE is 16 random alphanumerics
// that only prevent overwrites. The content is gzip of {"Records": [record, …]}.
var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)
)

// LogFileName is the path, relative to the export root, of a file delivered at t.
func LogFileName(account, region string, t time.Time, unique string) string {
	t = t.UTC()
	return path.Join("AWSLogs", account, "CloudTrail", region, t.Format("2006/01/02"),
		fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", account, region, t.Format("20060102T1504Z"), unique))
}

// WriteLogFile writes records (of one account and region) as one log file delivered at t, and
// returns its path relative to root. The file appears whole or not at all (written under a
// temporary name, then renamed); os.Root keeps every name inside root even if an account or
// region were hostile, and they are checked against AWS's forms first.
func WriteLogFile(root *os.Root, account, region string, t time.Time, records []json.RawMessage) (string, error) {
	if !accountPattern.MatchString(account) || !regionPattern.MatchString(region) {
		return "", fmt.Errorf("trail: export: invalid account %q or region %q", account, region)
	}
	name := LogFileName(account, region, t, uniqueName())
	var body bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&body, exportLevel) // a valid level: no error
	if _, err := zw.Write(recordsDocument(records)); err != nil {
		return "", fmt.Errorf("trail: export: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("trail: export: %w", err)
	}
	if err := root.MkdirAll(path.Dir(name), 0o750); err != nil {
		return "", fmt.Errorf("trail: export: %w", err)
	}
	if err := atomicfile.Write(root, name, name+".tmp", body.Bytes(), 0o640); err != nil {
		return "", fmt.Errorf("trail: export: %w", err)
	}
	return name, nil
}

// exportLevel is the log files' compression. Every record of the trail is compressed once,
// and at the default level that was more CPU than building the record; BestSpeed takes about
// a third of it, for files about 40 % larger (a delivery of a thousand authorize records:
// 42 KB against 30 KB, of 1.27 MB). BenchmarkWriteLogFile.
const exportLevel = gzip.BestSpeed

// recordsDocument is {"Records":[…]} and a newline, as json.Encoder writes it with records as
// json.RawMessage. The records go in as they are: the Log's records are appendRecord's output
// or, from older layouts and other servers, encoding/json's, both already in the form
// encoding/json gives a RawMessage (compact, HTML-escaped), and the Log's checksums keep them
// whole. encoding/json compacted every one of them again: half the export's CPU.
func recordsDocument(records []json.RawMessage) []byte {
	n := len(`{"Records":[]}`) + 1
	for _, r := range records {
		n += len(r) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"Records":`...)
	if records == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range records {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, r...)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

func uniqueName() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [16]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// exportCursorKey holds the Log Cursor up to which records are exported; on a shared store,
// each server's Log has its own, under the Log's ID (Log.exportCursor).
const exportCursorKey = Prefix + "meta/export-cursor"

// MaxRecordsPerFile is §2.6's flush size: at most 1,000 records per delivery.
const MaxRecordsPerFile = 1000

// Export delivers the records appended to log since the last export, at most
// MaxRecordsPerFile of them, as one file per account and region under root, then remembers
// in st how far it got. The wiring calls it every minute, and again at once while it returns
// more == true. Delivery is at least once: a crash between the files and the cursor delivers
// those records again, in new files (the unique names never overwrite).
func Export(ctx context.Context, st store.Store, log *Log, root *os.Root, now time.Time) (files []string, more bool, err error) {
	var from Cursor
	cursorKey, err := log.exportCursor()
	if err != nil {
		return nil, false, fmt.Errorf("trail: export: %w", err)
	}
	kv, ok, err := st.Get(ctx, cursorKey)
	if err != nil {
		return nil, false, fmt.Errorf("trail: export: %w", err)
	}
	if ok {
		// A cursor the Log cannot read is the first layout's (legacy.go): export from the
		// start, which delivers its records again, as at-least-once allows.
		from, _ = ParseCursor(string(kv.Value))
	}
	entries, next, err := log.since(from, MaxRecordsPerFile)
	if err != nil {
		return nil, false, fmt.Errorf("trail: export: %w", err)
	}
	if next == from {
		return nil, false, nil
	}
	type group struct{ account, region string }
	var order []group
	batches := map[group][]json.RawMessage{}
	for _, e := range entries {
		g := group{e.Account, e.Region}
		if batches[g] == nil {
			order = append(order, g)
		}
		batches[g] = append(batches[g], e.JSON)
	}
	for _, g := range order {
		name, err := WriteLogFile(root, g.account, g.region, now, batches[g])
		if err != nil {
			return files, false, err
		}
		files = append(files, name)
	}
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: cursorKey, Value: []byte(next.String())}}); err != nil {
		return files, false, fmt.Errorf("trail: export: %w", err)
	}
	return files, len(entries) == MaxRecordsPerFile, nil
}
