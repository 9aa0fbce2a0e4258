package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NFLOG is read with github.com/mdlayher/netlink directly: the module proxy refuses
// github.com/florianl/go-nflog/v2, the library style.md names, and what is needed is small:
// bind a group with the packet copy mode, then decode each packet message's attributes
// (linux include/uapi/linux/netfilter/nfnetlink_log.h).
const (
	nfnlSubsysULOG   = 4
	nfulnlMsgPacket  = 0
	nfulnlMsgConfig  = 1
	nfulaCfgCmd      = 1
	nfulaCfgMode     = 2
	nfulaCfgNLBufSiz = 3
	nfulaCfgTimeout  = 4
	nfulnlCfgBind    = 1
	nfulnlCopyPacket = 2

	nfulaMark      = 2
	nfulaTimestamp = 3 // struct nfulnl_msg_packet_timestamp: __aligned_be64 sec, usec
	nfulaInDev     = 4
	nfulaOutDev    = 5
	nfulaPayload   = 9
	nfulaPrefix    = 10
	logCopyLength  = 128 // IPv4 or IPv6 and TCP headers; rules ask for at most this much
)

// LogPacket is one packet a log statement handed over: its group, the rule's prefix, the
// packet mark, the links it came in on and was going out of (interface indexes in the router
// namespace; 0 when not known), its first bytes from the network header on, and when it was
// seen (Time, which puts it in its flow-log window).
type LogPacket struct {
	Group       uint16
	Prefix      string
	Mark        uint32
	InIf, OutIf uint32
	Payload     []byte
	Time        time.Time
}

// maxLogAge bounds how far before its arrival a packet's own timestamp may be: the kernel
// hands a group's queue over within a second (the timeout OpenLog sets), so a timestamp
// older than the longest window (600 s) or later than the arrival is not the wall clock's
// (a monotonic or delivery-time tstamp) and the arrival time is used instead.
const maxLogAge = 600 * time.Second

// ErrLogOverrun is returned by LogReader.Read when the kernel dropped log messages because
// the reader fell behind (ENOBUFS): the caller records SKIPDATA and reads on.
var ErrLogOverrun = errors.New("nflog: messages were lost (receive buffer overrun)")

// LogReader receives the packets of some NFLOG groups in one router namespace. Not safe for
// concurrent use; Close may be called from another goroutine to end a blocked Read.
type LogReader struct {
	c *netlink.Conn
}

// OpenLog binds the groups in a router namespace's NFLOG and returns their reader. The
// kernel flushes a group's queue every second at the latest (timeout 100 in 1/100 s), so a
// packet reaches user space well inside its window.
func (k NFT) OpenLog(ns string, groups ...uint16) (*LogReader, error) {
	h, err := netns.GetFromPath(k.NSDir + "/" + ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer h.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(h)})
	if err != nil {
		return nil, fmt.Errorf("nflog in %s: %w", ns, err)
	}
	_ = c.SetReadBuffer(4 << 20) // best effort: a smaller buffer overruns sooner, reported as such
	for _, g := range groups {
		ae := netlink.NewAttributeEncoder()
		ae.ByteOrder = binary.BigEndian
		ae.Bytes(nfulaCfgCmd, []byte{nfulnlCfgBind})
		mode := make([]byte, 6)
		binary.BigEndian.PutUint32(mode, logCopyLength)
		mode[4] = nfulnlCopyPacket
		ae.Bytes(nfulaCfgMode, mode)
		ae.Uint32(nfulaCfgNLBufSiz, 64<<10)
		ae.Uint32(nfulaCfgTimeout, 100)
		attrs, err := ae.Encode()
		if err != nil {
			c.Close()
			return nil, err
		}
		msg := netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysULOG<<8 | nfulnlMsgConfig), Flags: netlink.Request | netlink.Acknowledge},
			Data:   append(nfgenmsg(g), attrs...),
		}
		if _, err := c.Execute(msg); err != nil {
			c.Close()
			return nil, fmt.Errorf("nflog bind group %d in %s: %w", g, ns, err)
		}
	}
	return &LogReader{c: c}, nil
}

// nfgenmsg is nfnetlink's header: family AF_UNSPEC, version 0, the resource (group) big-endian.
func nfgenmsg(group uint16) []byte {
	return []byte{unix.AF_UNSPEC, 0, byte(group >> 8), byte(group)}
}

// Read blocks until packets arrive (or the deadline passes) and returns them. The kernel's
// ENOBUFS is ErrLogOverrun.
func (r *LogReader) Read() ([]LogPacket, error) {
	msgs, err := r.c.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return nil, ErrLogOverrun
		}
		return nil, err
	}
	return decodeLog(msgs, time.Now()), nil
}

// decodeLog decodes the packet messages of msgs, received at arrival. A packet's Time is its
// NFULA_TIMESTAMP when the kernel sent one (the packet's skb timestamp: when it was
// received, not when the queue was flushed, so that a packet seen just before a window's end
// counts in that window) and it is plausible (maxLogAge); arrival otherwise. The kernel sends
// the attribute only for packets that carry a timestamp (net_enable_timestamp), and only at
// the hooks up to forward.
func decodeLog(msgs []netlink.Message, arrival time.Time) []LogPacket {
	var out []LogPacket
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(nfnlSubsysULOG<<8|nfulnlMsgPacket) || len(m.Data) < 4 {
			continue
		}
		p := LogPacket{Group: binary.BigEndian.Uint16(m.Data[2:4]), Time: arrival}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			continue
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			switch ad.Type() {
			case nfulaMark:
				p.Mark = ad.Uint32()
			case nfulaTimestamp:
				if b := ad.Bytes(); len(b) == 16 {
					sec, usec := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
					if t := time.Unix(int64(sec), int64(usec)*1000); sec < 1<<62 && usec < 1e6 &&
						!t.After(arrival) && arrival.Sub(t) <= maxLogAge {
						p.Time = t
					}
				}
			case nfulaInDev:
				p.InIf = ad.Uint32()
			case nfulaOutDev:
				p.OutIf = ad.Uint32()
			case nfulaPayload:
				p.Payload = ad.Bytes()
			case nfulaPrefix:
				p.Prefix = trimNUL(ad.Bytes())
			}
		}
		if ad.Err() == nil {
			out = append(out, p)
		}
	}
	return out
}

func trimNUL(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// SetDeadline bounds the next Read.
func (r *LogReader) SetDeadline(t time.Time) error { return r.c.SetReadDeadline(t) }

// Close unbinds the groups (the kernel drops a closed socket's instances) and closes it.
func (r *LogReader) Close() error { return r.c.Close() }
