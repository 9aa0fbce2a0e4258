package host_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/host/nsfake"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// BenchmarkReconcileChange is the host's own CPU cost for one change with n running
// instances (one interface each) in one VPC whose internet gateway is attached: plan (render
// with the cache) and apply (the in-place update, routes and public addresses) against an
// in-memory kernel and namespaces. The changes are those the e2e latency benchmarks time: a
// rule added, the subnet's default route to the gateway created, an Elastic IP associated
// (each undone in the next iteration). The kernel's share is dataplane's
// BenchmarkChangeLatency.
//
//	go test -run '^$' -bench ReconcileChange -benchtime 200x ./host
func BenchmarkReconcileChange(b *testing.B) {
	for _, change := range []string{"authorize", "route", "address", "membership"} {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/instances=%d", change, n), func(b *testing.B) {
				src := newSource()
				src.commit(func(net *netmap.Network) { benchNetwork(net, n) })
				h, err := host.New(src, host.Config{Kernel: &dataplane.Fake{}, Namespaces: &nsfake.Fake{}, Names: names, Dir: b.TempDir(),
					Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := h.Reconcile(ctx); err != nil {
					b.Fatal(err)
				}
				<-src.c
				i := 0
				for b.Loop() {
					src.commit(func(net *netmap.Network) { benchChanges[change](net, i) })
					<-src.c
					if err := h.Reconcile(ctx); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// benchNetwork gives net n running instances in subnet-1, an attached internet gateway, the
// main route table with its local route and an Elastic IP not yet associated.
func benchNetwork(net *netmap.Network, n int) {
	for i := range n {
		id := fmt.Sprintf("-%04d", i)
		net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni" + id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"}, SourceDestCheck: true,
			PrivateIP: netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(i % 250)}), Attachment: &model.Attachment{InstanceID: "i" + id}})
		net.Instances = append(net.Instances, &model.Instance{ID: "i" + id, VpcID: "vpc-1", State: model.StateRunning,
			InterfaceIDs: []string{"eni" + id}})
	}
	net.IGWs = []*model.InternetGateway{{ID: "igw-1", VpcID: "vpc-1"}}
	net.RouteTables = []*model.RouteTable{{ID: "rtb-main", VpcID: "vpc-1", Assocs: []model.RouteTableAssoc{{ID: "rtbassoc-m", Main: true}},
		Routes: []model.Route{{Dest: netip.MustParsePrefix("10.0.0.0/16"), Target: model.RouteTarget{Local: true}}}}}
	net.Addresses = []*model.Address{{AllocationID: "eipalloc-1", PublicIP: netip.MustParseAddr("198.18.0.2")}}
}

// benchChanges make the i-th change of each kind: even iterations do, odd ones undo.
var benchChanges = map[string]func(net *netmap.Network, i int){
	"authorize": func(net *netmap.Network, i int) {
		g := net.Groups[0].Clone()
		g.Ingress = []model.Rule{{Protocol: "udp", FromPort: int32(i), ToPort: int32(i), Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.1/32")}}}
		net.Groups = []*model.Group{g}
	},
	"route": func(net *netmap.Network, i int) {
		t := *net.RouteTables[0]
		t.Routes = t.Routes[:1:1]
		if i%2 == 0 {
			t.Routes = append(t.Routes, model.Route{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: model.RouteTarget{GatewayID: "igw-1"}})
		}
		net.RouteTables = []*model.RouteTable{&t}
	},
	"address": func(net *netmap.Network, i int) {
		a := *net.Addresses[0]
		a.AssociationID, a.ENIID, a.PrivateIP = "", "", netip.Addr{}
		if i%2 == 0 {
			a.AssociationID, a.ENIID, a.PrivateIP = "eipassoc-1", net.ENIs[0].ID, net.ENIs[0].PrivateIP
		}
		net.Addresses = []*model.Address{&a}
	},
	// The first interface leaves its group and joins it again: the group's member set and the
	// interface's chains change, and with the interface its instance's plan.
	"membership": func(net *netmap.Network, i int) {
		e := *net.ENIs[0]
		e.Groups = []string{"sg-1"}
		if i%2 == 0 {
			e.Groups = nil
		}
		net.ENIs[0] = &e
	},
}
