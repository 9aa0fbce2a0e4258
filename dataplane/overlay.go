package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// A VPC that spans hosts (flowlogs-multihost.md §B8.1, docs/cross-host.md). Every host's
// router renders the whole VPC — every group's member sets hold the addresses of every
// interface of the VPC, on every host — but only the interfaces placed on its own host get
// chains and dispatch entries. Filtering is split as on AWS, each side with its own
// connection tracking:
//
//   - the source host's router applies the source interface's egress rules and its subnet's
//     outbound ACL; a packet it sends into the overlay is not judged for ingress there (the
//     overlay link's ingress entry admits it) nor against the destination subnet's inbound ACL;
//   - the destination host's router applies the destination subnet's inbound ACL and the
//     destination interface's ingress rules; a packet from the overlay is not judged for
//     egress again (the overlay link's egress entry admits it) nor against the source
//     subnet's outbound ACL.
//
// A packet from the overlay must come from a remote interface's address (the source check,
// as for any link), and the host's underlay filter (Underlay) has already checked that the
// host that sent it holds that interface. Nothing is forwarded from the overlay back into it.

// Overlay is a router's VXLAN link.
type Overlay struct {
	Link string // the VXLAN device in the router; "" for none
	// Remote are the interfaces (by ID) placed on other hosts: members of their groups and
	// sources the overlay may send from, with no chains here.
	Remote map[string]bool
	// Replies says that the overlay also brings replies from outside the VPC: a NAT gateway
	// of the VPC is on another host, and the internet's replies to this host's instances
	// come back through that host's router. Only replies (connection tracking saw the
	// request leave by the overlay) from addresses outside the VPC are admitted: anything
	// from inside must still be a remote interface's address. Needs the internet link
	// (a NAT gateway's routes are blackholes without an attached internet gateway).
	Replies bool
}

// The overlay link's chains stand for the checks made on the other host.
var (
	overlayOut = &Object{Kind: Chain, Name: "overlay_out", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markEgress)}}
	overlayIn  = &Object{Kind: Chain, Name: "overlay_in", Lines: []string{fmt.Sprintf("meta mark set meta mark | 0x%x", markIngress)}}
)

// remote reports whether an interface is placed on another host.
func (r *renderer) remote(e *model.NetworkInterface) bool {
	return r.n.Overlay.Link != "" && r.n.Overlay.Remote[e.ID]
}

// overlayBase adds the overlay link's sources and dispatch entries and returns the forward
// chain's rule that refuses to send back into the overlay what came from it ("" without an
// overlay).
func (r *renderer) overlayBase(src4, src6, out, in *[]string) string {
	link := r.n.Overlay.Link
	if link == "" {
		return ""
	}
	for i, o := range r.out {
		if !r.remote(r.enis[i]) {
			continue
		}
		for _, a := range o.addrs4 {
			*src4 = append(*src4, fmt.Sprintf("%q . %s", link, a))
		}
		for _, a := range o.addrs6 {
			*src6 = append(*src6, fmt.Sprintf("%q . %s", link, a))
		}
	}
	*out = append(*out, fmt.Sprintf("%q : jump %s", link, overlayOut.Name))
	*in = append(*in, fmt.Sprintf("%q : jump %s", link, overlayIn.Name))
	r.rs.add(overlayOut)
	r.rs.add(overlayIn)
	return fmt.Sprintf("iifname %q oifname %q drop", link, link)
}

// overlayReplies are the forward chain's rules for an overlay that brings the internet's
// replies through a NAT gateway on another host (Overlay.Replies), before the source check
// (which then leaves the overlay's IPv4 to them): from inside the VPC only remote
// interfaces' addresses, from outside only replies. Nil without them.
func (r *renderer) overlayReplies() []string {
	link := r.n.Overlay.Link
	if link == "" || !r.n.Overlay.Replies || !r.internet() {
		return nil
	}
	return []string{
		fmt.Sprintf("iifname %q ip saddr @internet_inside4 iifname . ip saddr != @src4 drop", link),
		fmt.Sprintf("iifname %q ip saddr != @internet_inside4 ct direction != reply drop", link),
	}
}

// overlaySkip is the first rule of an ACL chain of a direction: the side of the overlay that
// is not this host's to check returns at once ("" without an overlay).
func (r *renderer) overlaySkip(egress bool) string {
	link := r.n.Overlay.Link
	switch {
	case link == "":
		return ""
	case egress:
		return fmt.Sprintf("iifname %q return", link) // the source host applied it
	default:
		return fmt.Sprintf("oifname %q return", link) // the destination host applies it
	}
}

// UnderlayTable is the nftables table of a host's underlay namespace.
const UnderlayTable = "inet stockade_underlay"

// Segment is one VPC's overlay as a host's underlay filter sees it: its VNI and, per other
// host holding interfaces of the VPC, the addresses placed there.
type Segment struct {
	VNI   uint32
	Peers []SegmentPeer
	// Inside are the VPC's IPv4 blocks: the inner sources a peer with Outside set may still
	// send only from its own interfaces' addresses.
	Inside []netip.Prefix
}

// SegmentPeer is another host of a segment: its underlay address and the addresses of the
// segment's interfaces placed on it.
type SegmentPeer struct {
	Underlay netip.Addr
	Addrs    []netip.Addr
	// Outside says the peer holds a NAT gateway of the segment's VPC: it also sends the
	// internet's replies, whose inner IPv4 sources are outside the VPC (Segment.Inside). The
	// router behind the filter admits those as replies only (Overlay.Replies).
	Outside bool
}

// Underlay renders the transaction that makes a host's underlay filter exactly segments:
// the anti-spoofing check the Nitro card makes before decapsulating (as public talks
// describe it; [UNCONFIRMED] in detail). A VXLAN packet (UDP port 4789) is accepted only
// from a host that is a peer of its VNI, and only when its inner source is an address
// placed on that host; everything else to the port is dropped,
// including inner frames that are neither IPv4 nor IPv6 (the entries are static: nothing
// needs ARP or neighbour discovery over the overlay). The check runs in the host's input
// hook, where the tunnel's socket is, before the kernel decapsulates.
//
// The inner headers are read as raw payload from the outer UDP header (nft 1.0.6 has no
// inner-header expressions): VNI at bits 96–119, the inner EtherType at 224–239, the inner
// IPv4 source at 336–367, the inner IPv6 source at 304–431.
func Underlay(segments []Segment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s\ndelete table %s\ntable %s {\n", UnderlayTable, UnderlayTable, UnderlayTable)
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 4789 jump vxlan\n\t}\n")
	var dispatch []string
	segs := slices.Clone(segments)
	slices.SortFunc(segs, func(a, c Segment) int { return int(a.VNI) - int(c.VNI) })
	for _, s := range segs {
		for i, p := range s.Peers {
			chain := fmt.Sprintf("vni_%d_%d", s.VNI, i)
			f := "ip"
			if p.Underlay.Is6() {
				f = "ip6"
			}
			dispatch = append(dispatch, fmt.Sprintf("%s saddr %s @th,96,24 %d goto %s", f, p.Underlay, s.VNI, chain))
			fmt.Fprintf(&b, "\tchain %s {\n", chain)
			var v4, v6 []string
			for _, a := range p.Addrs {
				h := fmt.Sprintf("0x%x", a.AsSlice())
				if a.Is4() {
					v4 = append(v4, h)
				} else {
					v6 = append(v6, h)
				}
			}
			if len(v4) > 0 {
				fmt.Fprintf(&b, "\t\t@th,224,16 0x0800 @th,336,32 { %s } accept\n", strings.Join(v4, ", "))
			}
			if len(v6) > 0 {
				fmt.Fprintf(&b, "\t\t@th,224,16 0x86dd @th,304,128 { %s } accept\n", strings.Join(v6, ", "))
			}
			if p.Outside {
				// A NAT gateway's host: any IPv4 source outside the VPC (the internet's
				// replies), none inside that is not its own.
				for _, blk := range s.Inside {
					if blk.Addr().Is4() {
						r := netipx.RangeOfPrefix(blk.Masked())
						fmt.Fprintf(&b, "\t\t@th,224,16 0x0800 @th,336,32 0x%x-0x%x drop\n", r.From().AsSlice(), r.To().AsSlice())
					}
				}
				b.WriteString("\t\t@th,224,16 0x0800 accept\n")
			}
			b.WriteString("\t\tdrop\n\t}\n")
		}
	}
	b.WriteString("\tchain vxlan {\n")
	for _, d := range dispatch {
		b.WriteString("\t\t" + d + "\n")
	}
	b.WriteString("\t\tdrop\n\t}\n}\n")
	return b.String()
}
