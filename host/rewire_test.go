package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// plug attaches a new interface eni-N (10.0.1.N, sg-1) to running instance i-1 at device.
func (s *source) plug(n, device int) int64 {
	return s.commit(func(net *netmap.Network) {
		id := "eni-" + string(rune('0'+n))
		net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"}, SourceDestCheck: true,
			PrivateIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(n)}), Attachment: &model.Attachment{InstanceID: "i-1", DeviceIndex: device}})
		s.editInstance(net, func(in *model.Instance) { in.InterfaceIDs = append(in.InterfaceIDs, id) })
	})
}

// unplug detaches eni-N from i-1: it stays, available.
func (s *source) unplug(n int) int64 {
	id := "eni-" + string(rune('0'+n))
	return s.commit(func(net *netmap.Network) {
		s.editENI(net, id, func(e *model.NetworkInterface) { e.Attachment = nil })
		s.editInstance(net, func(in *model.Instance) {
			in.InterfaceIDs = strings.Fields(strings.ReplaceAll(strings.Join(in.InterfaceIDs, " "), id, ""))
		})
	})
}

// readdress gives eni-N these secondary addresses.
func (s *source) readdress(n int, secondary ...string) int64 {
	return s.commit(func(net *netmap.Network) {
		s.editENI(net, "eni-"+string(rune('0'+n)), func(e *model.NetworkInterface) {
			e.SecondaryIPs = nil
			for _, a := range secondary {
				e.SecondaryIPs = append(e.SecondaryIPs, netip.MustParseAddr(a))
			}
		})
	})
}

// editInstance replaces i-1 with an edited copy (the model is copy-on-write).
func (s *source) editInstance(net *netmap.Network, edit func(*model.Instance)) {
	for i, in := range net.Instances {
		if in.ID == "i-1" {
			c := in.Clone()
			edit(c)
			net.Instances[i] = c
		}
	}
}

func (s *source) editENI(net *netmap.Network, id string, edit func(*model.NetworkInterface)) {
	for i, e := range net.ENIs {
		if e.ID == id {
			c := e.Clone()
			edit(c)
			net.ENIs[i] = c
		}
	}
}

// TestHotAttachDetach: an interface attached to a running instance becomes its next ethN, with
// its link on the router and chains in the router's ruleset before the link exists; its
// addresses follow Assign/Unassign; detaching removes it and nothing else of the instance.
func TestHotAttachDetach(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	both := "router t-vpc-1 forwarding=on links=" + strings.Join(slices.Sorted(slices.Values([]string{link("eni-1") + ">t-i-1", link("eni-5") + ">t-i-1"})), ",")
	e.src.plug(5, 1)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24",
		both)
	if txs := e.k.Transactions("t-vpc-1"); !strings.Contains(txs[len(txs)-1], "out_dispatch { \""+link("eni-5")+"\" : jump ifaces_out }") {
		t.Errorf("the ruleset does not check the new interface:\n%s", txs[len(txs)-1])
	}
	if got := e.h.Instances(); len(got) != 1 || len(got[0].Links) != 2 || got[0].Links[1] != link("eni-5") {
		t.Errorf("Instances() = %+v", got)
	}

	e.src.readdress(5, "10.0.1.50", "10.0.1.51")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.50+10.0.1.51",
		both)
	e.src.readdress(5, "10.0.1.51")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.51",
		both)

	// A failed unplug leaves the instance as the host last made it; the retry finishes.
	rev := e.src.unplug(5)
	e.ns.Fail("unplug", "t-i-1", errors.New("busy"))
	if err := e.reconcile(); err == nil {
		t.Fatal("a failed unplug was not reported")
	}
	e.ns.Fail("unplug", "t-i-1", nil)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.wait(rev)
	e.dump("instance t-i-1 eth0 10.0.1.1/24", "router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1")

	// Attached again at another index, it is eth2.
	e.src.commit(func(net *netmap.Network) {
		e.src.editENI(net, "eni-5", func(x *model.NetworkInterface) { x.Attachment = &model.Attachment{InstanceID: "i-1", DeviceIndex: 2} })
		e.src.editInstance(net, func(in *model.Instance) { in.InterfaceIDs = append(in.InterfaceIDs, "eni-5") })
	})
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24,eth2 10.0.1.5/24+10.0.1.51",
		both)
}

// TestChangedWhileDown: what changed to a running instance's interfaces while no reconciler
// ran (a host's agent killed, a server stopped with --keep-lab) is found by the next start,
// which adopts the instance: rewire compares with what the process itself wired and would never
// see it, so the adoption compares the kernel's wiring with the store's. Before the stop, i-1
// has eth0 (eni-1) and eth1 (eni-5 with 10.0.1.50 and 10.0.1.51); after the restart it has what
// the store says, with nothing else of it touched, and the router's ruleset admits from its
// links only the addresses that are still theirs. (A detached interface keeps its entries in
// the ruleset, as every interface of the VPC has them, attached or not: they name its link,
// and it is the link that must go.)
func TestChangedWhileDown(t *testing.T) {
	links := func(enis ...string) string {
		var ls []string
		for _, e := range enis {
			ls = append(ls, link(e)+">t-i-1")
		}
		slices.Sort(ls)
		return "router t-vpc-1 forwarding=on links=" + strings.Join(ls, ",")
	}
	for _, c := range []struct {
		name   string
		change func(s *source)
		want   []string
		gone   string // an address of eni-5 the restarted router's ruleset must not admit
	}{
		{"unchanged", func(s *source) {},
			[]string{"instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.50+10.0.1.51", links("eni-1", "eni-5")}, ""},
		{"attached", func(s *source) { s.plug(6, 2) },
			[]string{"instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.50+10.0.1.51,eth2 10.0.1.6/24", links("eni-1", "eni-5", "eni-6")}, ""},
		{"detached", func(s *source) { s.unplug(5) },
			[]string{"instance t-i-1 eth0 10.0.1.1/24", links("eni-1")}, ""},
		{"secondary unassigned", func(s *source) { s.readdress(5, "10.0.1.51") },
			[]string{"instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.51", links("eni-1", "eni-5")}, "10.0.1.50"},
		{"readdressed", func(s *source) { s.readdress(5, "10.0.1.60") },
			[]string{"instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24+10.0.1.60", links("eni-1", "eni-5")}, "10.0.1.50"},
		{"another interface at its device", func(s *source) { s.unplug(5); s.plug(6, 1) },
			[]string{"instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.6/24", links("eni-1", "eni-6")}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.src.launch(1, "")
			e.src.plug(5, 1)
			e.src.readdress(5, "10.0.1.50", "10.0.1.51")
			if err := e.reconcile(); err != nil {
				t.Fatal(err)
			}
			if err := e.h.Close(context.Background(), true); err != nil { // --keep-lab
				t.Fatal(err)
			}
			c.change(e.src)
			k := &dataplane.Fake{}
			again := e.restartOn(k)
			e.dump(c.want...)
			txs := k.Transactions("t-vpc-1")
			if len(txs) != 1 {
				t.Fatalf("%d transactions in the router, want its replacement only", len(txs))
			}
			if e := fmt.Sprintf("%q . %s", link("eni-5"), c.gone); c.gone != "" && (strings.Contains(txs[0], e+",") || strings.Contains(txs[0], e+" }")) {
				t.Errorf("the restarted router's ruleset still holds %s:\n%s", c.gone, txs[0])
			}
			if err := again.Close(context.Background(), true); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAdoptFails: an adopted instance whose wiring cannot be read (or changed) is not taken
// for wired: the start reports it and the next reconcile tries again.
func TestAdoptFails(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.src.plug(5, 1)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	e.src.unplug(5)
	e.ns.Fail("wiring", "t-i-1", errors.New("netlink busy"))
	h, err := host.New(e.src, host.Config{Kernel: &dataplane.Fake{}, Namespaces: e.ns, Names: names, Dir: e.dir, Log: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Reconcile(context.Background()); err == nil || !strings.Contains(err.Error(), "netlink busy") {
		t.Fatalf("Reconcile = %v, want the failure to read the wiring", err)
	}
	if got := h.Instances(); len(got) != 0 {
		t.Errorf("an instance whose wiring is unknown is listed: %+v", got)
	}
	e.ns.Fail("wiring", "t-i-1", nil)
	if err := h.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24", "router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1")
	if err := h.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}
