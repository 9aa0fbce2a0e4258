package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Every transaction NFT sends itself, and every generation it reads, goes through one netlink
// socket per router namespace, kept open between them. Closing an nf_tables socket is what
// made a change slow: the kernel (nft_rcv_nl_event, on the socket's release) takes the
// namespace's commit mutex and waits there for the work that frees what the last transaction
// deleted, which first waits for an RCU grace period. After any batch that deletes something
// (a revoked rule's element, a member who left, an interface's old group slot) the close
// took 5–40 ms at 1,000 interfaces, and the next transaction in the namespace waited for the
// mutex as long; the batch itself is answered in under a millisecond. A socket that stays open
// leaves the freeing to the kernel's worker, which holds nothing anyone waits for.
//
// The sockets are the package's, not NFT's: NFT is a value the agent copies, and the socket
// belongs to a namespace, not to a copy. A socket is used for the namespace it was opened in
// only: a namespace removed and made again under the same name gets a new one, and the
// socket of one that is gone is closed (an open socket keeps its namespace alive).
var sockets = struct {
	sync.Mutex
	m     map[string]*nsSocket // by namespace path
	swept time.Time
}{m: map[string]*nsSocket{}}

// nsSocket is the open socket of a namespace, used by one transaction or read at a time.
type nsSocket struct {
	mu   sync.Mutex
	path string
	id   nsID
	c    *nftables.Conn
	nl   *netlink.Conn // c's socket, for deadlines, buffer sizes and the generation
	size int           // the buffers' size now
}

// nsID identifies a namespace: the nsfs inode its path is bound to.
type nsID struct{ dev, ino uint64 }

func nsIdentity(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{uint64(st.Dev), st.Ino}, nil
}

// sweepEvery bounds how often the sockets of namespaces that are gone are looked for: one
// stat per socket, so that a host with many routers does not pay it on every change. (A
// variable for the tests.)
var sweepEvery = time.Second

// withSocket runs fn with the namespace's socket, opening it if there is none (or only one of
// an earlier namespace of that name), its deadline set for one batch. A socket that fn reports
// an error on is closed: whatever the kernel still had to say would otherwise be read as the
// answer to the next request.
func (k NFT) withSocket(ns string, fn func(s *nsSocket) error) error {
	path := k.NSDir + "/" + ns
	id, err := nsIdentity(path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	sockets.Lock()
	s := sockets.m[path]
	if s != nil && s.id != id {
		delete(sockets.m, path)
		go s.close() // its namespace is gone: nobody waits for the close
		s = nil
	}
	if s == nil {
		s = &nsSocket{path: path, id: id}
		sockets.m[path] = s
	}
	var stale []*nsSocket
	if now := time.Now(); now.Sub(sockets.swept) > sweepEvery {
		sockets.swept = now
		for p, o := range sockets.m {
			if o == s {
				continue
			}
			if cur, err := nsIdentity(p); err != nil || cur != o.id {
				delete(sockets.m, p)
				stale = append(stale, o)
			}
		}
	}
	sockets.Unlock()
	for _, o := range stale {
		go o.close()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		if err := s.open(); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	err = s.nl.SetDeadline(time.Now().Add(netlinkTimeout))
	if err == nil {
		err = fn(s)
	}
	if err != nil {
		s.shut()
	}
	return err
}

// open opens the socket in the namespace s.path names (s.mu held).
func (s *nsSocket) open() error {
	h, err := netns.GetFromPath(s.path)
	if err != nil {
		return err
	}
	defer h.Close()
	c, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(int(h)), nftables.WithSockOptions(
		func(c *netlink.Conn) error { s.nl = c; return nil },
		socketBuffers(0)))
	if err != nil {
		return err
	}
	s.c, s.size = c, minSocketBuffer
	return nil
}

// grow makes the buffers big enough for a batch of size bytes (s.mu held). They only grow:
// the memory is the kernel's, charged for what is queued, not for the limit.
func (s *nsSocket) grow(size int) error {
	if size <= s.size {
		return nil
	}
	if err := socketBuffers(size)(s.nl); err != nil {
		return err
	}
	s.size = size
	return nil
}

// shut closes the socket (s.mu held); the next use opens a new one.
func (s *nsSocket) shut() {
	if s.c != nil {
		_ = s.c.CloseLasting()
	}
	s.c, s.nl, s.size = nil, nil, 0
}

func (s *nsSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shut()
}

// generation asks the kernel for the namespace's ruleset generation (s.mu held).
func (s *nsSocket) generation() (uint32, error) {
	msgs, err := s.nl.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | nftMsgGetGen), Flags: netlink.Request},
		// nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, resource id 0.
		Data: []byte{unix.AF_UNSPEC, 0, 0, 0},
	})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.Header.Type != nfnlSubsysNFTables<<8|nftMsgNewGen || len(m.Data) <= 4 {
			continue
		}
		attrs, err := parseAttrs(m.Data[4:])
		if err != nil {
			return 0, err
		}
		if v, ok := attrs[nftaGenID]; ok && len(v) == 4 {
			return binary.BigEndian.Uint32(v), nil
		}
	}
	return 0, errors.New("no answer")
}
