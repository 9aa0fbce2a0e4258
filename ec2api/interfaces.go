package ec2api

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// readConnTrack decodes ConnectionTrackingSpecification.*; nil when absent. Fields not given
// keep AWS's defaults.
func readConnTrack(r *query.Request, key string) (*model.ConnTrack, error) {
	if !r.Has(key) {
		return nil, nil
	}
	ct := model.DefaultConnTrack
	for _, f := range []struct {
		name string
		dst  *int
	}{{"TcpEstablishedTimeout", &ct.TCPEstablished}, {"UdpStreamTimeout", &ct.UDPStream}, {"UdpTimeout", &ct.UDP}} {
		v, ok, err := optInt(r, key+"."+f.name)
		if err != nil {
			return nil, err
		}
		if ok {
			*f.dst = int(v)
		}
	}
	return &ct, nil
}

func createNetworkInterface(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "network-interface")
	if err != nil {
		return err
	}
	groups, err := ids(r, "SecurityGroupId")
	if err != nil {
		return err
	}
	ct, err := readConnTrack(r, "ConnectionTrackingSpecification")
	if err != nil {
		return err
	}
	in := control.CreateENIInput{
		SubnetID: str(r, "SubnetId"), Groups: groups, Description: str(r, "Description"),
		PrivateIP: str(r, "PrivateIpAddress"), ConnTrack: ct, Tags: tags,
		ClientToken: str(r, "ClientToken"), DryRun: c.dryRun(),
	}
	if in.EnablePrimaryIPv6, _, err = optBool(r, "EnablePrimaryIpv6"); err != nil {
		return err
	}
	for _, p := range r.List("PrivateIpAddresses") {
		primary, _, err := optBool(p, "Primary")
		if err != nil {
			return err
		}
		if primary && in.PrivateIP == "" {
			in.PrivateIP = str(p, "PrivateIpAddress")
		} else {
			in.SecondaryCount++
		}
	}
	if n, ok, err := optInt(r, "SecondaryPrivateIpAddressCount"); err != nil {
		return err
	} else if ok {
		if n < 0 {
			return model.InvalidValue("Value (%d) for parameter secondaryPrivateIpAddressCount is invalid.", n)
		}
		in.SecondaryCount += int(n)
	}
	if in.IPv6, in.IPv6Count, err = ipv6Request(r, "Ipv6Addresses"); err != nil {
		return err
	}
	if in.SubnetID == "" {
		return model.Missing("SubnetId")
	}
	eni, res, err := c.svc().CreateENI(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	names, err := c.groupNames()
	if err != nil {
		return err
	}
	x.elem("networkInterface", func() { c.writeENI(eni, names, true, nil) })
	x.opt("clientToken", in.ClientToken)
	return nil
}

// groupNames maps the tenant's group IDs to names, for groupSet elements.
func (c *call) groupNames() (map[string]string, error) {
	var names map[string]string
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error { names = groupNameMap(v); return nil })
	return names, err
}

// groupNameMap maps every group ID of a view to its name.
func groupNameMap(v control.View) map[string]string {
	names := map[string]string{}
	for _, g := range v.Groups() {
		names[g.ID] = g.Name
	}
	return names
}

var deleteNetworkInterface = deleteByID("NetworkInterfaceId", (*control.Service).DeleteENI)

func modifyNetworkInterfaceAttribute(c *call) error {
	r := c.req
	in := control.ModifyENIInput{ID: str(r, "NetworkInterfaceId"), DryRun: c.dryRun()}
	if in.ID == "" {
		return model.Missing("NetworkInterfaceId")
	}
	var err error
	if in.Groups, err = ids(r, "SecurityGroupId"); err != nil {
		return err
	}
	if d, ok := r.String("Description.Value"); ok {
		in.Description = &d
	}
	if in.SourceDestCheck, err = boolPtr(r, "SourceDestCheck.Value"); err != nil {
		return err
	}
	if in.DeleteOnTermination, err = boolPtr(r, "Attachment.DeleteOnTermination"); err != nil {
		return err
	} else if in.DeleteOnTermination != nil {
		in.AttachmentID = str(r, "Attachment.AttachmentId")
	}
	if in.ConnTrack, err = readConnTrack(r, "ConnectionTrackingSpecification"); err != nil {
		return err
	}
	if in.EnablePrimaryIPv6, err = boolPtr(r, "EnablePrimaryIpv6"); err != nil {
		return err
	}
	return c.returned(c.svc().ModifyENI(c.ctx, c.tenant, in))
}

type eniRow struct {
	*model.NetworkInterface
	names map[string]string
	eips  []*model.Address
}

var eniFilters = filterer[eniRow]{
	fields: fields[eniRow]{
		"network-interface-id": one2(func(n eniRow) string { return n.ID }),
		"group-id":             func(n eniRow) []string { return n.Groups },
		"group-name": func(n eniRow) []string {
			var out []string
			for _, g := range n.Groups {
				out = append(out, n.names[g])
			}
			return out
		},
		"subnet-id":                    one2(func(n eniRow) string { return n.SubnetID }),
		"vpc-id":                       one2(func(n eniRow) string { return n.VpcID }),
		"availability-zone":            one2(func(n eniRow) string { return n.AZ }),
		"status":                       one2(func(n eniRow) string { return n.Status() }),
		"private-ip-address":           func(n eniRow) []string { return addrStrings(n.NetworkInterface) },
		"addresses.private-ip-address": func(n eniRow) []string { return addrStrings(n.NetworkInterface) },
		"ipv6-addresses.ipv6-address":  func(n eniRow) []string { return ipv6Strings(n.NetworkInterface) },
		"attachment.instance-id": func(n eniRow) []string {
			if n.Attachment != nil {
				return one(n.Attachment.InstanceID)
			}
			return nil
		},
		"attachment.attachment-id": func(n eniRow) []string {
			if n.Attachment != nil {
				return one(n.Attachment.ID)
			}
			return nil
		},
		"attachment.device-index": func(n eniRow) []string {
			if n.Attachment != nil {
				return one(itoa(n.Attachment.DeviceIndex))
			}
			return nil
		},
		"attachment.delete-on-termination": func(n eniRow) []string {
			if n.Attachment != nil {
				return one(boolStr(n.Attachment.DeleteOnTermination))
			}
			return nil
		},
		"attachment.instance-owner-id": func(n eniRow) []string {
			if n.Attachment != nil {
				return one(n.OwnerID)
			}
			return nil
		},
		"attachment.status": func(n eniRow) []string {
			if n.Attachment != nil {
				return one("attached")
			}
			return nil
		},
		"description":    func(n eniRow) []string { return one(n.Description) },
		"mac-address":    one2(func(n eniRow) string { return n.MAC }),
		"interface-type": func(n eniRow) []string { return one(interfaceType(n.NetworkInterface)) },
		"association.public-ip": func(n eniRow) []string {
			var out []string
			for _, a := range n.eips {
				out = append(out, a.PublicIP.String())
			}
			if n.PublicIP.IsValid() {
				out = append(out, n.PublicIP.String())
			}
			return out
		},
		"association.allocation-id": func(n eniRow) []string {
			var out []string
			for _, a := range n.eips {
				out = append(out, a.AllocationID)
			}
			return out
		},
		"association.association-id": func(n eniRow) []string {
			var out []string
			for _, a := range n.eips {
				out = append(out, a.AssociationID)
			}
			return out
		},
		"owner-id":          one2(func(n eniRow) string { return n.OwnerID }),
		"source-dest-check": one2(func(n eniRow) string { return boolStr(n.SourceDestCheck) }),
		"requester-managed": func(n eniRow) []string { return one(boolStr(n.RequesterManaged)) },
		"requester-id": func(n eniRow) []string {
			if id := requesterID(n.NetworkInterface); id != "" {
				return one(id)
			}
			return nil
		},
	},
	tagsOf: func(n eniRow) model.Tags { return n.Tags },
}

func addrStrings(n *model.NetworkInterface) []string {
	var out []string
	for _, a := range n.Addrs() {
		if a.Is4() {
			out = append(out, a.String())
		}
	}
	return out
}

func ipv6Strings(n *model.NetworkInterface) []string {
	var out []string
	for _, a := range n.IPv6 {
		out = append(out, a.String())
	}
	return out
}

var describeNetworkInterfaces = describeSpec[eniRow]{
	IDs:          []string{"NetworkInterfaceId"},
	NoMaxWithIDs: true,
	From: func(_ *call, v control.View) source[eniRow] {
		names := groupNameMap(v)
		return rowsOf(v.ENIs, func(n *model.NetworkInterface) eniRow { return eniRow{n, names, v.AddressesOn(n.ID)} }, v.ENI)
	},
	Filters: eniFilters,
	Key:     func(n eniRow) string { return n.ID },
	Set:     "networkInterfaceSet",
	Item:    func(c *call, n eniRow) { c.writeENI(n.NetworkInterface, n.names, true, n.eips) },
}

// privateDNS is the EC2-style internal host name of an address.
func privateDNS(region, ip string) string {
	host := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

// writeENI renders a NetworkInterface; full adds the fields only DescribeNetworkInterfaces and
// CreateNetworkInterface carry (instances embed a shorter form).
//
// eips are the Elastic IPs associated with the interface: each shows as the association of its
// private address, and one on the primary address as the interface's; without one there, the
// launch-time public address (owner "amazon") is the interface's association.
func (c *call) writeENI(n *model.NetworkInterface, names map[string]string, full bool, eips []*model.Address) {
	x := &c.out
	x.str("networkInterfaceId", n.ID)
	x.str("subnetId", n.SubnetID)
	x.str("vpcId", n.VpcID)
	if full {
		x.str("availabilityZone", n.AZ)
		x.opt("requesterId", requesterID(n))
		x.bool("requesterManaged", n.RequesterManaged)
	}
	x.str("description", n.Description)
	x.str("ownerId", n.OwnerID)
	x.str("status", n.Status())
	x.str("macAddress", n.MAC)
	if !n.IPv6Only() {
		// An interface in an IPv6-only subnet has no private IPv4 address and no IP-based
		// name: EC2 leaves both out. [UNCONFIRMED] that privateDnsName is left out too.
		x.str("privateIpAddress", n.PrivateIP.String())
		x.str("privateDnsName", privateDNS(c.tenant.Region, n.PrivateIP.String()))
	}
	x.bool("sourceDestCheck", n.SourceDestCheck)
	x.str("interfaceType", interfaceType(n))
	writeGroupSet(x, n.Groups, names)
	writePublicAssociation(x, n, eips, n.PrivateIP)
	if a := n.Attachment; a != nil {
		x.open("attachment")
		x.str("attachmentId", a.ID)
		x.str("instanceId", a.InstanceID)
		x.str("instanceOwnerId", n.OwnerID)
		x.int("deviceIndex", int64(a.DeviceIndex))
		x.str("status", "attached")
		x.time("attachTime", a.AttachTime)
		x.bool("deleteOnTermination", a.DeleteOnTermination)
		x.int("networkCardIndex", 0)
		x.close("attachment")
	}
	if n.IPv6Only() {
		x.empty("privateIpAddressesSet")
	} else {
		c.writePrivateAddrs(n, eips)
	}
	if len(n.IPv6) == 0 {
		x.empty("ipv6AddressesSet")
	} else {
		x.open("ipv6AddressesSet")
		for i, a := range n.IPv6 {
			x.open("item")
			x.str("ipv6Address", a.String())
			// Every item carries the flag, false too, as recent AWS CLI outputs show
			// ("IsPrimaryIpv6": false). [UNCONFIRMED] for every region.
			x.bool("isPrimaryIpv6", n.PrimaryIPv6 && i == 0)
			x.close("item")
		}
		x.close("ipv6AddressesSet")
	}
	if full {
		x.open("connectionTrackingConfiguration")
		x.int("tcpEstablishedTimeout", int64(n.ConnTrack.TCPEstablished))
		x.int("udpStreamTimeout", int64(n.ConnTrack.UDPStream))
		x.int("udpTimeout", int64(n.ConnTrack.UDP))
		x.close("connectionTrackingConfiguration")
		writeTags(x, n.Tags)
	}
}

// writePrivateAddrs writes an interface's private IPv4 addresses, the primary first.
func (c *call) writePrivateAddrs(n *model.NetworkInterface, eips []*model.Address) {
	x := &c.out
	x.open("privateIpAddressesSet")
	for i, a := range append([]string{n.PrivateIP.String()}, addrsToStrings(n)...) {
		x.open("item")
		x.str("privateIpAddress", a)
		x.str("privateDnsName", privateDNS(c.tenant.Region, a))
		x.bool("primary", i == 0)
		if ip, err := netip.ParseAddr(a); err == nil {
			writePublicAssociation(x, n, eips, ip)
		}
		x.close("item")
	}
	x.close("privateIpAddressesSet")
}

func addrsToStrings(n *model.NetworkInterface) []string {
	out := make([]string, len(n.SecondaryIPs))
	for i, a := range n.SecondaryIPs {
		out[i] = a.String()
	}
	return out
}

func writeGroupSet(x *xmlWriter, groups []string, names map[string]string) {
	if len(groups) == 0 {
		x.empty("groupSet")
		return
	}
	x.open("groupSet")
	for _, g := range groups {
		x.open("item")
		x.str("groupId", g)
		x.str("groupName", names[g])
		x.close("item")
	}
	x.close("groupSet")
}

// itoa is strconv.Itoa for int32 values.
func itoa(v int) string { return strconv.Itoa(v) }

// natRequesterID is the requesterId EC2 shows on a NAT gateway's interface: the AWS account
// of the NAT gateway service, as an AWS Config record of a real NAT gateway interface shows it
// ("requesterId":"036872051663", eu-west-1). [UNCONFIRMED] whether it is the same in every
// region.
const natRequesterID = "036872051663"

// requesterID is the principal that made a requester-managed interface; "" for the
// interfaces the account made itself, which EC2 shows without one.
func requesterID(n *model.NetworkInterface) string {
	if n.RequesterManaged && n.InterfaceType == "nat_gateway" {
		return natRequesterID
	}
	return ""
}

func interfaceType(n *model.NetworkInterface) string {
	if n.InterfaceType != "" {
		return n.InterfaceType
	}
	return "interface"
}

// publicAddress is the public address on a private address of an interface: an Elastic IP
// associated with it, or, on the primary address, the launch-time one (nil address: none).
func publicAddress(n *model.NetworkInterface, eips []*model.Address, private netip.Addr) (ip netip.Addr, eip *model.Address) {
	for _, a := range eips {
		if a.PrivateIP == private {
			return a.PublicIP, a
		}
	}
	if private == n.PrivateIP {
		return n.PublicIP, nil
	}
	return netip.Addr{}, nil
}

// writePublicAssociation writes the association element of a private address, if it has a
// public one. Stockade has no public DNS, so publicDnsName is empty.
func writePublicAssociation(x *xmlWriter, n *model.NetworkInterface, eips []*model.Address, private netip.Addr) {
	ip, eip := publicAddress(n, eips, private)
	if !ip.IsValid() {
		return
	}
	x.open("association")
	x.str("publicIp", ip.String())
	x.empty("publicDnsName")
	if eip != nil {
		x.str("ipOwnerId", eip.OwnerID)
		x.str("allocationId", eip.AllocationID)
		x.str("associationId", eip.AssociationID)
	} else {
		x.str("ipOwnerId", "amazon")
	}
	x.close("association")
}
