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

// BenchmarkReconcileChange is the host's own CPU cost for one rule change with n running
// instances (one interface each) in one VPC: plan (render with the cache) and apply (the
// in-place update) against an in-memory kernel and namespaces. The kernel's share is
// dataplane's BenchmarkChangeLatency.
func BenchmarkReconcileChange(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			src := newSource()
			src.commit(func(net *netmap.Network) {
				for i := range n {
					id := fmt.Sprintf("-%04d", i)
					net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni" + id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"}, SourceDestCheck: true,
						PrivateIP: netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(i % 250)}), Attachment: &model.Attachment{InstanceID: "i" + id}})
					net.Instances = append(net.Instances, &model.Instance{ID: "i" + id, VpcID: "vpc-1", State: model.StateRunning,
						InterfaceIDs: []string{"eni" + id}})
				}
			})
			h, err := host.New(src, host.Config{Kernel: &dataplane.Fake{}, Namespaces: &nsfake.Fake{}, Names: names, Dir: b.TempDir(),
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := h.Reconcile(ctx); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				src.commit(func(net *netmap.Network) {
					g := net.Groups[0].Clone()
					g.Ingress = []model.Rule{{Protocol: "udp", FromPort: int32(i), ToPort: int32(i), Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.1/32")}}}
					net.Groups = []*model.Group{g}
				})
				<-src.c
				if err := h.Reconcile(ctx); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
