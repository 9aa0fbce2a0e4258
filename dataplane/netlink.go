package dataplane

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"go4.org/netipx"
	"golang.org/x/sys/unix"
)

// The common in-place updates, a membership change, an instance launched or terminated, a CIDR
// rule added or revoked or an Elastic IP associated, are a few set or map elements (iface.go
// keeps interfaces as data for this). Starting nft for them costs more than
// everything else on the path from the API to the kernel: a process with a dozen libraries
// (4 ms and more on a busy machine), and nft then lists every chain of the table before it
// sends anything (some 190 KB at 1,000 interfaces). NFT sends such a transaction itself, as
// the one netlink batch nft would send, built with github.com/google/nftables: element
// additions and deletions in the sets and maps whose types the renderer fixes by name, and chain
// refills whose rules are of the few forms an interface's own chain has. Anything else goes through
// nft, whole; so does a transaction with one line this file does not know. The kernel
// differential test applies its in-place updates this way and compares the listing with a
// replacement made by nft.

// table is the Stockade table every transaction works on.
var table = &nftables.Table{Name: "stockade", Family: nftables.TableFamilyINet}

// ifnamsiz is the size of an interface name in the kernel, and so of an ifname key.
const ifnamsiz = unix.IFNAMSIZ

// nlOp is one line of a transaction, queued on a connection; Flush sends them all.
type nlOp func(*nftables.Conn) error

// compileNetlink turns an Update transaction into nf_tables operations, or says it cannot.
func compileNetlink(tx string) ([]nlOp, bool) {
	var ops []nlOp
	const prefix = " inet stockade "
	for _, line := range strings.Split(strings.TrimSuffix(tx, "\n"), "\n") {
		verb, rest, ok := strings.Cut(line, prefix)
		if !ok {
			return nil, false
		}
		switch verb {
		case "add element", "delete element":
			name, list, ok := strings.Cut(rest, " ")
			if !ok || !strings.HasPrefix(list, "{ ") || !strings.HasSuffix(list, " }") {
				return nil, false
			}
			set, elems, ok := encodeElements(name, strings.Split(list[2:len(list)-2], ", "))
			if !ok {
				return nil, false
			}
			if verb == "add element" {
				ops = append(ops, func(c *nftables.Conn) error { return c.SetAddElements(set, elems) })
			} else {
				ops = append(ops, func(c *nftables.Conn) error { return c.SetDeleteElements(set, elems) })
			}
		case "flush chain":
			if strings.Contains(rest, " ") {
				return nil, false
			}
			chain := &nftables.Chain{Table: table, Name: rest}
			ops = append(ops, func(c *nftables.Conn) error { c.FlushChain(chain); return nil })
		case "add rule":
			chain, rule, ok := strings.Cut(rest, " ")
			if !ok {
				return nil, false
			}
			exprs, ok := encodeRule(rule)
			if !ok {
				return nil, false
			}
			r := &nftables.Rule{Table: table, Chain: &nftables.Chain{Table: table, Name: chain}, Exprs: exprs}
			ops = append(ops, func(c *nftables.Conn) error { c.AddRule(r); return nil })
		default:
			return nil, false
		}
	}
	return ops, len(ops) > 0
}

// setOf describes a set the renderer names, as the kernel holds it (render.go, group.go,
// iface.go, internet.go): what each name holds is fixed by its form. Of the internet's, only
// those an address association changes are here: the internet gateway's sources and
// translations. Of the verdict maps, those whose elements jump to an interface's checks or
// its groups' chains (the dispatch and slot maps), not the ACLs' pair maps. A concatenated
// type pads each field to four bytes, as in a register; the keys encodeElements builds have
// the type's length, which it checks. nft marks only a concatenated interval set as a
// concatenation (NFT_SET_CONCAT, which selects the kernel's range-matching set type), not
// src4 and src6; TestKernelNetlinkBatch compares these with what the kernel reports.
func setOf(name string) (*nftables.Set, bool) {
	s := &nftables.Set{Table: table, Name: name}
	switch {
	case strings.HasPrefix(name, "members4_"):
		s.KeyType = nftables.TypeIPAddr
	case strings.HasPrefix(name, "members6_"):
		s.KeyType = nftables.TypeIP6Addr
	case name == "src4":
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIPAddr)
	case name == "src6":
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIP6Addr)
	case name == "out_untracked" || name == "in_untracked":
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeNFProto, nftables.TypeInetProto)
	case name == "out_dispatch" || name == "in_dispatch" || isSlotMap(name):
		s.KeyType, s.DataType, s.IsMap = nftables.TypeIFName, nftables.TypeVerdict, true
	case name == "internet_pub4":
		s.KeyType = nftables.TypeIPAddr
	case name == "internet_dnat4" || name == "internet_snat4":
		s.KeyType, s.DataType, s.IsMap = nftables.TypeIPAddr, nftables.TypeIPAddr, true
	case isGroupSet(name):
		addr := nftables.TypeIPAddr
		if strings.HasSuffix(name, "6") {
			addr = nftables.TypeIP6Addr
		}
		s.KeyType = nftables.MustConcatSetType(addr, nftables.TypeInetProto, nftables.TypeInetService)
		s.Concatenation, s.Interval = true, true
	default:
		return nil, false
	}
	return s, true
}

// encodeElements encodes elements of a set the renderer names, as nft would: a key, and for a
// concatenated interval set the last key of the range too (NFTA_SET_ELEM_KEY_END), rather
// than the separate interval-end element of a plain interval set.
func encodeElements(name string, elems []string) (*nftables.Set, []nftables.SetElement, bool) {
	set, ok := setOf(name)
	if !ok {
		return nil, nil, false
	}
	var out []nftables.SetElement
	for _, e := range elems {
		var el nftables.SetElement
		switch {
		case strings.HasPrefix(name, "members"):
			a, err := netip.ParseAddr(e)
			if err != nil || a.Is4() != (name[7] == '4') {
				return nil, nil, false
			}
			el.Key = a.AsSlice()
		case name == "internet_pub4":
			a, err := netip.ParseAddr(e)
			if err != nil || !a.Is4() {
				return nil, nil, false
			}
			el.Key = a.AsSlice()
		case set.DataType == nftables.TypeVerdict: // "link" : jump chain
			link, verdict, ok := strings.Cut(e, " : ")
			ifname, ok2 := ifname(link)
			chain, ok3 := strings.CutPrefix(verdict, "jump ")
			if !ok || !ok2 || !ok3 || chain == "" || strings.ContainsAny(chain, " \"") {
				return nil, nil, false
			}
			el.Key, el.VerdictData = ifname, &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
		case name == "out_untracked" || name == "in_untracked": // "link" . family . protocol
			f := strings.Split(e, " . ")
			if len(f) != 3 {
				return nil, nil, false
			}
			ifname, ok := ifname(f[0])
			family, ok2 := map[string]byte{"ipv4": unix.NFPROTO_IPV4, "ipv6": unix.NFPROTO_IPV6}[f[1]]
			proto, ok3 := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[f[2]]
			if !ok || !ok2 || !ok3 {
				return nil, nil, false
			}
			el.Key = append(ifname, family, 0, 0, 0, proto, 0, 0, 0)
		case set.IsMap: // an internet gateway's translation, "address : address"
			k, v, ok := strings.Cut(e, " : ")
			from, err := netip.ParseAddr(k)
			to, err2 := netip.ParseAddr(v)
			if !ok || err != nil || err2 != nil || !from.Is4() || !to.Is4() {
				return nil, nil, false
			}
			el.Key, el.Val = from.AsSlice(), to.AsSlice()
		case name == "src4" || name == "src6":
			link, addr, ok := strings.Cut(e, " . ")
			ifname, ok2 := ifname(link)
			a, err := netip.ParseAddr(addr)
			if !ok || !ok2 || err != nil || a.Is4() != (name == "src4") {
				return nil, nil, false
			}
			el.Key = append(ifname, a.AsSlice()...)
		default: // a group's CIDR set
			lo, hi, ok := groupKeys(e, name[len(name)-1] == '4')
			if !ok {
				return nil, nil, false
			}
			el.Key, el.KeyEnd = lo, hi
		}
		if len(el.Key) != int(set.KeyType.Bytes) {
			return nil, nil, false
		}
		out = append(out, el)
	}
	return set, out, true
}

// isSlotMap tells a map of the interfaces' group slots: out_slot0, in_slot3 and so on.
func isSlotMap(name string) bool {
	dir, n, ok := strings.Cut(name, "_slot")
	_, err := strconv.ParseUint(n, 10, 8)
	return ok && (dir == "out" || dir == "in") && err == nil
}

// isGroupSet tells a group's CIDR set: sg_<id>_in4, sg_<id>_out6 and so on.
func isGroupSet(set string) bool {
	if !strings.HasPrefix(set, "sg_") {
		return false
	}
	for _, s := range []string{"_in4", "_in6", "_out4", "_out6"} {
		if strings.HasSuffix(set, s) {
			return true
		}
	}
	return false
}

// groupKeys are the first and last keys of an element of a group's CIDR set,
// "prefix . protocol(s) . value(s)": each field padded to four bytes, as in a register.
func groupKeys(e string, v4 bool) (lo, hi []byte, ok bool) {
	f := strings.Split(e, " . ")
	if len(f) != 3 {
		return nil, nil, false
	}
	p, err := netip.ParsePrefix(f[0])
	if err != nil || p.Addr().Is4() != v4 || p != p.Masked() {
		return nil, nil, false
	}
	plo, phi, ok1 := span(f[1], 0xff)
	vlo, vhi, ok2 := span(f[2], 0xffff)
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	key := func(a netip.Addr, proto, v uint64) []byte {
		b := append(a.AsSlice(), byte(proto), 0, 0, 0)
		return append(b, byte(v>>8), byte(v), 0, 0)
	}
	return key(p.Addr(), plo, vlo), key(netipx.PrefixLastIP(p), phi, vhi), true
}

// span reads "n" or "n-m", both at most max.
func span(s string, max uint64) (lo, hi uint64, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 32)
	if err != nil || lo > max {
		return 0, 0, false
	}
	if !isRange {
		return lo, lo, true
	}
	hi, err = strconv.ParseUint(b, 10, 32)
	return lo, hi, err == nil && lo <= hi && hi <= max
}

// ifname reads a quoted interface name as the 16 bytes nft keys it by.
func ifname(quoted string) ([]byte, bool) {
	s, err := strconv.Unquote(quoted)
	if err != nil || len(s) == 0 || len(s) >= ifnamsiz || strings.ContainsRune(s, 0) {
		return nil, false
	}
	b := make([]byte, ifnamsiz)
	copy(b, s)
	return b, true
}

// encodeRule encodes a rule of the forms the chains of an interface with timeouts of its own
// have (iface.go, renderENI): matches of a new connection's protocol, then its timeout or a
// jump, as nft would compile them. All of it works in register 1; the conntrack state is a
// host-order 32-bit value.
func encodeRule(rule string) ([]expr.Any, bool) {
	t := strings.Fields(rule)
	var exprs []expr.Any
	has := func(words ...string) bool {
		if len(t) < len(words) {
			return false
		}
		for i, w := range words {
			if w != "" && t[i] != w {
				return false
			}
		}
		return true
	}
	for len(t) > 0 {
		switch {
		case has("meta", "l4proto", ""):
			p := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}
			v, ok := p[t[2]]
			if !ok {
				return nil, false
			}
			exprs = append(exprs, metaLoad(expr.MetaKeyL4PROTO), cmp(expr.CmpOpEq, []byte{v}))
			t = t[3:]
		case has("ct", "state", "new"):
			exprs = append(exprs, &expr.Ct{Key: expr.CtKeySTATE, Register: 1},
				bitwise(expr.CtStateBitNEW, 0), cmp(expr.CmpOpNeq, native32(0)))
			t = t[3:]
		case has("ct", "timeout", "set", ""):
			name, err := strconv.Unquote(t[3])
			if err != nil || name == "" {
				return nil, false
			}
			exprs = append(exprs, &expr.Objref{Type: unix.NFT_OBJECT_CT_TIMEOUT, Name: name})
			t = t[4:]
		case len(t) == 2 && t[0] == "jump":
			exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictJump, Chain: t[1]})
			t = nil
		default:
			return nil, false
		}
	}
	return exprs, len(exprs) > 0
}

func native32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func metaLoad(key expr.MetaKey) *expr.Meta { return &expr.Meta{Key: key, Register: 1} }

// bitwise is reg1 = (reg1 & mask) ^ xor over four bytes.
func bitwise(mask, xor uint32) *expr.Bitwise {
	return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native32(mask), Xor: native32(xor)}
}

func cmp(op expr.CmpOp, data []byte) *expr.Cmp { return &expr.Cmp{Op: op, Register: 1, Data: data} }

// netlinkTimeout bounds a batch: a kernel that does not answer does not hold the agent up for
// ever.
const netlinkTimeout = 10 * time.Second

// sendNetlink sends the operations of tx as one nf_tables batch on the namespace's netlink
// socket (socket.go) and waits for the kernel's answer to each: all of them take effect, or
// none (the kernel answers the failing message with its error and commits nothing). The
// library reads one answer per message and reports the kernel's errors as errnos (errors.Is
// works).
func (k NFT) sendNetlink(ns, tx string, ops []nlOp) error {
	return k.withSocket(ns, func(s *nsSocket) error {
		if err := s.grow(4*len(tx) + 2048*len(ops)); err != nil {
			return err
		}
		for _, op := range ops {
			if err := op(s.c); err != nil {
				return err
			}
		}
		return s.c.Flush()
	})
}

// minSocketBuffer is the least a socket's buffers are given: a little more than the defaults.
const minSocketBuffer = 256 << 10

// socketBuffers sizes a socket's buffers for a batch, as nft does. The batch is one datagram,
// refused if it exceeds the send buffer. The kernel answers every message (an
// acknowledgement, or an error that carries the message back) and echoes every rule it adds
// (the library asks it to), and drops what the receive buffer cannot hold — after
// committing, so a batch that took effect would be reported as failed. The defaults
// (212 KB) hold some 200 rules; an update that refills many interfaces' chains has more.
// Forcing the sizes past the system's maximum needs CAP_NET_ADMIN, which nf_tables needs
// anyway.
func socketBuffers(size int) nftables.SockOption {
	size = max(size, minSocketBuffer)
	return func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, size); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("netlink socket buffers of %d bytes: %w", size, serr)
		}
		return nil
	}
}
