// Package logstore keeps CloudWatch Logs log groups, streams and events in the data
// directory, per account and region, for flow logs' cloud-watch-logs destinations and for the
// minimal CloudWatch Logs API (package logstore/logsapi); pattern.go is CloudWatch's filter
// pattern syntax, as FilterLogEvents and metric filters read it.
//
// # Layout
//
// Under the store's root (<data-dir>/logs), shared/spec/flowlogs-multihost.md §A3.2:
//
//	<account>/<region>/<encoded group>/.group           JSON: creation time
//	<account>/<region>/<encoded group>/<encoded stream>.jsonl
//
// one JSON object per event, {"timestamp": ms, "ingestionTime": ms, "message": "…"}, appended
// in one write per batch. Names are encoded as objstore encodes keys (every byte outside
// [A-Za-z0-9._-] as %XX, a leading "." too), so "/aws/vpc/flowlogs" is one directory and no
// name reaches outside its parent. A torn last line (a crash during an append) is skipped
// when the store is opened.
//
// Events are also held in memory, bounded per account (Limits), so that GetLogEvents and
// FilterLogEvents read no files.
package logstore
