// Package snapshot reads the JSON that the AWS CLI writes for a real AWS account into a
// netmap.Snapshot, so that the policy engine and the analyser can answer questions about
// accounts Stockade does not run. The expected files, one per command, are:
//
//	aws ec2 describe-vpcs                     > describe-vpcs.json
//	aws ec2 describe-subnets                  > describe-subnets.json
//	aws ec2 describe-security-groups          > describe-security-groups.json
//	aws ec2 describe-security-group-rules     > describe-security-group-rules.json   (optional: rule IDs)
//	aws ec2 describe-network-interfaces       > describe-network-interfaces.json
//	aws ec2 describe-network-acls             > describe-network-acls.json
//	aws ec2 describe-managed-prefix-lists     > describe-managed-prefix-lists.json
//	aws ec2 get-managed-prefix-list-entries --prefix-list-id PL > get-managed-prefix-list-entries-PL.json
//
// A malformed or incomplete file is an error that names the file and the field.
package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// Files are the file names read from a snapshot directory.
var Files = []string{"describe-vpcs.json", "describe-subnets.json", "describe-security-groups.json",
	"describe-network-interfaces.json", "describe-network-acls.json", "describe-managed-prefix-lists.json"}

// Load reads a snapshot directory.
func Load(dir string) (netmap.Snapshot, error) {
	var s netmap.Snapshot
	l := loader{dir: dir}
	var vpcs struct {
		Vpcs []struct {
			VpcId, CidrBlock, OwnerId   string
			Ipv6CidrBlockAssociationSet []struct{ Ipv6CidrBlock string }
		}
	}
	var subnets struct {
		Subnets []struct{ SubnetId, VpcId, CidrBlock, AvailabilityZone, OwnerId string }
	}
	var groups struct{ SecurityGroups []awsGroup }
	var rules struct{ SecurityGroupRules []awsRule }
	var enis struct {
		NetworkInterfaces []struct {
			NetworkInterfaceId, SubnetId, VpcId, OwnerId string
			PrivateIpAddresses                           []struct{ PrivateIpAddress string }
			Ipv6Addresses                                []struct{ Ipv6Address string }
			Groups                                       []struct{ GroupId string }
		}
	}
	var acls struct{ NetworkAcls []awsNACL }
	var lists struct {
		PrefixLists []struct {
			PrefixListId, PrefixListName, AddressFamily, OwnerId string
			MaxEntries                                           int
		}
	}
	for _, f := range []struct {
		name     string
		v        any
		optional bool
	}{{"describe-vpcs.json", &vpcs, false}, {"describe-subnets.json", &subnets, false}, {"describe-security-groups.json", &groups, false},
		{"describe-security-group-rules.json", &rules, true}, {"describe-network-interfaces.json", &enis, false},
		{"describe-network-acls.json", &acls, true}, {"describe-managed-prefix-lists.json", &lists, true}} {
		if err := l.read(f.name, f.v, f.optional); err != nil {
			return s, err
		}
	}
	for i, v := range vpcs.Vpcs {
		m := &model.VPC{ID: v.VpcId, OwnerID: v.OwnerId}
		m.CIDR = l.prefix("describe-vpcs.json", fmt.Sprintf("Vpcs[%d].CidrBlock", i), v.CidrBlock)
		for j, a := range v.Ipv6CidrBlockAssociationSet {
			m.IPv6CIDR = l.prefix("describe-vpcs.json", fmt.Sprintf("Vpcs[%d].Ipv6CidrBlockAssociationSet[%d].Ipv6CidrBlock", i, j), a.Ipv6CidrBlock)
		}
		l.require("describe-vpcs.json", fmt.Sprintf("Vpcs[%d].VpcId", i), v.VpcId)
		s.VPCs = append(s.VPCs, m)
	}
	for i, sn := range subnets.Subnets {
		l.require("describe-subnets.json", fmt.Sprintf("Subnets[%d].SubnetId", i), sn.SubnetId)
		s.Subnets = append(s.Subnets, &model.Subnet{ID: sn.SubnetId, VpcID: sn.VpcId, OwnerID: sn.OwnerId, AZ: sn.AvailabilityZone,
			CIDR: l.prefix("describe-subnets.json", fmt.Sprintf("Subnets[%d].CidrBlock", i), sn.CidrBlock)})
	}
	ruleIDs := map[string]string{} // identity → sgr- ID, from describe-security-group-rules
	for _, r := range rules.SecurityGroupRules {
		ruleIDs[r.identity()] = r.SecurityGroupRuleId
	}
	for i, g := range groups.SecurityGroups {
		l.require("describe-security-groups.json", fmt.Sprintf("SecurityGroups[%d].GroupId", i), g.GroupId)
		m := &model.Group{ID: g.GroupId, Name: g.GroupName, VpcID: g.VpcId, OwnerID: g.OwnerId}
		m.Ingress = l.rules(fmt.Sprintf("SecurityGroups[%d].IpPermissions", i), g.GroupId, false, g.IpPermissions, ruleIDs)
		m.Egress = l.rules(fmt.Sprintf("SecurityGroups[%d].IpPermissionsEgress", i), g.GroupId, true, g.IpPermissionsEgress, ruleIDs)
		s.Groups = append(s.Groups, m)
	}
	for i, n := range enis.NetworkInterfaces {
		file, field := "describe-network-interfaces.json", fmt.Sprintf("NetworkInterfaces[%d]", i)
		l.require(file, field+".NetworkInterfaceId", n.NetworkInterfaceId)
		l.require(file, field+".SubnetId", n.SubnetId)
		m := &model.NetworkInterface{ID: n.NetworkInterfaceId, SubnetID: n.SubnetId, VpcID: n.VpcId, OwnerID: n.OwnerId}
		for j, a := range n.PrivateIpAddresses {
			addr := l.addr(file, fmt.Sprintf("%s.PrivateIpAddresses[%d].PrivateIpAddress", field, j), a.PrivateIpAddress)
			if j == 0 {
				m.PrivateIP = addr
			} else {
				m.SecondaryIPs = append(m.SecondaryIPs, addr)
			}
		}
		if len(n.PrivateIpAddresses) == 0 {
			l.fail(file, field+".PrivateIpAddresses", "missing")
		}
		for j, a := range n.Ipv6Addresses {
			m.IPv6 = append(m.IPv6, l.addr(file, fmt.Sprintf("%s.Ipv6Addresses[%d].Ipv6Address", field, j), a.Ipv6Address))
		}
		for _, g := range n.Groups {
			m.Groups = append(m.Groups, g.GroupId)
		}
		s.ENIs = append(s.ENIs, m)
	}
	for i, a := range acls.NetworkAcls {
		s.NACLs = append(s.NACLs, l.nacl(i, a))
	}
	for i, p := range lists.PrefixLists {
		if strings.HasPrefix(p.OwnerId, "AWS") || strings.HasPrefix(p.PrefixListName, "com.amazonaws") {
			continue // AWS-managed lists: entries are not exported; rules using them match nothing
		}
		m := &model.PrefixList{ID: p.PrefixListId, Name: p.PrefixListName, IPv6: p.AddressFamily == "IPv6", MaxEntries: p.MaxEntries}
		name := "get-managed-prefix-list-entries-" + p.PrefixListId + ".json"
		var entries struct{ Entries []struct{ Cidr string } }
		if err := l.read(name, &entries, false); err != nil {
			return s, fmt.Errorf("prefix list %s (describe-managed-prefix-lists.json PrefixLists[%d]): %w", p.PrefixListId, i, err)
		}
		for j, e := range entries.Entries {
			m.Entries = append(m.Entries, model.PLEntry{CIDR: l.prefix(name, fmt.Sprintf("Entries[%d].Cidr", j), e.Cidr)})
		}
		s.PrefixLists = append(s.PrefixLists, m)
	}
	return s, l.err
}

// loader accumulates the first error, naming the file and field.
type loader struct {
	dir string
	err error
}

func (l *loader) fail(file, field, msg string) {
	if l.err == nil {
		l.err = fmt.Errorf("%s: %s: %s", filepath.Join(l.dir, file), field, msg)
	}
}

func (l *loader) read(name string, v any, optional bool) error {
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if errors.Is(err, fs.ErrNotExist) && optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w (stockade reach --help lists the AWS CLI commands that write a snapshot)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: field %s: %v", filepath.Join(l.dir, name), te.Field, err)
		}
		return fmt.Errorf("%s: not the JSON the AWS CLI writes: %v", filepath.Join(l.dir, name), err)
	}
	return nil
}

func (l *loader) require(file, field, v string) {
	if v == "" {
		l.fail(file, field, "missing")
	}
}

func (l *loader) prefix(file, field, v string) netip.Prefix {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		l.fail(file, field, fmt.Sprintf("%q is not a CIDR", v))
		return netip.Prefix{}
	}
	return p.Masked()
}

func (l *loader) addr(file, field, v string) netip.Addr {
	a, err := netip.ParseAddr(v)
	if err != nil {
		l.fail(file, field, fmt.Sprintf("%q is not an IP address", v))
	}
	return a
}

type awsPermission struct {
	IpProtocol       string
	FromPort, ToPort *int32
	IpRanges         []struct{ CidrIp string }
	Ipv6Ranges       []struct{ CidrIpv6 string }
	PrefixListIds    []struct{ PrefixListId string }
	UserIdGroupPairs []struct{ GroupId, UserId string }
}

type awsGroup struct {
	GroupId, GroupName, VpcId, OwnerId string
	IpPermissions, IpPermissionsEgress []awsPermission
}

type awsRule struct {
	SecurityGroupRuleId, GroupId, IpProtocol string
	IsEgress                                 bool
	FromPort, ToPort                         int32
	CidrIpv4, CidrIpv6, PrefixListId         string
	ReferencedGroupInfo                      *struct{ GroupId string }
}

func (r awsRule) identity() string {
	peer := r.CidrIpv4 + r.CidrIpv6 + r.PrefixListId
	if r.ReferencedGroupInfo != nil {
		peer = r.ReferencedGroupInfo.GroupId
	}
	if p, err := netip.ParsePrefix(peer); err == nil {
		peer = p.Masked().String()
	}
	proto, _ := model.NormalizeProtocol(r.IpProtocol)
	return fmt.Sprintf("%s|%v|%s|%d|%d|%s", r.GroupId, r.IsEgress, proto, r.FromPort, r.ToPort, peer)
}

// rules expands IpPermissions into one rule per peer, as EC2 stores them.
func (l *loader) rules(field, groupID string, egress bool, perms []awsPermission, ids map[string]string) []model.Rule {
	var out []model.Rule
	for i, p := range perms {
		f := fmt.Sprintf("%s[%d]", field, i)
		proto, err := model.NormalizeProtocol(p.IpProtocol)
		if err != nil {
			l.fail("describe-security-groups.json", f+".IpProtocol", fmt.Sprintf("%q is not a protocol", p.IpProtocol))
			continue
		}
		from, to := int32(-1), int32(-1)
		if p.FromPort != nil {
			from = *p.FromPort
		}
		if p.ToPort != nil {
			to = *p.ToPort
		}
		if proto == model.ProtoTCP || proto == model.ProtoUDP {
			if from == -1 && to == -1 {
				from, to = 0, 65535
			}
		} else if !model.HasPorts(proto) {
			from, to = -1, -1
		}
		base := model.Rule{Egress: egress, Protocol: proto, FromPort: from, ToPort: to}
		add := func(peer model.Peer, key string) {
			r := base
			r.Peer = peer
			r.ID = ids[fmt.Sprintf("%s|%v|%s|%d|%d|%s", groupID, egress, proto, from, to, key)]
			if r.ID == "" {
				r.ID = fmt.Sprintf("%s/%s/%d", groupID, direction(egress), len(out)) // no rule IDs exported
			}
			out = append(out, r)
		}
		for j, r := range p.IpRanges {
			c := l.prefix("describe-security-groups.json", fmt.Sprintf("%s.IpRanges[%d].CidrIp", f, j), r.CidrIp)
			add(model.Peer{CIDR: c}, c.String())
		}
		for j, r := range p.Ipv6Ranges {
			c := l.prefix("describe-security-groups.json", fmt.Sprintf("%s.Ipv6Ranges[%d].CidrIpv6", f, j), r.CidrIpv6)
			add(model.Peer{CIDR: c}, c.String())
		}
		for _, r := range p.PrefixListIds {
			add(model.Peer{PrefixListID: r.PrefixListId}, r.PrefixListId)
		}
		for _, r := range p.UserIdGroupPairs {
			add(model.Peer{GroupID: r.GroupId, UserID: r.UserId}, r.GroupId)
		}
	}
	return out
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

type awsNACL struct {
	NetworkAclId, VpcId, OwnerId string
	IsDefault                    bool
	Entries                      []struct {
		RuleNumber               int
		Protocol, RuleAction     string
		Egress                   bool
		CidrBlock, Ipv6CidrBlock string
		PortRange                *struct{ From, To int32 }
		IcmpTypeCode             *struct{ Type, Code int32 }
	}
	Associations []struct{ NetworkAclAssociationId, SubnetId string }
}

func (l *loader) nacl(i int, a awsNACL) *model.NACL {
	file := "describe-network-acls.json"
	n := &model.NACL{ID: a.NetworkAclId, VpcID: a.VpcId, OwnerID: a.OwnerId, Default: a.IsDefault}
	for j, e := range a.Entries {
		f := fmt.Sprintf("NetworkAcls[%d].Entries[%d]", i, j)
		m := model.NACLEntry{RuleNumber: e.RuleNumber, Egress: e.Egress, Allow: e.RuleAction == "allow"}
		if _, err := strconv.Atoi(e.Protocol); err != nil {
			l.fail(file, f+".Protocol", fmt.Sprintf("%q is not a protocol number", e.Protocol))
		}
		m.Protocol = e.Protocol
		if e.CidrBlock != "" {
			m.CIDR = l.prefix(file, f+".CidrBlock", e.CidrBlock)
		} else {
			m.CIDR = l.prefix(file, f+".Ipv6CidrBlock", e.Ipv6CidrBlock)
		}
		if e.PortRange != nil && (e.Protocol == "6" || e.Protocol == "17") {
			m.HasPorts, m.FromPort, m.ToPort = true, e.PortRange.From, e.PortRange.To
		}
		if e.IcmpTypeCode != nil && (e.Protocol == "1" || (e.Protocol == "58" && m.CIDR.Addr().Is6())) {
			m.HasICMP, m.ICMPType, m.ICMPCode = true, e.IcmpTypeCode.Type, e.IcmpTypeCode.Code
		}
		n.Entries = append(n.Entries, m)
	}
	for _, as := range a.Associations {
		n.Assocs = append(n.Assocs, model.NACLAssoc{ID: as.NetworkAclAssociationId, SubnetID: as.SubnetId})
	}
	return n
}
