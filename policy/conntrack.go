package policy

import (
	"net/netip"
	"time"

	"github.com/stockade/stockade/model"
)

// Conntrack replays packets the way AWS tracks connections (spec §2.6), against a policy that
// can change between packets (SetPolicy is a rule change). It is the state model the data
// plane is tested against:
//
//   - A packet admitted by an interface's rules in one direction creates a tracking entry on
//     that interface; packets of the same connection in either direction then pass that
//     interface's security groups without the rules being consulted, even after the rule that
//     admitted them is removed, until the entry idles out.
//   - A TCP or UDP flow whose first packet is admitted by a rule open to the whole address
//     space (0.0.0.0/0 or ::/0), on an interface whose opposite direction admits all traffic of
//     that protocol from or to the whole address space on all ports, is not tracked on that
//     interface: every packet of it, either way, is judged on the rules alone, so removing the
//     rule cuts the flow at once. The decision is made when the flow starts and holds for its
//     life (AWS documents no transition; the kernel data plane does the same).
//   - ICMP is always tracked; other protocols are tracked by addresses and protocol (600 s).
//   - NACLs are stateless: every packet crossing a subnet boundary is checked.
//
// Idle timeouts come from the interface's connection-tracking settings: established TCP, UDP
// (30 s until the connection has seen more than one exchange, then the stream timeout). AWS
// publishes none for ICMP and non-established TCP; Stockade uses the UDP timeout for ICMP and
// the established timeout for TCP from its first packet.
//
// A Conntrack is not safe for concurrent use.
type Conntrack struct {
	p       *Policy
	now     time.Time
	entries map[connKey]*connEntry
}

// connKey identifies a connection on one interface, whichever way a packet goes.
type connKey struct {
	eni           string
	proto         uint8
	local, remote netip.Addr
	lport, rport  uint16
}

type connEntry struct {
	untracked bool // judged on the rules at every packet
	expires   time.Time
	outbound  bool // created by a packet leaving the interface
	exchanges int  // direction changes seen, for the UDP stream timeout
	lastOut   bool
}

// OtherProtocolTimeout is the response window of protocols other than TCP, UDP and ICMP.
const OtherProtocolTimeout = 600 * time.Second

// NewConntrack starts with no connections at time zero.
func NewConntrack(p *Policy) *Conntrack {
	return &Conntrack{p: p, entries: map[connKey]*connEntry{}}
}

// SetPolicy replaces the policy (a rule, group or NACL change); tracked connections stay.
func (c *Conntrack) SetPolicy(p *Policy) { c.p = p }

// Advance moves the clock; entries idle longer than their timeout are gone.
func (c *Conntrack) Advance(d time.Duration) {
	c.now = c.now.Add(d)
	for k, e := range c.entries {
		if !c.now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
}

// Tracked reports how many tracked connection entries exist (for tests and metrics).
func (c *Conntrack) Tracked() int {
	n := 0
	for _, e := range c.entries {
		if !e.untracked {
			n++
		}
	}
	return n
}

// Packet sends one packet and reports where it was stopped, or Admitted.
func (c *Conntrack) Packet(src, dst Endpoint, f Flow) Stage {
	p := c.p
	s, d, stage := p.ends(src, dst)
	if stage != Admitted {
		return stage
	}
	if s != nil && !c.pass(s, f, true) {
		return SourceEgress
	}
	if crosses(s, d) && !naclAllows(s.acl, true, f, f.Dst) {
		return SourceNACL
	}
	if crosses(d, s) && !naclAllows(d.acl, false, f, f.Src) {
		return DestNACL
	}
	if d != nil && !c.pass(d, f, false) {
		return DestIngress
	}
	return Admitted
}

// pass applies one interface's security groups to a packet leaving (out) or entering it.
func (c *Conntrack) pass(x *iface, f Flow, out bool) bool {
	k := key(x.n.ID, f, out)
	rules := x.rules.get()
	dir, remote := &rules.in, f.Src
	if out {
		dir, remote = &rules.out, f.Dst
	}
	if e := c.entries[k]; e != nil {
		if e.untracked && !dir.allows(f, remote) {
			return false
		}
		c.touch(x, k, e, f, out)
		return true
	}
	if !dir.allows(f, remote) {
		return false
	}
	e := &connEntry{outbound: out, lastOut: out, untracked: c.untracked(x, f, out, remote)}
	c.entries[k] = e
	c.touch(x, k, e, f, out)
	return true
}

func key(eni string, f Flow, out bool) connKey {
	k := connKey{eni: eni, proto: f.Proto}
	if out {
		k.local, k.remote, k.lport, k.rport = f.Src, f.Dst, f.SrcPort, f.DstPort
	} else {
		k.local, k.remote, k.lport, k.rport = f.Dst, f.Src, f.DstPort, f.SrcPort
	}
	if f.Proto != model.ProtoNumTCP && f.Proto != model.ProtoNumUDP {
		k.lport, k.rport = 0, 0 // ICMP and other protocols: tracked by addresses and protocol
	}
	return k
}

func (c *Conntrack) touch(x *iface, k connKey, e *connEntry, f Flow, out bool) {
	if out != e.lastOut {
		e.exchanges++
		e.lastOut = out
	}
	ct := x.n.ConnTrack
	if ct == (model.ConnTrack{}) {
		ct = model.DefaultConnTrack
	}
	var d time.Duration
	switch f.Proto {
	case model.ProtoNumTCP:
		d = time.Duration(ct.TCPEstablished) * time.Second
	case model.ProtoNumUDP:
		d = time.Duration(ct.UDP) * time.Second
		if e.exchanges > 1 {
			d = time.Duration(ct.UDPStream) * time.Second
		}
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		d = time.Duration(ct.UDP) * time.Second
	default:
		d = OtherProtocolTimeout
	}
	e.expires = c.now.Add(d)
}

// untracked decides whether a TCP/UDP packet admitted in one direction escapes tracking: some
// admitting rule is open to the whole address space of the packet's family, and the opposite
// direction admits every port of the protocol from/to the whole address space.
func (c *Conntrack) untracked(x *iface, f Flow, out bool, remote netip.Addr) bool {
	if f.Proto != model.ProtoNumTCP && f.Proto != model.ProtoNumUDP {
		return false
	}
	whole := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if remote.Is6() {
		whole = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	openRule := false
	for _, g := range x.groups {
		rs := g.Rules(out)
		for i := range rs {
			if rs[i].Peer.CIDR == whole && ruleMatches(&rs[i], f, remote, c.p.peerContains) {
				openRule = true
			}
		}
	}
	if !openRule {
		return false
	}
	for _, g := range x.groups {
		rs := g.Rules(!out)
		for i := range rs {
			r := &rs[i]
			if r.Peer.CIDR != whole {
				continue
			}
			proto := ruleProto(r.Protocol)
			if proto == -1 || (proto == int(f.Proto) && r.FromPort == 0 && r.ToPort == 65535) {
				return true
			}
		}
	}
	return false
}
