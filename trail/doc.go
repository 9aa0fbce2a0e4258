// Package trail is Stockade's change trail: the CloudTrail management-event record of every
// API call (trail-iam.md §1), its storage in the store next to the change it records, the
// CloudTrail LookupEvents API over it (§2.1–2.5) and the S3-layout export (§2.6).
//
// How the pieces fit, for the code that wires them:
//
//   - Build turns one finished call (action, Query parameters, response body, error,
//     Identity, source address, user agent, region, time) into a *Record.
//   - A call that changes state adds Record.Ops to the store transaction of its change, so
//     the change never commits without its record, nor the record without the change.
//   - A call that changes nothing (a read, a denial, a failure) goes to a Recorder, which
//     writes such records in batched transactions of their own and drops, counting them,
//     what a full queue cannot take: the API never waits for the trail of a read.
//   - Prune deletes records past the 90-day retention in bounded batches.
//   - Lookup answers LookupEvents from the index keys Ops wrote; Export writes records as
//     AWS's gzipped log files under an os.Root.
//
// The package imports nothing of Stockade's but the store: identities, errors and responses
// come in as plain values the caller fills (Identity, Failure, the response's XML body).
package trail
