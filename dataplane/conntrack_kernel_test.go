package dataplane_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/netlab"
)

// TestKernelConnsCountAndZero: one TCP connection web → app leaves an entry in the router's
// table that counts both directions (EnableForwarding turned accounting on), with its start
// time; a dump that zeroes returns the counts once, and the next dump finds the entry (TCP
// lingers in TIME_WAIT) with nothing new: per-window deltas come from the kernel.
func TestKernelConnsCountAndZero(t *testing.T) {
	n := threeTier()
	web, app := n.Snapshot.ENIs[0], n.Snapshot.ENIs[1]
	l, nss := forwardingLab(t, n, 0, 1)
	nsWeb, nsApp := nss[0], nss[1]
	srv, err := netlab.Serve(nsApp, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := netlab.TCP(nsWeb, netip.AddrPortFrom(app.PrivateIP, 8080), netlab.PassTimeout); err != nil {
		t.Fatal(err)
	}
	find := func(zero bool) *dataplane.Conn {
		t.Helper()
		conns, err := l.k.Conns(l.router, zero)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range conns {
			if c.Proto == 6 && c.Orig.Src == web.PrivateIP && c.Orig.Dst == app.PrivateIP && c.Orig.DstPort == 8080 {
				return &conns[i]
			}
		}
		t.Fatalf("no entry for web → app:8080 in %+v", conns)
		return nil
	}
	// The client returns once it has closed; the server's FIN and the client's last ACK follow
	// when the server's goroutine runs, which on a busy machine can be much later. Only once
	// the router has seen both (the entry is in TIME_WAIT) is the connection's count final.
	waitTCPState(t, l.router, web.PrivateIP, 8080, tcpTimeWait)
	// Dump and zero until a dump finds nothing new, adding up what each found.
	first := find(true)
	total := *first
	for deadline := time.Now().Add(5 * time.Second); ; {
		again := find(true)
		if again.OrigPackets == 0 && again.ReplyPackets == 0 && again.OrigBytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zeroing: every dump still finds packets: %+v", *again)
		}
		total.OrigPackets += again.OrigPackets
		total.ReplyPackets += again.ReplyPackets
		total.OrigBytes += again.OrigBytes
		time.Sleep(50 * time.Millisecond)
	}
	// SYN, ACK, data, FIN, ACK at least from web; SYN-ACK, echo, FIN/ACK from app.
	if total.OrigPackets < 3 || total.ReplyPackets < 2 || total.OrigBytes < 60*3 || first.Start.IsZero() {
		t.Errorf("dumps: %+v, want both directions counted and a start time", total)
	}
	if first.Reply.Src != app.PrivateIP || first.Reply.SrcPort != 8080 || first.Reply.DstPort != first.Orig.SrcPort {
		t.Errorf("reply tuple %+v does not mirror %+v", first.Reply, first.Orig)
	}
	if again := find(false); again.OrigPackets != 0 || again.ReplyPackets != 0 || again.OrigBytes != 0 {
		t.Errorf("after zeroing, with nothing sent: %+v, want no packets", *again)
	}
}

// tcpTimeWait is conntrack's TCP_CONNTRACK_TIME_WAIT: both FINs and the last ACK were seen.
const tcpTimeWait = 7

// waitTCPState waits until the router's entry for a TCP connection from src to port reaches
// state, failing the test after five seconds.
func waitTCPState(t *testing.T, router string, src netip.Addr, port uint16, state uint8) {
	t.Helper()
	c := routerConntrack(t, router)
	var last uint8
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		flows, err := c.Dump(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows {
			if f.TupleOrig.Proto.Protocol == 6 && f.TupleOrig.IP.SourceAddress == src &&
				f.TupleOrig.Proto.DestinationPort == port && f.ProtoInfo.TCP != nil {
				if last = f.ProtoInfo.TCP.State; last == state {
					return
				}
			}
		}
	}
	t.Fatalf("the entry from %v to port %d stayed in TCP state %d, want %d", src, port, last, state)
}

// routerConntrack is a ctnetlink connection in the router's namespace, closed when the test
// ends.
func routerConntrack(t *testing.T, router string) *conntrack.Conn {
	t.Helper()
	h, err := netns.GetFromPath(netlab.Path(router))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestKernelConnDestroyed: a UDP exchange whose entry goes before the next dump (here: the
// table is flushed, as expiry would) reaches the destroy listener with both directions'
// counts; nothing is lost between two dumps.
func TestKernelConnDestroyed(t *testing.T) {
	n := threeTier()
	web, db := n.Snapshot.ENIs[0], n.Snapshot.ENIs[2] // db's group admits UDP 53 from the VPC
	l, nss := forwardingLab(t, n, 0, 2)
	nsWeb, nsDB := nss[0], nss[1]
	dl, err := l.k.ListenDestroyed(l.router)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	srv, err := netlab.Serve(nsDB, 53)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := netlab.UDP(nsWeb, netip.AddrPortFrom(db.PrivateIP, 53), netlab.PassTimeout); err != nil {
		t.Fatal(err)
	}
	if err := routerConntrack(t, l.router).Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		got, err := dl.Next(ctx)
		if err != nil {
			t.Fatalf("no destroy event for web → db:53/udp: %v", err)
		}
		if got.Proto == 17 && got.Orig.Src == web.PrivateIP && got.Orig.DstPort == 53 {
			if got.OrigPackets == 0 || got.ReplyPackets == 0 || got.Reply.Src != db.PrivateIP {
				t.Errorf("destroyed entry %+v: want both directions counted", got)
			}
			return
		}
	}
}

// forwardingLab is a kernel lab whose router enforces n and forwards, with n's interfaces of
// the given indexes attached in their subnets; it returns their namespaces in that order.
func forwardingLab(t testing.TB, n dataplane.Network, enis ...int) (*kernelLab, []string) {
	t.Helper()
	l := newKernelLab(t)
	n.Link = l.names.Link
	l.apply(dataplane.Render(n).Replace())
	var nss []string
	for _, i := range enis {
		e := n.Snapshot.ENIs[i]
		for _, sn := range n.Snapshot.Subnets {
			if sn.ID == e.SubnetID {
				nss = append(nss, l.attach(e, sn.CIDR))
			}
		}
	}
	if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
		t.Fatal(err)
	}
	return l, nss
}
