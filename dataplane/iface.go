package dataplane

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// An interface's checks are data, not rules. Every interface of the router shares one chain
// per direction (ifaces_out, looked up by the packet's input link; ifaces_in, by its output
// link), which asks the interface's groups in turn through slot maps: out_slot0 maps each
// link to a jump to its first group's egress chain, out_slot1 to its second's, and so on.
// Between slots, a packet that a group admitted returns at once, unless the interface might
// not track its flow (below). Joining or leaving a group, launching or terminating an
// instance, is then a few map and set elements and never a rule: the kernel validates the
// whole table's jump graph when a rule with a jump is added, which at 1,000 interfaces cost
// more than everything else on a membership change's path (BENCHMARKS.md), while a table
// whose jump graph is the shared chains and the group chains is small to validate whatever
// the number of interfaces.
//
// Which flows an interface does not track (spec §2.6) is data too: out_untracked holds
// link . family . protocol for each protocol whose every port the interface's groups open to
// the whole address space in the opposite direction; a flow that an open rule admitted
// (the direction's "open" mark) and that has such an entry is marked untracked. Such a packet
// must ask every group (any of them may hold the open rule), so the early return skips it.

// minSlots is how many group slots each direction has at least: EC2's default quota of groups
// per interface. An interface with more (the quota goes up to 16) adds slots for every
// interface, a change of the shared chains.
const minSlots = 5

// ifaceChain is the shared chain of a direction's interface checks.
func ifaceChain(egress bool) string { return "ifaces" + dirSuffix(egress) }

func slotMap(egress bool, slot int) string {
	return fmt.Sprintf("%s_slot%d", dirSuffix(egress)[1:], slot)
}

func untrackedSet(egress bool) string { return dirSuffix(egress)[1:] + "_untracked" }

// dirIndex is where a direction's entries are in eniOut's pairs: egress 1, ingress 0.
func dirIndex(egress bool) int {
	if egress {
		return 1
	}
	return 0
}

// linkExpr is the link a direction's checks are looked up by: the interface a packet leaves
// for its egress, the one it is sent to for its ingress.
func linkExpr(egress bool) string {
	if egress {
		return "iifname"
	}
	return "oifname"
}

// eniOut is an interface, rendered: its entries in the tables every interface has entries in
// (the source-address check, the dispatch and slot maps, the untracked sets, the member sets
// of its groups), and for an interface with connection timeouts of its own the two chains
// that set them and the timeout objects they use. It depends only on the interface and the
// groups it names, which is what the Renderer's cache checks.
type eniOut struct {
	// groups are the IDs of the groups it was rendered with, in its order, and open what
	// their rules open to the whole address space (openMask): all its entries read of them.
	groups                  []string
	open                    uint8
	chains, timeouts        []*Object
	src4, src6              []string
	outDispatch, inDispatch string
	// slots are its slot map entries, egress [1] and ingress [0], one per group in order;
	// untracked its entries of the untracked sets, in the same order of directions.
	slots, untracked [2][]string
	addrs4, addrs6   []string
}

// eniOut returns an interface's rendering: last, its rendering in the last call if it is the
// same object, when its groups still exist and open the same (a rule change of a group
// changes the group's own chain and sets, not its interfaces' entries); a new one otherwise.
func (r *renderer) eniOut(e *model.NetworkInterface, last *eniOut) *eniOut {
	var groups []*model.Group
	var open uint8
	for _, id := range e.Groups {
		if g := r.byID[id]; g != nil {
			groups = append(groups, g)
			open |= r.openMask(g)
		}
	}
	if last != nil && last.open == open && sameIDs(last.groups, groups) {
		return last
	}
	o := r.renderENI(e, groups)
	o.open = open
	for _, g := range groups {
		o.groups = append(o.groups, g.ID)
	}
	return o
}

func sameIDs(ids []string, groups []*model.Group) bool {
	if len(ids) != len(groups) {
		return false
	}
	for i, g := range groups {
		if ids[i] != g.ID {
			return false
		}
	}
	return true
}

// openMask is one bit for each case of allOpen a group's rules meet on their own (by
// direction, family and protocol): allOpen of several groups is the union of their bits.
func (r *renderer) openMask(g *model.Group) uint8 {
	if m, ok := r.open[g]; ok {
		return m
	}
	var m uint8
	bit := uint8(1)
	for _, egress := range []bool{false, true} {
		for _, v4 := range []bool{true, false} {
			for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
				if allOpen([]*model.Group{g}, egress, proto, v4) {
					m |= bit
				}
				bit <<= 1
			}
		}
	}
	r.open[g] = m
	return m
}

// eni adds an interface's own objects to the ruleset, if it has any.
func (r *renderer) eni(o *eniOut) {
	for _, t := range o.timeouts {
		if !r.timeouts[t.Name] {
			r.timeouts[t.Name] = true
			r.rs.add(t)
		}
	}
	for _, c := range o.chains {
		r.rs.add(c)
	}
}

// renderENI renders an interface's entries: its links in the dispatch maps (to the shared
// chains, or to chains of its own that first give a new connection its idle timeouts), its
// groups in the slot maps, and which of its flows it does not track.
func (r *renderer) renderENI(e *model.NetworkInterface, groups []*model.Group) *eniOut {
	out := &eniOut{}
	link := r.n.Link(e.ID)
	quoted := fmt.Sprintf("%q", link)
	for _, a := range e.Addrs() {
		if a.Is4() {
			out.src4 = append(out.src4, quoted+" . "+a.String())
			out.addrs4 = append(out.addrs4, a.String())
		} else {
			out.src6 = append(out.src6, quoted+" . "+a.String())
			out.addrs6 = append(out.addrs6, a.String())
		}
	}
	for _, egress := range []bool{true, false} {
		d := dirIndex(egress)
		for _, g := range groups {
			out.slots[d] = append(out.slots[d], quoted+" : jump "+name(g.ID)+dirSuffix(egress))
		}
		for _, v4 := range []bool{true, false} {
			for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
				if allOpen(groups, !egress, proto, v4) {
					out.untracked[d] = append(out.untracked[d], fmt.Sprintf("%s . %s . %s", quoted, nfprotoWord(v4), protoWord(proto)))
				}
			}
		}
	}
	// AWS's default timeouts are the router namespace's own (netlab sets them): only an
	// interface with its own settings gives its connections a timeout object. The kernel keeps
	// one entry per connection where AWS keeps one per interface, so a connection takes the
	// timeouts of whichever of its interfaces has its own, the destination's if both do (the
	// ingress check runs last).
	ct := e.ConnTrack
	if ct == (model.ConnTrack{}) || ct == model.DefaultConnTrack {
		out.outDispatch = quoted + " : jump " + ifaceChain(true)
		out.inDispatch = quoted + " : jump " + ifaceChain(false)
		return out
	}
	timeouts := fmt.Sprintf("ct_%d_%d_%d", ct.TCPEstablished, ct.UDP, ct.UDPStream)
	out.timeouts = []*Object{
		{Kind: CtTimeout, Name: timeouts + "_tcp", Decl: []string{
			"protocol tcp", "l3proto inet", fmt.Sprintf("policy = { established: %d }", ct.TCPEstablished)}},
		{Kind: CtTimeout, Name: timeouts + "_udp", Decl: []string{
			"protocol udp", "l3proto inet", fmt.Sprintf("policy = { unreplied: %d, replied: %d }", ct.UDP, ct.UDPStream)}}}
	for _, egress := range []bool{true, false} {
		// Timeouts first: the group checks may return early. A timeout given to a connection
		// that is then dropped does nothing.
		c := &Object{Kind: Chain, Name: "eni_" + name(e.ID) + dirSuffix(egress), Lines: []string{
			fmt.Sprintf("ct state new meta l4proto tcp ct timeout set %q", timeouts+"_tcp"),
			fmt.Sprintf("ct state new meta l4proto udp ct timeout set %q", timeouts+"_udp"),
			"jump " + ifaceChain(egress)}}
		out.chains = append(out.chains, c)
	}
	out.outDispatch = quoted + " : jump " + out.chains[0].Name
	out.inDispatch = quoted + " : jump " + out.chains[1].Name
	return out
}

// ifaces renders the shared interface chains and the slot maps and untracked sets they look
// up, from the renderings of the router's own interfaces, read once.
func (r *renderer) ifaces(local []*eniOut) {
	slots := minSlots
	for _, o := range local {
		slots = max(slots, len(o.groups))
	}
	sc := &r.cache.scratch
	for d := range 2 {
		sc.slots[d] = slices.Grow(sc.slots[d][:0], slots)[:slots]
		for i := range sc.slots[d] {
			sc.slots[d][i] = sc.slots[d][i][:0]
		}
		sc.untracked[d] = sc.untracked[d][:0]
	}
	for _, o := range local {
		for d := range 2 {
			for i, e := range o.slots[d] {
				sc.slots[d][i] = append(sc.slots[d][i], e)
			}
			sc.untracked[d] = append(sc.untracked[d], o.untracked[d]...)
		}
	}
	for _, egress := range []bool{true, false} {
		d := dirIndex(egress)
		admitted, openMark, untracked := markIngress, markOpenIngress, markUntrackedIngress
		if egress {
			admitted, openMark, untracked = markEgress, markOpenEgress, markUntrackedEgress
		}
		link, key := linkExpr(egress), linkExpr(egress)+" . meta nfproto . meta l4proto"
		c := &Object{Kind: Chain, Name: ifaceChain(egress)}
		for slot, elems := range sc.slots[d] {
			r.rs.add(r.cachedSet(slotMap(egress, slot), "ifname", false, true, elems))
			c.Lines = append(c.Lines, link+" vmap @"+slotMap(egress, slot))
			if slot < slots-1 {
				c.Lines = append(c.Lines, fmt.Sprintf("meta mark & 0x%x == 0x%x %s != @%s return", admitted, admitted, key, untrackedSet(egress)))
			}
		}
		c.Lines = append(c.Lines, fmt.Sprintf("meta mark & 0x%x == 0x%x %s @%s meta mark set meta mark | 0x%x",
			openMark, openMark, key, untrackedSet(egress), untracked))
		r.rs.add(r.cachedSet(untrackedSet(egress), "ifname . nf_proto . inet_proto", false, false, sc.untracked[d]))
		r.rs.add(c)
	}
}

// allOpen reports whether one direction of the groups admits every port of a protocol from or
// to the whole address space of a family: the condition under which a flow admitted by an
// open rule in the other direction is not tracked (spec §2.6).
func allOpen(groups []*model.Group, egress bool, proto int, v4 bool) bool {
	whole := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if !v4 {
		whole = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	for _, g := range groups {
		for _, rule := range g.Rules(egress) {
			if rule.Peer.CIDR != whole {
				continue
			}
			p := model.ProtocolNumber(rule.Protocol)
			if p == -1 || (p == proto && rule.FromPort == 0 && rule.ToPort == 65535) {
				return true
			}
		}
	}
	return false
}
