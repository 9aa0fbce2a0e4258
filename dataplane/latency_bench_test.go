package dataplane_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// latencyNetwork is the e2e latency lab (e2e.BenchmarkEnforcementLatency) as the agent sees
// it: n interfaces in one subnet, 50 filler groups of 10 CIDR rules and a group reference,
// two or three groups an interface, and the server's own group (sg-target) that the changes
// open. Interface 0 is the client, 1 the server.
func latencyNetwork(n int) dataplane.Network {
	vpc := &model.VPC{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.30.0.0/16")}
	sn := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.30.0.0/20")}
	acl := &model.NACL{ID: "acl-1", VpcID: "vpc-1", Default: true, Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-1"}},
		Entries: []model.NACLEntry{
			{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		}}
	var gs []*model.Group
	for i := range 50 {
		g := &model.Group{ID: fmt.Sprintf("sg-f%02d", i), VpcID: "vpc-1", Egress: egressAll}
		ps := []string{fmt.Sprintf("192.168.%d.0/24", i), fmt.Sprintf("172.16.%d.0/24", i)}
		for r := range 10 {
			g.Ingress = append(g.Ingress, rule("tcp", int32(1000+r*10), int32(1000+r*10+5), cidr(ps[r%2])))
		}
		if i > 0 {
			g.Ingress = append(g.Ingress, rule("udp", 53, 53, ref(gs[i-1].ID)))
		}
		gs = append(gs, g)
	}
	client := &model.Group{ID: "sg-client", VpcID: "vpc-1", Egress: egressAll}
	target := &model.Group{ID: "sg-target", VpcID: "vpc-1", Egress: egressAll}
	member := &model.Group{ID: "sg-member", VpcID: "vpc-1", Egress: egressAll}
	target.Ingress = []model.Rule{rule("udp", 10000, 10049, ref("sg-member"))}
	gs = append(gs, client, target, member)
	var enis []*model.NetworkInterface
	for i := range n {
		a := sn.CIDR.Addr().As4()
		a[2], a[3] = byte((10+i)>>8), byte(10+i)
		e := &model.NetworkInterface{ID: fmt.Sprintf("eni-%04d", i), VpcID: "vpc-1", SubnetID: sn.ID, PrivateIP: netip.AddrFrom4(a),
			MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)}
		switch i {
		case 0:
			e.Groups = []string{"sg-client", "sg-f00"}
		case 1:
			e.Groups = []string{"sg-target", "sg-f01"}
		default:
			e.Groups = []string{gs[i%50].ID, gs[(i+7)%50].ID}
		}
		enis = append(enis, e)
	}
	return dataplane.Network{VPC: vpc, Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{sn}, ENIs: enis,
		Groups: gs, NACLs: []*model.NACL{acl}}}
}

// latencyChanges are the changes the e2e latency benchmarks time, as functions that make the
// i-th change (open) and undo it (close): a rule added to the server's group, the client
// joining the group the server's group admits, and an Elastic IP associated with the client
// (the VPC's internet gateway attached).
var latencyChanges = map[string][2]func(n *dataplane.Network, i int){
	"authorize": {
		func(n *dataplane.Network, i int) {
			g := groupOf(n, "sg-target").Clone()
			g.Ingress = append(g.Ingress, rule("udp", int32(10000+i%50), int32(10000+i%50), cidr("10.30.0.10/32")))
			setGroup(n, g)
		},
		func(n *dataplane.Network, i int) {
			g := groupOf(n, "sg-target").Clone()
			g.Ingress = g.Ingress[:len(g.Ingress)-1]
			setGroup(n, g)
		},
	},
	"address": {
		func(n *dataplane.Network, _ int) {
			n.Internet.Public = map[netip.Addr]netip.Addr{netip.MustParseAddr("198.18.0.2"): n.Snapshot.ENIs[0].PrivateIP}
		},
		func(n *dataplane.Network, _ int) { n.Internet.Public = nil },
	},
	"membership": {
		func(n *dataplane.Network, _ int) {
			e := n.Snapshot.ENIs[0].Clone()
			e.Groups = []string{"sg-client", "sg-f00", "sg-member"}
			n.Snapshot.ENIs[0] = e
		},
		func(n *dataplane.Network, _ int) {
			e := n.Snapshot.ENIs[0].Clone()
			e.Groups = []string{"sg-client", "sg-f00"}
			n.Snapshot.ENIs[0] = e
		},
	},
}

func groupOf(n *dataplane.Network, id string) *model.Group {
	for _, g := range n.Snapshot.Groups {
		if g.ID == id {
			return g
		}
	}
	panic(id)
}

func setGroup(n *dataplane.Network, g *model.Group) {
	gs := append([]*model.Group(nil), n.Snapshot.Groups...)
	for i := range gs {
		if gs[i].ID == g.ID {
			gs[i] = g
		}
	}
	n.Snapshot.Groups = gs
}

// BenchmarkChangeLatency replays the e2e latency benchmarks' changes at 10, 100 and 1,000
// interfaces stage by stage, as the agent runs them: render with the cache, compute the
// in-place update, run it in the router namespace, read the ruleset generation. Each stage
// is reported in milliseconds (mean of the open and close of every iteration). via=nft sends
// every transaction through nft, as before the netlink path.
//
//	sudo go test -run '^$' -bench ChangeLatency -benchtime 50x ./dataplane
func BenchmarkChangeLatency(b *testing.B) {
	for _, change := range []string{"authorize", "membership", "address"} {
		for _, size := range []int{10, 100, 1000} {
			for _, via := range []string{"netlink", "nft"} {
				b.Run(fmt.Sprintf("%s/interfaces=%d/via=%s", change, size, via), func(b *testing.B) {
					l := newKernelLab(b)
					l.k.NFTOnly = via == "nft"
					n := latencyNetwork(size)
					n.Link = l.names.Link
					if change == "address" {
						n.Internet.Link = "stk-up" // an attached internet gateway
					}
					var r dataplane.Renderer
					prev := r.Render(n)
					l.apply(prev.Replace())
					var render, update, apply, gen time.Duration
					steps := 0
					i := 0
					for b.Loop() {
						for _, step := range latencyChanges[change] {
							step(&n, i)
							t0 := time.Now()
							rs := r.Render(n)
							t1 := time.Now()
							tx, ok := rs.Update(prev)
							if !ok || tx == "" {
								b.Fatalf("no update: ok %v", ok)
							}
							t2 := time.Now()
							l.apply(tx)
							t3 := time.Now()
							if _, err := l.k.Generation(l.router); err != nil {
								b.Fatal(err)
							}
							t4 := time.Now()
							render += t1.Sub(t0)
							update += t2.Sub(t1)
							apply += t3.Sub(t2)
							gen += t4.Sub(t3)
							steps++
							prev = rs
						}
						i++
					}
					ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(steps) }
					b.ReportMetric(ms(render), "render-ms")
					b.ReportMetric(ms(update), "update-ms")
					b.ReportMetric(ms(apply), "nft-ms")
					b.ReportMetric(ms(gen), "gen-ms")
					b.ReportMetric(ms(render+update+apply+gen), "total-ms")
					b.ReportMetric(0, "ns/op")
				})
			}
		}
	}
}
