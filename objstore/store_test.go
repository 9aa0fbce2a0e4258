package objstore

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

func code(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestBucketNames(t *testing.T) {
	for name, want := range map[string]bool{
		"flow-logs": true, "a.b-c1": true, "ab": false, "Upper": false, "-lead": false, "trail-": false,
		"a..b": false, "192.168.5.4": false, "xn--abc": false, "sthree-x": false, "x-s3alias": false,
		"amzn-s3-demo-x": false, "b--x-s3": false, "under_score": false,
	} {
		if got := ValidBucketName(name); got != want {
			t.Errorf("ValidBucketName(%q) = %v", name, got)
		}
	}
}

func TestKeysAreNeverPaths(t *testing.T) {
	for _, k := range []string{"..", ".", "../../etc/passwd", "/abs", "a\x00b", "a/b/", ".bucket", ".meta", "%41", "é"} {
		enc := EncodeKey(k)
		if enc == "." || enc == ".." || enc[0] == '.' || containsAny(enc, "/\x00") {
			t.Errorf("EncodeKey(%q) = %q", k, enc)
		}
		if got, ok := DecodeKey(enc); !ok || got != k {
			t.Errorf("DecodeKey(EncodeKey(%q)) = %q, %v", k, got, ok)
		}
	}
}

func containsAny(s, chars string) bool {
	for i := range len(s) {
		for j := range len(chars) {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

func TestStore(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxAccountBytes, lim.MaxObjectBytes = 10, 8
	s, err := Open(t.TempDir(), lim)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []struct {
		name string
		err  error
		want string
	}{
		{"create", s.CreateBucket("111111111111", "us-east-1", "logs-a"), ""},
		{"again", s.CreateBucket("111111111111", "us-east-1", "logs-a"), "BucketAlreadyOwnedByYou"},
		{"other account", s.CreateBucket("222222222222", "us-east-1", "logs-a"), "BucketAlreadyExists"},
		{"bad name", s.CreateBucket("111111111111", "us-east-1", "Logs"), "InvalidBucketName"},
		{"put", put(s, "111111111111", "logs-a", "../x", "1234"), ""},
		{"put nested", put(s, "111111111111", "logs-a", "d/e/f", "12"), ""},
		{"put dir-like", put(s, "111111111111", "logs-a", "d/e", "1"), ""},
		{"too large", put(s, "111111111111", "logs-a", "big", "123456789"), "EntityTooLarge"},
		{"over quota", put(s, "111111111111", "logs-a", "q", "1234"), "QuotaExceeded"},
		{"other's bucket", put(s, "222222222222", "logs-a", "k", "1"), "AccessDenied"},
		{"no bucket", put(s, "111111111111", "nope-b", "k", "1"), "NoSuchBucket"},
		{"delete full", s.DeleteBucket("111111111111", "logs-a"), "BucketNotEmpty"},
	}
	for _, st := range steps {
		if got := code(st.err); got != st.want {
			t.Errorf("%s: %q, want %q", st.name, got, st.want)
		}
	}
	page := func(q ListQuery) ([]string, []string, bool) {
		res, err := s.List("111111111111", "logs-a", q)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		return keys, res.CommonPrefixes, res.Truncated
	}
	keys, cps, _ := page(ListQuery{Delimiter: "/", MaxKeys: 1000})
	if len(keys) != 0 {
		t.Errorf("keys beside the common prefixes: %v", keys)
	}
	if diff := cmp.Diff([]string{"../", "d/"}, cps); diff != "" {
		t.Error(diff)
	}
	keys, _, more := page(ListQuery{MaxKeys: 2})
	if diff := cmp.Diff([]string{"../x", "d/e"}, keys); diff != "" || !more {
		t.Error(diff, more)
	}
	keys, _, more = page(ListQuery{MaxKeys: 2, After: "d/e"})
	if diff := cmp.Diff([]string{"d/e/f"}, keys); diff != "" || more {
		t.Error(diff, more)
	}
	// A delimiter page that ended at a common prefix resumes after everything under it.
	_, cps, _ = page(ListQuery{Prefix: "d/", Delimiter: "/", MaxKeys: 1000, After: "d/e/"})
	if len(cps) != 0 {
		t.Errorf("resumed inside a common prefix: %v", cps)
	}
	f, obj, err := s.Get("111111111111", "logs-a", "../x")
	if err != nil || obj.Size != 4 || obj.ETag != `"81dc9bdb52d04dc20036dbd8313ed055"` {
		t.Fatalf("get: %+v %v", obj, err)
	}
	f.Close()
	// Reopening the store counts the account's bytes again: the quota still holds.
	s.Close()
	if s, err = Open(s.dir, lim); err != nil {
		t.Fatal(err)
	}
	if got := code(put(s, "111111111111", "logs-a", "q", "1234")); got != "QuotaExceeded" {
		t.Errorf("after reopen: %q", got)
	}
	for _, k := range []string{"../x", "d/e/f", "d/e", "missing"} {
		if err := s.Delete("111111111111", "logs-a", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBucket("111111111111", "logs-a"); err != nil {
		t.Fatal(err)
	}
	if got := code(s.CreateBucket("222222222222", "us-east-1", "logs-a")); got != "" {
		t.Errorf("name free again: %q", got)
	}
}

func put(s *Store, account, bucket, key, data string) error {
	_, err := s.Put(account, bucket, key, "", []byte(data))
	return err
}
