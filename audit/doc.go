// Package audit checks one account's network — security groups, network ACLs, what the
// internet reaches, whether changes are watched — against the catalogue of audit-checks.md §2
// (SGA-*, SGE-*, SGH-*, NACL-*, EXP-*, MON-*), on Stockade's own state or on a snapshot of a
// real AWS account, and says for every finding why and the exact fix.
//
// The checks share one matcher with the policy engine (audit-checks §1, package policy): a
// rule "opens port P to the internet" means the same thing to a finding, to the reachability
// analyser and to the data plane. Each check is a function over an Audit (the input, the
// configuration, the compiled policy and indexes built once); a family of checks lives in a
// file of its own (sga.go, sge.go, sgh.go, nacl.go, exp.go, mon.go) and registers its checks
// in the catalogue. Run runs the catalogue, applies the configuration's suppressions and
// orders the findings.
//
// Admission (admission.go) runs a policy's forbidden checks on the part of the network a write
// touched, before and after it, so that the server can refuse a write that would introduce a
// finding (audit-checks §5.8). The control service calls it through a hook (control.Admission)
// that cmd/stockade wires; this package never imports the service.
package audit
