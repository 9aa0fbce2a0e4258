package audit

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// genNet is a generated network for benchmarks and the incremental audit's oracle test:
// vpcs VPCs, each with an internet gateway routed from its first subnet, and groups groups of
// rules rules and enis interfaces spread over them. The rules mix internal CIDRs, group
// references, prefix lists and a few internet sources on random ports; a tenth of the
// interfaces have a public address. The same seed gives the same network.
func genNet(seed uint64, vpcs, groups, rules, enis int) netmap.Snapshot {
	rnd := rand.New(rand.NewPCG(seed, 1))
	var s netmap.Snapshot
	pl := &model.PrefixList{ID: "pl-00000001", OwnerID: account, MaxEntries: 10,
		Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("198.51.100.0/24")}}}
	s.PrefixLists = []*model.PrefixList{pl}
	for v := range vpcs {
		vid := fmt.Sprintf("vpc-%08x", v)
		s.VPCs = append(s.VPCs, &model.VPC{ID: vid, OwnerID: account, CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v), 0, 0}), 16)})
		igw := fmt.Sprintf("igw-%08x", v)
		s.IGWs = append(s.IGWs, &model.InternetGateway{ID: igw, OwnerID: account, VpcID: vid})
		var assocs []model.RouteTableAssoc
		for sn := range 2 {
			sid := fmt.Sprintf("subnet-%04x%04x", v, sn)
			s.Subnets = append(s.Subnets, &model.Subnet{ID: sid, VpcID: vid, CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v), byte(sn), 0}), 24)})
			if sn == 0 {
				assocs = append(assocs, model.RouteTableAssoc{ID: fmt.Sprintf("rtbassoc-%08x", v), SubnetID: sid})
			}
		}
		s.RouteTables = append(s.RouteTables,
			&model.RouteTable{ID: fmt.Sprintf("rtb-%08x", v), VpcID: vid, OwnerID: account, Assocs: assocs, Routes: []model.Route{
				{Dest: s.VPCs[v].CIDR, Target: model.RouteTarget{Local: true}, Origin: model.OriginCreateRouteTable},
				{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: igw}, Origin: model.OriginCreateRoute}}},
			&model.RouteTable{ID: fmt.Sprintf("rtb-m%07x", v), VpcID: vid, OwnerID: account, Assocs: []model.RouteTableAssoc{{ID: fmt.Sprintf("rtbassoc-m%07x", v), Main: true}},
				Routes: []model.Route{{Dest: s.VPCs[v].CIDR, Target: model.RouteTarget{Local: true}, Origin: model.OriginCreateRouteTable}}})
		s.NACLs = append(s.NACLs, &model.NACL{ID: fmt.Sprintf("acl-%08x", v), VpcID: vid, Default: true, OwnerID: account,
			Assocs: []model.NACLAssoc{{ID: fmt.Sprintf("aclassoc-%08xa", v), SubnetID: fmt.Sprintf("subnet-%04x%04x", v, 0)},
				{ID: fmt.Sprintf("aclassoc-%08xb", v), SubnetID: fmt.Sprintf("subnet-%04x%04x", v, 1)}},
			Entries: []model.NACLEntry{
				{RuleNumber: 100, Protocol: model.ProtoAll, Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
				{RuleNumber: 100, Egress: true, Protocol: model.ProtoAll, Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}})
	}
	for g := range groups {
		v := g % vpcs
		grp := &model.Group{ID: fmt.Sprintf("sg-%08x", g), Name: fmt.Sprintf("g%d", g), Description: "generated", VpcID: s.VPCs[v].ID,
			OwnerID: account, Default: g < vpcs, Tags: model.Tags{"owner": "gen"}}
		for r := range rules {
			grp.Ingress = append(grp.Ingress, genRule(rnd, fmt.Sprintf("sgr-%08x%04x", g, r), g, groups))
		}
		grp.Egress = []model.Rule{{ID: fmt.Sprintf("sgr-%08xeeee", g), Egress: true, Protocol: model.ProtoAll, FromPort: -1, ToPort: -1,
			Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}, Description: "out"}}
		s.Groups = append(s.Groups, grp)
	}
	for e := range enis {
		v := e % vpcs
		sn := (e / vpcs) % 2
		n := &model.NetworkInterface{ID: fmt.Sprintf("eni-%08x", e), VpcID: s.VPCs[v].ID, SubnetID: fmt.Sprintf("subnet-%04x%04x", v, sn), OwnerID: account,
			PrivateIP: netip.AddrFrom4([4]byte{10, byte(v), byte(sn), byte(e/vpcs/2%250 + 4)})}
		if e%10 == 0 {
			n.PublicIP = netip.AddrFrom4([4]byte{198, 18, byte(e >> 8), byte(e)})
		}
		for range 1 + rnd.IntN(2) {
			n.Groups = append(n.Groups, fmt.Sprintf("sg-%08x", rnd.IntN(max(1, groups/vpcs))*vpcs+v))
		}
		n.Groups = validGroups(n.Groups, groups, v, vpcs)
		s.ENIs = append(s.ENIs, n)
	}
	return s
}

// validGroups keeps the group IDs of VPC v that exist, without repeats; an interface always
// has a group (its VPC's default when none is left).
func validGroups(ids []string, groups, v, vpcs int) []string {
	var out []string
	for _, id := range ids {
		var n int
		fmt.Sscanf(id, "sg-%08x", &n)
		if n < groups && n%vpcs == v && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		out = []string{fmt.Sprintf("sg-%08x", v)}
	}
	return out
}

// genRule is a random ingress rule of group g.
func genRule(rnd *rand.Rand, id string, g, groups int) model.Rule {
	ports := []int32{22, 80, 443, 3306, 5432, 8080, 9200, 6379}
	r := model.Rule{ID: id, Protocol: model.ProtoTCP, Description: "gen"}
	p := ports[rnd.IntN(len(ports))]
	r.FromPort, r.ToPort = p, p
	switch x := rnd.IntN(100); {
	case x < 3:
		r.Peer.CIDR = netip.MustParsePrefix("0.0.0.0/0")
	case x < 5:
		r.Peer.CIDR = netip.MustParsePrefix("::/0")
	case x < 25:
		r.Peer.GroupID = fmt.Sprintf("sg-%08x", rnd.IntN(groups))
	case x < 30:
		r.Peer.PrefixListID = "pl-00000001"
	case x < 32:
		r.Protocol, r.FromPort, r.ToPort = model.ProtoAll, -1, -1
		r.Peer.GroupID = fmt.Sprintf("sg-%08x", g)
	default:
		r.Peer.CIDR = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rnd.IntN(256)), byte(rnd.IntN(256)), 0}), 24)
	}
	if rnd.IntN(10) == 0 {
		r.FromPort, r.ToPort = 1000, 2000+int32(rnd.IntN(1000))
	}
	return r
}
