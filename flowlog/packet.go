package flowlog

import (
	"encoding/binary"
	"net/netip"
)

// Packet is what the headers of a logged packet say: its flow, its length as the IP header
// gives it (the bytes a record counts) and its TCP flags as records report them.
type Packet struct {
	Flow  Flow
	Len   uint64
	Flags uint8
}

// ParsePacket reads an IPv4 or IPv6 header and the ports (or TCP flags) after it from the
// first bytes of a packet, as NFLOG copies them. IPv6 extension headers are not walked: such
// a packet's protocol is the first next-header, without ports.
func ParsePacket(b []byte) (Packet, bool) {
	var p Packet
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return p, false
		}
		p.Flow.Proto = b[9]
		p.Flow.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Flow.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.Len = uint64(binary.BigEndian.Uint16(b[2:4]))
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 { // first fragment: ports follow
			l4 = b[ihl:]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		p.Flow.Proto = b[6]
		p.Flow.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Flow.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Len = 40 + uint64(binary.BigEndian.Uint16(b[4:6]))
		l4 = b[40:]
	default:
		return p, false
	}
	switch p.Flow.Proto {
	case 6, 17, 132: // TCP, UDP, SCTP
		if len(l4) >= 4 {
			p.Flow.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			p.Flow.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
		if p.Flow.Proto == 6 && len(l4) >= 14 {
			p.Flags = TCPFlags(l4[13])
		}
	}
	return p, true
}

// Drop is a packet a filter dropped, as the agent's NFLOG source reports it. From and To are
// the covered interfaces it left and was going to (nil: not covered, or not an interface:
// the internet link). AtEgress says the sender's side refused it (its group's egress or its
// subnet's outbound ACL), else the receiver's side did. SenderAdmitted says the sender's
// egress had admitted the first packet of a new connection that the receiver's group then
// refused: connection tracking never counted it, so the sender's ACCEPT comes from here.
type Drop struct {
	From, To       *Interface
	AtEgress       bool
	SenderAdmitted bool
	Packet         Packet
	Time           int64
}

// AddDrop records a dropped packet (A2.3): REJECT on the side that refused it; ACCEPT for a
// sender whose egress admitted a new connection's packet; and, since connection tracking may
// have counted the packet before the filter dropped it, the same packet taken off the ACCEPT
// records of the sides it did not get through (the refusing side and, past it, the receiver).
func (a *Aggregator) AddDrop(d Drop) {
	f, c := d.Packet.Flow, Counts{1, d.Packet.Len}
	obs := func(ifc *Interface, dir Direction, act Action) {
		if ifc != nil && !NeverLogged(ifc, peerOf(f, dir)) {
			a.Add(Obs{Iface: ifc.ID, Dir: dir, Action: act, Flow: f, Packets: 1, Bytes: d.Packet.Len, First: d.Time, Last: d.Time, Flags: d.Packet.Flags})
		}
	}
	correct := func(ifc *Interface, dir Direction) {
		if ifc != nil {
			a.Dropped(ifc.ID, dir, f, c)
		}
	}
	if d.AtEgress {
		obs(d.From, Egress, Reject)
		correct(d.From, Egress)
	} else {
		obs(d.To, Ingress, Reject)
		if d.SenderAdmitted {
			obs(d.From, Egress, Accept)
		}
	}
	correct(d.To, Ingress)
}
