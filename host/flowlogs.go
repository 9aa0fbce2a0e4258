package host

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// flowLogCoverage is which interfaces of a VPC some flow log covers (by its VPC, its subnet
// or itself), and which of them some flow log with ${tcp-flags} covers: the router logs
// their drops and, for the second, their SYN, FIN and RST packets. Nil without flow logs.
func flowLogCoverage(s netmap.Snapshot, vpc string) (covered, flags map[string]bool) {
	if len(s.FlowLogs) == 0 {
		return nil, nil
	}
	for _, e := range s.ENIs {
		if e.VpcID != vpc {
			continue
		}
		for _, f := range s.FlowLogs {
			if f.ResourceID != e.ID && f.ResourceID != e.SubnetID && f.ResourceID != e.VpcID {
				continue
			}
			if covered == nil {
				covered, flags = map[string]bool{}, map[string]bool{}
			}
			covered[e.ID] = true
			if strings.Contains(f.Format, "${tcp-flags}") {
				flags[e.ID] = true
			}
		}
	}
	return covered, flags
}

// FlowLogs produces the flow-log records of the interfaces on this host that flow logs cover
// (flowlogs-multihost.md A4.2): every window it reads and zeroes each router's connection
// tracking counters (accepted traffic), adds what the routers' NFLOG groups reported meanwhile
// (rejected packets, TCP flags), closes the window into records and hands them to the writer,
// right after the window ends.
//
// On one host of several (Placement set) only the interfaces placed on this host are its
// own (§B7, item 5): a VPC's router here also sees the flows of remote interfaces that talk
// to local ones, but their records are written once, by the host they are placed on, from
// what its router sees. An address of a remote interface is then, for the records here, an
// address of the VPC like any other peer's.
type FlowLogs struct {
	Source Source
	NFT    dataplane.NFT
	Names  netlab.Names
	// Writer takes each window's records: the API server's flowlog.Writer for its own lab,
	// an agent's relay client (flowlog/relay) that sends them to that Writer.
	Writer RecordSink
	// Window is the aggregation window: flowlog.DefaultWindow, shorter in tests.
	Window time.Duration
	Log    *slog.Logger
	// Placement, when set, says where interfaces are, as host.Config.Placement does for the
	// reconciler (the same function); nil: a single host, every interface here.
	Placement func(nets []netmap.Network) Placement

	agg     *flowlog.Aggregator
	mu      sync.Mutex
	view    *flowView
	readers map[string]*flowReader // by router namespace
}

// RecordSink is what the recorder needs of a writer: a window's records and the flow logs
// that may select them, handed over once, as the window closes. Deliver must not block
// for long: it runs on the recorder's loop, between two windows.
type RecordSink interface {
	Deliver(ctx context.Context, logs []flowlog.Log, recs []flowlog.Record, start time.Time)
}

var _ RecordSink = (*flowlog.Writer)(nil)

// flowView is what the recorder knows of the flow logs at one revision.
type flowView struct {
	logs    []flowlog.Log
	ifaces  []*flowlog.Interface
	routers map[string]*routerFlows // by namespace
}

// routerFlows finds a router's covered interfaces by address and by link name.
type routerFlows struct {
	ifaces []*flowlog.Interface
	byAddr map[netip.Addr]*flowlog.Interface
	byLink map[string]*flowlog.Interface
}

// buildView gathers the flow logs and the covered interfaces of running lab instances placed
// on this host.
func (r *FlowLogs) buildView(nets []netmap.Network) *flowView {
	v := &flowView{routers: map[string]*routerFlows{}}
	var place Placement
	if r.Placement != nil {
		place = r.Placement(nets)
	}
	for _, n := range nets {
		if len(n.FlowLogs) == 0 {
			continue
		}
		for _, f := range n.FlowLogs {
			v.logs = append(v.logs, flowlog.Log{Def: f, Account: n.Tenant.Account, Region: n.Tenant.Region})
		}
		running := map[string]bool{}
		for _, in := range n.Instances {
			running[in.ID] = in.State == model.StateRunning
		}
		subnets := map[string]*model.Subnet{}
		for _, sn := range n.Subnets {
			subnets[sn.ID] = sn
		}
		vpcs := map[string]*model.VPC{}
		for _, x := range n.VPCs {
			vpcs[x.ID] = x
		}
		for _, e := range n.ENIs {
			sn, vpc := subnets[e.SubnetID], vpcs[e.VpcID]
			if e.Attachment == nil || !running[e.Attachment.InstanceID] || sn == nil || vpc == nil || !covered(n.FlowLogs, e) || place.remote(e.ID) {
				continue
			}
			ifc := flowInterface(n.Tenant, e, sn, vpc)
			ns := r.Names.Router(e.VpcID)
			rf := v.routers[ns]
			if rf == nil {
				rf = &routerFlows{byAddr: map[netip.Addr]*flowlog.Interface{}, byLink: map[string]*flowlog.Interface{}}
				v.routers[ns] = rf
			}
			rf.ifaces = append(rf.ifaces, ifc)
			rf.byLink[r.Names.Link(e.ID)] = ifc
			for _, a := range append(append([]netip.Addr{e.PrivateIP}, e.SecondaryIPs...), e.IPv6...) {
				if a.IsValid() {
					rf.byAddr[a] = ifc
				}
			}
			v.ifaces = append(v.ifaces, ifc)
		}
	}
	return v
}

func covered(logs []*model.FlowLog, e *model.NetworkInterface) bool {
	for _, f := range logs {
		if f.ResourceID == e.ID || f.ResourceID == e.SubnetID || f.ResourceID == e.VpcID {
			return true
		}
	}
	return false
}

// flowInterface describes an interface for its records. The VPC's resolver (base + 2) and the
// subnet's router (base + 1) are addresses AWS never logs traffic to (A2.5).
func flowInterface(t netmap.Tenant, e *model.NetworkInterface, sn *model.Subnet, vpc *model.VPC) *flowlog.Interface {
	ifc := &flowlog.Interface{ID: e.ID, Account: e.OwnerID, VPC: e.VpcID, Subnet: e.SubnetID, Region: t.Region, AZID: sn.AZID,
		Primary: e.PrivateIP, VPCPrefixes: []netip.Prefix{vpc.CIDR}}
	if ifc.Account == "" {
		ifc.Account = t.Account
	}
	if e.Attachment != nil && !e.RequesterManaged {
		ifc.Instance = e.Attachment.InstanceID
	}
	for _, b := range vpc.Secondary {
		ifc.VPCPrefixes = append(ifc.VPCPrefixes, b.CIDR)
	}
	if vpc.IPv6CIDR.IsValid() {
		ifc.VPCPrefixes = append(ifc.VPCPrefixes, vpc.IPv6CIDR)
	}
	if sn.CIDR.IsValid() {
		ifc.Unlogged = append(ifc.Unlogged, sn.CIDR.Masked().Addr().Next())
	}
	if vpc.CIDR.IsValid() {
		ifc.Unlogged = append(ifc.Unlogged, vpc.CIDR.Masked().Addr().Next().Next())
	}
	return ifc
}

// Run records until ctx ends, closing a window at every multiple of Window.
func (r *FlowLogs) Run(ctx context.Context) {
	if r.Window <= 0 {
		r.Window = flowlog.DefaultWindow
	}
	r.agg = flowlog.NewAggregator(100_000)
	r.readers = map[string]*flowReader{}
	defer r.stopReaders(nil)
	r.refresh(ctx)
	// A change (a flow log created, an instance launched) is seen at once, so that a new
	// router's rejected packets are read from its first window; the window's end also looks
	// again, for routers the host made after the change that asked for them.
	changes := r.Source.Watch(ctx)
	for {
		end := flowlog.WindowStart(time.Now(), r.Window).Add(r.Window)
		t := time.NewTimer(time.Until(end))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changes:
			t.Stop()
			r.refresh(ctx)
			continue
		case <-t.C:
		}
		r.close(ctx, end.Add(-r.Window))
		r.refresh(ctx)
	}
}

// refresh reads the flow logs and interfaces at the store's current revision and starts or
// stops the routers' NFLOG readers to match.
func (r *FlowLogs) refresh(ctx context.Context) {
	_, nets := r.Source.Networks()
	v := r.buildView(nets)
	r.mu.Lock()
	r.view = v
	r.mu.Unlock()
	r.stopReaders(v.routers)
	for ns := range v.routers {
		if r.readers[ns] != nil || !netlab.Exists(ns) {
			continue
		}
		lr, err := r.NFT.OpenLog(ns, dataplane.LogGroupRejected, dataplane.LogGroupFlags)
		if err != nil {
			r.Log.Warn("flow logs: cannot read the router's log groups; its rejected traffic is not recorded", "router", ns, "err", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		fr := &flowReader{ns: ns, lr: lr, cancel: cancel, names: map[uint32]string{}}
		r.readers[ns] = fr
		fr.wg.Add(2)
		go r.read(rctx, fr)
		go r.destroyed(rctx, fr)
	}
}

// stopReaders stops the readers of routers not in keep (all of them with nil).
func (r *FlowLogs) stopReaders(keep map[string]*routerFlows) {
	for ns, fr := range r.readers {
		if _, ok := keep[ns]; !ok {
			fr.cancel()
			fr.lr.Close()
			fr.wg.Wait()
			delete(r.readers, ns)
		}
	}
}

// close ends the window that started at start: the routers' counters since the last window,
// then the records, then their delivery.
func (r *FlowLogs) close(ctx context.Context, start time.Time) {
	r.mu.Lock()
	v := r.view
	r.mu.Unlock()
	now := time.Now().Unix()
	for ns, rf := range v.routers {
		conns, err := r.NFT.Conns(ns, true)
		if err != nil {
			r.Log.Warn("flow logs: cannot read the router's connection tracking", "router", ns, "err", err)
			for _, ifc := range rf.ifaces {
				r.agg.Lost(ifc.ID)
			}
			continue
		}
		for _, c := range conns {
			r.accepted(rf, c, now)
		}
	}
	recs := r.agg.Close(start, r.Window, v.ifaces)
	r.Writer.Deliver(ctx, v.logs, recs, start)
}

// accepted adds what a connection-tracking entry counted to the window.
func (r *FlowLogs) accepted(rf *routerFlows, c dataplane.Conn, now int64) {
	orig := flowlog.Flow{Proto: c.Proto, Src: c.Orig.Src, Dst: c.Orig.Dst, SrcPort: c.Orig.SrcPort, DstPort: c.Orig.DstPort}
	reply := flowlog.Flow{Proto: c.Proto, Src: c.Reply.Src, Dst: c.Reply.Dst, SrcPort: c.Reply.SrcPort, DstPort: c.Reply.DstPort}
	var first int64
	if !c.Start.IsZero() {
		first = c.Start.Unix()
	}
	at := func(a netip.Addr) *flowlog.Interface { return rf.byAddr[a] }
	for _, o := range flowlog.Accepted(orig, reply, flowlog.Counts{Packets: c.OrigPackets, Bytes: c.OrigBytes},
		flowlog.Counts{Packets: c.ReplyPackets, Bytes: c.ReplyBytes}, first, now, at) {
		r.agg.Add(o)
	}
}

// destroyed adds the connections the router destroys between two dumps, with what they
// counted since the last one. A listener that fell behind is opened again and the router's
// interfaces get SKIPDATA for the window.
func (r *FlowLogs) destroyed(ctx context.Context, fr *flowReader) {
	defer fr.wg.Done()
	for ctx.Err() == nil {
		dl, err := r.NFT.ListenDestroyed(fr.ns)
		if err != nil {
			r.Log.Warn("flow logs: cannot listen to the router's connection tracking; connections that end between two windows are lost", "router", fr.ns, "err", err)
			return
		}
		for {
			c, err := dl.Next(ctx)
			rf := r.routerView(fr.ns)
			if err != nil {
				dl.Close()
				if ctx.Err() == nil && rf != nil {
					for _, ifc := range rf.ifaces {
						r.agg.Lost(ifc.ID)
					}
				}
				break
			}
			if rf != nil {
				r.accepted(rf, c, time.Now().Unix())
			}
		}
	}
}

func (r *FlowLogs) routerView(ns string) *routerFlows {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view.routers[ns]
}

// flowReader is one router's NFLOG reader and destroy listener, two goroutines.
type flowReader struct {
	ns     string
	lr     *dataplane.LogReader
	cancel context.CancelFunc
	wg     sync.WaitGroup
	names  map[uint32]string // interface index → link name in the router namespace
}

// read turns the router's logged packets into drops and flags until its reader is closed.
func (r *FlowLogs) read(ctx context.Context, fr *flowReader) {
	defer fr.wg.Done()
	for ctx.Err() == nil {
		pkts, err := fr.lr.Read()
		rf := r.routerView(fr.ns)
		if errors.Is(err, dataplane.ErrLogOverrun) {
			// Lost messages: every covered interface of the router may miss records.
			if rf != nil {
				for _, ifc := range rf.ifaces {
					r.agg.Lost(ifc.ID)
				}
			}
			continue
		}
		if err != nil {
			return // closed
		}
		if rf == nil {
			continue
		}
		for _, p := range pkts {
			r.logged(fr, rf, p, p.Time.Unix()) // the packet's own time: its window (dataplane.decodeLog)
		}
	}
}

// logged records one logged packet.
func (r *FlowLogs) logged(fr *flowReader, rf *routerFlows, p dataplane.LogPacket, now int64) {
	pkt, ok := flowlog.ParsePacket(p.Payload)
	if !ok {
		return
	}
	from, to := rf.byLink[fr.link(p.InIf)], rf.byLink[fr.link(p.OutIf)]
	if p.Group == dataplane.LogGroupFlags {
		if from != nil && !flowlog.NeverLogged(from, pkt.Flow.Dst) {
			r.agg.AddFlags(from.ID, flowlog.Egress, pkt.Flow, pkt.Flags)
		}
		if to != nil && !flowlog.NeverLogged(to, pkt.Flow.Src) {
			r.agg.AddFlags(to.ID, flowlog.Ingress, pkt.Flow, pkt.Flags)
		}
		return
	}
	d := flowlog.Drop{From: from, To: to, Packet: pkt, Time: now}
	switch p.Prefix {
	case dataplane.LogPrefixOver:
		for _, ifc := range []*flowlog.Interface{from, to} {
			if ifc != nil {
				r.agg.Lost(ifc.ID)
			}
		}
		return
	case dataplane.LogPrefixGroups:
		if p.Mark&dataplane.MarkEgressAdmitted == 0 {
			d.AtEgress = true
		} else {
			d.SenderAdmitted = true
		}
	case dataplane.LogPrefixRecheck:
		d.AtEgress = p.Mark&dataplane.MarkEgressAdmitted == 0
	case dataplane.LogPrefixACLOut:
		d.AtEgress = true
	case dataplane.LogPrefixACLIn, dataplane.LogPrefixLate:
	default:
		return
	}
	r.agg.AddDrop(d)
}

// link is the name of the router's interface index, looked up in the namespace once.
func (fr *flowReader) link(index uint32) string {
	if index == 0 {
		return ""
	}
	if n, ok := fr.names[index]; ok {
		return n
	}
	var name string
	_ = netlab.Do(fr.ns, func() error {
		ifc, err := net.InterfaceByIndex(int(index))
		if err == nil {
			name = ifc.Name
		}
		return err
	})
	if name != "" {
		fr.names[index] = name
	}
	return name
}
