package model

import "net/netip"

// PrefixSubnetCidrAssoc is the prefix of a subnet's IPv6 block association, and
// PrefixSubnetCidrReservation of a subnet CIDR reservation.
const (
	PrefixSubnetCidrAssoc       = "subnet-cidr-assoc"
	PrefixSubnetCidrReservation = "scr"
)

// SubnetCIDRReservation is a range of a subnet's addresses kept from automatic assignment
// (CreateSubnetCidrReservation): "explicit" ones are assigned only by asking for them,
// "prefix" ones are for prefix delegation.
type SubnetCIDRReservation struct {
	ID          string       `json:"id"`
	SubnetID    string       `json:"subnet"`
	OwnerID     string       `json:"owner"`
	CIDR        netip.Prefix `json:"cidr"`
	Type        string       `json:"type"` // "explicit" or "prefix"
	Description string       `json:"description,omitempty"`
	Tags        Tags         `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (r *SubnetCIDRReservation) Clone() *SubnetCIDRReservation {
	c := *r
	c.Tags = r.Tags.Clone()
	return &c
}
