package model

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// VPC is a virtual network with one primary IPv4 CIDR and optionally an IPv6 /56 (spec §1.2).
type VPC struct {
	ID              string       `json:"id"`
	OwnerID         string       `json:"owner"`
	CIDR            netip.Prefix `json:"cidr"`
	CIDRAssocID     string       `json:"cidrAssoc"`
	IPv6CIDR        netip.Prefix `json:"cidr6,omitzero"`
	IPv6CIDRAssocID string       `json:"cidr6Assoc,omitempty"`
	// Tenancy is "default" or "dedicated".
	Tenancy        string `json:"tenancy"`
	IsDefault      bool   `json:"isDefault,omitempty"`
	DefaultGroupID string `json:"defaultGroup"`
	DhcpOptionsID  string `json:"dopt"`
	Tags           Tags   `json:"tags,omitempty"`
	// Secondary are the IPv4 blocks associated after creation (AssociateVpcCidrBlock), in
	// association order; with CIDR at most the CIDR-blocks quota (5 by default).
	Secondary []CIDRBlock `json:"cidrs2,omitempty"`
	// IPv6Secondary are the Amazon-provided IPv6 blocks after the first (IPv6CIDR), in
	// association order. When the first goes, the next takes its place.
	IPv6Secondary []CIDRBlock `json:"cidrs6,omitempty"`
	// The VPC's attributes (DescribeVpcAttribute). DNS support is on unless turned off, so
	// that records written before the attributes existed read as AWS's default.
	DNSSupportOff  bool `json:"dnsOff,omitempty"`
	DNSHostnames   bool `json:"dnsHostnames,omitempty"`
	NAUsageMetrics bool `json:"nauMetrics,omitempty"`
	// VNI is the VXLAN network identifier of the VPC's segment between hosts (24 bits, never
	// 0), allocated when the VPC is first stored (control/vni.go). EC2 shows no such field.
	// 0: a VPC stored before VNIs were, whose hosts derive its number (netlab.VNI).
	VNI uint32 `json:"vni,omitempty"`
}

// CIDRBlock is one IPv4 block of a VPC with the ID of its association.
type CIDRBlock struct {
	CIDR    netip.Prefix `json:"cidr"`
	AssocID string       `json:"assoc"`
}

// Clone returns a copy that may be modified freely.
func (v *VPC) Clone() *VPC {
	c := *v
	c.Tags = v.Tags.Clone()
	c.Secondary = slices.Clone(v.Secondary)
	c.IPv6Secondary = slices.Clone(v.IPv6Secondary)
	return &c
}

// IPv6Blocks are the VPC's IPv6 blocks: IPv6CIDR first, if it has one, then the others.
func (v *VPC) IPv6Blocks() []CIDRBlock {
	if !v.IPv6CIDR.IsValid() {
		return nil
	}
	return append([]CIDRBlock{{CIDR: v.IPv6CIDR, AssocID: v.IPv6CIDRAssocID}}, v.IPv6Secondary...)
}

// AllBlocks are the VPC's IPv4 blocks (Blocks) and then its IPv6 blocks (IPv6Blocks).
func (v *VPC) AllBlocks() []CIDRBlock { return append(v.Blocks(), v.IPv6Blocks()...) }

// Blocks are the VPC's IPv4 blocks: the primary first, then the secondary ones in the
// order they were associated.
func (v *VPC) Blocks() []CIDRBlock {
	return append([]CIDRBlock{{CIDR: v.CIDR, AssocID: v.CIDRAssocID}}, v.Secondary...)
}

// BlockOf is the IPv4 block of the VPC that holds all of p, if one does.
func (v *VPC) BlockOf(p netip.Prefix) (netip.Prefix, bool) {
	for _, b := range v.Blocks() {
		if b.CIDR.Bits() <= p.Bits() && b.CIDR.Contains(p.Addr()) {
			return b.CIDR, true
		}
	}
	return netip.Prefix{}, false
}

// Subnet is an address range of a VPC in one availability zone.
type Subnet struct {
	ID           string       `json:"id"`
	VpcID        string       `json:"vpc"`
	OwnerID      string       `json:"owner"`
	CIDR         netip.Prefix `json:"cidr"`
	IPv6CIDR     netip.Prefix `json:"cidr6,omitzero"`
	IPv6AssocID  string       `json:"cidr6Assoc,omitempty"`
	AZ           string       `json:"az"`
	AZID         string       `json:"azId"`
	DefaultForAz bool         `json:"defaultForAz,omitempty"`
	MapPublicIP  bool         `json:"mapPublicIp,omitempty"`
	Tags         Tags         `json:"tags,omitempty"`
	// IPv6Native marks an IPv6-only subnet: no IPv4 block (CIDR is the zero Prefix).
	IPv6Native bool `json:"ipv6Native,omitempty"`
	// The launch attributes of ModifySubnetAttribute; the zero values are AWS's defaults.
	AssignIPv6 bool `json:"assignIpv6,omitempty"` // AssignIpv6AddressOnCreation
	DNS64      bool `json:"dns64,omitempty"`      // EnableDns64
	// HostnameType is PrivateDnsNameOptionsOnLaunch's: "ip-name" (also when empty) or
	// "resource-name"; DNSARecord and DNSAAAARecord its resource-name DNS records.
	HostnameType  string `json:"hostnameType,omitempty"`
	DNSARecord    bool   `json:"dnsA,omitempty"`
	DNSAAAARecord bool   `json:"dnsAAAA,omitempty"`
}

// Hostname types of PrivateDnsNameOptionsOnLaunch.
const (
	HostnameIPName       = "ip-name"
	HostnameResourceName = "resource-name"
)

// Hostname is the subnet's hostname type as EC2 shows it.
func (s *Subnet) Hostname() string {
	if s.HostnameType == "" {
		return HostnameIPName
	}
	return s.HostnameType
}

// Clone returns a copy that may be modified freely.
func (s *Subnet) Clone() *Subnet { c := *s; c.Tags = s.Tags.Clone(); return &c }

// ReservedAddresses is how many addresses AWS keeps in every subnet: the network address, the
// router (.1), DNS (.2), one for future use (.3) and the broadcast address (spec §1.2).
const ReservedAddresses = 5

// Size is the number of IPv4 addresses in the subnet.
func (s *Subnet) Size() int {
	if !s.CIDR.IsValid() {
		return 0 // an IPv6-only subnet has no IPv4 address to give
	}
	return 1 << (32 - s.CIDR.Bits())
}

// Usable reports whether a is an address of the subnet that may be given to an interface:
// inside the CIDR and not one of the five reserved ones.
func (s *Subnet) Usable(a netip.Addr) bool {
	if !s.CIDR.Contains(a) {
		return false
	}
	off := addrOffset(s.CIDR.Addr(), a)
	return off > 3 && off < s.Size()-1
}

// AddrAt is the subnet's address at offset i from its network address.
func (s *Subnet) AddrAt(i int) netip.Addr {
	b := s.CIDR.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func addrOffset(base, a netip.Addr) int {
	x, y := base.As4(), a.As4()
	bv := uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])
	av := uint32(y[0])<<24 | uint32(y[1])<<16 | uint32(y[2])<<8 | uint32(y[3])
	return int(av - bv)
}

// Usable6 reports whether a may be given to an interface as an IPv6 address of the subnet:
// inside its IPv6 /64 and not one of the first four or the last address of that block, which
// AWS reserves in IPv6 as it does in IPv4.
func (s *Subnet) Usable6(a netip.Addr) bool {
	if !s.IPv6CIDR.IsValid() || !a.Is6() || !s.IPv6CIDR.Contains(a) {
		return false
	}
	host := binary.BigEndian.Uint64(a.AsSlice()[8:]) // a subnet's IPv6 block is a /64
	return host > 3 && host != math.MaxUint64
}

// AddrAt6 is the subnet's IPv6 address at offset i from the start of its /64.
func (s *Subnet) AddrAt6(i uint64) netip.Addr {
	b := s.IPv6CIDR.Masked().Addr().As16()
	binary.BigEndian.PutUint64(b[8:], i)
	return netip.AddrFrom16(b)
}
