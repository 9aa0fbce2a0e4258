package s3api

import (
	"net"
	"net/http"
	"strings"

	"github.com/stockade/stockade/model"
)

// Request is one S3 call as the wire names it.
type Request struct {
	Action string // the S3 API operation: "GetObject", "ListObjectsV2", …
	Bucket string // "" for ListBuckets
	Key    string // "" for a bucket's operations
	// UploadID and PartNumber are a multipart upload's query parameters, as sent.
	UploadID, PartNumber string
}

// ARN is the resource the call is authorized on: the object's, the bucket's, or "*" for
// ListBuckets (Service Authorization Reference, Amazon S3).
func (q Request) ARN() string {
	switch {
	case q.Bucket == "":
		return "*"
	case q.Key == "":
		return "arn:aws:s3:::" + q.Bucket
	}
	return "arn:aws:s3:::" + q.Bucket + "/" + q.Key
}

// Management reports whether CloudTrail records the action as a management event; object
// operations and listing a bucket's objects are data events, which CloudTrail records only
// when a trail selects them, and the change trail does not.
func Management(action string) bool {
	switch action {
	case "CreateBucket", "DeleteBucket", "ListBuckets", "HeadBucket":
		return true
	}
	return false
}

// IAMAction is the IAM action authorizing a call (Service Authorization Reference): most are
// s3:<Action>, a few are not.
func IAMAction(action string) string {
	switch action {
	case "ListBuckets":
		return "s3:ListAllMyBuckets"
	case "HeadBucket", "ListObjectsV2":
		return "s3:ListBucket"
	case "HeadObject":
		return "s3:GetObject"
	case "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
		return "s3:PutObject"
	}
	return "s3:" + action
}

// Parse names the operation of r. The bucket comes from the host when it is virtual-host
// style (<bucket>.s3.<…> or <bucket>.localhost, as the AWS CLI addresses an --endpoint-url
// with a host name), else from the path's first segment.
func Parse(r *http.Request) (Request, error) {
	var q Request
	path := r.URL.Path
	if b := hostBucket(r.Host); b != "" {
		q.Bucket, q.Key = b, strings.TrimPrefix(path, "/")
	} else {
		rest := strings.TrimPrefix(path, "/")
		q.Bucket, q.Key, _ = strings.Cut(rest, "/")
	}
	query := r.URL.Query()
	sub := func(names ...string) bool {
		for _, n := range names {
			if query.Has(n) {
				return true
			}
		}
		return false
	}
	switch {
	case q.Bucket == "" && r.Method == http.MethodGet:
		q.Action = "ListBuckets"
	case q.Bucket == "":
		return q, model.S3MethodNotAllowed.New()
	case q.Key != "" && sub("uploads", "uploadId") && !sub("acl", "tagging", "retention", "legal-hold", "attributes", "torrent", "restore", "select"):
		return parseMultipart(r, q)
	case sub("acl", "policy", "versioning", "uploads", "uploadId", "tagging", "cors", "lifecycle",
		"website", "logging", "notification", "replication", "encryption", "delete", "versions",
		"location", "ownershipControls", "publicAccessBlock", "object-lock", "retention", "legal-hold",
		"attributes", "torrent", "restore", "select", "accelerate", "requestPayment", "analytics",
		"inventory", "metrics", "intelligent-tiering"):
		return q, model.S3NotImplemented.Errorf("This S3 operation is not implemented by Stockade.")
	case q.Key == "":
		switch r.Method {
		case http.MethodPut:
			q.Action = "CreateBucket"
		case http.MethodHead:
			q.Action = "HeadBucket"
		case http.MethodDelete:
			q.Action = "DeleteBucket"
		case http.MethodGet:
			if query.Get("list-type") != "2" {
				return q, model.S3NotImplemented.Errorf("ListObjects (version 1) is not implemented by Stockade: use ListObjectsV2.")
			}
			q.Action = "ListObjectsV2"
		default:
			return q, model.S3MethodNotAllowed.New()
		}
	default:
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return q, model.S3NotImplemented.Errorf("CopyObject is not implemented by Stockade.")
			}
			q.Action = "PutObject"
		case http.MethodGet:
			q.Action = "GetObject"
		case http.MethodHead:
			q.Action = "HeadObject"
		case http.MethodDelete:
			q.Action = "DeleteObject"
		default:
			return q, model.S3MethodNotAllowed.New()
		}
	}
	return q, nil
}

// hostBucket is the bucket a virtual-host-style host names, "" for path style.
func hostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if b, ok := strings.CutSuffix(host, ".localhost"); ok {
		return b
	}
	if i := strings.Index(host, ".s3."); i > 0 {
		return host[:i]
	}
	if i := strings.Index(host, ".s3-"); i > 0 {
		return host[:i]
	}
	return ""
}

// parseMultipart names a multipart upload's operation on an object (S3 API reference): POST
// ?uploads creates the upload, PUT ?partNumber&uploadId uploads a part, POST ?uploadId
// completes it, DELETE ?uploadId aborts it. Copying a part (UploadPartCopy) and listing the
// parts (ListParts, which `aws s3 cp` does not call) are not served.
func parseMultipart(r *http.Request, q Request) (Request, error) {
	query := r.URL.Query()
	switch {
	case query.Has("uploads") && r.Method == http.MethodPost:
		q.Action = "CreateMultipartUpload"
	case query.Has("uploadId") && r.Method == http.MethodPut && query.Has("partNumber"):
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return q, model.S3NotImplemented.Errorf("UploadPartCopy is not implemented by Stockade.")
		}
		q.Action = "UploadPart"
	case query.Has("uploadId") && r.Method == http.MethodPost:
		q.Action = "CompleteMultipartUpload"
	case query.Has("uploadId") && r.Method == http.MethodDelete:
		q.Action = "AbortMultipartUpload"
	case query.Has("uploadId") && r.Method == http.MethodGet:
		return q, model.S3NotImplemented.Errorf("ListParts is not implemented by Stockade.")
	default:
		return q, model.S3MethodNotAllowed.New()
	}
	q.UploadID, q.PartNumber = query.Get("uploadId"), query.Get("partNumber")
	return q, nil
}
