package host_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/host/nsfake"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// TestSpanningHosts: the reconciler of host h1, with interfaces placed on h1 and h2. An
// instance placed on h2 runs nowhere here, but its address is a peer of the VPC's router
// (device, entries) and of the underlay filter, which goes to the host's underlay namespace;
// more instances on h2 change the peers, a reconcile with nothing new applies nothing, and
// once no instance is left on h2 the router has no peer. The VPC's record has no VNI (stored
// before VNIs were): every host derives the same one from its ID.
func TestSpanningHosts(t *testing.T) {
	src := newSource()
	k, ns := &dataplane.Fake{}, &nsfake.Fake{}
	var mu sync.Mutex
	of := map[string]string{"eni-1": "h1", "eni-2": "h2", "eni-3": "h2"}
	under := map[string]netip.Addr{"h1": netip.MustParseAddr("192.0.2.1"), "h2": netip.MustParseAddr("192.0.2.2")}
	h, err := host.New(src, host.Config{Kernel: k, Namespaces: ns, Names: names, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
		Placement: func([]netmap.Network) host.Placement {
			mu.Lock()
			defer mu.Unlock()
			return host.Placement{Self: "h1", Namespace: "t-host", Underlay: under, Of: of}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reconcile := func() {
		t.Helper()
		if err := h.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	peers := func(want ...string) {
		t.Helper()
		o, ps, ok := ns.Overlay("t-vpc-1")
		if !ok {
			t.Fatal("the router has no overlay")
		}
		if o.Host != "t-host" || o.VNI != netlab.VNI("vpc-1") || o.Local != under["h1"] || o.MTU != netlab.InstanceMTU {
			t.Errorf("overlay %+v", o)
		}
		var got []string
		for _, p := range ps {
			for _, a := range p.Addrs {
				got = append(got, p.Underlay.String()+">"+a.String())
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("peers (-want +got):\n%s", diff)
		}
	}
	src.launch(1, "")
	src.launch(2, "")
	reconcile()
	if got := h.Instances(); len(got) != 1 || got[0].ID != "i-1" {
		t.Errorf("instances here: %+v, want i-1 only", got)
	}
	peers("192.0.2.2>10.0.1.2")
	txs := k.Transactions("t-host")
	if len(txs) != 1 || !strings.Contains(txs[0], "ip saddr 192.0.2.2 @th,96,24") || !strings.Contains(txs[0], "0x0a000102") {
		t.Errorf("underlay filter: %q", txs)
	}

	src.launch(3, "")
	reconcile()
	peers("192.0.2.2>10.0.1.2", "192.0.2.2>10.0.1.3")
	reconcile()
	if got := len(k.Transactions("t-host")); got != 2 {
		t.Errorf("%d underlay transactions after a reconcile with nothing new, want 2", got)
	}

	src.terminate(2)
	src.terminate(3)
	reconcile()
	peers()
}
