// Package imds is the instance metadata service (IMDS) of lab instances: the HTTP endpoint at
// 169.254.169.254 that user data, cloud-init-like key placement and SDK credential chains read
// (spec console-ssh.md §B2). It serves IMDSv1 and IMDSv2 as EC2 does: the session-token PUT
// with its TTL header and hop limit, 401 for a missing or bad token when tokens are required,
// the listings and paths of §B2.3, and the options HttpTokens, HttpPutResponseHopLimit,
// HttpEndpoint and InstanceMetadataTags.
//
// One Server serves every instance of a host; each instance gets a listener of its own (Serve),
// created by the host inside that instance's network namespace, so that the instance's identity
// is the listener's and nothing in a request (source address, headers) can name another one.
// What the service answers comes from a Source called on every request: group and option
// changes show at once. Tokens are HMACs under a secret of the Server's, bound to the instance
// and to their expiry; nothing is stored, and a restarted server (a new secret) answers old
// tokens with 401, upon which clients fetch a new one.
//
// The package is a leaf: it knows the model's option values and nothing of the service, the
// API or the host.
package imds
