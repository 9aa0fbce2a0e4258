package dataplane

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"
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
	h, err := netns.GetFromPath(k.NSDir + "/" + ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer h.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(h)})
	if err != nil {
		return nil, fmt.Errorf("conntrack in %s: %w", ns, err)
	}
	defer c.Close()
	flows, err := c.Dump(&conntrack.DumpOptions{ZeroCounters: zero})
	if err != nil {
		return nil, fmt.Errorf("conntrack dump in %s: %w", ns, err)
	}
	out := make([]Conn, 0, len(flows))
	for _, f := range flows {
		out = append(out, Conn{
			Proto:        f.TupleOrig.Proto.Protocol,
			Orig:         tuple(f.TupleOrig),
			Reply:        tuple(f.TupleReply),
			OrigPackets:  f.CountersOrig.Packets,
			OrigBytes:    f.CountersOrig.Bytes,
			ReplyPackets: f.CountersReply.Packets,
			ReplyBytes:   f.CountersReply.Bytes,
			Start:        f.Timestamp.Start,
			Mark:         f.Mark,
		})
	}
	return out, nil
}

func tuple(t conntrack.Tuple) Tuple {
	tp := Tuple{Src: t.IP.SourceAddress.Unmap(), Dst: t.IP.DestinationAddress.Unmap()}
	if !t.Proto.ICMPv4 && !t.Proto.ICMPv6 {
		tp.SrcPort, tp.DstPort = t.Proto.SourcePort, t.Proto.DestinationPort
	}
	return tp
}
