package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/store"
)

// TestSegmentWrittenAhead: once a segment is half full the next one is written ahead, and the
// roll takes it: the new segment is walSegmentBytes long before anything is appended to it.
// A crash then leaves a segment whose appends end in zeros; Open recovers every transaction
// up to them, also when a torn append lies over them, and deletes a next segment the crash
// left half written.
func TestSegmentWrittenAhead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := bytes.Repeat([]byte("v"), 100<<10)
	var last int64
	for i := 0; i < 50; i++ { // 5 MB: past one segment and into the next
		if last, err = s.Txn(ctx, nil, []store.Op{{Key: fmt.Sprint("k", i), Value: value}}); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(path+".wal", "*.wal"))
	if len(segs) != 2 {
		t.Fatalf("log segments %v, want two", segs)
	}
	fi, err := os.Stat(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != walSegmentBytes || s.log.size >= walSegmentBytes {
		t.Fatalf("the second segment is %d bytes with %d appended: it was not written ahead", fi.Size(), s.log.size)
	}
	want := digest(t, s)

	crash := func(torn []byte) string {
		t.Helper()
		crashed := filepath.Join(t.TempDir(), "s.db")
		copyFile(t, path, crashed)
		os.Mkdir(crashed+".wal", 0o700)
		for _, seg := range segs {
			copyFile(t, seg, filepath.Join(crashed+".wal", filepath.Base(seg)))
		}
		os.WriteFile(filepath.Join(crashed+".wal", walNextName), []byte("half written"), 0o600)
		if torn != nil {
			f, _ := os.OpenFile(filepath.Join(crashed+".wal", filepath.Base(segs[1])), os.O_WRONLY, 0)
			f.WriteAt(torn, s.log.size)
			f.Close()
		}
		return crashed
	}
	for name, torn := range map[string][]byte{
		"zeros":                nil,
		"a torn append":        {200, 0, 0, 0, 1, 2, 3, 4, 5},
		"a torn append's tail": {0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7},
	} {
		crashed := crash(torn)
		r, err := Open(crashed, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := digest(t, r); got != want {
			t.Errorf("%s: recovered %s, want %s", name, got, want)
		}
		if rev := r.Revision(); rev != last {
			t.Errorf("%s: revision %d after recovery, want %d", name, rev, last)
		}
		r.Close()
		if _, err := os.Stat(filepath.Join(crashed+".wal", walNextName)); !os.IsNotExist(err) {
			t.Errorf("%s: the half-written next segment is still there (%v)", name, err)
		}
	}

	// Zeros end only the newest segment: in an older one, what follows would be lost.
	crashed := crash(nil)
	os.WriteFile(filepath.Join(crashed+".wal", walSegmentName(last+1)), nil, 0o600)
	if _, err := Open(crashed, Options{}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Open with zeros in an older segment: %v", err)
	}
}

// digest is the store's keys, revisions and values as one short string.
func digest(t *testing.T, s *Store) string {
	t.Helper()
	kvs, rev, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, kv := range kvs {
		fmt.Fprintf(h, "%s@%d=%x;", kv.Key, kv.ModRevision, sha256.Sum256(kv.Value))
	}
	return fmt.Sprintf("%d keys at %d, %x", len(kvs), rev, h.Sum(nil)[:8])
}
