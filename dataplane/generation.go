package dataplane

import (
	"encoding/binary"
	"fmt"

	"github.com/stockade/stockade/internal/nsthread"
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
//
// It is read on the namespace's own socket (socket.go), like the transactions: opening and
// closing a socket of its own right after a transaction that deleted something made it wait
// for that transaction's deletions to be freed.
func (k NFT) Generation(ns string) (gen uint32, err error) {
	err = k.withSocket(ns, func(s *nsSocket) error {
		gen, err = s.generation()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("nf_tables generation in %s: %w", ns, err)
	}
	return gen, nil
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
