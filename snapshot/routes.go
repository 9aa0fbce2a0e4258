package snapshot

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// This file reads routing and public addressing: route tables, internet and egress-only
// internet gateways, Elastic IPs, NAT gateways and the public addresses of interfaces and
// instances. The shapes are those of the AWS CLI's JSON output (aws/aws-cli
// awscli/examples/ec2/describe-route-tables.rst, describe-internet-gateways.rst,
// describe-egress-only-internet-gateways.rst, describe-addresses.rst, describe-nat-gateways.rst,
// describe-instances.rst), which is the API's response with its member names.

// routeTables reads describe-route-tables.json. A route's state is not read: Stockade derives
// active or blackhole from whether its target exists (netmap.Snapshot.RouteTables), which
// gives the same answer for a consistent export and cannot disagree with the other files.
func (l *loader) routeTables(doc node) []*model.RouteTable {
	var out []*model.RouteTable
	for _, t := range l.list(doc, "RouteTables", true) {
		m := &model.RouteTable{ID: l.str(t, "RouteTableId"), VpcID: l.str(t, "VpcId")}
		m.OwnerID, _ = l.optStr(t, "OwnerId")
		for _, r := range l.list(t, "Routes", true) {
			m.Routes = append(m.Routes, l.route(r))
		}
		for _, a := range l.list(t, "Associations", true) {
			// Only current associations decide: EC2 also lists one being made or undone.
			if st := l.object(a, "AssociationState", false); st.present {
				if s, _ := l.optStr(st, "State"); s != "" && s != "associated" {
					continue
				}
			}
			as := model.RouteTableAssoc{ID: l.str(a, "RouteTableAssociationId"), Main: l.boolean(a, "Main")}
			as.SubnetID, _ = l.optStr(a, "SubnetId")
			as.GatewayID, _ = l.optStr(a, "GatewayId")
			m.Assocs = append(m.Assocs, as)
		}
		out = append(out, m)
	}
	return out
}

// route reads one route: exactly one destination and at least one target. Targets Stockade
// does not model (virtual private gateways, transit gateways, peering connections, gateway
// endpoints, local and carrier gateways, core networks) are kept by ID as a gateway target,
// as EC2 itself shows vgw-… and vpce-… under GatewayId: the route still takes its addresses
// (a shorter route to the internet gateway does not get them), and it leads to no internet
// gateway, so the analyser finds no path to the internet through it.
func (l *loader) route(r node) model.Route {
	var m model.Route
	m.Origin, _ = l.optStr(r, "Origin")
	n := 0
	if s, ok := l.optStr(r, "DestinationCidrBlock"); ok {
		n++
		m.Dest = l.parsePrefix(r.file, r.child("DestinationCidrBlock"), s)
	}
	if s, ok := l.optStr(r, "DestinationIpv6CidrBlock"); ok {
		n++
		m.Dest = l.parsePrefix(r.file, r.child("DestinationIpv6CidrBlock"), s)
	}
	if s, ok := l.optStr(r, "DestinationPrefixListId"); ok {
		n++
		m.DestPrefixList = s
	}
	if n != 1 && r.present {
		l.failf(r.file, r.path, "names %d destinations; a route has exactly one of DestinationCidrBlock, DestinationIpv6CidrBlock, DestinationPrefixListId", n)
	}
	tg := &m.Target
	if s, ok := l.optStr(r, "GatewayId"); ok && s == "local" {
		tg.Local = true
	} else if ok {
		tg.GatewayID = s
	}
	tg.EgressOnlyIGWID, _ = l.optStr(r, "EgressOnlyInternetGatewayId")
	tg.NatGatewayID, _ = l.optStr(r, "NatGatewayId")
	tg.NetworkInterfaceID, _ = l.optStr(r, "NetworkInterfaceId")
	tg.InstanceID, _ = l.optStr(r, "InstanceId")
	if tg.InstanceID != "" && tg.NetworkInterfaceID == "" && r.present {
		// EC2 shows the instance's interface with the instance; the routing follows the
		// interface, so a route naming only an instance cannot be followed.
		l.failf(r.file, r.child("NetworkInterfaceId"), "missing (a route to instance %s names its interface too)", tg.InstanceID)
	}
	if *tg == (model.RouteTarget{}) {
		for _, k := range []string{"TransitGatewayId", "VpcPeeringConnectionId", "LocalGatewayId", "CarrierGatewayId", "CoreNetworkArn"} {
			if s, ok := l.optStr(r, k); ok && s != "" {
				tg.GatewayID = s
				break
			}
		}
	}
	if *tg == (model.RouteTarget{}) && r.present {
		l.failf(r.file, r.path, "no target: a route has GatewayId, NatGatewayId, NetworkInterfaceId, EgressOnlyInternetGatewayId or another gateway")
	}
	return m
}

// igws reads describe-internet-gateways.json. A gateway is attached while its attachment's
// state is "available" (what EC2 shows for an attached internet gateway) or "attached".
func (l *loader) igws(doc node) []*model.InternetGateway {
	var out []*model.InternetGateway
	for _, g := range l.list(doc, "InternetGateways", true) {
		m := &model.InternetGateway{ID: l.str(g, "InternetGatewayId")}
		m.OwnerID, _ = l.optStr(g, "OwnerId")
		m.VpcID = l.attachedVPC(g)
		out = append(out, m)
	}
	return out
}

// eigws reads describe-egress-only-internet-gateways.json.
func (l *loader) eigws(doc node) []*model.EgressOnlyIGW {
	var out []*model.EgressOnlyIGW
	for _, g := range l.list(doc, "EgressOnlyInternetGateways", true) {
		m := &model.EgressOnlyIGW{ID: l.str(g, "EgressOnlyInternetGatewayId")}
		m.VpcID = l.attachedVPC(g)
		out = append(out, m)
	}
	return out
}

// attachedVPC is the VPC of a gateway's current attachment, "" for none.
func (l *loader) attachedVPC(g node) string {
	vpc := ""
	for _, a := range l.list(g, "Attachments", true) {
		id, state := l.str(a, "VpcId"), l.str(a, "State")
		if state == "available" || state == "attached" {
			vpc = id
		}
	}
	return vpc
}

// addresses reads describe-addresses.json: the Elastic IPs of the VPC domain (EC2-Classic's
// "standard" addresses, retired, are skipped). An associated address names its interface and
// the private address it is paired with.
func (l *loader) addresses(doc node) []*model.Address {
	var out []*model.Address
	for _, a := range l.list(doc, "Addresses", true) {
		if d, _ := l.optStr(a, "Domain"); d == "standard" {
			continue
		}
		m := &model.Address{AllocationID: l.str(a, "AllocationId"), PublicIP: l.addr(a, "PublicIp"), Domain: "vpc"}
		m.OwnerID, _ = l.optStr(a, "NetworkInterfaceOwnerId")
		if id, ok := l.optStr(a, "AssociationId"); ok && id != "" {
			m.AssociationID = id
			m.ENIID = l.str(a, "NetworkInterfaceId")
			m.PrivateIP = l.addr(a, "PrivateIpAddress")
		}
		out = append(out, m)
	}
	return out
}

// natGateways reads describe-nat-gateways.json. ConnectivityType is absent from older
// output; EC2's default is public. The primary address (IsPrimary, or the only one) is the
// gateway's interface and, for a public gateway, its Elastic IP.
func (l *loader) natGateways(doc node) []*model.NATGateway {
	var out []*model.NATGateway
	for _, g := range l.list(doc, "NatGateways", true) {
		m := &model.NATGateway{ID: l.str(g, "NatGatewayId"), SubnetID: l.str(g, "SubnetId"), VpcID: l.str(g, "VpcId"),
			State: l.str(g, "State"), ConnectivityType: model.NATPublic}
		switch m.State {
		case model.NATPending, model.NATAvailable, model.NATDeleting, model.NATDeleted, model.NATFailed, "":
		default:
			l.failf(g.file, g.child("State"), "%q is not a NAT gateway state (pending, available, deleting, deleted, failed)", m.State)
		}
		if c, ok := l.optStr(g, "ConnectivityType"); ok {
			if c != model.NATPublic && c != model.NATPrivate {
				l.failf(g.file, g.child("ConnectivityType"), "%q is neither public nor private", c)
			}
			m.ConnectivityType = c
		}
		if s, ok := l.optStr(g, "CreateTime"); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				l.failf(g.file, g.child("CreateTime"), "%q is not a time", s)
			}
			m.CreateTime = t
		}
		addrs := l.list(g, "NatGatewayAddresses", true)
		for i, a := range addrs {
			primary, ok := l.field(a, "IsPrimary").v.(bool)
			if (ok && !primary) || (!ok && i > 0) {
				continue
			}
			m.ENIID = l.str(a, "NetworkInterfaceId")
			m.PrivateIP = l.addr(a, "PrivateIp")
			if m.ConnectivityType == model.NATPublic {
				m.AllocationID = l.str(a, "AllocationId")
				m.PublicIP = l.addr(a, "PublicIp")
				m.AssociationID, _ = l.optStr(a, "AssociationId")
			}
			break
		}
		if m.State == model.NATAvailable && m.ENIID == "" && g.present {
			l.failf(g.file, g.child("NatGatewayAddresses"), "no primary address: an available NAT gateway has its interface and address")
		}
		out = append(out, m)
	}
	return out
}

// eniPublic reads an interface's public IPv4 address (Association.PublicIp). A launch-time
// public address is the interface's own (model.NetworkInterface.PublicIP); an Elastic IP
// (the association names its AllocationId) is described by describe-addresses.json, where it
// must be, associated with this interface.
func (l *loader) eniPublic(n node, m *model.NetworkInterface, eips map[string]*model.Address) {
	as := l.object(n, "Association", false)
	if !as.present {
		return
	}
	ip := l.addr(as, "PublicIp")
	if alloc, ok := l.optStr(as, "AllocationId"); ok && alloc != "" {
		if a := eips[alloc]; a == nil || a.ENIID != m.ID || a.PublicIP != ip {
			l.failf(as.file, as.child("AllocationId"), "Elastic IP %s (%s) is not in describe-addresses.json as associated with %s", alloc, ip, m.ID)
		}
		return
	}
	m.PublicIP = ip
}

// eniAttachment reads an interface's attachment to an instance. A NAT gateway's or another
// service's interface is attached to no instance (no InstanceId): it has none here.
func (l *loader) eniAttachment(n node, m *model.NetworkInterface) {
	at := l.object(n, "Attachment", false)
	if !at.present {
		return
	}
	id, ok := l.optStr(at, "InstanceId")
	if !ok || id == "" {
		return
	}
	m.Attachment = &model.Attachment{InstanceID: id, DeviceIndex: int(l.integer(at, "DeviceIndex", 0, 1<<20))}
	m.Attachment.ID, _ = l.optStr(at, "AttachmentId")
}

// instances reads describe-instances.json: it attaches interfaces to their instances (so
// that a question may name an instance) and cross-checks the instance's PublicIpAddress with
// its primary interface's. An instance that no longer has interfaces (terminated) is skipped; a
// stopping or stopped one is halted (s.Halted): routes to it are blackholes.
func (l *loader) instances(doc node, enis map[string]*model.NetworkInterface, s *netmap.Snapshot) {
	eips := s.Addresses
	for _, r := range l.list(doc, "Reservations", true) {
		for _, in := range l.list(r, "Instances", true) {
			id := l.str(in, "InstanceId")
			if st := l.object(in, "State", false); st.present {
				if name, ok := l.optStr(st, "Name"); ok && (name == "stopping" || name == "stopped") {
					if s.Halted == nil {
						s.Halted = map[string]bool{}
					}
					s.Halted[id] = true
				}
			}
			var primary *model.NetworkInterface
			for _, ni := range l.list(in, "NetworkInterfaces", false) {
				eniID := l.str(ni, "NetworkInterfaceId")
				at := l.object(ni, "Attachment", true)
				dev := int(l.integer(at, "DeviceIndex", 0, 1<<20))
				n := enis[eniID]
				switch {
				case l.err != nil:
					return
				case n == nil:
					l.failf(ni.file, ni.child("NetworkInterfaceId"), "%s is not in describe-network-interfaces.json", eniID)
					return
				case n.Attachment != nil && n.Attachment.InstanceID != id:
					l.failf(ni.file, ni.child("NetworkInterfaceId"), "%s is attached to %s in describe-network-interfaces.json", eniID, n.Attachment.InstanceID)
					return
				case n.Attachment == nil:
					n.Attachment = &model.Attachment{InstanceID: id, DeviceIndex: dev}
				}
				if dev == 0 {
					primary = n
				}
			}
			pub, ok := l.optStr(in, "PublicIpAddress")
			if !ok || pub == "" || primary == nil {
				continue
			}
			ip := l.addr(in, "PublicIpAddress")
			have := primary.PublicIP
			for _, a := range eips {
				if a.ENIID == primary.ID && a.PrivateIP == primary.PrivateIP {
					have = a.PublicIP
				}
			}
			switch {
			case !have.IsValid():
				primary.PublicIP = ip // the interface's file did not show it; the instance's does
			case have != ip:
				l.failf(in.file, in.child("PublicIpAddress"), "%s, but its primary interface %s has %s", ip, primary.ID, have)
			}
		}
	}
}

// crossCheck refuses references to what the snapshot does not hold: an answer about a route
// table of a VPC that is not there, or a subnet association to a missing subnet, would be
// about a different network than the one exported (a filtered or partial export).
func (l *loader) crossCheck(vpcs map[string]bool, subnets map[string]string, enis map[string]*model.NetworkInterface,
	tables []*model.RouteTable, igws []*model.InternetGateway, eigws []*model.EgressOnlyIGW, nats []*model.NATGateway, eips []*model.Address) {
	const rtFile = "describe-route-tables.json"
	mains := map[string]int{}
	for i, t := range tables {
		at := fmt.Sprintf("RouteTables[%d]", i)
		if !vpcs[t.VpcID] {
			l.failf(rtFile, at+".VpcId", "%s of %s is not in describe-vpcs.json", t.VpcID, t.ID)
			return
		}
		for j, a := range t.Assocs {
			if a.Main {
				mains[t.VpcID]++
			}
			if a.SubnetID != "" && subnets[a.SubnetID] != t.VpcID {
				l.failf(rtFile, fmt.Sprintf("%s.Associations[%d].SubnetId", at, j), "%s is not a subnet of %s in describe-subnets.json", a.SubnetID, t.VpcID)
				return
			}
		}
	}
	for vpc := range vpcs {
		switch mains[vpc] {
		case 1:
		case 0:
			l.failf(rtFile, "RouteTables", "no main route table of %s: every VPC has one (export without --filters)", vpc)
			return
		default:
			l.failf(rtFile, "RouteTables", "%d main route tables of %s: a VPC has exactly one", mains[vpc], vpc)
			return
		}
	}
	for i, g := range igws {
		if g.VpcID != "" && !vpcs[g.VpcID] {
			l.failf("describe-internet-gateways.json", fmt.Sprintf("InternetGateways[%d].Attachments", i), "%s of %s is not in describe-vpcs.json", g.VpcID, g.ID)
			return
		}
	}
	for i, g := range eigws {
		if g.VpcID != "" && !vpcs[g.VpcID] {
			l.failf("describe-egress-only-internet-gateways.json", fmt.Sprintf("EgressOnlyInternetGateways[%d].Attachments", i), "%s of %s is not in describe-vpcs.json", g.VpcID, g.ID)
			return
		}
	}
	for i, g := range nats {
		if subnets[g.SubnetID] != g.VpcID || !vpcs[g.VpcID] {
			l.failf("describe-nat-gateways.json", fmt.Sprintf("NatGateways[%d].SubnetId", i), "%s is not a subnet of %s in describe-subnets.json", g.SubnetID, g.VpcID)
			return
		}
		if g.ENIID != "" && !g.Gone() && enis[g.ENIID] == nil {
			l.failf("describe-nat-gateways.json", fmt.Sprintf("NatGateways[%d].NatGatewayAddresses", i), "interface %s is not in describe-network-interfaces.json", g.ENIID)
			return
		}
	}
	for i, a := range eips {
		if !a.Associated() {
			continue
		}
		n := enis[a.ENIID]
		if n == nil {
			l.failf("describe-addresses.json", fmt.Sprintf("Addresses[%d].NetworkInterfaceId", i), "%s is not in describe-network-interfaces.json", a.ENIID)
			return
		}
		if !hasAddr(n, a.PrivateIP) {
			l.failf("describe-addresses.json", fmt.Sprintf("Addresses[%d].PrivateIpAddress", i), "%s is not an address of %s", a.PrivateIP, n.ID)
			return
		}
	}
}

func hasAddr(n *model.NetworkInterface, a netip.Addr) bool {
	for _, x := range n.Addrs() {
		if x == a {
			return true
		}
	}
	return false
}
