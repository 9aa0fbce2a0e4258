// Package flows answers questions about a flow log's records that AWS's own tools do not:
// who talks most, who keeps knocking on admin ports, which security-group rule admitted
// which flows (and which admitted none), and which of the flows seen a proposed change would
// have refused (flowlogs-multihost.md §A5).
//
// Records come from files in AWS's format — the objects of an S3 destination, downloaded
// from real AWS or read from Stockade's own bucket, and CloudWatch Logs events — parsed by
// their header line (Read) or by the flow log's format (ParseLine). Every question about a
// rule is asked of the one policy compiler (package policy): attribution takes the rules
// Explain reports as admitting a flow, under the policy in force when the flow started
// (Timeline); impact compares Verdict before and after the change. Nothing here matches a
// rule itself, so the mistakes of the stale-rules sample (§A5.1: the peer ignored, the last
// group only, UDP as protocol 27) cannot happen here without happening in the engine.
package flows
