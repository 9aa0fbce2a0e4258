package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Tuple is one direction of a tracked connection as its packets carry it. Ports are 0 for
// protocols without ports (ICMP).
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Conn is one entry of a router's connection-tracking table: its two directions and what
// each counted since the entry was made or last zeroed (nf_conntrack_acct, which
// netlab.EnableForwarding turns on), and when it started (nf_conntrack_timestamp).
type Conn struct {
	Proto                    uint8
	Orig, Reply              Tuple
	OrigPackets, OrigBytes   uint64
	ReplyPackets, ReplyBytes uint64
	Start                    time.Time // zero when the entry predates timestamps
	Mark                     uint32
}

// Conns dumps the connection-tracking table of a router namespace. With zero, the kernel
// resets every entry's counters in the same operation (IPCTNL_MSG_CT_GET_CTRZERO, what
// `conntrack -L -z` sends), so the next dump returns what passed since this one: the
// per-window deltas of flow-log records, with no work per packet in user space. The dump
// opens its own socket in the namespace: it runs once a window, not per change.
func (k NFT) Conns(ns string, zero bool) ([]Conn, error) {
	c, err := k.dialConntrack(ns)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	flows, err := c.Dump(&conntrack.DumpOptions{ZeroCounters: zero})
	if err != nil {
		return nil, fmt.Errorf("conntrack dump in %s: %w", ns, err)
	}
	out := make([]Conn, 0, len(flows))
	for _, f := range flows {
		out = append(out, connOf(&f))
	}
	return out, nil
}

// dialConntrack opens a ctnetlink socket in a router namespace.
func (k NFT) dialConntrack(ns string) (*conntrack.Conn, error) {
	h, err := netns.GetFromPath(k.NSDir + "/" + ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer h.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(h)})
	if err != nil {
		return nil, fmt.Errorf("conntrack in %s: %w", ns, err)
	}
	return c, nil
}

func connOf(f *conntrack.Flow) Conn {
	return Conn{
		Proto:        f.TupleOrig.Proto.Protocol,
		Orig:         tuple(f.TupleOrig),
		Reply:        tuple(f.TupleReply),
		OrigPackets:  f.CountersOrig.Packets,
		OrigBytes:    f.CountersOrig.Bytes,
		ReplyPackets: f.CountersReply.Packets,
		ReplyBytes:   f.CountersReply.Bytes,
		Start:        f.Timestamp.Start,
		Mark:         f.Mark,
	}
}

// ErrConnOverrun is returned by DestroyListener.Next when the kernel dropped events because
// the listener fell behind; the listener is dead then and is opened again.
var ErrConnOverrun = errors.New("conntrack: destroy events were lost (receive buffer overrun)")

// DestroyListener receives the connections a router's connection tracking destroys, each
// with what it counted since the last zeroing dump: a connection that ends between two dumps
// (a UDP exchange, whose entry lives 30 s) is not lost. Only the destroy group is joined,
// and never in the "reliable" mode that would make the kernel drop packets whose events
// cannot be delivered (flowlogs-multihost.md A4.1).
type DestroyListener struct {
	c    *conntrack.Conn
	ev   chan conntrack.Event
	errs chan error
}

// ListenDestroyed starts a DestroyListener in a router namespace.
func (k NFT) ListenDestroyed(ns string) (*DestroyListener, error) {
	c, err := k.dialConntrack(ns)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20) // best effort: a smaller buffer overruns sooner, reported as such
	l := &DestroyListener{c: c, ev: make(chan conntrack.Event, 1024)}
	if l.errs, err = c.Listen(l.ev, 1, []netfilter.NetlinkGroup{netfilter.GroupCTDestroy}); err != nil {
		c.Close()
		return nil, fmt.Errorf("conntrack events in %s: %w", ns, err)
	}
	return l, nil
}

// Next blocks until a connection is destroyed, ctx ends or the listener fails (ENOBUFS is
// ErrConnOverrun).
func (l *DestroyListener) Next(ctx context.Context) (Conn, error) {
	for {
		select {
		case <-ctx.Done():
			return Conn{}, ctx.Err()
		case err := <-l.errs:
			if errors.Is(err, unix.ENOBUFS) {
				return Conn{}, ErrConnOverrun
			}
			return Conn{}, err
		case ev := <-l.ev:
			if ev.Flow != nil {
				return connOf(ev.Flow), nil
			}
		}
	}
}

// Close stops the listener. The library's worker may be blocked handing over an event or an
// error, and Close waits for it: both are drained meanwhile.
func (l *DestroyListener) Close() error {
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-l.ev:
			case <-l.errs:
			case <-stop:
				return
			}
		}
	}()
	err := l.c.Close()
	close(stop)
	return err
}

func tuple(t conntrack.Tuple) Tuple {
	tp := Tuple{Src: t.IP.SourceAddress.Unmap(), Dst: t.IP.DestinationAddress.Unmap()}
	if !t.Proto.ICMPv4 && !t.Proto.ICMPv6 {
		tp.SrcPort, tp.DstPort = t.Proto.SourcePort, t.Proto.DestinationPort
	}
	return tp
}
