// Package policy compiles a snapshot of the model — VPCs, subnets, interfaces with their
// addresses and groups, groups and rules, prefix lists, network ACLs — into an immutable
// Policy that answers, for a packet between two endpoints, whether AWS would let it through,
// and why: the sgr- rules that admitted it at the source's egress and the destination's
// ingress, the NACL entries at each subnet boundary, or what blocked it.
//
// One compiled Policy is meant to serve every question — API "explain" answers, reachability,
// audit findings — and to be the oracle the data plane is tested against. Verdict is the fast
// path (set lookups, no allocation); Explain walks the rules and says why. Both implement the
// semantics of spec §2 and §5 and audit-checks §1; a deliberately naive oracle in the tests
// checks them against each other on random policies and flows.
//
// An interface's rules are compiled when a question first needs them, once per list of
// groups (interfaces with the same groups share them): an audit of a large account asks
// about few of its interfaces, and Compile stays proportional to the snapshot, not to the
// rules times the interfaces. Verdict does not allocate once an interface's rules are built.
package policy
