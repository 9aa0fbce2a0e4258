package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

const alice, bob = "111111111111", "222222222222"

// api serves requests as the API server does once it has authenticated the caller: Parse,
// then Serve, or Parse's error in S3's shape.
type api struct {
	t *testing.T
	h *Handler
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (a api) do(account, method, target string, hdr map[string]string, body []byte) reply {
	a.t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:8787"+target, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	q, err := Parse(r)
	if err != nil {
		WriteError(w, r, q, "req-1", model.Internal(err))
	} else {
		a.h.Serve(w, r, q, Caller{Account: account, Region: "us-east-1", RequestID: "req-1"}, body)
	}
	return reply{w.Code, w.Result().Header, w.Body.String()}
}

// code is an error reply's Code, "" for a success.
func (r reply) code() string {
	if m := regexp.MustCompile(`<Code>([^<]*)</Code>`).FindStringSubmatch(r.body); m != nil {
		return m[1]
	}
	return ""
}

func newAPI(t *testing.T, lim objstore.Limits) api {
	st, err := objstore.Open(t.TempDir(), lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return api{t, &Handler{Store: st}}
}

// TestHandlers: every served operation, in the order a client uses them, with its status,
// error code and what its reply must carry.
func TestHandlers(t *testing.T) {
	a := newAPI(t, objstore.DefaultLimits())
	body := []byte("2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1 2 ACCEPT OK\n")
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	for _, tt := range []struct {
		name, account, method, target string
		hdr                           map[string]string
		body                          string
		status                        int
		code                          string
		has                           []string // in the body or as "Header: value"
	}{
		{"create bucket", alice, "PUT", "/logs-a", nil, "", 200, "", []string{"Location: /logs-a"}},
		{"create it again (us-east-1)", alice, "PUT", "/logs-a", nil, "", 200, "", nil},
		{"another account's name", bob, "PUT", "/logs-a", nil, "", 409, "BucketAlreadyExists", []string{"<BucketName>logs-a</BucketName>"}},
		{"location elsewhere", alice, "PUT", "/logs-b", nil, `<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`, 400, "IllegalLocationConstraintException", nil},
		{"malformed configuration", alice, "PUT", "/logs-b", nil, `<CreateBucketConfiguration>`, 400, "MalformedXML", nil},
		{"bad name", alice, "PUT", "/Logs", nil, "", 400, "InvalidBucketName", nil},
		{"head bucket", alice, "HEAD", "/logs-a", nil, "", 200, "", []string{"X-Amz-Bucket-Region: us-east-1"}},
		{"head another's bucket", bob, "HEAD", "/logs-a", nil, "", 403, "", nil},
		{"list buckets", alice, "GET", "/", nil, "", 200, "", []string{"<Name>logs-a</Name>", "<BucketRegion>us-east-1</BucketRegion>"}},
		{"bob lists none", bob, "GET", "/", nil, "", 200, "", []string{"<Buckets></Buckets>"}},
		{"put", alice, "PUT", "/logs-a/AWSLogs/a.log", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, string(body), 200, "", []string{"Etag: " + etag}},
		{"put, wrong digest", alice, "PUT", "/logs-a/b.log", map[string]string{"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}, string(body), 400, "BadDigest", nil},
		{"copy", alice, "PUT", "/logs-a/c.log", map[string]string{"X-Amz-Copy-Source": "/logs-a/AWSLogs/a.log"}, "", 501, "NotImplemented", nil},
		{"get", alice, "GET", "/logs-a/AWSLogs/a.log", nil, "", 200, "", []string{string(body), "Etag: " + etag, "Accept-Ranges: bytes"}},
		{"get a range", alice, "GET", "/logs-a/AWSLogs/a.log", map[string]string{"Range": "bytes=0-1"}, "", 206, "", []string{"Content-Range: bytes 0-1/72"}},
		{"range past the end", alice, "GET", "/logs-a/AWSLogs/a.log", map[string]string{"Range": "bytes=100-"}, "", 416, "InvalidRange", nil},
		{"head object", alice, "HEAD", "/logs-a/AWSLogs/a.log", nil, "", 200, "", []string{"Content-Length: 72"}},
		{"get missing", alice, "GET", "/logs-a/nope", nil, "", 404, "NoSuchKey", []string{"<Key>nope</Key>"}},
		{"get another's", bob, "GET", "/logs-a/AWSLogs/a.log", nil, "", 403, "AccessDenied", nil},
		{"list v2", alice, "GET", "/logs-a?list-type=2&delimiter=/", nil, "", 200, "", []string{"<Prefix>AWSLogs/</Prefix>"}},
		{"list v1", alice, "GET", "/logs-a", nil, "", 501, "NotImplemented", nil},
		{"list, bad max-keys", alice, "GET", "/logs-a?list-type=2&max-keys=x", nil, "", 400, "InvalidArgument", nil},
		{"delete full bucket", alice, "DELETE", "/logs-a", nil, "", 409, "BucketNotEmpty", nil},
		{"delete object", alice, "DELETE", "/logs-a/AWSLogs/a.log", nil, "", 204, "", nil},
		{"delete it again", alice, "DELETE", "/logs-a/AWSLogs/a.log", nil, "", 204, "", nil},
		{"list parts", alice, "GET", "/logs-a/k?uploadId=x", nil, "", 501, "NotImplemented", nil},
		{"list uploads", alice, "GET", "/logs-a?uploads", nil, "", 501, "NotImplemented", nil},
		{"post to a bucket", alice, "POST", "/logs-a", nil, "", 405, "MethodNotAllowed", nil},
		{"delete bucket", alice, "DELETE", "/logs-a", nil, "", 204, "", nil},
		{"no bucket", alice, "GET", "/logs-a/k", nil, "", 404, "NoSuchBucket", nil},
	} {
		got := a.do(tt.account, tt.method, tt.target, tt.hdr, []byte(tt.body))
		if got.status != tt.status || got.code() != tt.code {
			t.Errorf("%s: %d %q, want %d %q\n%s", tt.name, got.status, got.code(), tt.status, tt.code, got.body)
			continue
		}
		for _, want := range tt.has {
			k, v, isHeader := strings.Cut(want, ": ")
			if isHeader && got.header.Get(k) != v || !isHeader && !strings.Contains(got.body, want) {
				t.Errorf("%s: no %q in %v\n%s", tt.name, want, got.header, got.body)
			}
		}
	}
}

var uploadIDPattern = regexp.MustCompile(`<UploadId>([^<]+)</UploadId>`)

// TestMultipartUpload: what `aws s3 cp` does with a larger file — create, parts (in any
// order, one replaced), complete — gives one object of the parts in order, with S3's
// multipart ETag; each bad completion is S3's error and leaves the upload as it was; abort
// discards an upload; a part that would make the object too large, or an upload too many,
// is refused.
func TestMultipartUpload(t *testing.T) {
	lim := objstore.DefaultLimits()
	lim.MaxObjectBytes, lim.MaxUploads = 16<<20, 2
	a := newAPI(t, lim)
	a.do(alice, "PUT", "/logs-a", nil, nil)
	create := func(key string) string {
		t.Helper()
		r := a.do(alice, "POST", "/logs-a/"+key+"?uploads", map[string]string{"Content-Type": "application/gzip"}, nil)
		m := uploadIDPattern.FindStringSubmatch(r.body)
		if r.status != 200 || m == nil || !strings.Contains(r.body, "<Key>"+key+"</Key>") {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return m[1]
	}
	id := create("big.log.gz")
	p1 := bytes.Repeat([]byte("a"), objstore.MinPartBytes)
	p2 := bytes.Repeat([]byte("b"), objstore.MinPartBytes)
	p3 := []byte("tail")
	part := func(n int, data []byte) reply {
		return a.do(alice, "PUT", fmt.Sprintf("/logs-a/big.log.gz?partNumber=%d&uploadId=%s", n, id), nil, data)
	}
	etags := map[int]string{}
	for _, p := range []struct {
		n    int
		data []byte
	}{{3, p3}, {1, p2}, {2, p2}, {1, p1}} { // out of order; part 1 replaced
		r := part(p.n, p.data)
		sum := md5.Sum(p.data)
		if r.status != 200 || r.header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("part %d: %d %v %s", p.n, r.status, r.header, r.body)
		}
		etags[p.n] = r.header.Get("ETag")
	}
	complete := func(parts ...any) reply {
		var b strings.Builder
		b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
		for i := 0; i < len(parts); i += 2 {
			fmt.Fprintf(&b, "<Part><ETag>%s</ETag><PartNumber>%d</PartNumber></Part>", parts[i+1], parts[i])
		}
		b.WriteString("</CompleteMultipartUpload>")
		return a.do(alice, "POST", "/logs-a/big.log.gz?uploadId="+id, nil, []byte(b.String()))
	}
	for _, tt := range []struct {
		name   string
		r      reply
		status int
		code   string
	}{
		{"part 0", part(0, p3), 400, "InvalidArgument"},
		{"part 10001", part(10001, p3), 400, "InvalidArgument"},
		{"part, no number", a.do(alice, "PUT", "/logs-a/big.log.gz?partNumber=x&uploadId="+id, nil, p3), 400, "InvalidArgument"},
		{"part of another key", a.do(alice, "PUT", "/logs-a/other?partNumber=1&uploadId="+id, nil, p3), 404, "NoSuchUpload"},
		{"part of no upload", a.do(alice, "PUT", "/logs-a/big.log.gz?partNumber=1&uploadId=nope", nil, p3), 404, "NoSuchUpload"},
		{"another account's upload", a.do(bob, "PUT", fmt.Sprintf("/logs-a/big.log.gz?partNumber=1&uploadId=%s", id), nil, p3), 403, "AccessDenied"},
		{"part copy", a.do(alice, "PUT", "/logs-a/big.log.gz?partNumber=1&uploadId="+id, map[string]string{"X-Amz-Copy-Source": "/logs-a/x"}, nil), 501, "NotImplemented"},
		{"part, wrong digest", a.do(alice, "PUT", "/logs-a/big.log.gz?partNumber=4&uploadId="+id, map[string]string{"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}, p3), 400, "BadDigest"},
		{"out of order", complete(2, etags[2], 1, etags[1], 3, etags[3]), 400, "InvalidPartOrder"},
		{"a part twice", complete(1, etags[1], 1, etags[1], 3, etags[3]), 400, "InvalidPartOrder"},
		{"a part not uploaded", complete(1, etags[1], 4, etags[3]), 400, "InvalidPart"},
		{"a wrong ETag", complete(1, etags[2], 2, etags[2]), 400, "InvalidPart"},
		{"a small part not last", complete(1, etags[1], 3, etags[3], 4, etags[3]), 400, "InvalidPart"},
		{"a small part before the last", func() reply { part(4, p3); return complete(1, etags[1], 3, etags[3], 4, etags[3]) }(), 400, "EntityTooSmall"},
		{"no parts", complete(), 400, "MalformedXML"},
		{"not XML", a.do(alice, "POST", "/logs-a/big.log.gz?uploadId="+id, nil, []byte("<x")), 400, "MalformedXML"},
		{"over the object limit", part(5, bytes.Repeat([]byte("c"), 6<<20)), 400, "EntityTooLarge"},
	} {
		if tt.r.status != tt.status || tt.r.code() != tt.code {
			t.Errorf("%s: %d %q, want %d %q\n%s", tt.name, tt.r.status, tt.r.code(), tt.status, tt.code, tt.r.body)
		}
	}
	if r := a.do(alice, "GET", "/logs-a/big.log.gz", nil, nil); r.code() != "NoSuchKey" {
		t.Fatalf("an object before completion: %d %s", r.status, r.body)
	}
	// Complete with parts 1, 2 and 3 (ETags unquoted, as some clients send them); part 4 is
	// discarded.
	r := complete(1, etags[1], 2, strings.Trim(etags[2], `"`), 3, etags[3])
	h := md5.New()
	for _, n := range []int{1, 2, 3} {
		b, _ := hex.DecodeString(strings.Trim(etags[n], `"`))
		h.Write(b)
	}
	want := `"` + hex.EncodeToString(h.Sum(nil)) + `-3"`
	if r.status != 200 || !strings.Contains(r.body, "<ETag>"+strings.ReplaceAll(want, `"`, "&#34;")+"</ETag>") ||
		!strings.Contains(r.body, "<Location>http://127.0.0.1:8787/logs-a/big.log.gz</Location>") {
		t.Fatalf("complete: %d %s (ETag %s)", r.status, r.body, want)
	}
	g := a.do(alice, "GET", "/logs-a/big.log.gz", nil, nil)
	if g.status != 200 || g.body != string(p1)+string(p2)+string(p3) || g.header.Get("ETag") != want || g.header.Get("Content-Type") != "application/gzip" {
		t.Errorf("the object: %d %d bytes, ETag %s, type %s", g.status, len(g.body), g.header.Get("ETag"), g.header.Get("Content-Type"))
	}
	if r := complete(1, etags[1]); r.code() != "NoSuchUpload" {
		t.Errorf("completing twice: %d %s", r.status, r.body)
	}

	// Abort, and the bound on uploads in progress.
	id1, id2 := create("x"), create("y")
	if r := a.do(alice, "POST", "/logs-a/z?uploads", nil, nil); r.code() != "QuotaExceeded" {
		t.Errorf("a third upload: %d %s", r.status, r.body)
	}
	if r := a.do(alice, "DELETE", "/logs-a/x?uploadId="+id1, nil, nil); r.status != 204 {
		t.Errorf("abort: %d %s", r.status, r.body)
	}
	if r := a.do(alice, "DELETE", "/logs-a/x?uploadId="+id1, nil, nil); r.code() != "NoSuchUpload" {
		t.Errorf("abort twice: %d %s", r.status, r.body)
	}
	if r := a.do(alice, "PUT", "/logs-a/y?partNumber=1&uploadId="+id2, nil, p3); r.status != 200 {
		t.Errorf("part of the other upload: %d %s", r.status, r.body)
	}
	create("z") // room again
}
