package dataplane_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/policy"
)

// kernelLab is a router namespace and instance namespaces made for one test, removed when it
// ends (also on failure). It skips the test, saying why, where the kernel tier cannot run.
type kernelLab struct {
	t      testing.TB
	names  netlab.Names
	router string
	k      dataplane.NFT
}

func newKernelLab(t testing.TB) *kernelLab {
	t.Helper()
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	l := &kernelLab{t: t, names: netlab.Names{Prefix: "d" + hex.EncodeToString(b)}, k: dataplane.NFT{NSDir: netlab.Dir}}
	l.router = l.names.Router("vpc-1")
	if _, err := netlab.CreateRouter(context.Background(), l.router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nss, _ := netlab.List(l.names.Prefix + "-")
		for _, ns := range nss {
			_ = netlab.Remove(context.Background(), ns)
		}
	})
	return l
}

func (l *kernelLab) attach(e *model.NetworkInterface, subnet netip.Prefix) string {
	l.t.Helper()
	ns := l.names.Instance(e.ID)
	if err := netlab.Attach(context.Background(), l.router, netlab.Interface{Namespace: ns, Link: l.names.Link(e.ID), MAC: e.MAC, Addr: e.PrivateIP, Subnet: subnet, IPv6: e.IPv6}); err != nil {
		l.t.Fatal(err)
	}
	return ns
}

func (l *kernelLab) apply(tx string) {
	l.t.Helper()
	if err := l.k.Apply(context.Background(), l.router, tx); err != nil {
		l.t.Fatalf("%v\n%s", err, tx)
	}
}

func TestKernelThreeTier(t *testing.T) {
	l := newKernelLab(t)
	n := threeTier()
	n.Link = l.names.Link
	web, app, db := n.Snapshot.ENIs[0], n.Snapshot.ENIs[1], n.Snapshot.ENIs[2]
	rs := dataplane.Render(n)
	l.apply(rs.Replace())
	ns := map[string]string{}
	for _, e := range n.Snapshot.ENIs {
		for _, sn := range n.Snapshot.Subnets {
			if sn.ID == e.SubnetID {
				ns[e.ID] = l.attach(e, sn.CIDR)
			}
		}
	}
	if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
		t.Fatal(err)
	}
	for _, e := range n.Snapshot.ENIs {
		srv, err := netlab.Serve(ns[e.ID], 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	p, err := policy.Compile(n.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to *model.NetworkInterface }{{web, app}, {app, db}, {web, db}, {db, web}, {app, web}} {
		f := policy.Flow{Src: c.from.PrivateIP, Dst: c.to.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 40000, DstPort: 8080}
		want := p.Verdict(policy.Endpoint{ENI: c.from.ID}, policy.Endpoint{ENI: c.to.ID}, f) == policy.Admitted
		err := netlab.TCP(ns[c.from.ID], netip.AddrPortFrom(c.to.PrivateIP, 8080), netlab.Timeout(want))
		if (err == nil) != want {
			t.Errorf("%s → %s tcp/8080: kernel err=%v, policy admits=%v\n%s", c.from.ID, c.to.ID, err, want, rs.Text())
		}
	}
}

// TestKernelAcceptsRendering applies the golden networks to a real kernel: every construct the
// renderer writes (IPv6, ICMPv6, protocol sets, timeouts, ACL comments) must load.
func TestKernelAcceptsRendering(t *testing.T) {
	l := newKernelLab(t)
	for _, n := range []dataplane.Network{threeTier(), rich(), withInternet(rich()), withFlowLogs(withInternet(rich())), spanning(withInternet(rich()))} {
		n.Link = l.names.Link
		l.apply(dataplane.Render(n).Replace())
		if _, err := l.k.List(context.Background(), l.router); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKernelFailsClosed: an interface whose link is up but that the ruleset does not know yet
// (its launch not yet rendered) can neither send nor receive, whatever the groups would allow;
// once rendered, it can. Two layers see to it: the source check (its addresses are nobody's)
// and the dispatch maps (its link has no chain); the test holds while either is there.
func TestKernelFailsClosed(t *testing.T) {
	l := newKernelLab(t)
	n := threeTier()
	n.Link = l.names.Link
	all := n.Snapshot.ENIs
	ns := map[string]string{}
	for i, e := range all {
		ns[e.ID] = l.attach(e, n.Snapshot.Subnets[map[bool]int{true: 1, false: 0}[i == 2]].CIDR)
	}
	web, app := all[0], all[1]
	for _, e := range []*model.NetworkInterface{web, app} {
		srv, err := netlab.Serve(ns[e.ID], 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	// The ruleset knows web and db, not app; rendered, app's groups let web in on 8080 and let
	// app reach web's 8080, which is open to everyone.
	n.Snapshot.ENIs = []*model.NetworkInterface{web, all[2]}
	l.apply(dataplane.Render(n).Replace())
	if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
		t.Fatal(err)
	}
	toApp, toWeb := netip.AddrPortFrom(app.PrivateIP, 8080), netip.AddrPortFrom(web.PrivateIP, 8080)
	if err := netlab.TCP(ns[web.ID], toApp, netlab.DropTimeout); err == nil {
		t.Error("a packet reached an interface the ruleset does not know")
	}
	if err := netlab.TCP(ns[app.ID], toWeb, netlab.DropTimeout); err == nil {
		t.Error("an interface the ruleset does not know sent a packet through")
	}
	n.Snapshot.ENIs = all
	l.apply(dataplane.Render(n).Replace())
	if err := netlab.TCP(ns[web.ID], toApp, netlab.PassTimeout); err != nil {
		t.Errorf("once rendered, web → app: %v", err)
	}
	if err := netlab.TCP(ns[app.ID], toWeb, netlab.PassTimeout); err != nil {
		t.Errorf("once rendered, app → web: %v", err)
	}
}
