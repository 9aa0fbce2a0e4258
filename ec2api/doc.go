// Package ec2api speaks EC2's Query protocol (spec §8): it authenticates each request with
// SigV4, decodes its dotted parameters, calls the control service and renders EC2's XML —
// responses in the 2016-11-15 namespace, errors in the Response/Errors envelope with EC2's
// codes and HTTP statuses. EC2 wire names live here and nowhere else.
//
// One file per action family (vpc.go, groups.go, rules.go, …), each registering its actions in
// the routing table of server.go. A handler reads parameters from the decoded request, calls
// one control operation and writes the output elements; everything else — authentication,
// DryRun, error rendering, logging and metrics — is done once by the server.
package ec2api
