// Package reach is the reachability analyser: it answers a security engineer's three questions
// about one account's network from a compiled policy.
//
//   - Path: can A reach B on this protocol and port? Every blocker on the forward path and on
//     the return path (network ACLs are stateless, so replies must pass them too), the rules and
//     ACL entries that decided, and the smallest change that would flip the answer, phrased as
//     the AWS CLI command to run.
//   - Access: what can reach B (or what can B reach)? The exact effective ingress or egress of
//     an interface, merged across its groups and cut by its subnet's network ACL.
//   - Exposure: what is exposed? For every interface, the protocols, ports and addresses outside
//     its VPC whose packets get in, exhaustively.
//
// The analyser works the same on Stockade's own state and on a snapshot of a real AWS account
// (package snapshot); the server's Network Insights API and `stockade reach` are built on it.
package reach
