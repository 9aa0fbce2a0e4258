package host_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// testbed makes a testbed of n hosts for a kernel test, its prefix the letter and a random
// byte (tests may run at once), and removes it when the test ends, failed or not. It skips
// the test, with the reason, where the kernel tier cannot run.
func testbed(t *testing.T, letter string, n int) *netlab.Testbed {
	t.Helper()
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	tb, err := netlab.NewTestbed(context.Background(), letter+hex.EncodeToString(b), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return tb
}

// TestKernelHostsSpanVPC: three host reconcilers, one per simulated host of a testbed, follow
// one store in which a VPC's instances are placed on all three. Each host runs only its own
// instance; the instances reach each other across hosts exactly as their groups say (sg-1
// admits TCP 8080 from its members: i-4 and i-5 are members, i-6 is not), through the
// devices, entries and filters the reconcilers programmed. The VPC's VNI is the one stored
// with it, on every host's device.
func TestKernelHostsSpanVPC(t *testing.T) {
	const storedVNI = 4242 // not netlab.VNI("vpc-1")
	ctx := context.Background()
	tb := testbed(t, "y", 3)
	src := newSource()
	src.commit(func(n *netmap.Network) {
		g := *n.Groups[0]
		g.Ingress = []model.Rule{{Protocol: "tcp", FromPort: 8080, ToPort: 8080, Peer: model.Peer{GroupID: "sg-1"}}}
		g.Egress = []model.Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}
		n.Groups = []*model.Group{&g, {ID: "sg-2", VpcID: "vpc-1", Egress: g.Egress}}
		v := n.VPCs[0].Clone()
		v.VNI = storedVNI
		n.VPCs[0] = v
	})
	for i := 4; i <= 6; i++ { // 10.0.1.4-6: .1 is the subnet's gateway
		src.launch(i, "")
	}
	src.commit(func(n *netmap.Network) { // i-6 is not a member of sg-1
		e := n.ENIs[2].Clone()
		e.Groups = []string{"sg-2"}
		n.ENIs[2] = e
	})
	of := map[string]string{"eni-4": "h1", "eni-5": "h2", "eni-6": "h3"}
	id := map[string]string{"h1": "i-4", "h2": "i-5", "h3": "i-6"}
	hosts := map[string]*host.Host{}
	for _, sh := range tb.Hosts {
		sh := sh
		h, err := host.New(src, host.Config{Kernel: dataplane.NFT{NSDir: netlab.Dir}, Namespaces: netlab.Host{}, Names: sh.Names,
			Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
			Placement: func([]netmap.Network) host.Placement {
				return host.Placement{Self: sh.Name, Namespace: sh.Namespace, Underlay: tb.Underlays(), Of: of}
			}})
		if err != nil {
			t.Fatal(err)
		}
		hosts[sh.Name] = h
		t.Cleanup(func() { _ = h.Close(context.Background(), false) })
		if err := h.Reconcile(ctx); err != nil {
			t.Fatalf("%s: %v", sh.Name, err)
		}
		if got := h.Instances(); len(got) != 1 {
			t.Fatalf("%s runs %d instances, want 1", sh.Name, len(got))
		}
	}
	for _, sh := range tb.Hosts {
		vx, err := netlab.ReadOverlay(sh.Names.Router("vpc-1"), sh.Names.Overlay("vpc-1"))
		if err != nil {
			t.Fatalf("%s: %v", sh.Name, err)
		}
		if uint32(vx.VxlanId) != storedVNI {
			t.Errorf("%s: device VNI %d, want the stored %d", sh.Name, vx.VxlanId, storedVNI)
		}
	}
	inst := func(host, id string) string { return tb.Host(host).Names.Instance(id) }
	for _, on := range []string{"h1", "h2", "h3"} {
		srv, err := netlab.Serve(inst(on, id[on]), 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	addr := map[string]netip.Addr{"h1": netip.MustParseAddr("10.0.1.4"), "h2": netip.MustParseAddr("10.0.1.5"), "h3": netip.MustParseAddr("10.0.1.6")}
	for _, c := range []struct {
		from, to string
		pass     bool
	}{
		{"h1", "h2", true}, {"h2", "h1", true}, // members of sg-1, each on its own host
		{"h3", "h1", false}, {"h3", "h2", false}, // i-6 is not a member
		{"h1", "h3", false}, // i-6 (sg-2) admits nothing
	} {
		err := netlab.TCP(inst(c.from, id[c.from]), netip.AddrPortFrom(addr[c.to], 8080), netlab.Timeout(c.pass))
		if (err == nil) != c.pass {
			t.Errorf("%s (%s) → %s (%s) tcp/8080: err=%v, want pass=%v", id[c.from], c.from, id[c.to], c.to, err, c.pass)
		}
	}
}
