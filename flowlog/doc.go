// Package flowlog turns what the kernel did into VPC flow-log records in AWS's formats and
// delivers them where AWS would (flowlogs-multihost.md part A).
//
// The pipeline has three stages, each a value that can be tested without a kernel:
//
//   - Observations (Obs) come from the agent's kernel sources: conntrack dump-and-zero and
//     destroy events for accepted traffic, NFLOG for rejected packets and for the TCP flags of
//     accepted ones. An observation is already per interface and per direction.
//   - An Aggregator sums observations per (interface, direction, action, 5-tuple) over one
//     window of Window seconds aligned to the epoch (60 s, aligned to the minute, as Nitro
//     does whatever MaxAggregationInterval says), and closes the window into Records,
//     adding NODATA for quiet interfaces and SKIPDATA for interfaces whose sources lost events.
//   - A Writer selects, for every flow-log definition, the records of the interfaces it
//     covers that its TrafficType keeps, renders them in its Format and delivers them: a
//     gzipped object per flush under AWS's S3 key layout, or one CloudWatch Logs stream per
//     interface.
//
// Fields are rendered from one table (Format), shared with CreateFlowLogs' validation through
// model.ParseFlowLogFormat, so that a format copied from a real account is accepted and
// printed the same way.
package flowlog
