package control

import (
	"context"
	"net/netip"
	"slices"
	"strings"

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
	if err := askedFor(in.ENIID, in.Addrs, in.Count, "privateIpAddress", "secondaryPrivateIpAddressCount"); err != nil {
		return nil, Result{}, err
	}
	return s.editAddrs(ctx, t, in.ENIID, in.DryRun, func(tx *tx, n *model.NetworkInterface, sn *model.Subnet) (*model.NetworkInterface, []netip.Addr, error) {
		if sn.IPv6Native {
			return nil, nil, ipv6OnlyRefuses(sn, strings.Join(in.Addrs, ", "), in.Count)
		}
		want := in.Count + len(in.Addrs)
		if lim, _ := tx.tn.addrLimits(n); 1+len(n.SecondaryIPs)+want > lim.IPv4PerENI {
			return nil, nil, model.PrivateIpAddressLimitExceeded.New()
		}
		var out []netip.Addr
		for _, s := range in.Addrs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return nil, nil, model.InvalidValue("Value (%s) for parameter privateIpAddress is invalid. It must be an IPv4 address.", s)
			}
			if !sn.Usable(a) {
				return nil, nil, model.InvalidValue("Address %s does not fall within the subnet's address range, or is one of the five addresses AWS reserves in every subnet.", s)
			}
			if slices.Contains(out, a) {
				return nil, nil, model.InvalidValue("Address %s is given more than once.", s)
			}
			if err := tx.takeFromOther(n, a, in.AllowReassignment); err != nil {
				return nil, nil, err
			}
			out = append(out, a)
		}
		used := tx.tn.usedAddrs(sn.ID)
		for _, a := range out {
			used[a] = true
		}
		for i := 4; len(out) < want && i < sn.Size()-1; i++ {
			if a := sn.AddrAt(i); !used[a] && !tx.tn.reserved(sn.ID, a) { // reservations are for explicit use
				used[a] = true
				out = append(out, a)
			}
		}
		if len(out) < want {
			return nil, nil, model.InsufficientFreeAddressesInSubnet.Errorf("The specified subnet %s does not have enough free addresses to satisfy the request.", sn.ID)
		}
		c := n.Clone() // takeFromOther never changes n: it refuses n's own addresses
		c.SecondaryIPs = append(c.SecondaryIPs, out...)
		return c, out, nil
	})
}

// askedFor checks what an Assign action asks for: an interface, and addresses by address or
// by number (countParam), one of the two. [UNCONFIRMED] wording of the combination errors.
func askedFor(eni string, addrs []string, count int, addrParam, countParam string) error {
	switch {
	case eni == "":
		return model.Missing("NetworkInterfaceId")
	case len(addrs) > 0 && count != 0:
		return model.InvalidParameterCombination.Errorf("Specify either %s or %s, not both.", addrParam, countParam)
	case len(addrs) == 0 && count == 0:
		return model.MissingParameter.Errorf("The request must contain either %s or %s.", addrParam, countParam)
	case count < 0:
		return model.InvalidValue("Value (%d) for parameter %s is invalid.", count, countParam)
	}
	return nil
}

// editAddrs runs one change of an interface's addresses in a write: edit gets the interface
// (one the account manages) and its subnet, and returns the interface as changed and the
// addresses the reply reports.
func (s *Service) editAddrs(ctx context.Context, t Tenant, id string, dryRun bool,
	edit func(tx *tx, n *model.NetworkInterface, sn *model.Subnet) (*model.NetworkInterface, []netip.Addr, error)) ([]netip.Addr, Result, error) {
	var out []netip.Addr
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		n, err := tx.tn.ownENI(id)
		if err != nil {
			return err
		}
		sn, err := tx.tn.subnet(n.SubnetID)
		if err != nil {
			return err
		}
		c, addrs, err := edit(tx, n, sn)
		if err != nil {
			return err
		}
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		out = addrs
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// takeFromOther makes address a free for interface n: nothing to do when no interface holds
// it; refused when n holds it already, when another holds it without reassignment allowed,
// or as its primary address; otherwise the other interface loses it, and the Elastic IP
// associated with it moves to n with it (AssignPrivateIpAddresses in the EC2 API reference:
// "any Elastic IP address that is associated with the IP address is also moved").
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
		if eip := tx.tn.addressOn(o.ID, a); eip != nil {
			m := eip.Clone()
			m.ENIID = n.ID
			set(tx, tx.tn.addresses, kindAddress, m.AllocationID, m)
		}
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
// cannot be taken off. An Elastic IP associated with one is disassociated. [UNCONFIRMED] that
// EC2 disassociates rather than refuses.
func (s *Service) UnassignPrivateIPs(ctx context.Context, t Tenant, in UnassignPrivateIPsInput) (Result, error) {
	if err := askedToDrop(in.ENIID, in.Addrs, "PrivateIpAddress"); err != nil {
		return Result{}, err
	}
	_, res, err := s.editAddrs(ctx, t, in.ENIID, in.DryRun, func(tx *tx, n *model.NetworkInterface, _ *model.Subnet) (*model.NetworkInterface, []netip.Addr, error) {
		c := n.Clone()
		gone, err := dropAddrs(&c.SecondaryIPs, in.Addrs, n.ID, "privateIpAddress", netip.Addr.Is4)
		for _, a := range gone {
			tx.dropAssociationOn(n.ID, a)
		}
		return c, gone, err
	})
	return res, err
}

// askedToDrop checks what an Unassign action asks for: an interface and addresses (param).
func askedToDrop(eni string, addrs []string, param string) error {
	switch {
	case eni == "":
		return model.Missing("NetworkInterfaceId")
	case len(addrs) == 0:
		return model.Missing(param)
	}
	return nil
}

// dropAddrs removes the addresses asked for (each of the family is reports) from list, and
// returns them; one the list lacks refuses the whole request.
func dropAddrs(list *[]netip.Addr, asked []string, eni, param string, is func(netip.Addr) bool) ([]netip.Addr, error) {
	var gone []netip.Addr
	for _, s := range asked {
		a, err := netip.ParseAddr(s)
		if err != nil || !is(a) || a.Is4In6() || a.Zone() != "" {
			return nil, model.InvalidValue("Value (%s) for parameter %s is invalid.", s, param)
		}
		i := slices.Index(*list, a)
		if i < 0 {
			// [UNCONFIRMED] wording.
			return nil, model.InvalidValue("Some of the specified addresses are not assigned to interface %s", eni)
		}
		*list = slices.Delete(*list, i, i+1)
		gone = append(gone, a)
	}
	return gone, nil
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
	if err := askedFor(in.ENIID, in.Addrs, in.Count, "ipv6Addresses", "ipv6AddressCount"); err != nil {
		return nil, Result{}, err
	}
	return s.editAddrs(ctx, t, in.ENIID, in.DryRun, func(tx *tx, n *model.NetworkInterface, sn *model.Subnet) (*model.NetworkInterface, []netip.Addr, error) {
		lim, itype := tx.tn.addrLimits(n)
		if lim.IPv6Disabled {
			return nil, nil, noIPv6(itype)
		}
		if total := len(n.IPv6) + in.Count + len(in.Addrs); total > lim.IPv6PerENI {
			// [UNCONFIRMED] code and wording.
			return nil, nil, model.InvalidValue("Number of IPv6 addresses (%d) exceeds the limit of %d for the interface.", total, lim.IPv6PerENI)
		}
		out, err := ipv6Addrs(sn, addrRequest{ipv6: in.Addrs, ipv6Count: in.Count}, tx.tn.usedAddrs(sn.ID),
			func(a netip.Addr) bool { return tx.tn.reserved(sn.ID, a) })
		if err != nil {
			return nil, nil, err
		}
		c := n.Clone()
		c.IPv6 = append(c.IPv6, out...)
		return c, out, nil
	})
}

// UnassignIPv6Input are UnassignIpv6Addresses' parameters.
type UnassignIPv6Input struct {
	ENIID  string
	Addrs  []string
	DryRun bool
}

// UnassignIPv6 takes IPv6 addresses off an interface and returns them as taken off.
func (s *Service) UnassignIPv6(ctx context.Context, t Tenant, in UnassignIPv6Input) ([]netip.Addr, Result, error) {
	if err := askedToDrop(in.ENIID, in.Addrs, "Ipv6Addresses"); err != nil {
		return nil, Result{}, err
	}
	return s.editAddrs(ctx, t, in.ENIID, in.DryRun, func(_ *tx, n *model.NetworkInterface, _ *model.Subnet) (*model.NetworkInterface, []netip.Addr, error) {
		c := n.Clone()
		gone, err := dropAddrs(&c.IPv6, in.Addrs, n.ID, "ipv6Addresses", netip.Addr.Is6)
		switch {
		case err != nil:
			return nil, nil, err
		case n.PrimaryIPv6 && slices.Contains(gone, n.IPv6[0]):
			// EnablePrimaryIpv6: the address stays until the interface goes. [UNCONFIRMED]
			// code and wording.
			return nil, nil, model.InvalidParameterCombination.Errorf("Address %s is the primary IPv6 address of network interface %s and cannot be unassigned.", n.IPv6[0], n.ID)
		case n.IPv6Only() && len(c.IPv6) == 0:
			// An interface of an IPv6-only subnet has no other address to be reached by.
			// [UNCONFIRMED] code and wording.
			return nil, nil, model.InvalidParameterCombination.Errorf("Network interface %s is in an IPv6-only subnet and must keep at least one IPv6 address.", n.ID)
		}
		return c, gone, nil
	})
}

// ownENI returns an interface the account manages itself: one another service made (a NAT
// gateway's) changes its addresses only through that service (AssignPrivateNatGatewayAddress
// for a NAT gateway).
func (tn *tenant) ownENI(id string) (*model.NetworkInterface, error) {
	n, err := tn.eni(id)
	if err != nil {
		return nil, err
	}
	return n, serviceManaged(n)
}

// serviceManaged refuses a change to an interface another service made for itself (a NAT
// gateway's): its owner may view it and tag it, and nothing else — no attribute, attachment,
// address or Elastic IP changes, and no launch on it (EC2 user guide, "Requester-managed
// network interfaces"). [UNCONFIRMED] code and message: the documentation names no error; this
// is the reply AWS users report for changing the groups of such an interface.
func serviceManaged(n *model.NetworkInterface) error {
	if n.RequesterManaged {
		return model.AuthFailure.Errorf("You do not have permission to access the specified resource.")
	}
	return nil
}
