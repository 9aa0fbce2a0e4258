// Package trail is Stockade's change trail: the CloudTrail management-event record of every
// API call (trail-iam.md §1), its storage, the CloudTrail LookupEvents API over it (§2.1–2.5)
// and the S3-layout export (§2.6).
//
// How the pieces fit, for the code that wires them:
//
//   - Build turns one finished call (action, Query parameters, response body, error,
//     Identity, source address, user agent, region, time) into a *Record.
//   - The records live in a Log (log.go): append-only segment files in a directory of their
//     own, with the lookup index in memory (index.go).
//   - A call that changes state adds Record.Ops — one outbox key — to the store transaction
//     of its change, so the change never commits without its record (storage.go). Its
//     complete record, once the reply exists, goes to the Recorder marked by Completes; the
//     Recorder appends it to the Log and deletes the outbox key.
//   - A call that changes nothing (a read, a denial, a failure) goes to the Recorder too,
//     which appends records in batches and drops, counting them, what a full queue cannot
//     take: the API never waits for the trail of a read.
//   - Recorder.Recover, at start-up, moves into the Log what the outbox still holds from
//     before a crash; Log.Prune deletes segments past the 90-day retention or the Log's size
//     bound.
//   - Lookup answers LookupEvents from the Log's index; Export writes the records appended
//     since its last pass as AWS's gzipped log files under an os.Root.
//
// The package imports nothing of Stockade's but the store: identities, errors and responses
// come in as plain values the caller fills (Identity, Failure, the response's XML body).
package trail
