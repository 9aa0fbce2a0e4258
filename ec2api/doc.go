// Package ec2api speaks EC2's Query protocol (spec §8): it authenticates each request with
// SigV4, decodes its dotted parameters, calls the control service and renders EC2's XML —
// responses in the 2016-11-15 namespace, errors in the Response/Errors envelope with EC2's
// codes and HTTP statuses. EC2 wire names live here and nowhere else.
//
// One file per action family, named as its counterpart in control (vpc.go, group.go, rules.go,
// interfaces.go, keypair.go, …), with <family>_test.go beside it; routes.go maps every action
// to its handler, a plain func(c *call) error. A handler reads parameters from the decoded
// request, calls one control operation and writes the output elements: a write ends with
// c.written or c.returned (write.go), and every Describe is a describeSpec value run by the one
// pipeline in describe.go (IDs, one view, filters, pagination, the set). Everything else —
// authentication, DryRun, error rendering, logging and metrics — is done once by the server.
// testdata holds the golden reply of one action per family (go test -run Golden -update).
package ec2api
