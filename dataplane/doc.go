// Package dataplane turns the model into the nftables ruleset that enforces it in a VPC's router
// namespace, following design.md's data plane: every packet between two interfaces crosses the
// router's forward hook, where
//
//  1. source addresses are checked against the link they arrive on (EC2's source/destination
//     check), so that addresses can be trusted below;
//  2. network ACLs are applied, statelessly, to every packet that crosses a subnet boundary,
//     in rule-number order, first match wins, before anything else can accept it;
//  3. packets of tracked connections are accepted (AWS's stateful return traffic, and flows
//     that outlive the rule that admitted them);
//  4. a new connection must pass the source interface's egress and the destination interface's
//     ingress: each dispatches by link name through a verdict map to the interface's chain,
//     which jumps to the chain of each of its groups; a group chain is a few set lookups
//     (concatenated address . port interval sets per protocol for CIDR rules, named member sets
//     for group references, named sets for prefix lists), never a rule per CIDR or per member.
//
// The ruleset is rendered as nft text for one atomic `nft -f` transaction and read back with
// `nft list ruleset`; the names say what each object is: g4_<sg> are a group's members,
// in_<sg>_tcp4 its IPv4 TCP ingress CIDR rules, acl_<id>_in a NACL's inbound entries.
package dataplane
