// Package iampolicy parses, compiles and evaluates IAM policy documents the way AWS does for
// one account (shared/spec/trail-iam.md §4.5 and §6): identity policies, permissions
// boundaries, session policies and role trust policies; explicit deny, then allow, else
// implicit deny. It also holds the EC2 authorization table (which resource ARNs and condition
// keys every EC2 action Stockade serves is authorized against) and the sealed "encoded
// authorization failure message" of a denied EC2 call.
//
// The package imports nothing of Stockade's: the API layers map its errors to wire codes
// (MalformedError → MalformedPolicyDocument) and build Requests from their own parameters.
//
// Use: Parse each document once when it is written (validation) and again when a principal's
// policy set is loaded; Compile the principal's sets into a Compiled, which is immutable, safe
// for concurrent use, and evaluates a Request without allocating in the common case.
// Explain runs the same matching path and returns the trace that Encode seals.
package iampolicy
