// Package objstore keeps S3 buckets and objects in the data directory, per account, for flow
// logs' s3 destinations and for the minimal S3 API (package objstore/s3api) that reads them
// with AWS's own tools.
//
// # Layout
//
// Bucket names are one namespace for all accounts, as on S3. Under the store's root
// (<data-dir>/s3):
//
//	<bucket>/.bucket          JSON: owner account, region, creation time
//	<bucket>/<encoded key>    the object's bytes, exactly as uploaded
//	<bucket>/.meta/<encoded key>  JSON: ETag (MD5), Content-Type, size
//
// A key is bytes, never a path: EncodeKey percent-encodes every byte outside
// [A-Za-z0-9._-] ("/" included) and a leading ".", so that "..", "/etc/passwd" and NUL are
// file names like any other, the layout is flat (a key "a" and a key "a/b" coexist as on S3),
// and no key can name the store's own dot-files. Every file operation also goes through an
// os.Root of the bucket's directory, so that nothing reaches outside it whatever the name.
//
// Writes are atomic: the object goes to a temporary file in the bucket's directory that is
// renamed over the key's name when complete, so a reader sees the old object or the new one,
// never half of either. The metadata file is written before the data; a reader whose
// metadata's size disagrees with the data recomputes the ETag.
//
// Tenants are untrusted: objects, buckets per account and bytes per account are bounded
// (Limits).
package objstore
