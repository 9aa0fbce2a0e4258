package control

import (
	"context"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// AssignPrivateIPsInput are AssignPrivateIpAddresses' parameters: addresses by address or by
// number, not both.
type AssignPrivateIPsInput struct {
	ENIID             string
	Addrs             []string
	Count             int
	AllowReassignment bool
	DryRun            bool
}

// AssignPrivateIPs gives an interface secondary private IPv4 addresses of its subnet: those
// asked for, or the lowest free ones. An address another interface holds as a secondary
// address moves only with AllowReassignment; a primary address never moves. The interface's
// instance type limits the count (PrivateIpAddressLimitExceeded). The new addresses are
// enforced at once: the interface may send from them and its groups judge what is sent to
// them, and they are members of its groups wherever a rule references one.
func (s *Service) AssignPrivateIPs(ctx context.Context, t Tenant, in AssignPrivateIPsInput) ([]netip.Addr, Result, error) {
	switch {
	case in.ENIID == "":
		return nil, Result{}, model.Missing("NetworkInterfaceId")
	case len(in.Addrs) > 0 && in.Count != 0:
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.InvalidParameterCombination.Errorf("Specify either private IP addresses or a secondary private IP address count, not both.")
	case len(in.Addrs) == 0 && in.Count == 0:
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.MissingParameter.Errorf("The request must contain either privateIpAddress or secondaryPrivateIpAddressCount.")
	case in.Count < 0:
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter secondaryPrivateIpAddressCount is invalid.", in.Count)
	}
	var out []netip.Addr
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.ownENI(in.ENIID)
		if err != nil {
			return err
		}
		sn, err := tx.tn.subnet(n.SubnetID)
		if err != nil {
			return err
		}
		want := in.Count + len(in.Addrs)
		if 1+len(n.SecondaryIPs)+want > tx.tn.addrLimits(n).IPv4PerENI {
			return model.PrivateIpAddressLimitExceeded.New()
		}
		var asked []netip.Addr
		for _, s := range in.Addrs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return model.InvalidValue("Value (%s) for parameter privateIpAddress is invalid. It must be an IPv4 address.", s)
			}
			if !sn.Usable(a) {
				return model.InvalidValue("Address %s does not fall within the subnet's address range, or is one of the five addresses AWS reserves in every subnet.", s)
			}
			if slices.Contains(asked, a) {
				return model.InvalidValue("Address %s is given more than once.", s)
			}
			if err := tx.takeFromOther(n, a, in.AllowReassignment); err != nil {
				return err
			}
			asked = append(asked, a)
		}
		used := tx.tn.usedAddrs(sn.ID)
		for _, a := range asked {
			used[a] = true
		}
		out = asked
		for i := 4; len(out) < want && i < sn.Size()-1; i++ {
			if a := sn.AddrAt(i); !used[a] {
				used[a] = true
				out = append(out, a)
			}
		}
		if len(out) < want {
			return model.InsufficientFreeAddressesInSubnet.Errorf("The specified subnet %s does not have enough free addresses to satisfy the request.", sn.ID)
		}
		c := tx.tn.enis[n.ID].Clone() // takeFromOther may not touch n, but read it afresh
		c.SecondaryIPs = append(c.SecondaryIPs, out...)
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// takeFromOther makes address a free for interface n: nothing to do when no interface holds
// it; refused when n holds it already, when another holds it without reassignment allowed,
// or as its primary address; otherwise the other interface loses it, with the Elastic IP
// association on it.
func (tx *tx) takeFromOther(n *model.NetworkInterface, a netip.Addr, allow bool) error {
	for _, o := range tx.tn.enis {
		if o.SubnetID != n.SubnetID || !slices.Contains(o.Addrs(), a) {
			continue
		}
		if o.ID == n.ID || !allow || o.PrivateIP == a || o.RequesterManaged {
			return model.InvalidIPAddressInUse.Errorf("Address %s is in use.", a)
		}
		c := o.Clone()
		c.SecondaryIPs = slices.DeleteFunc(c.SecondaryIPs, func(x netip.Addr) bool { return x == a })
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		tx.dropAssociationOn(o.ID, a)
	}
	return nil
}

// dropAssociationOn disassociates the Elastic IP on a private address of an interface, if any.
func (tx *tx) dropAssociationOn(eniID string, private netip.Addr) {
	if eip := tx.tn.addressOn(eniID, private); eip != nil {
		c := eip.Clone()
		c.AssociationID, c.ENIID, c.PrivateIP = "", "", netip.Addr{}
		set(tx, tx.tn.addresses, kindAddress, c.AllocationID, c)
	}
}

// UnassignPrivateIPsInput are UnassignPrivateIpAddresses' parameters.
type UnassignPrivateIPsInput struct {
	ENIID  string
	Addrs  []string
	DryRun bool
}

// UnassignPrivateIPs takes secondary private IPv4 addresses off an interface; the primary
// cannot be taken off. An Elastic IP associated with one is disassociated, as on EC2.
func (s *Service) UnassignPrivateIPs(ctx context.Context, t Tenant, in UnassignPrivateIPsInput) (Result, error) {
	switch {
	case in.ENIID == "":
		return Result{}, model.Missing("NetworkInterfaceId")
	case len(in.Addrs) == 0:
		return Result{}, model.Missing("PrivateIpAddress")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.ownENI(in.ENIID)
		if err != nil {
			return err
		}
		c := n.Clone()
		for _, s := range in.Addrs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return model.InvalidValue("Value (%s) for parameter privateIpAddress is invalid. It must be an IPv4 address.", s)
			}
			i := slices.Index(c.SecondaryIPs, a)
			if i < 0 {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Some of the specified addresses are not assigned to interface %s", n.ID)
			}
			c.SecondaryIPs = slices.Delete(c.SecondaryIPs, i, i+1)
			tx.dropAssociationOn(n.ID, a)
		}
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		return nil
	})
}

// AssignIPv6Input are AssignIpv6Addresses' parameters: addresses by address or by number.
type AssignIPv6Input struct {
	ENIID  string
	Addrs  []string
	Count  int
	DryRun bool
}

// AssignIPv6 gives an interface IPv6 addresses of its subnet's block: those asked for, or the
// lowest free ones, within its instance type's limit. They are enforced as the IPv4 ones are.
func (s *Service) AssignIPv6(ctx context.Context, t Tenant, in AssignIPv6Input) ([]netip.Addr, Result, error) {
	switch {
	case in.ENIID == "":
		return nil, Result{}, model.Missing("NetworkInterfaceId")
	case len(in.Addrs) == 0 && in.Count == 0:
		// [UNCONFIRMED] wording.
		return nil, Result{}, model.MissingParameter.Errorf("The request must contain either ipv6Addresses or ipv6AddressCount.")
	case in.Count < 0:
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter ipv6AddressCount is invalid.", in.Count)
	}
	var out []netip.Addr
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.ownENI(in.ENIID)
		if err != nil {
			return err
		}
		sn, err := tx.tn.subnet(n.SubnetID)
		if err != nil {
			return err
		}
		lim := tx.tn.addrLimits(n)
		if len(n.IPv6)+in.Count+len(in.Addrs) > lim.IPv6PerENI {
			// [UNCONFIRMED] code and wording.
			return model.InvalidValue("Number of IPv6 addresses (%d) exceeds the limit of %d for the interface.", len(n.IPv6)+in.Count+len(in.Addrs), lim.IPv6PerENI)
		}
		if out, err = ipv6Addrs(sn, addrRequest{ipv6: in.Addrs, ipv6Count: in.Count}, tx.tn.usedAddrs(sn.ID)); err != nil {
			return err
		}
		c := n.Clone()
		c.IPv6 = append(c.IPv6, out...)
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// UnassignIPv6Input are UnassignIpv6Addresses' parameters.
type UnassignIPv6Input struct {
	ENIID  string
	Addrs  []string
	DryRun bool
}

// UnassignIPv6 takes IPv6 addresses off an interface and returns them as taken off.
func (s *Service) UnassignIPv6(ctx context.Context, t Tenant, in UnassignIPv6Input) ([]netip.Addr, Result, error) {
	switch {
	case in.ENIID == "":
		return nil, Result{}, model.Missing("NetworkInterfaceId")
	case len(in.Addrs) == 0:
		return nil, Result{}, model.Missing("Ipv6Addresses")
	}
	var out []netip.Addr
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.ownENI(in.ENIID)
		if err != nil {
			return err
		}
		c := n.Clone()
		for _, s := range in.Addrs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
				return model.InvalidValue("Value (%s) for parameter ipv6Addresses is invalid. It must be an IPv6 address.", s)
			}
			i := slices.Index(c.IPv6, a)
			if i < 0 {
				// [UNCONFIRMED] wording.
				return model.InvalidValue("Some of the specified addresses are not assigned to interface %s", n.ID)
			}
			c.IPv6 = slices.Delete(c.IPv6, i, i+1)
			out = append(out, a)
		}
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// ownENI returns an interface the account manages itself: one another service made (a NAT
// gateway's) changes its addresses only through that service (AssignPrivateNatGatewayAddress
// for a NAT gateway). [UNCONFIRMED] code and wording.
func (tn *tenant) ownENI(id string) (*model.NetworkInterface, error) {
	n, err := tn.eni(id)
	if err == nil && n.RequesterManaged {
		return nil, model.OperationNotPermitted.Errorf("Network interface '%s' is managed by another service; change its addresses through that service.", id)
	}
	return n, err
}
