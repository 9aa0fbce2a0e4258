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
	stmt := fmt.Sprintf("limit rate %d/second burst %d packets log group %d prefix %q queue-threshold 32 snaplen 128", LogRate, LogRate, LogGroupRejected, prefix)
	return []string{
		strings.TrimSpace(match + " iifname @fl_links " + stmt),
		strings.TrimSpace(match + " iifname != @fl_links oifname @fl_links " + stmt),
	}
}

// logFlags is the rules that copy the SYN, FIN and RST packets of covered links to
// LogGroupFlags, rate-guarded like the rejects.
func logFlags() []string {
	stmt := fmt.Sprintf("tcp flags & (fin|syn|rst) != 0 limit rate %d/second burst %d packets log group %d snaplen 80", LogRate, LogRate, LogGroupFlags)
	return []string{"iifname @fl_flags " + stmt, "iifname != @fl_flags oifname @fl_flags " + stmt}
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
