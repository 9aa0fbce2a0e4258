package dataplane_test

import (
	"net/netip"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

func rule(proto string, from, to int32, peer model.Peer) model.Rule {
	return model.Rule{Protocol: proto, FromPort: from, ToPort: to, Peer: peer}
}

func cidr(s string) model.Peer { return model.Peer{CIDR: netip.MustParsePrefix(s)} }
func ref(g string) model.Peer  { return model.Peer{GroupID: g} }

var egressAll = []model.Rule{rule("-1", -1, -1, cidr("0.0.0.0/0"))}

// threeTier is the README's network: web open on 8080 to the world, app on 8080 from web,
// db on 8080 from app, in two subnets with the default ACL.
func threeTier() dataplane.Network {
	vpc := &model.VPC{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	s1 := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")}
	s2 := &model.Subnet{ID: "subnet-2", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.2.0/24")}
	acl := &model.NACL{ID: "acl-1", VpcID: "vpc-1", Default: true,
		Entries: []model.NACLEntry{
			{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		},
		Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-1"}, {ID: "aclassoc-2", SubnetID: "subnet-2"}}}
	web := &model.Group{ID: "sg-web", VpcID: "vpc-1", Ingress: []model.Rule{rule("tcp", 8080, 8080, cidr("0.0.0.0/0"))}, Egress: egressAll}
	app := &model.Group{ID: "sg-app", VpcID: "vpc-1", Ingress: []model.Rule{rule("tcp", 8080, 8080, ref("sg-web")), rule("icmp", 8, -1, cidr("10.0.0.0/16"))}, Egress: egressAll}
	db := &model.Group{ID: "sg-db", VpcID: "vpc-1", Ingress: []model.Rule{rule("tcp", 8080, 8080, ref("sg-app")), rule("tcp", 5432, 5433, cidr("10.0.1.0/24")), rule("udp", 53, 53, cidr("10.0.0.0/16"))}, Egress: egressAll}
	eni := func(id, subnet, ip, group string) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, SubnetID: subnet, VpcID: "vpc-1", Groups: []string{group}, MAC: "02:00:00:00:00:0" + id[len(id)-1:],
			PrivateIP: netip.MustParseAddr(ip)}
	}
	return dataplane.Network{VPC: vpc, Snapshot: netmap.Snapshot{
		VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{s1, s2}, NACLs: []*model.NACL{acl},
		Groups: []*model.Group{web, app, db},
		ENIs: []*model.NetworkInterface{eni("eni-1", "subnet-1", "10.0.1.10", "sg-web"),
			eni("eni-2", "subnet-1", "10.0.1.20", "sg-app"), eni("eni-3", "subnet-2", "10.0.2.30", "sg-db")},
	}}
}

// withInternet gives a network an internet link: web (eni-1) has a public address, and
// subnet-2 (db) goes out through a NAT gateway.
func withInternet(n dataplane.Network) dataplane.Network {
	n.Internet = dataplane.Internet{Link: "stk-ig",
		Public: map[netip.Addr]netip.Addr{netip.MustParseAddr("198.51.100.10"): netip.MustParseAddr("10.0.1.10")},
		NAT:    []dataplane.NATGateway{{Public: netip.MustParseAddr("198.51.100.99"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24")}}}}
	return n
}

// withFlowLogs covers web (eni-1, with ${tcp-flags}) and db (eni-3) by flow logs: their drops
// are logged, and web's SYN, FIN and RST packets.
func withFlowLogs(n dataplane.Network) dataplane.Network {
	n.FlowLogs = map[string]bool{"eni-1": true, "eni-3": true}
	n.FlowLogFlags = map[string]bool{"eni-1": true}
	return n
}
