package objstore

import (
	"bytes"
	"testing"
)

// TestUploadsCountAgainstTheQuota: an upload's parts take the account's bytes from the
// moment they are stored; completing turns them into the object's (replacing an older
// object frees its bytes), aborting, deleting the bucket or reopening the store (uploads do
// not outlive the process) gives them back.
func TestUploadsCountAgainstTheQuota(t *testing.T) {
	const acct = "111111111111"
	lim := DefaultLimits()
	lim.MaxAccountBytes, lim.MaxObjectBytes = 12<<20, 12<<20
	s, err := Open(t.TempDir(), lim)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := s.CreateBucket(acct, "us-east-1", "logs-a"); err != nil {
		t.Fatal(err)
	}
	five := bytes.Repeat([]byte("x"), MinPartBytes)
	id, err := s.CreateUpload(acct, "logs-a", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	e1, err := s.PutPart(acct, "logs-a", "k", id, 1, five)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(acct, "logs-a", "k", id, 2, five); err != nil {
		t.Fatal(err)
	}
	// 10 MiB of parts: a 3 MiB object does not fit beside them, a part replaced in place does.
	if got := code(put(s, acct, "logs-a", "other", string(make([]byte, 3<<20)))); got != "QuotaExceeded" {
		t.Errorf("an object beside the parts: %q", got)
	}
	e2, err := s.PutPart(acct, "logs-a", "k", id, 2, []byte("tail"))
	if err != nil {
		t.Fatal(err)
	}
	if s.used[acct] != MinPartBytes+4 {
		t.Errorf("used %d after replacing a part", s.used[acct])
	}
	obj, err := s.CompleteUpload(acct, "logs-a", "k", id, []CompletedPart{{1, e1}, {2, e2}})
	if err != nil || obj.Size != MinPartBytes+4 || s.used[acct] != obj.Size || len(s.uploads) != 0 {
		t.Fatalf("complete: %+v %v, used %d", obj, err, s.used[acct])
	}
	if fi, err := s.buckets["logs-a"].root.Stat(uploadsDir + "/" + id); err == nil {
		t.Errorf("the parts stay after completion: %v", fi.Name())
	}
	// Parts of an upload that is then aborted, and of one the store forgets at a restart.
	for _, end := range []string{"abort", "reopen", "delete bucket"} {
		id, err := s.CreateUpload(acct, "logs-a", "k2", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutPart(acct, "logs-a", "k2", id, 1, five); err != nil {
			t.Fatal(err)
		}
		switch end {
		case "abort":
			err = s.AbortUpload(acct, "logs-a", "k2", id)
		case "reopen":
			s.Close()
			s, err = Open(s.dir, lim)
			if err == nil && s.used[acct] != obj.Size {
				t.Errorf("reopen: used %d", s.used[acct])
			}
			if _, e := s.PutPart(acct, "logs-a", "k2", id, 1, five); code(e) != "NoSuchUpload" {
				t.Errorf("a part of an upload from before the restart: %v", e)
			}
		case "delete bucket":
			if err = s.Delete(acct, "logs-a", "k"); err == nil {
				err = s.DeleteBucket(acct, "logs-a")
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", end, err)
		}
		want := obj.Size
		if end == "delete bucket" {
			want = 0
		}
		if s.used[acct] != want || len(s.uploads) != 0 {
			t.Errorf("%s: used %d, %d uploads", end, s.used[acct], len(s.uploads))
		}
	}
}
