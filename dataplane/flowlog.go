package dataplane

import (
	"fmt"
	"strings"
)

// Flow-log sources in the ruleset (flowlogs-multihost.md A4.2). Accepted traffic is counted
// by connection tracking (Conns) and costs no rule. What the ruleset adds, only for the links
// of interfaces some flow log covers:
//
//   - before every drop of a packet's way through the groups, the network ACLs or connection
//     tracking, a log statement to NFLOG group LogGroupRejected whose prefix says which check
//     dropped it (LogPrefix*); the packet mark and the two links tell user space which
//     interface and direction the REJECT belongs to. Each is rate-guarded: beyond
//     LogRate packets a second per rule, dropped packets are not logged;
//   - when some flow log of the interface has ${tcp-flags}, its TCP packets with SYN, FIN or
//     RST go to LogGroupFlags (a few packets per connection, never per byte).
//
// A packet between two covered links is logged once: one rule matches packets from a covered
// link, the next packets to one from a link that is not.
const (
	LogGroupRejected = 1
	LogGroupFlags    = 2
	LogRate          = 1000

	LogPrefixGroups  = "stk:sg"      // the groups did not admit it: see the packet mark's bits
	LogPrefixRecheck = "stk:sg:re"   // an untracked connection's packet its groups no longer admit
	LogPrefixLate    = "stk:late"    // no connection, and not a new one
	LogPrefixACLIn   = "stk:acl:in"  // the destination subnet's ACL refused it
	LogPrefixACLOut  = "stk:acl:out" // the source subnet's ACL refused it
	// LogPrefixOver says a rule's guard held packets back (at most one message a second
	// per rule): the interfaces it names lost records, SKIPDATA.
	LogPrefixOver = "stk:over"
)

// MarkEgressAdmitted and MarkIngressAdmitted are the packet-mark bits set when the source
// interface's egress and the destination's ingress admitted a packet: an NFLOG record of
// LogPrefixGroups says with them which side refused.
const (
	MarkEgressAdmitted  = markEgress
	MarkIngressAdmitted = markIngress
)

// flowLogSets renders the sets of covered links; it reports whether there are any of each.
func (r *renderer) flowLogSets() (logged, flags bool) {
	if len(r.n.FlowLogs) == 0 {
		return false, false // without reading every interface
	}
	var links, flagLinks []string
	for _, e := range r.enis {
		if r.n.FlowLogs[e.ID] {
			links = append(links, fmt.Sprintf("%q", r.n.Link(e.ID)))
			if r.n.FlowLogFlags[e.ID] {
				flagLinks = append(flagLinks, fmt.Sprintf("%q", r.n.Link(e.ID)))
			}
		}
	}
	if len(links) > 0 {
		r.rs.add(r.cachedSet("fl_links", "ifname", false, false, links))
	}
	if len(flagLinks) > 0 {
		r.rs.add(r.cachedSet("fl_flags", "ifname", false, false, flagLinks))
	}
	return len(links) > 0, len(flagLinks) > 0
}

// logRejected is the rules that log a packet about to be dropped, matched by match, when it
// comes from or goes to a covered link.
func logRejected(match, prefix string) []string {
	stmt := fmt.Sprintf("log group %d prefix %q queue-threshold 32 snaplen 128", LogGroupRejected, prefix)
	return guarded(match, "@fl_links", stmt)
}

// flagsChain is the chain of the rules that copy the SYN, FIN and RST packets of covered links
// to LogGroupFlags, rate-guarded like the rejects. The forward chain jumps to it with one
// rule (logFlagsJump), so that every other packet — UDP, and TCP without those flags, which is
// nearly all of an established connection — costs one test, not one per rule here.
const flagsChain = "flow_flags"

func logFlags() []string {
	return guarded("", "@fl_flags", fmt.Sprintf("log group %d queue-threshold 1 snaplen 80", LogGroupFlags))
}

// logFlagsJump is the forward chain's rule that sends the packets with those flags to
// flagsChain; the chain's end returns them to the forward chain.
func logFlagsJump() string { return "tcp flags & (fin|syn|rst) != 0 jump " + flagsChain }

// guarded is a log statement for packets from the links, then for packets to them from
// others, each at most LogRate a second; past it, one LogPrefixOver message a second says
// that records were lost. The two limits see the same packets (log does not end a rule's
// evaluation), so "over" fires when the first holds packets back.
func guarded(match, links, stmt string) []string {
	var out []string
	over := fmt.Sprintf("limit rate over %d/second burst %d packets limit rate 1/second log group %d prefix %q snaplen 128", LogRate, LogRate, LogGroupRejected, LogPrefixOver)
	for _, side := range []string{"iifname " + links, "iifname != " + links + " oifname " + links} {
		m := strings.TrimSpace(match + " " + side)
		out = append(out, fmt.Sprintf("%s limit rate %d/second burst %d packets %s", m, LogRate, LogRate, stmt), m+" "+over)
	}
	return out
}

// insertBefore returns lines with add inserted before the first line equal to at.
func insertBefore(lines []string, at string, add []string) []string {
	for i, l := range lines {
		if l == at {
			return append(lines[:i:i], append(add, lines[i:]...)...)
		}
	}
	return lines
}
