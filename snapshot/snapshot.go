// Package snapshot reads the JSON that the AWS CLI writes for a real AWS account into a
// netmap.Snapshot, so that the policy engine and the analyser can answer questions about
// accounts Stockade does not run. A snapshot is a directory with one file per command, all of
// them required (Files lists the fixed names):
//
//	aws ec2 describe-vpcs                     > describe-vpcs.json
//	aws ec2 describe-subnets                  > describe-subnets.json
//	aws ec2 describe-security-groups          > describe-security-groups.json
//	aws ec2 describe-security-group-rules     > describe-security-group-rules.json
//	aws ec2 describe-network-interfaces       > describe-network-interfaces.json
//	aws ec2 describe-network-acls             > describe-network-acls.json
//	aws ec2 describe-managed-prefix-lists     > describe-managed-prefix-lists.json
//	aws ec2 describe-route-tables             > describe-route-tables.json
//	aws ec2 describe-internet-gateways        > describe-internet-gateways.json
//	aws ec2 describe-egress-only-internet-gateways > describe-egress-only-internet-gateways.json
//	aws ec2 describe-addresses                > describe-addresses.json
//	aws ec2 describe-nat-gateways             > describe-nat-gateways.json
//	aws ec2 describe-instances                > describe-instances.json
//	aws ec2 get-managed-prefix-list-entries --prefix-list-id PL > get-managed-prefix-list-entries-PL.json
//
// The last is needed once per customer-managed prefix list (AWS-managed lists, owned by "AWS"
// or named com.amazonaws.*, are skipped: their entries cannot be exported, so rules that use
// them match nothing).
//
// A snapshot is refused rather than read differently: a missing file, a missing field the
// answer depends on (a tcp permission without FromPort is not port 0, an ACL entry without
// RuleNumber is not rule 0, a missing describe-network-acls.json is not "no ACLs") or a value
// of the wrong kind is an error naming the file and the JSON path of the field, e.g.
// describe-network-acls.json: NetworkAcls[0].Entries[3].RuleNumber: missing. So is a reference
// to what the snapshot does not hold (a route table or gateway of a VPC that is not in
// describe-vpcs.json, an association to a missing subnet, an Elastic IP on a missing
// interface): it means a filtered or partial export, about another network than the account's.
//
// Routing follows the route tables, gateways and public addresses (policy's routing model): an
// interface is exposed to the internet only through its VPC's attached internet gateway, a
// route to it and a public address — the launch-time one (the interface's
// Association.PublicIp, or the instance's PublicIpAddress) or an Elastic IP.
package snapshot

import (
	"fmt"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Files are the fixed file names of a snapshot directory, each with the AWS CLI command that
// writes it; every one is required. The prefix-list entry files, one per list, come on top.
var Files = []struct{ Name, Command string }{
	{"describe-vpcs.json", "aws ec2 describe-vpcs"},
	{"describe-subnets.json", "aws ec2 describe-subnets"},
	{"describe-security-groups.json", "aws ec2 describe-security-groups"},
	{"describe-security-group-rules.json", "aws ec2 describe-security-group-rules"},
	{"describe-network-interfaces.json", "aws ec2 describe-network-interfaces"},
	{"describe-network-acls.json", "aws ec2 describe-network-acls"},
	{"describe-managed-prefix-lists.json", "aws ec2 describe-managed-prefix-lists"},
	{"describe-route-tables.json", "aws ec2 describe-route-tables"},
	{"describe-internet-gateways.json", "aws ec2 describe-internet-gateways"},
	{"describe-egress-only-internet-gateways.json", "aws ec2 describe-egress-only-internet-gateways"},
	{"describe-addresses.json", "aws ec2 describe-addresses"},
	{"describe-nat-gateways.json", "aws ec2 describe-nat-gateways"},
	{"describe-instances.json", "aws ec2 describe-instances"},
}

// Load reads a snapshot directory. The first problem found is the error; the snapshot is only
// meaningful when the error is nil.
func Load(dir string) (netmap.Snapshot, error) {
	l := &loader{dir: dir}
	docs := map[string]node{}
	for _, f := range Files {
		docs[f.Name] = l.read(f.Name, f.Command)
	}
	if l.err != nil {
		return netmap.Snapshot{}, l.err
	}
	var s netmap.Snapshot
	s.VPCs = l.vpcs(docs["describe-vpcs.json"])
	s.Subnets = l.subnets(docs["describe-subnets.json"])
	s.Groups = l.groups(docs["describe-security-groups.json"], l.ruleIDs(docs["describe-security-group-rules.json"]))
	s.Addresses = l.addresses(docs["describe-addresses.json"])
	eips := map[string]*model.Address{}
	for _, a := range s.Addresses {
		eips[a.AllocationID] = a
	}
	s.ENIs = l.enis(docs["describe-network-interfaces.json"], eips)
	enis := map[string]*model.NetworkInterface{}
	for _, n := range s.ENIs {
		enis[n.ID] = n
	}
	l.instances(docs["describe-instances.json"], enis, &s)
	for _, a := range l.list(docs["describe-network-acls.json"], "NetworkAcls", true) {
		s.NACLs = append(s.NACLs, l.nacl(a))
	}
	s.PrefixLists = l.prefixLists(docs["describe-managed-prefix-lists.json"])
	s.RouteTables = l.routeTables(docs["describe-route-tables.json"])
	s.IGWs = l.igws(docs["describe-internet-gateways.json"])
	s.EgressIGWs = l.eigws(docs["describe-egress-only-internet-gateways.json"])
	s.NATGateways = l.natGateways(docs["describe-nat-gateways.json"])
	if l.err == nil {
		vpcs, subnets := map[string]bool{}, map[string]string{}
		for _, v := range s.VPCs {
			vpcs[v.ID] = true
		}
		for _, sn := range s.Subnets {
			subnets[sn.ID] = sn.VpcID
		}
		l.crossCheck(vpcs, subnets, enis, s.RouteTables, s.IGWs, s.EgressIGWs, s.NATGateways, s.Addresses)
	}
	if l.err != nil {
		return netmap.Snapshot{}, l.err
	}
	return s, nil
}

func (l *loader) vpcs(doc node) []*model.VPC {
	var out []*model.VPC
	for _, v := range l.list(doc, "Vpcs", true) {
		m := &model.VPC{ID: l.str(v, "VpcId"), CIDR: l.prefix(v, "CidrBlock")}
		m.OwnerID, _ = l.optStr(v, "OwnerId")
		for _, a := range l.list(v, "CidrBlockAssociationSet", false) {
			// The secondary blocks (AssociateVpcCidrBlock); the primary is listed too.
			if p := l.prefix(a, "CidrBlock"); l.associated(a, "CidrBlockState") && p != m.CIDR.Masked() {
				id, _ := l.optStr(a, "AssociationId")
				m.Secondary = append(m.Secondary, model.CIDRBlock{CIDR: p, AssocID: id})
			}
		}
		for _, a := range l.list(v, "Ipv6CidrBlockAssociationSet", false) {
			if !l.associated(a, "Ipv6CidrBlockState") {
				continue
			}
			id, _ := l.optStr(a, "AssociationId")
			if b := (model.CIDRBlock{CIDR: l.prefix(a, "Ipv6CidrBlock"), AssocID: id}); !m.IPv6CIDR.IsValid() {
				m.IPv6CIDR, m.IPv6CIDRAssocID = b.CIDR, b.AssocID
			} else {
				m.IPv6Secondary = append(m.IPv6Secondary, b)
			}
		}
		out = append(out, m)
	}
	return out
}

func (l *loader) subnets(doc node) []*model.Subnet {
	var out []*model.Subnet
	for _, sn := range l.list(doc, "Subnets", true) {
		m := &model.Subnet{ID: l.str(sn, "SubnetId"), VpcID: l.str(sn, "VpcId")}
		if native, _ := l.field(sn, "Ipv6Native").v.(bool); native {
			m.IPv6Native = true // an IPv6-only subnet has no CidrBlock
		} else {
			m.CIDR = l.prefix(sn, "CidrBlock")
		}
		for _, a := range l.list(sn, "Ipv6CidrBlockAssociationSet", false) {
			if l.associated(a, "Ipv6CidrBlockState") {
				m.IPv6CIDR = l.prefix(a, "Ipv6CidrBlock")
				m.IPv6AssocID, _ = l.optStr(a, "AssociationId")
			}
		}
		m.OwnerID, _ = l.optStr(sn, "OwnerId")
		m.AZ, _ = l.optStr(sn, "AvailabilityZone")
		out = append(out, m)
	}
	return out
}

func (l *loader) enis(doc node, eips map[string]*model.Address) []*model.NetworkInterface {
	var out []*model.NetworkInterface
	for _, n := range l.list(doc, "NetworkInterfaces", true) {
		m := &model.NetworkInterface{ID: l.str(n, "NetworkInterfaceId"), SubnetID: l.str(n, "SubnetId"), VpcID: l.str(n, "VpcId")}
		m.OwnerID, _ = l.optStr(n, "OwnerId")
		// An interface in an IPv6-only subnet has IPv6 addresses and no private IPv4 one: its
		// PrivateIpAddresses is there, and empty.
		v6 := l.list(n, "Ipv6Addresses", false)
		addrs := l.list(n, "PrivateIpAddresses", true)
		if len(addrs) == 0 && len(v6) == 0 && n.present {
			l.failf(n.file, n.child("PrivateIpAddresses"), "empty: an interface has at least its primary address")
		}
		for j, a := range addrs {
			if ip := l.addr(a, "PrivateIpAddress"); j == 0 {
				m.PrivateIP = ip
			} else {
				m.SecondaryIPs = append(m.SecondaryIPs, ip)
			}
		}
		for _, a := range v6 {
			m.IPv6 = append(m.IPv6, l.addr(a, "Ipv6Address"))
		}
		for _, g := range l.list(n, "Groups", true) {
			m.Groups = append(m.Groups, l.str(g, "GroupId"))
		}
		if t, _ := l.optStr(n, "InterfaceType"); t != "interface" {
			m.InterfaceType = t
		}
		if rm, ok := l.field(n, "RequesterManaged").v.(bool); ok {
			m.RequesterManaged = rm
		}
		l.eniPublic(n, m, eips)
		l.eniAttachment(n, m)
		out = append(out, m)
	}
	return out
}

func (l *loader) prefixLists(doc node) []*model.PrefixList {
	var out []*model.PrefixList
	for _, p := range l.list(doc, "PrefixLists", true) {
		id := l.str(p, "PrefixListId")
		name, _ := l.optStr(p, "PrefixListName")
		owner, _ := l.optStr(p, "OwnerId")
		if strings.HasPrefix(owner, "AWS") || strings.HasPrefix(name, "com.amazonaws") {
			continue // AWS-managed lists: entries are not exported; rules using them match nothing
		}
		family := l.str(p, "AddressFamily")
		if family != "" && family != "IPv4" && family != "IPv6" {
			l.failf(p.file, p.child("AddressFamily"), "%q is neither IPv4 nor IPv6", family)
		}
		m := &model.PrefixList{ID: id, Name: name, OwnerID: owner, IPv6: family == "IPv6"}
		if _, ok := l.field(p, "MaxEntries").v.(float64); ok {
			m.MaxEntries = int(l.integer(p, "MaxEntries", 1, 1000))
		}
		if l.err != nil {
			return nil
		}
		file := "get-managed-prefix-list-entries-" + id + ".json"
		entries := l.read(file, "aws ec2 get-managed-prefix-list-entries --prefix-list-id "+id)
		if l.err != nil {
			l.err = fmt.Errorf("prefix list %s (describe-managed-prefix-lists.json %s): %w", id, p.path, l.err)
			return nil
		}
		for _, e := range l.list(entries, "Entries", true) {
			m.Entries = append(m.Entries, model.PLEntry{CIDR: l.prefix(e, "Cidr")})
		}
		out = append(out, m)
	}
	return out
}

// associated reports whether a block association is in force: its state (under key) is
// "associated", or not given, as in hand-written snapshots. Blocks being associated or
// disassociated, or failed ones, carry no traffic.
func (l *loader) associated(a node, key string) bool {
	st := l.object(a, key, false)
	if !st.present {
		return true
	}
	state, ok := l.optStr(st, "State")
	return !ok || state == "associated"
}
