package model

import (
	"net/netip"
	"slices"
	"time"
)

// NetworkInterface (ENI) carries the security groups: groups are attached to interfaces, not to
// instances (spec §1.2). Groups holds 1..N group IDs of the interface's VPC.
type NetworkInterface struct {
	ID              string       `json:"id"`
	SubnetID        string       `json:"subnet"`
	VpcID           string       `json:"vpc"`
	AZ              string       `json:"az"`
	OwnerID         string       `json:"owner"`
	Description     string       `json:"desc,omitempty"`
	Groups          []string     `json:"groups"`
	MAC             string       `json:"mac"`
	PrivateIP       netip.Addr   `json:"ip"` // zero in an IPv6-only subnet (PrimaryAddr)
	SecondaryIPs    []netip.Addr `json:"ips2,omitempty"`
	IPv6            []netip.Addr `json:"ip6,omitempty"`
	SourceDestCheck bool         `json:"sdc"`
	Attachment      *Attachment  `json:"attach,omitempty"`
	ConnTrack       ConnTrack    `json:"ct"`
	Tags            Tags         `json:"tags,omitempty"`
	// PublicIP is the public IPv4 address EC2 gives at launch (AssociatePublicIpAddress, or
	// a subnet's MapPublicIpOnLaunch): from the public pool, owned by "amazon", not an
	// Elastic IP. An Elastic IP associated with the primary private address replaces it
	// (it is returned to the pool); PublicOnLaunch remembers that one was asked for, so that
	// disassociating the Elastic IP gives the interface a new one, as on EC2.
	PublicIP       netip.Addr `json:"pub,omitzero"`
	PublicOnLaunch bool       `json:"pubLaunch,omitempty"`
	// RequesterManaged marks an interface an AWS service made for itself (a NAT gateway's);
	// InterfaceType is then the service's type ("nat_gateway"), "" meaning "interface".
	RequesterManaged bool   `json:"rm,omitempty"`
	InterfaceType    string `json:"itype,omitempty"`
	// PrimaryIPv6 is EnablePrimaryIpv6: IPv6[0] is the interface's primary IPv6 address, which
	// stays until the interface is deleted; once enabled it cannot be disabled (EC2 API
	// reference, CreateNetworkInterface).
	PrimaryIPv6 bool `json:"ip6primary,omitempty"`
}

// Attachment joins an interface to an instance.
type Attachment struct {
	ID                  string    `json:"id"`
	InstanceID          string    `json:"instance"`
	DeviceIndex         int       `json:"device"`
	DeleteOnTermination bool      `json:"dot"`
	AttachTime          time.Time `json:"time"`
}

// Clone returns a deep copy that may be modified freely.
func (n *NetworkInterface) Clone() *NetworkInterface {
	c := *n
	c.Groups = slices.Clone(n.Groups)
	c.SecondaryIPs = slices.Clone(n.SecondaryIPs)
	c.IPv6 = slices.Clone(n.IPv6)
	if n.Attachment != nil {
		a := *n.Attachment
		c.Attachment = &a
	}
	c.Tags = n.Tags.Clone()
	return &c
}

// Status is "in-use" when attached and "available" otherwise.
func (n *NetworkInterface) Status() string {
	if n.Attachment != nil {
		return "in-use"
	}
	return "available"
}

// Addrs returns every private address of the interface (primary first); an IPv6-only
// interface has no primary IPv4 address and starts with its IPv6 ones.
func (n *NetworkInterface) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, 1+len(n.SecondaryIPs)+len(n.IPv6))
	if n.PrivateIP.IsValid() {
		out = append(out, n.PrivateIP)
	}
	out = append(out, n.SecondaryIPs...)
	return append(out, n.IPv6...)
}

// IPv6Only reports whether the interface has no IPv4 address: it is in an IPv6-only
// (IPv6-native) subnet.
func (n *NetworkInterface) IPv6Only() bool { return !n.PrivateIP.IsValid() }

// PrimaryAddr is the address the interface is known by: its primary private IPv4 address, or
// in an IPv6-only subnet its first IPv6 address (EC2 gives such an interface one at creation);
// the zero Addr when it has neither.
func (n *NetworkInterface) PrimaryAddr() netip.Addr {
	if n.PrivateIP.IsValid() || len(n.IPv6) == 0 {
		return n.PrivateIP
	}
	return n.IPv6[0]
}

// ConnTrack holds the interface's connection-tracking idle timeouts in seconds (spec §2.6).
type ConnTrack struct {
	TCPEstablished int `json:"tcp"`
	UDPStream      int `json:"udpStream"`
	UDP            int `json:"udp"`
}

// DefaultConnTrack is AWS's default: 5 days for established TCP, 180 s for UDP streams, 30 s
// for other UDP.
var DefaultConnTrack = ConnTrack{TCPEstablished: 432000, UDPStream: 180, UDP: 30}

// Validate checks the timeouts against AWS's allowed ranges.
func (c ConnTrack) Validate() error {
	switch {
	case c.TCPEstablished < 60 || c.TCPEstablished > 432000:
		return InvalidValue("Invalid value '%d' for TcpEstablishedTimeout. It must be between 60 and 432000 seconds.", c.TCPEstablished)
	case c.UDPStream < 60 || c.UDPStream > 180:
		return InvalidValue("Invalid value '%d' for UdpStreamTimeout. It must be between 60 and 180 seconds.", c.UDPStream)
	case c.UDP < 30 || c.UDP > 60:
		return InvalidValue("Invalid value '%d' for UdpTimeout. It must be between 30 and 60 seconds.", c.UDP)
	}
	return nil
}
