// Package iamapi is the Query protocol of IAM (version 2010-05-08) and STS (2011-06-15) over
// package iam: form or query-string parameters in, AWS's XML envelopes out (trail-iam.md §4.1,
// §5.1). The handlers authenticate nothing: the caller's identity comes from a function the
// server supplies once SigV4 and policy enforcement are wired; until then nothing mounts them.
package iamapi
