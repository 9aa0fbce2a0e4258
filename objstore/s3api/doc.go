// Package s3api is the minimal S3 REST API over package objstore: what `aws s3 mb`, `ls`,
// `cp` and `rm` call (CreateBucket, HeadBucket, ListBuckets, DeleteBucket, ListObjectsV2,
// HeadObject, GetObject with Range, PutObject, DeleteObject), path-style and
// virtual-host-style, with S3's XML replies and error shape, and the multipart upload `aws s3
// cp` makes of a larger file (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// AbortMultipartUpload). Anything else S3 has (ListParts, ListMultipartUploads, ACLs,
// versioning, copies, ListObjects v1, batch deletes) answers NotImplemented.
//
// It parses and renders only: the API server (package ec2api, s3.go) authenticates the
// caller (SigV4, service s3), authorizes s3:<Action> on the bucket's or object's ARN and
// records management calls in the trail before Serve runs.
package s3api
