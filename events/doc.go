// Package events is Stockade's EventBridge-compatible event bus (trail-iam.md §3): per
// account and region, one bus named "default" holding rules (an event pattern, a state and up
// to five targets), the connections and API destinations that webhooks are delivered through,
// and the delivery of matched events.
//
// How the pieces fit:
//
//   - pattern.go and match.go are the event-pattern language of §3.2 (aws/event-ruler's
//     semantics): Compile refuses a bad pattern with InvalidEventPatternException, and
//     Pattern.Match decides one event.
//   - Service (service.go, resources.go) keeps rules, targets, connections and API
//     destinations in the store under Prefix, in memory for matching, and validates every
//     call as EventBridge does; package events/eventsapi speaks the AWS JSON 1.1 protocol
//     over it.
//   - Bus (bus.go) takes events — every trail record as an "AWS API Call via CloudTrail"
//     envelope (PublishRecords), and Stockade's own events (Publish) — off the caller's path
//     through a bounded queue, matches them against the enabled rules, and persists one
//     delivery per target before handing it to the deliverer.
//   - deliver.go POSTs each delivery to its API destination (the connection's auth header and
//     an X-Stockade-Signature HMAC), retries with exponential backoff and jitter for a day,
//     then appends it to a dead-letter file; guard.go keeps webhooks away from the host's own
//     services (SSRF).
package events
