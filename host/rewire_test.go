package host_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

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
	if txs := e.k.Transactions("t-vpc-1"); !strings.Contains(txs[len(txs)-1], "eni_eni_5") {
		t.Errorf("the ruleset has no chains for the new interface:\n%s", txs[len(txs)-1])
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

// TestAttachedWhileDown: an interface attached while no reconciler ran (a host's agent killed,
// its lab kept) is wired by the next start, which adopts the instance: rewire compares with
// what the process itself wired and would never see it. Interfaces already wired are left as
// they are.
func TestAttachedWhileDown(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Close(context.Background(), true); err != nil { // --keep-lab
		t.Fatal(err)
	}
	e.src.plug(5, 1)
	again := e.restart()
	e.dump("instance t-i-1 eth0 10.0.1.1/24,eth1 10.0.1.5/24",
		"router t-vpc-1 forwarding=on links="+strings.Join(slices.Sorted(slices.Values([]string{link("eni-1") + ">t-i-1", link("eni-5") + ">t-i-1"})), ","))
	if err := again.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}
