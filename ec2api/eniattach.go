package ec2api

import (
	"net/netip"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// The actions that change an interface after it was made: attaching it to an instance and
// detaching it, and giving it more addresses or taking them back.

func attachNetworkInterface(c *call) error {
	r := c.req
	in := control.AttachENIInput{ENIID: str(r, "NetworkInterfaceId"), InstanceID: str(r, "InstanceId"), DryRun: c.dryRun()}
	idx, ok, err := optInt(r, "DeviceIndex")
	if err != nil {
		return err
	}
	if !ok {
		return model.Missing("DeviceIndex")
	}
	in.DeviceIndex = int(idx)
	card, _, err := optInt(r, "NetworkCardIndex")
	if err != nil {
		return err
	}
	in.NetworkCardIndex = int(card)
	a, res, err := c.svc().AttachENI(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("attachmentId", a.ID)
	x.int("networkCardIndex", 0)
	return nil
}

func detachNetworkInterface(c *call) error {
	r := c.req
	force, _, err := optBool(r, "Force")
	if err != nil {
		return err
	}
	return c.returned(c.svc().DetachENI(c.ctx, c.tenant, control.DetachENIInput{AttachmentID: str(r, "AttachmentId"), Force: force, DryRun: c.dryRun()}))
}

// noPrefixes refuses prefix delegation (Ipv4Prefix, Ipv6Prefix and their counts): Stockade
// gives interfaces addresses, not delegated prefixes. [UNCONFIRMED] EC2 supports them on
// Nitro types; the code is the one EC2 gives a type without them.
func noPrefixes(r *query.Request, keys ...string) error {
	for _, k := range keys {
		if r.Has(k) {
			return model.InvalidParameterCombination.Errorf("Prefix delegation (%s) is not supported by Stockade.", k)
		}
	}
	return nil
}

func assignPrivateIpAddresses(c *call) error {
	r := c.req
	if err := noPrefixes(r, "Ipv4Prefix", "Ipv4PrefixCount"); err != nil {
		return err
	}
	in := control.AssignPrivateIPsInput{ENIID: str(r, "NetworkInterfaceId")}
	var err error
	if in.Addrs, err = ids(r, "PrivateIpAddress"); err != nil {
		return err
	}
	n, _, err := optInt(r, "SecondaryPrivateIpAddressCount")
	if err != nil {
		return err
	}
	in.Count = int(n)
	if in.AllowReassignment, _, err = optBool(r, "AllowReassignment"); err != nil {
		return err
	}
	addrs, res, err := c.svc().AssignPrivateIPs(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("networkInterfaceId", in.ENIID)
	x.open("assignedPrivateIpAddressesSet")
	for _, a := range addrs {
		x.open("item")
		x.str("privateIpAddress", a.String())
		x.close("item")
	}
	x.close("assignedPrivateIpAddressesSet")
	x.empty("assignedIpv4PrefixSet")
	return nil
}

func unassignPrivateIpAddresses(c *call) error {
	r := c.req
	if err := noPrefixes(r, "Ipv4Prefix"); err != nil {
		return err
	}
	addrs, err := ids(r, "PrivateIpAddress")
	if err != nil {
		return err
	}
	return c.returned(c.svc().UnassignPrivateIPs(c.ctx, c.tenant, control.UnassignPrivateIPsInput{ENIID: str(r, "NetworkInterfaceId"), Addrs: addrs}))
}

func assignIpv6Addresses(c *call) error {
	r := c.req
	if err := noPrefixes(r, "Ipv6Prefix", "Ipv6PrefixCount"); err != nil {
		return err
	}
	in := control.AssignIPv6Input{ENIID: str(r, "NetworkInterfaceId")}
	var err error
	if in.Addrs, err = ids(r, "Ipv6Addresses"); err != nil {
		return err
	}
	n, _, err := optInt(r, "Ipv6AddressCount")
	if err != nil {
		return err
	}
	in.Count = int(n)
	addrs, res, err := c.svc().AssignIPv6(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	writeAddrList(x, "assignedIpv6Addresses", addrs)
	x.empty("assignedIpv6PrefixSet")
	x.str("networkInterfaceId", in.ENIID)
	return nil
}

func unassignIpv6Addresses(c *call) error {
	r := c.req
	if err := noPrefixes(r, "Ipv6Prefix"); err != nil {
		return err
	}
	in := control.UnassignIPv6Input{ENIID: str(r, "NetworkInterfaceId")}
	var err error
	if in.Addrs, err = ids(r, "Ipv6Addresses"); err != nil {
		return err
	}
	addrs, res, err := c.svc().UnassignIPv6(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("networkInterfaceId", in.ENIID)
	writeAddrList(x, "unassignedIpv6Addresses", addrs)
	x.empty("unassignedIpv6PrefixSet")
	return nil
}

// writeAddrList writes a list of addresses as EC2 does a list of strings: one <item> each.
func writeAddrList(x *xmlWriter, name string, addrs []netip.Addr) {
	if len(addrs) == 0 {
		x.empty(name)
		return
	}
	x.open(name)
	for _, a := range addrs {
		x.str("item", a.String())
	}
	x.close(name)
}
