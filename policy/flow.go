package policy

import "net/netip"

// Flow is the identity of the first packet of a connection: addresses, protocol, and the
// destination port (TCP, UDP) or the ICMP type and code. The zero Flow is invalid.
type Flow struct {
	Src, Dst netip.Addr
	Proto    uint8
	SrcPort  uint16 // TCP and UDP
	DstPort  uint16 // TCP and UDP
	ICMPType uint8  // ICMP and ICMPv6
	ICMPCode uint8  // ICMP and ICMPv6
}

// Endpoint is one end of a flow: an interface of the snapshot, or — with ENI empty — an
// address outside every VPC interface (the internet, an on-premises host).
type Endpoint struct {
	ENI string
}

// Outside is the endpoint of an address that is not one of the snapshot's interfaces.
var Outside = Endpoint{}
