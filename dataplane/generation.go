package dataplane

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/stockade/stockade/internal/nsthread"
	"golang.org/x/sys/unix"
)

// netlink constants of nf_tables (linux/netfilter/nfnetlink.h, nf_tables.h).
const (
	nfnlSubsysNFTables = 10
	nftMsgNewGen       = 15
	nftMsgGetGen       = 16
	nftaGenID          = 1
)

// Generation returns the ruleset generation of a namespace: a counter the kernel increments
// with every nftables transaction committed there, by anyone. The agent reads it after each
// of its own transactions; a different value at the next resync means the ruleset was changed
// by someone else. Reading it is one netlink round trip, where listing a large table takes
// seconds.
func (k NFT) Generation(ns string) (uint32, error) {
	// The socket belongs to the namespace it was opened in; the thread can go back at once.
	var fd int
	err := k.in(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("netlink socket in %s: %w", ns, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], nfnlSubsysNFTables<<8|nftMsgGetGen)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence
	// nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, resource id 0.
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		switch {
		case m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4:
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return 0, fmt.Errorf("nf_tables generation in %s: %w", ns, unix.Errno(-code))
			}
		case m.Header.Type == nfnlSubsysNFTables<<8|nftMsgNewGen && len(m.Data) > 4:
			attrs, err := parseAttrs(m.Data[4:])
			if err != nil {
				return 0, err
			}
			if v, ok := attrs[nftaGenID]; ok && len(v) == 4 {
				return binary.BigEndian.Uint32(v), nil
			}
		}
	}
	return 0, fmt.Errorf("nf_tables generation in %s: no answer", ns)
}

// in runs fn on a thread that has entered the namespace, and brings the thread back. What fn
// opens (a socket) or starts (a process: the child of a thread inherits its namespace)
// belongs to the namespace.
func (k NFT) in(ns string, fn func() error) error { return nsthread.In(k.NSDir+"/"+ns, fn) }

// parseAttrs splits netlink attributes by type.
func parseAttrs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff
		if l < 4 || l > len(b) {
			return nil, fmt.Errorf("malformed netlink attribute")
		}
		out[typ] = b[4:l]
		b = b[(l+3)&^3:]
	}
	return out, nil
}
