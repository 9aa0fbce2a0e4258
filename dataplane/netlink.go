package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"go4.org/netipx"
	"golang.org/x/sys/unix"
)

// The common in-place updates, a membership change or a CIDR rule added or revoked, are a few
// set elements and the refill of an interface's chains. Starting nft for them costs more than
// everything else on the path from the API to the kernel: a process with a dozen libraries
// (4 ms and more on a busy machine), and nft then lists every chain of the table before it
// sends anything (some 190 KB at 1,000 interfaces). NFT sends such a transaction itself, as
// the one netlink batch nft would send: element additions and deletions in the sets whose
// types the renderer fixes by name, and chain refills whose rules are of the few forms an
// interface chain has. Anything else goes through nft, whole; so does a transaction with one
// line this file does not know. The kernel differential test applies its in-place updates
// this way and compares the listing with a replacement made by nft.

// netlink constants of nf_tables (linux/netfilter/nfnetlink.h, nf_tables.h).
const (
	nfnlMsgBatchBegin = 0x10
	nfnlMsgBatchEnd   = 0x11
	nfprotoINET       = 1

	nftMsgNewRule    = 6
	nftMsgDelRule    = 8
	nftMsgNewSetElem = 12
	nftMsgDelSetElem = 14

	nftaRuleTable       = 1
	nftaRuleChain       = 2
	nftaRuleExpressions = 4
	nftaListElem        = 1
	nftaExprName        = 1
	nftaExprData        = 2

	nftaSetElemListTable    = 1
	nftaSetElemListSet      = 2
	nftaSetElemListElements = 3
	nftaSetElemKey          = 1
	nftaSetElemKeyEnd       = 10

	nftaDataValue    = 1
	nftaDataVerdict  = 2
	nftaVerdictCode  = 1
	nftaVerdictChain = 2
	nftJump          = -3
	nftReturn        = -5

	nftRegVerdict = 0
	nftReg1       = 1

	nftaImmediateDreg = 1
	nftaImmediateData = 2
	nftaMetaDreg      = 1
	nftaMetaKey       = 2
	nftaMetaSreg      = 3
	nftMetaMark       = 3
	nftMetaNFProto    = 15
	nftMetaL4Proto    = 16
	nftaBitwiseSreg   = 1
	nftaBitwiseDreg   = 2
	nftaBitwiseLen    = 3
	nftaBitwiseMask   = 4
	nftaBitwiseXor    = 5
	nftaCmpSreg       = 1
	nftaCmpOp         = 2
	nftaCmpData       = 3
	nftCmpEq          = 0
	nftCmpNeq         = 1
	nftaCtDreg        = 1
	nftaCtKey         = 2
	nftCtState        = 0
	ctStateNew        = 1 << 3
	nftaObjrefImmType = 1
	nftaObjrefImmName = 2
	nftObjectCtTimout = 7

	nlaFNested = 0x8000
	ifnamsiz   = 16
	tableName  = "stockade"
)

// nlMsg is one message of a batch: its type within nf_tables, flags and attributes.
type nlMsg struct {
	typ   uint16
	flags uint16
	attrs []byte
}

// compileNetlink turns an Update transaction into netlink messages, or says it cannot.
func compileNetlink(tx string) ([]nlMsg, bool) {
	var msgs []nlMsg
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
			elems, ok := encodeElements(name, strings.Split(list[2:len(list)-2], ", "))
			if !ok {
				return nil, false
			}
			m := nlMsg{typ: nftMsgNewSetElem, flags: unix.NLM_F_CREATE}
			if verb == "delete element" {
				m = nlMsg{typ: nftMsgDelSetElem}
			}
			m.attrs = cat(strz(nftaSetElemListTable, tableName), strz(nftaSetElemListSet, name), nest(nftaSetElemListElements, elems...))
			msgs = append(msgs, m)
		case "flush chain":
			if strings.Contains(rest, " ") {
				return nil, false
			}
			msgs = append(msgs, nlMsg{typ: nftMsgDelRule, attrs: cat(strz(nftaRuleTable, tableName), strz(nftaRuleChain, rest))})
		case "add rule":
			chain, rule, ok := strings.Cut(rest, " ")
			if !ok {
				return nil, false
			}
			exprs, ok := encodeRule(rule)
			if !ok {
				return nil, false
			}
			msgs = append(msgs, nlMsg{typ: nftMsgNewRule, flags: unix.NLM_F_CREATE | unix.NLM_F_APPEND,
				attrs: cat(strz(nftaRuleTable, tableName), strz(nftaRuleChain, chain), nest(nftaRuleExpressions, exprs...))})
		default:
			return nil, false
		}
	}
	return msgs, len(msgs) > 0
}

// encodeElements encodes the elements of a set the renderer names: what each name holds is
// fixed by render.go and group.go. (The dispatch maps change only when an interface comes or
// goes, with its chains: such a transaction goes through nft anyway.)
func encodeElements(set string, elems []string) ([][]byte, bool) {
	var out [][]byte
	for _, e := range elems {
		var attrs []byte
		switch {
		case strings.HasPrefix(set, "members4_"), strings.HasPrefix(set, "members6_"):
			a, err := netip.ParseAddr(e)
			if err != nil || a.Is4() != (set[7] == '4') {
				return nil, false
			}
			attrs = nest(nftaSetElemKey, value(a.AsSlice()))
		case set == "src4" || set == "src6":
			link, addr, ok := strings.Cut(e, " . ")
			ifname, ok2 := ifname(link)
			a, err := netip.ParseAddr(addr)
			if !ok || !ok2 || err != nil || a.Is4() != (set == "src4") {
				return nil, false
			}
			attrs = nest(nftaSetElemKey, value(append(ifname, a.AsSlice()...)))
		case isGroupSet(set):
			lo, hi, ok := groupKeys(e, set[len(set)-1] == '4')
			if !ok {
				return nil, false
			}
			attrs = cat(nest(nftaSetElemKey, value(lo)), nest(nftaSetElemKeyEnd, value(hi)))
		default:
			return nil, false
		}
		out = append(out, nest(nftaListElem, attrs))
	}
	return out, true
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

// encodeRule encodes a rule of the forms an interface chain has (group.go, renderENI): a
// sequence of matches and at most one statement and verdict, as nft would compile them.
func encodeRule(rule string) ([][]byte, bool) {
	t := strings.Fields(rule)
	var exprs [][]byte
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
		case has("meta", "mark", "set", "meta", "mark", "|", ""):
			x, ok := hexU32(t[6])
			if !ok {
				return nil, false
			}
			exprs = append(exprs, metaLoad(nftMetaMark), bitwise(^x, x),
				expr("meta", cat(u32(nftaMetaKey, nftMetaMark), u32(nftaMetaSreg, nftReg1))))
			t = t[7:]
		case has("meta", "mark", "&", "", "==", ""):
			mask, ok1 := hexU32(t[3])
			want, ok2 := hexU32(t[5])
			if !ok1 || !ok2 {
				return nil, false
			}
			exprs = append(exprs, metaLoad(nftMetaMark), bitwise(mask, 0), cmp(nftCmpEq, native32(want)))
			t = t[6:]
		case has("meta", "nfproto", ""):
			p := map[string]byte{"ipv4": unix.NFPROTO_IPV4, "ipv6": unix.NFPROTO_IPV6}
			v, ok := p[t[2]]
			if !ok {
				return nil, false
			}
			exprs = append(exprs, metaLoad(nftMetaNFProto), cmp(nftCmpEq, []byte{v}))
			t = t[3:]
		case has("meta", "l4proto", ""):
			p := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}
			v, ok := p[t[2]]
			if !ok {
				return nil, false
			}
			exprs = append(exprs, metaLoad(nftMetaL4Proto), cmp(nftCmpEq, []byte{v}))
			t = t[3:]
		case has("ct", "state", "new"):
			exprs = append(exprs, expr("ct", cat(u32(nftaCtDreg, nftReg1), u32(nftaCtKey, nftCtState))),
				bitwise(ctStateNew, 0), cmp(nftCmpNeq, native32(0)))
			t = t[3:]
		case has("ct", "timeout", "set", ""):
			name, err := strconv.Unquote(t[3])
			if err != nil || name == "" {
				return nil, false
			}
			exprs = append(exprs, expr("objref", cat(u32(nftaObjrefImmType, nftObjectCtTimout), strz(nftaObjrefImmName, name))))
			t = t[4:]
		case len(t) == 2 && t[0] == "jump":
			exprs = append(exprs, immediateVerdict(nftJump, t[1]))
			t = nil
		case len(t) == 1 && t[0] == "return":
			exprs = append(exprs, immediateVerdict(nftReturn, ""))
			t = nil
		default:
			return nil, false
		}
	}
	return exprs, len(exprs) > 0
}

func hexU32(s string) (uint32, bool) {
	if !strings.HasPrefix(s, "0x") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[2:], 16, 32)
	return uint32(v), err == nil
}

func native32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func metaLoad(key uint32) []byte {
	return expr("meta", cat(u32(nftaMetaDreg, nftReg1), u32(nftaMetaKey, key)))
}

// bitwise is reg1 = (reg1 & mask) ^ xor over four bytes.
func bitwise(mask, xor uint32) []byte {
	return expr("bitwise", cat(u32(nftaBitwiseSreg, nftReg1), u32(nftaBitwiseDreg, nftReg1), u32(nftaBitwiseLen, 4),
		nest(nftaBitwiseMask, value(native32(mask))), nest(nftaBitwiseXor, value(native32(xor)))))
}

func cmp(op uint32, data []byte) []byte {
	return expr("cmp", cat(u32(nftaCmpSreg, nftReg1), u32(nftaCmpOp, op), nest(nftaCmpData, value(data))))
}

func immediateVerdict(code int32, chain string) []byte {
	return expr("immediate", cat(u32(nftaImmediateDreg, nftRegVerdict), nest(nftaImmediateData, verdict(code, chain))))
}

// verdict is NFTA_DATA_VERDICT: a verdict code and, for a jump, its chain.
func verdict(code int32, chain string) []byte {
	v := u32(nftaVerdictCode, uint32(code))
	if chain != "" {
		v = cat(v, strz(nftaVerdictChain, chain))
	}
	return nest(nftaDataVerdict, v)
}

func expr(name string, data []byte) []byte {
	return nest(nftaListElem, cat(strz(nftaExprName, name), nest(nftaExprData, data)))
}

func value(b []byte) []byte { return attr(nftaDataValue, b) }

// attr is one netlink attribute, padded to four bytes.
func attr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nest(typ uint16, parts ...[]byte) []byte { return attr(typ|nlaFNested, cat(parts...)) }
func strz(typ uint16, s string) []byte        { return attr(typ, append([]byte(s), 0)) }
func u32(typ uint16, v uint32) []byte         { return attr(typ, binary.BigEndian.AppendUint32(nil, v)) }

func cat(parts ...[]byte) []byte {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// sendBatch sends the messages as one nf_tables batch on a netlink socket of the namespace
// and waits for the kernel's answer to each: all of them take effect, or none.
func sendBatch(fd int, msgs []nlMsg) error {
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	var buf []byte
	header := func(typ, flags uint16, seq uint32, family uint8, resID uint16, attrs []byte) {
		start := len(buf)
		buf = binary.NativeEndian.AppendUint32(buf, uint32(unix.NLMSG_HDRLEN+4+len(attrs)))
		buf = binary.NativeEndian.AppendUint16(buf, typ)
		buf = binary.NativeEndian.AppendUint16(buf, flags)
		buf = binary.NativeEndian.AppendUint32(buf, seq)
		buf = binary.NativeEndian.AppendUint32(buf, 0)
		buf = append(buf, family, 0)
		buf = binary.BigEndian.AppendUint16(buf, resID)
		buf = append(buf, attrs...)
		_ = start
	}
	header(nfnlMsgBatchBegin, unix.NLM_F_REQUEST, 0, unix.AF_UNSPEC, nfnlSubsysNFTables, nil)
	for i, m := range msgs {
		header(nfnlSubsysNFTables<<8|m.typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|m.flags, uint32(i+1), nfprotoINET, 0, m.attrs)
	}
	header(nfnlMsgBatchEnd, unix.NLM_F_REQUEST, uint32(len(msgs)+1), unix.AF_UNSPEC, nfnlSubsysNFTables, nil)
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	// One answer per message: an acknowledgement, or the error that aborted the batch (the
	// kernel answers the failing message with it and commits nothing).
	rbuf := make([]byte, 1<<16)
	var errs []error
	for answered := 0; answered < len(msgs); {
		n, _, err := unix.Recvfrom(fd, rbuf, 0)
		if err != nil {
			return err
		}
		replies, err := syscall.ParseNetlinkMessage(rbuf[:n])
		if err != nil {
			return err
		}
		for _, r := range replies {
			if r.Header.Type != unix.NLMSG_ERROR || len(r.Data) < 4 {
				continue
			}
			answered++
			if code := int32(binary.NativeEndian.Uint32(r.Data)); code != 0 {
				errs = append(errs, fmt.Errorf("message %d: %w", r.Header.Seq, unix.Errno(-code)))
			}
		}
		if len(errs) > 0 {
			// The batch is aborted: no further answers are needed to know that.
			return errors.Join(errs...)
		}
	}
	return nil
}
