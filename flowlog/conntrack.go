package flowlog

import (
	"net/netip"
	"slices"
)

// Counts is what one direction of a tracked connection passed since the last zeroing.
type Counts struct{ Packets, Bytes uint64 }

// Accepted turns one connection-tracking entry into the observations of the interfaces at
// its two ends (A4.2, source 1). orig and reply are the entry's tuples as the kernel keeps
// them (the reply tuple's source is the real destination after a destination translation);
// o and r what each direction counted. The initiator's interface sends orig (egress) and
// receives the reply (ingress); the other end the other way round. Each side's flow is as the
// packets were at that interface, which address translation on the internet link can make
// differ between the ends. ifaceAt finds the interface on this host covered by a flow log that
// owns an address (nil: nothing to record for that end). start and last are the entry's
// start time and the dump's time in Unix seconds. Traffic AWS never logs is left out.
func Accepted(orig, reply Flow, o, r Counts, start, last int64, ifaceAt func(netip.Addr) *Interface) []Obs {
	var out []Obs
	obs := func(ifc *Interface, dir Direction, f Flow, c Counts) {
		if c.Packets == 0 || NeverLogged(ifc, peerOf(f, dir)) {
			return
		}
		out = append(out, Obs{Iface: ifc.ID, Dir: dir, Action: Accept, Flow: f, Packets: c.Packets, Bytes: c.Bytes, First: start, Last: last})
	}
	if src := ifaceAt(orig.Src); src != nil {
		obs(src, Egress, orig, o)
		obs(src, Ingress, mirror(orig), r)
	}
	if dst := ifaceAt(reply.Src); dst != nil {
		obs(dst, Ingress, mirror(reply), o)
		obs(dst, Egress, reply, r)
	}
	return out
}

// mirror is the other direction of a flow as its packets carry it.
func mirror(f Flow) Flow {
	return Flow{Proto: f.Proto, Src: f.Dst, Dst: f.Src, SrcPort: f.DstPort, DstPort: f.SrcPort}
}

// peerOf is the far end of a flow seen from the interface.
func peerOf(f Flow, dir Direction) netip.Addr {
	if dir == Egress {
		return f.Dst
	}
	return f.Src
}

// NeverLogged tells traffic between an interface and peer that AWS never records (A2.5): the
// metadata service, time sync and the link-local DNS address (169.254.0.0/16), IPv6
// link-local and multicast (neighbour discovery), DHCP's broadcast and unspecified
// addresses, and the VPC's own router and resolver addresses (ifc.Unlogged).
func NeverLogged(ifc *Interface, peer netip.Addr) bool {
	return peer.IsLinkLocalUnicast() || peer.IsMulticast() || peer.IsLinkLocalMulticast() || peer.IsUnspecified() ||
		peer == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || slices.Contains(ifc.Unlogged, peer)
}
