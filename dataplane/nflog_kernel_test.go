package dataplane_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/netlab"
)

// TestKernelLogsRejects: with web (eni-1) and db (eni-3) covered by flow logs, web's SYN to
// db:8080, which db's group does not admit, reaches NFLOG group 1 with the groups' prefix, a
// mark saying web's egress admitted it and db's ingress did not, db's link as the way out and
// the packet's headers; web's SYN also reaches group 2 (web's flow logs have tcp-flags).
// app (eni-2) is not covered: its refused SYN to db is logged only because db is.
func TestKernelLogsRejects(t *testing.T) {
	n := withFlowLogs(threeTier())
	db := n.Snapshot.ENIs[2]
	l, nss := forwardingLab(t, n, 0, 2)
	nsWeb, nsDB := nss[0], nss[1]
	r, err := l.k.OpenLog(l.router, dataplane.LogGroupRejected, dataplane.LogGroupFlags)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv, err := netlab.Serve(nsDB, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sent := time.Now()
	if err := netlab.TCP(nsWeb, netip.AddrPortFrom(db.PrivateIP, 8080), 300*time.Millisecond); err == nil {
		t.Fatal("db's group let web in on 8080")
	}
	var dbIndex uint32
	if err := netlab.Do(l.router, func() error {
		ifc, err := net.InterfaceByName(l.names.Link(db.ID))
		if err == nil {
			dbIndex = uint32(ifc.Index)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var rejected, flags *dataplane.LogPacket
	deadline := time.Now().Add(5 * time.Second)
	for (rejected == nil || flags == nil) && time.Now().Before(deadline) {
		r.SetDeadline(deadline)
		pkts, err := r.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pkts {
			if len(p.Payload) < 24 || netip.AddrFrom4([4]byte(p.Payload[16:20])) != db.PrivateIP || binary.BigEndian.Uint16(p.Payload[22:24]) != 8080 {
				continue
			}
			switch p.Group {
			case dataplane.LogGroupRejected:
				rejected = &pkts[i]
			case dataplane.LogGroupFlags:
				flags = &pkts[i]
			}
		}
	}
	if rejected == nil || flags == nil {
		t.Fatalf("rejected %+v, flags %+v: want both logged", rejected, flags)
	}
	if rejected.Prefix != dataplane.LogPrefixGroups || rejected.Mark&(dataplane.MarkEgressAdmitted|dataplane.MarkIngressAdmitted) != dataplane.MarkEgressAdmitted ||
		rejected.OutIf != dbIndex || rejected.Payload[9] != 6 || rejected.Payload[20+13]&0x02 == 0 {
		t.Errorf("rejected SYN: %+v (db's link is %d)", *rejected, dbIndex)
	}
	// Its time (the kernel's timestamp, or the arrival) is the wall clock's, after the send.
	if rejected.Time.Before(sent.Truncate(time.Second)) || rejected.Time.After(time.Now()) {
		t.Errorf("rejected SYN at %v: sent at %v", rejected.Time, sent)
	}
}

// TestKernelLogGuard: a flood of refused packets is logged up to the guard's rate, and past
// it the router says so ("stk:over", once a second at most) instead of copying every packet:
// the recorder turns that into SKIPDATA, never into silent loss.
func TestKernelLogGuard(t *testing.T) {
	n := withFlowLogs(threeTier())
	db := n.Snapshot.ENIs[2]
	l, nss := forwardingLab(t, n, 0, 2)
	nsWeb := nss[0]
	r, err := l.k.OpenLog(l.router, dataplane.LogGroupRejected)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const flood = 6000
	if err := netlab.Do(nsWeb, func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(db.PrivateIP, 9999).String()) // db's group refuses it
		if err != nil {
			return err
		}
		defer c.Close()
		for range flood {
			c.Write([]byte("x"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	logged, over := 0, 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r.SetDeadline(deadline)
		pkts, err := r.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil && !errors.Is(err, dataplane.ErrLogOverrun) {
			t.Fatal(err)
		}
		for _, p := range pkts {
			switch p.Prefix {
			case dataplane.LogPrefixGroups:
				logged++
			case dataplane.LogPrefixOver:
				over++
			}
		}
	}
	if over == 0 || logged == 0 || logged > 2*dataplane.LogRate+100 {
		t.Errorf("%d refused packets: %d logged, %d over-guard messages; want some logged, at most the guard's burst and a second's rate, and the guard reported", flood, logged, over)
	}
}

// TestKernelFlowLogsOnAndOff: a flow log created and deleted on a running router is an
// in-place update each way (the sets of covered links and the log rules come and go).
func TestKernelFlowLogsOnAndOff(t *testing.T) {
	l := newKernelLab(t)
	off := threeTier()
	off.Link = l.names.Link
	on := withFlowLogs(off)
	var r dataplane.Renderer
	prev := r.Render(off)
	l.apply(prev.Replace())
	for i, n := range []dataplane.Network{on, off} {
		rs := r.Render(n)
		tx, ok := rs.Update(prev)
		if !ok {
			t.Fatalf("step %d: no in-place update", i)
		}
		l.apply(tx)
		text, err := l.k.List(context.Background(), l.router)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(text, "fl_links") && strings.Contains(text, "log group"); has != (i == 0) {
			t.Errorf("step %d: flow-log rules in the kernel = %v\n%s", i, has, text)
		}
		prev = rs
	}
}
