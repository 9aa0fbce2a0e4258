package flowlog

import (
	"net/netip"
)

// Direction is relative to the interface a record is about.
type Direction uint8

const (
	Ingress Direction = iota
	Egress
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Action is ACCEPT or REJECT as AWS decides it (A2.3): REJECT when a security group or a
// network ACL did not let the packet through, or when it belonged to no live connection.
type Action uint8

const (
	Accept Action = iota
	Reject
)

func (a Action) String() string {
	if a == Reject {
		return "REJECT"
	}
	return "ACCEPT"
}

// Status is a record's log-status.
type Status uint8

const (
	OK Status = iota
	NoData
	SkipData
)

func (s Status) String() string {
	switch s {
	case NoData:
		return "NODATA"
	case SkipData:
		return "SKIPDATA"
	}
	return "OK"
}

// Flow is a 5-tuple as it is in the packets of one direction (pkt-srcaddr, pkt-dstaddr).
// Ports are 0 for protocols without ports (ICMP, as in AWS's examples).
type Flow struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Interface describes an ENI for its records. Primary is its primary private IPv4 address
// (srcaddr of its IPv4 egress records and dstaddr of its ingress ones, whatever address the
// packet used); VPCPrefixes tell traffic-path 1 (another resource of the same VPC).
type Interface struct {
	ID, Account, VPC, Subnet, Instance, Region, AZID string
	Primary                                          netip.Addr
	VPCPrefixes                                      []netip.Prefix
	// Unlogged are the VPC's own service addresses this interface talks to that AWS never
	// logs (A2.5): its subnet's router (base + 1) and the VPC's resolver (base + 2).
	Unlogged []netip.Addr
}

// TCP flags as AWS reports them (A2.6): FIN, SYN, RST, and ACK only as part of SYN-ACK.
const (
	FlagFIN    = 1
	FlagSYN    = 2
	FlagRST    = 4
	flagACK    = 16
	FlagSYNACK = FlagSYN | flagACK
)

// TCPFlags maps the flags byte of one TCP header to what a record reports: the supported bits
// only, ACK only next to SYN (PSH, URG, ECE, CWR and a bare ACK report nothing).
func TCPFlags(hdr uint8) uint8 {
	f := hdr & (FlagFIN | FlagSYN | FlagRST)
	if hdr&FlagSYN != 0 && hdr&flagACK != 0 {
		f |= flagACK
	}
	return f
}

// Record is one flow-log record before rendering: one flow on one interface, in one
// direction, in one window (Status OK), or the window's NODATA or SKIPDATA record for an
// interface. Start and End are Unix seconds.
type Record struct {
	Iface      *Interface
	Status     Status
	Dir        Direction
	Action     Action
	Flow       Flow
	Packets    uint64
	Bytes      uint64
	Start, End int64
	Flags      uint8 // OR of TCPFlags over the window's packets
}
