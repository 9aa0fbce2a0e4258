package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// listObjects is ListObjectsV2: prefix, delimiter, max-keys (default and most 1,000),
// start-after, and continuation tokens (opaque to clients: the base64 of the key or common
// prefix the page ended at). With encoding-type=url, keys and prefixes are URL-encoded, as
// the AWS CLI asks for and decodes.
func listObjects(w http.ResponseWriter, r *http.Request, st *objstore.Store, q Request, c Caller) error {
	v := r.URL.Query()
	lq := objstore.ListQuery{Prefix: v.Get("prefix"), Delimiter: v.Get("delimiter"), MaxKeys: 1000, After: v.Get("start-after")}
	if s := v.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return model.S3InvalidArgument.Errorf("Provided max-keys not an integer or within integer range")
		}
		lq.MaxKeys = min(n, 1000)
	}
	enc := v.Get("encoding-type")
	if enc != "" && enc != "url" {
		return model.S3InvalidArgument.Errorf("Invalid Encoding Method specified in Request")
	}
	token := v.Get("continuation-token")
	if v.Has("continuation-token") {
		k, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return model.S3InvalidArgument.Errorf("The continuation token provided is incorrect")
		}
		lq.After = max(lq.After, string(k))
	}
	res, err := st.List(c.Account, q.Bucket, lq)
	if err != nil {
		return err
	}
	e := func(s string) string {
		if enc == "url" {
			return urlEncode(s)
		}
		return s
	}
	var b bytes.Buffer
	b.WriteString(xml.Header + `<ListBucketResult xmlns="` + xmlns + `">`)
	elem(&b, "Name", q.Bucket)
	elem(&b, "Prefix", e(lq.Prefix))
	if lq.Delimiter != "" {
		elem(&b, "Delimiter", e(lq.Delimiter))
	}
	elem(&b, "MaxKeys", strconv.Itoa(lq.MaxKeys))
	elem(&b, "KeyCount", strconv.Itoa(len(res.Objects)+len(res.CommonPrefixes)))
	elem(&b, "IsTruncated", strconv.FormatBool(res.Truncated))
	if enc != "" {
		elem(&b, "EncodingType", enc)
	}
	if v.Has("continuation-token") {
		elem(&b, "ContinuationToken", token)
	}
	if res.Truncated {
		elem(&b, "NextContinuationToken", base64.RawURLEncoding.EncodeToString([]byte(res.Next)))
	}
	if sa := v.Get("start-after"); sa != "" {
		elem(&b, "StartAfter", e(sa))
	}
	for _, o := range res.Objects {
		b.WriteString("<Contents>")
		elem(&b, "Key", e(o.Key))
		elem(&b, "LastModified", lastModified(o.Modified))
		elem(&b, "ETag", o.ETag)
		elem(&b, "Size", strconv.FormatInt(o.Size, 10))
		elem(&b, "StorageClass", "STANDARD")
		b.WriteString("</Contents>")
	}
	for _, p := range res.CommonPrefixes {
		b.WriteString("<CommonPrefixes>")
		elem(&b, "Prefix", e(p))
		b.WriteString("</CommonPrefixes>")
	}
	b.WriteString("</ListBucketResult>")
	writeXML(w, &b)
	return nil
}

// urlEncode is S3's encoding-type=url: every byte but the unreserved ones and "/" as %XX.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}
