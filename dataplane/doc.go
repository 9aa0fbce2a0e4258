// Package dataplane turns the model into the nftables ruleset that enforces it in a VPC's router
// namespace, following design.md's data plane. Every packet between two interfaces crosses the
// router's forward hook, where
//
//  1. source addresses are checked against the link they arrive on (EC2's source/destination
//     check), so that addresses can be trusted below; the operator attachment's link
//     (Network.Operator) may send from the operator's one address only, the internet link
//     (Network.Internet) from any address outside the VPC, an interface whose
//     source/destination check is off (Network.Unchecked) from any address;
//  2. network ACLs are applied, statelessly, to every packet that crosses a subnet boundary:
//     one lookup finds the pair of subnets (or of a subnet and the operator, who is outside
//     the VPC), whose ACLs are compiled (first match wins) into one
//     set each; an established connection remembers that a direction passed the ACLs of the
//     current epoch, so its later packets skip the lookups until an ACL changes;
//  3. packets of tracked connections are accepted (AWS's stateful return traffic, and flows
//     that outlive the rule that admitted them); packets of untracked ones are judged again;
//  4. a new connection must pass the source interface's egress and the destination interface's
//     ingress: each dispatches by link name through a verdict map to the interfaces' shared
//     chain of the direction, which jumps to the chain of each of the interface's groups
//     through one verdict map per group slot (iface.go), so that an interface's groups are
//     data, not rules; a group chain is a few set lookups (one concatenated interval set of
//     address . protocol . port for its CIDR rules, named member sets for group references,
//     named sets for prefix lists), never a rule per CIDR or member.
//
// The internet link adds address translation (internet.go): public addresses are translated
// to private ones on the way in, before the forward hook, so that the checks above judge the
// internet client's real address; private ones to public or NAT gateway addresses on the way
// out. Which packets reach the link at all is for the route tables (netlab.SetRoutes).
//
// A VPC that spans hosts (overlay.go, docs/cross-host.md) adds a VXLAN link to each host's
// router (Network.Overlay): every interface of the VPC is a member of its groups' sets, only
// the local ones are checked (have dispatch and slot entries), the source host applies egress and the outbound ACL, the
// destination host the inbound ACL and ingress, and each host's underlay filter (Underlay)
// drops VXLAN packets whose inner source the sending host does not hold.
//
// The ruleset is rendered as nft text for one atomic `nft -f` transaction — a whole-table
// replacement, or an in-place update of what changed — and reads back with `nft list ruleset`.
// The commonest updates (set and map elements) are sent as the same one netlink batch by NFT
// itself, built with github.com/google/nftables, without starting nft (netlink.go);
// everything else goes through nft.
// Names say what each object is: sg_<id>_in is a group's ingress chain and sg_<id>_in4 its
// IPv4 CIDR set, members4_sg_<id> a group's member addresses, acl_<id>_in4 what a network ACL
// lets in, out_slot0 the first group of each interface's egress, eni_<id>_out the egress of an
// interface with connection timeouts of its own. The golden files in testdata show it whole.
package dataplane
