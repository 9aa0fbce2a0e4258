package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// Handler serves authenticated, authorized S3 calls over Store.
type Handler struct {
	Store *objstore.Store
}

// Caller is who makes a call, as the API server authenticated it.
type Caller struct {
	Account, Region, RequestID string
}

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// Serve answers q, writing the reply; it returns the body of a management call's success (for
// the trail) and the error, already written in S3's shape.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, q Request, c Caller, body []byte) (status int, err *model.Error) {
	w.Header().Set("x-amz-request-id", c.RequestID)
	st := h.Store
	var e error
	switch q.Action {
	case "ListBuckets":
		e = listBuckets(w, st, c)
	case "CreateBucket":
		e = createBucket(w, st, q, c, body)
	case "HeadBucket":
		var b objstore.Bucket
		if b, e = st.Bucket(c.Account, q.Bucket); e == nil {
			w.Header().Set("x-amz-bucket-region", b.Region)
		}
	case "DeleteBucket":
		if e = st.DeleteBucket(c.Account, q.Bucket); e == nil {
			w.WriteHeader(http.StatusNoContent)
			return http.StatusNoContent, nil
		}
	case "ListObjectsV2":
		e = listObjects(w, r, st, q, c)
	case "PutObject":
		e = putObject(w, r, st, q, c, body)
	case "GetObject", "HeadObject":
		return getObject(w, r, st, q, c)
	case "DeleteObject":
		if e = st.Delete(c.Account, q.Bucket, q.Key); e == nil {
			w.WriteHeader(http.StatusNoContent)
			return http.StatusNoContent, nil
		}
	case "CreateMultipartUpload":
		e = createUpload(w, r, st, q, c)
	case "UploadPart":
		e = uploadPart(w, r, st, q, c, body)
	case "CompleteMultipartUpload":
		e = completeUpload(w, r, st, q, c, body)
	case "AbortMultipartUpload":
		if e = st.AbortUpload(c.Account, q.Bucket, q.Key, q.UploadID); e == nil {
			w.WriteHeader(http.StatusNoContent)
			return http.StatusNoContent, nil
		}
	default:
		e = model.S3NotImplemented.Errorf("This S3 operation is not implemented by Stockade.")
	}
	if e != nil {
		me := model.Internal(e)
		return WriteError(w, r, q, c.RequestID, me), me
	}
	return http.StatusOK, nil
}

// WriteError answers err in S3's shape: an <Error> document with the code, message, the
// resource and request ID, the status from the catalogue; a HEAD reply has no body.
func WriteError(w http.ResponseWriter, r *http.Request, q Request, requestID string, err *model.Error) int {
	status := model.StatusOf(err.Code)
	msg := err.Message
	if err.Code == model.InternalError.Name {
		msg = "We encountered an internal error. Please try again."
	}
	h := w.Header()
	h.Set("x-amz-request-id", requestID)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return status
	}
	h.Set("Content-Type", "application/xml")
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	elem(&b, "Code", err.Code)
	elem(&b, "Message", msg)
	if q.Key != "" && err.Code == model.NoSuchKey.Name {
		elem(&b, "Key", q.Key)
	}
	if q.Bucket != "" && strings.HasPrefix(err.Code, "Bucket") || err.Code == model.NoSuchBucket.Name {
		elem(&b, "BucketName", q.Bucket)
	}
	elem(&b, "Resource", r.URL.EscapedPath())
	elem(&b, "RequestId", requestID)
	b.WriteString("</Error>")
	w.WriteHeader(status)
	w.Write(b.Bytes())
	return status
}

func elem(b *bytes.Buffer, name, val string) {
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(val))
	b.WriteString("</" + name + ">")
}

func writeXML(w http.ResponseWriter, b *bytes.Buffer) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// ownerID stands for S3's canonical user ID (64 hex digits) of an account.
func ownerID(account string) string {
	sum := sha256.Sum256([]byte("stockade-s3-owner:" + account))
	return hex.EncodeToString(sum[:])
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func listBuckets(w http.ResponseWriter, st *objstore.Store, c Caller) error {
	var b bytes.Buffer
	b.WriteString(xml.Header + `<ListAllMyBucketsResult xmlns="` + xmlns + `"><Owner>`)
	elem(&b, "ID", ownerID(c.Account))
	b.WriteString("</Owner><Buckets>")
	for _, bk := range st.Buckets(c.Account) {
		b.WriteString("<Bucket>")
		elem(&b, "Name", bk.Name)
		elem(&b, "CreationDate", bk.Created.UTC().Format(timeFormat))
		elem(&b, "BucketRegion", bk.Region)
		b.WriteString("</Bucket>")
	}
	b.WriteString("</Buckets></ListAllMyBucketsResult>")
	writeXML(w, &b)
	return nil
}

// createBucket creates the bucket in the region the request is signed for. As on S3, the
// body's LocationConstraint must name that region, and is absent for us-east-1; there,
// re-creating one's own bucket succeeds (S3's legacy behaviour in North Virginia).
func createBucket(w http.ResponseWriter, st *objstore.Store, q Request, c Caller, body []byte) error {
	var cfg struct {
		LocationConstraint string
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return model.MalformedXML.New()
		}
	}
	lc := cfg.LocationConstraint
	switch {
	case lc == "" && c.Region != "us-east-1":
		return model.IllegalLocationConstraint.Errorf("The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case lc != "" && lc != c.Region:
		return model.IllegalLocationConstraint.Errorf("The %s location constraint is incompatible for the region specific endpoint this request was sent to.", lc)
	}
	err := st.CreateBucket(c.Account, c.Region, q.Bucket)
	var me *model.Error
	if errors.As(err, &me) && me.Code == model.BucketAlreadyOwnedByYou.Name && c.Region == "us-east-1" {
		err = nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/"+q.Bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkMD5 checks a body against its Content-MD5 header, when it has one.
func checkMD5(r *http.Request, body []byte) error {
	if cm := r.Header.Get("Content-MD5"); cm != "" {
		sum := md5.Sum(body)
		if cm != base64.StdEncoding.EncodeToString(sum[:]) {
			return model.BadDigest.New()
		}
	}
	return nil
}

func putObject(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller, body []byte) error {
	if err := checkMD5(r, body); err != nil {
		return err
	}
	obj, err := st.Put(c.Account, q.Bucket, q.Key, r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", obj.ETag)
	w.WriteHeader(http.StatusOK)
	return nil
}

func getObject(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller) (int, *model.Error) {
	f, obj, err := st.Get(c.Account, q.Bucket, q.Key)
	if err != nil {
		me := model.Internal(err)
		return WriteError(w, r, q, c.RequestID, me), me
	}
	defer f.Close()
	start, end, ranged := int64(0), obj.Size-1, false
	if rh := r.Header.Get("Range"); rh != "" {
		s, e, ok, satisfiable := parseRange(rh, obj.Size)
		if ok && !satisfiable {
			me := model.InvalidRange.New()
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(obj.Size, 10))
			return WriteError(w, r, q, c.RequestID, me), me
		}
		if ok {
			start, end, ranged = s, e, true
		}
	}
	h := w.Header()
	h.Set("ETag", obj.ETag)
	h.Set("Last-Modified", obj.Modified.Format(http.TimeFormat))
	h.Set("Content-Type", obj.ContentType)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(obj.Size, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || end < start {
		return status, nil
	}
	if _, err := f.Seek(start, io.SeekStart); err == nil {
		io.CopyN(w, f, end-start+1)
	}
	return status, nil
}

// parseRange reads one "bytes=" range (RFC 9110 §14.1.2). ok is false for a header S3
// ignores (malformed, or several ranges, which S3 does not serve [UNCONFIRMED]); satisfiable
// is false for a range that starts past the end.
func parseRange(h string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e, true, true
}

// lastModified formats a time as S3's XML does.
func lastModified(t time.Time) string { return t.UTC().Format(timeFormat) }

func createUpload(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller) error {
	id, err := st.CreateUpload(c.Account, q.Bucket, q.Key, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(xml.Header + `<InitiateMultipartUploadResult xmlns="` + xmlns + `">`)
	elem(&b, "Bucket", q.Bucket)
	elem(&b, "Key", q.Key)
	elem(&b, "UploadId", id)
	b.WriteString("</InitiateMultipartUploadResult>")
	writeXML(w, &b)
	return nil
}

func uploadPart(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller, body []byte) error {
	n, err := objstore.ParsePartNumber(q.PartNumber)
	if err != nil {
		return err
	}
	if err := checkMD5(r, body); err != nil {
		return err
	}
	etag, err := st.PutPart(c.Account, q.Bucket, q.Key, q.UploadID, n, body)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	return nil
}

// completeUpload reads the body's list of parts (CompleteMultipartUpload: Part elements with
// PartNumber and ETag) and makes the object.
func completeUpload(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller, body []byte) error {
	var req struct {
		Parts []struct {
			PartNumber int
			ETag       string
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &req); err != nil {
		return model.MalformedXML.New()
	}
	list := make([]objstore.CompletedPart, len(req.Parts))
	for i, p := range req.Parts {
		list[i] = objstore.CompletedPart{Number: p.PartNumber, ETag: p.ETag}
	}
	obj, err := st.CompleteUpload(c.Account, q.Bucket, q.Key, q.UploadID, list)
	if err != nil {
		return err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var b bytes.Buffer
	b.WriteString(xml.Header + `<CompleteMultipartUploadResult xmlns="` + xmlns + `">`)
	elem(&b, "Location", scheme+"://"+r.Host+"/"+q.Bucket+"/"+q.Key)
	elem(&b, "Bucket", q.Bucket)
	elem(&b, "Key", q.Key)
	elem(&b, "ETag", obj.ETag)
	b.WriteString("</CompleteMultipartUploadResult>")
	writeXML(w, &b)
	return nil
}
