package dataplane_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// spanLab is a VPC spread over the simulated hosts of a testbed (netlab.Testbed): on every
// host that holds an interface, a router with its VXLAN device, its peers' entries and the
// ruleset rendered for that host; on every host, the underlay filter. Everything is removed
// when the test ends, also on failure.
type spanLab struct {
	t      testing.TB
	tb     *netlab.Testbed
	vpc    string
	on     map[string]string // interface → host name
	ns     map[string]string // interface → instance namespace
	k      dataplane.NFT
	routed map[string]bool // hosts whose router forwards
	// last is each host's ruleset as last applied: the next is an in-place update of it,
	// as the agent makes.
	last map[string]*dataplane.Ruleset
}

func newSpanLab(t testing.TB, hosts int, vpc string) *spanLab {
	t.Helper()
	if why := netlab.Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	tb, err := netlab.NewTestbed(context.Background(), "w"+hex.EncodeToString(b), hosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &spanLab{t: t, tb: tb, vpc: vpc, on: map[string]string{}, ns: map[string]string{}, k: dataplane.NFT{NSDir: netlab.Dir},
		routed: map[string]bool{}, last: map[string]*dataplane.Ruleset{}}
}

func (l *spanLab) router(host string) string { return l.tb.Host(host).Names.Router(l.vpc) }

// place attaches an interface's instance on a host, with the overlay's MTU.
func (l *spanLab) place(e *model.NetworkInterface, subnet *model.Subnet, host string) {
	l.t.Helper()
	h := l.tb.Host(host)
	ctx := context.Background()
	if _, err := netlab.CreateRouter(ctx, h.Names.Router(l.vpc)); err != nil {
		l.t.Fatal(err)
	}
	l.on[e.ID], l.ns[e.ID] = host, h.Names.Instance(e.ID)
	if err := netlab.Attach(ctx, h.Names.Router(l.vpc), netlab.Interface{Namespace: l.ns[e.ID], Link: h.Names.Link(e.ID), MAC: e.MAC,
		Addr: e.PrivateIP, Subnet: subnet.CIDR, IPv6: e.IPv6, MTU: netlab.InstanceMTU}); err != nil {
		l.t.Fatal(err)
	}
}

// apply programs every host for n: rulesets, overlay devices and entries, underlay filters;
// with filter false, no underlay filter (to show what it stops).
func (l *spanLab) apply(n dataplane.Network, filter bool) map[string]*dataplane.Ruleset {
	l.t.Helper()
	ctx := context.Background()
	addrs := map[string][]netip.Addr{} // host → addresses placed there
	for _, e := range n.Snapshot.ENIs {
		if h, ok := l.on[e.ID]; ok {
			addrs[h] = append(addrs[h], e.Addrs()...)
		}
	}
	out := map[string]*dataplane.Ruleset{}
	for _, h := range l.tb.Hosts {
		if len(addrs[h.Name]) == 0 {
			continue
		}
		remote := map[string]bool{}
		for eni, on := range l.on {
			remote[eni] = on != h.Name
		}
		hn := n
		hn.Link, hn.Overlay = h.Names.Link, dataplane.Overlay{Link: h.Names.Overlay(l.vpc), Remote: remote}
		rs := dataplane.Render(hn)
		out[h.Name] = rs
		tx, ok := "", false
		if l.last[h.Name] != nil {
			tx, ok = rs.Update(l.last[h.Name])
		}
		if !ok {
			tx = rs.Replace()
		}
		if tx != "" {
			if err := l.k.Apply(ctx, l.router(h.Name), tx); err != nil {
				l.t.Fatalf("%s: %v", h.Name, err)
			}
		}
		l.last[h.Name] = rs
		if _, err := netlab.EnsureOverlay(ctx, l.router(h.Name), h.Overlay(l.vpc)); err != nil {
			l.t.Fatal(err)
		}
		var peers []netlab.Peer
		var seg dataplane.Segment
		seg.VNI = netlab.VNI(l.vpc)
		for _, p := range l.tb.Hosts {
			if p.Name != h.Name && len(addrs[p.Name]) > 0 {
				peers = append(peers, p.Peer(l.vpc, addrs[p.Name]...))
				seg.Peers = append(seg.Peers, dataplane.SegmentPeer{Underlay: p.Underlay, Addrs: addrs[p.Name]})
			}
		}
		if err := netlab.SetPeers(ctx, l.router(h.Name), h.Names.Overlay(l.vpc), peers); err != nil {
			l.t.Fatal(err)
		}
		under := dataplane.Underlay([]dataplane.Segment{seg})
		if !filter {
			under = "table " + dataplane.UnderlayTable + "\ndelete table " + dataplane.UnderlayTable + "\n"
		}
		if err := l.k.Apply(ctx, h.Namespace, under); err != nil {
			l.t.Fatalf("underlay of %s: %v\n%s", h.Name, err, under)
		}
		if !l.routed[h.Name] {
			if err := netlab.EnableForwarding(ctx, l.router(h.Name)); err != nil {
				l.t.Fatal(err)
			}
			l.routed[h.Name] = true
		}
	}
	return out
}

// overlayPackets reads a host's overlay counters: packets sent into and received from it.
func (l *spanLab) overlayPackets(host string) (tx, rx uint64) {
	l.t.Helper()
	vx, err := netlab.ReadOverlay(l.router(host), l.tb.Host(host).Names.Overlay(l.vpc))
	if err != nil {
		l.t.Fatal(err)
	}
	return vx.Statistics.TxPackets, vx.Statistics.RxPackets
}

// spanNetwork is a VPC of two subnets (IPv4 and IPv6) for three instances on three hosts:
// cli (eni-1, 10.0.1.10) may send only to TCP 8080-8081 and UDP 8080 and admits nothing;
// srv (eni-2, 10.0.2.20) admits TCP and UDP 8080-8081 from members of cli's group only and
// TCP 9093 from anywhere, and may send nothing; open (eni-3, 10.0.1.30) admits TCP 9090 from
// anywhere and sends anything. subnet-1's ACL refuses TCP 9093 out, subnet-2's TCP 8081 in.
func spanNetwork() dataplane.Network {
	vpc := &model.VPC{ID: "vpc-span", CIDR: netip.MustParsePrefix("10.0.0.0/16"), IPv6CIDR: netip.MustParsePrefix("2001:db8:60::/56")}
	s1 := &model.Subnet{ID: "subnet-1", VpcID: vpc.ID, CIDR: netip.MustParsePrefix("10.0.1.0/24"), IPv6CIDR: netip.MustParsePrefix("2001:db8:60:1::/64")}
	s2 := &model.Subnet{ID: "subnet-2", VpcID: vpc.ID, CIDR: netip.MustParsePrefix("10.0.2.0/24"), IPv6CIDR: netip.MustParsePrefix("2001:db8:60:2::/64")}
	all := []model.Rule{rule("-1", -1, -1, cidr("0.0.0.0/0")), rule("-1", -1, -1, cidr("::/0"))}
	// subnet-1's ACL refuses TCP 9093 out, subnet-2's TCP 8081 in; the rest is allowed.
	acl1 := &model.NACL{ID: "acl-1", VpcID: vpc.ID, Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-1"}}}
	acl2 := &model.NACL{ID: "acl-2", VpcID: vpc.ID, Assocs: []model.NACLAssoc{{ID: "aclassoc-2", SubnetID: "subnet-2"}}}
	for _, acl := range []*model.NACL{acl1, acl2} {
		for _, egress := range []bool{false, true} {
			for _, c := range []string{"0.0.0.0/0", "::/0"} {
				acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 100, Egress: egress, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix(c)},
					model.NACLEntry{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix(c)})
			}
		}
	}
	acl1.Entries = append(acl1.Entries, model.NACLEntry{RuleNumber: 50, Egress: true, Protocol: "6", HasPorts: true, FromPort: 9093, ToPort: 9093, CIDR: netip.MustParsePrefix("0.0.0.0/0")})
	acl2.Entries = append(acl2.Entries, model.NACLEntry{RuleNumber: 50, Protocol: "6", HasPorts: true, FromPort: 8081, ToPort: 8081, CIDR: netip.MustParsePrefix("0.0.0.0/0")})
	cli := &model.Group{ID: "sg-cli", VpcID: vpc.ID, Egress: []model.Rule{rule("tcp", 8080, 8081, cidr("0.0.0.0/0")), rule("udp", 8080, 8080, cidr("0.0.0.0/0")),
		rule("tcp", 8080, 8080, cidr("::/0"))}}
	srv := &model.Group{ID: "sg-srv", VpcID: vpc.ID, Ingress: []model.Rule{rule("tcp", 8080, 8081, ref("sg-cli")), rule("udp", 8080, 8081, ref("sg-cli")),
		rule("tcp", 9093, 9093, cidr("0.0.0.0/0"))}}
	open := &model.Group{ID: "sg-open", VpcID: vpc.ID, Ingress: []model.Rule{rule("tcp", 9090, 9090, cidr("0.0.0.0/0"))}, Egress: all}
	eni := func(id, subnet, ip, ip6, group string) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, SubnetID: subnet, VpcID: vpc.ID, Groups: []string{group}, MAC: "02:00:00:00:02:0" + id[len(id)-1:],
			PrivateIP: netip.MustParseAddr(ip), IPv6: []netip.Addr{netip.MustParseAddr(ip6)}}
	}
	return dataplane.Network{VPC: vpc, Snapshot: netmap.Snapshot{
		VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{s1, s2}, NACLs: []*model.NACL{acl1, acl2}, Groups: []*model.Group{cli, srv, open},
		ENIs: []*model.NetworkInterface{eni("eni-1", "subnet-1", "10.0.1.10", "2001:db8:60:1::10", "sg-cli"),
			eni("eni-2", "subnet-2", "10.0.2.20", "2001:db8:60:2::20", "sg-srv"),
			eni("eni-3", "subnet-1", "10.0.1.30", "2001:db8:60:1::30", "sg-open")}}}
}

// spanned is spanNetwork on a three-host lab: cli on h1, srv on h2, open on h3.
func spanned(t *testing.T) (*spanLab, dataplane.Network) {
	l := newSpanLab(t, 3, "vpc-span")
	n := spanNetwork()
	for i, host := range []string{"h1", "h2", "h3"} {
		e := n.Snapshot.ENIs[i]
		l.place(e, map[string]*model.Subnet{"subnet-1": n.Snapshot.Subnets[0], "subnet-2": n.Snapshot.Subnets[1]}[e.SubnetID], host)
	}
	return l, n
}

// TestKernelAcrossHosts: three instances of one VPC on three hosts talk over VXLAN exactly as
// their groups allow, each check made where AWS makes it: a refused egress never leaves the
// source host, a refused ingress arrives at the destination host and goes no further, and
// replies pass both routers (srv sends nothing of its own, cli admits nothing); likewise a
// subnet's outbound ACL refuses at the source host, its inbound ACL at the destination. The group
// reference admits a member on another host and not a non-member; the largest datagram the
// MTU allows crosses with DF.
func TestKernelAcrossHosts(t *testing.T) {
	l, n := spanned(t)
	cli, srv, open := n.Snapshot.ENIs[0], n.Snapshot.ENIs[1], n.Snapshot.ENIs[2]
	rulesets := l.apply(n, true)
	for _, e := range []*model.NetworkInterface{srv, open} {
		for _, port := range []int{8080, 8081, 9090, 9093} {
			s, err := netlab.Serve(l.ns[e.ID], port)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
		}
	}
	// probe sends one exchange: tcp, udp, tcp6 (over IPv6) or jumbo (the largest UDP
	// datagram MTU 9001 carries, with DF).
	probe := func(kind string, from, to *model.NetworkInterface, port int, d time.Duration) error {
		ns, at := l.ns[from.ID], netip.AddrPortFrom(to.PrivateIP, uint16(port))
		switch kind {
		case "udp":
			return netlab.UDP(ns, at, d)
		case "tcp6":
			return netlab.TCP(ns, netip.AddrPortFrom(to.IPv6[0], uint16(port)), d)
		case "jumbo":
			return netlab.UDPDontFragment(ns, at, netlab.InstanceMTU-28, d)
		}
		return netlab.TCP(ns, at, d)
	}
	cases := []struct {
		what     string
		kind     string
		from, to *model.NetworkInterface
		port     int
		pass     bool
		where    string // for a refused exchange: "source" (nothing leaves its host) or "destination"
	}{
		{"cli → srv (a member of the referenced group, on another host)", "tcp", cli, srv, 8080, true, ""},
		{"cli → srv", "udp", cli, srv, 8080, true, ""},
		{"cli → srv over IPv6", "tcp6", cli, srv, 8080, true, ""},
		{"cli → srv, 8973 bytes with DF (MTU 9001)", "jumbo", cli, srv, 8080, true, ""},
		{"open → srv (not a member: refused by srv's ingress)", "tcp", open, srv, 8080, false, "destination"},
		{"open → srv (not a member)", "udp", open, srv, 8080, false, "destination"},
		{"cli → open (refused by cli's egress)", "tcp", cli, open, 9090, false, "source"},
		{"srv → open (srv sends nothing of its own)", "tcp", srv, open, 9090, false, "source"},
		{"cli → srv (refused by subnet-2's inbound ACL)", "tcp", cli, srv, 8081, false, "destination"},
		{"open → srv (refused by subnet-1's outbound ACL)", "tcp", open, srv, 9093, false, "source"},
		{"open → cli (cli admits nothing)", "tcp", open, cli, 8080, false, "destination"},
	}
	for _, c := range cases {
		fromHost, toHost := l.on[c.from.ID], l.on[c.to.ID]
		c.what += fmt.Sprintf(" %s/%d", c.kind, c.port)
		tx0, _ := l.overlayPackets(fromHost)
		_, rx0 := l.overlayPackets(toHost)
		err := probe(c.kind, c.from, c.to, c.port, netlab.Timeout(c.pass))
		if (err == nil) != c.pass {
			t.Errorf("%s: err=%v, want pass=%v\nh1:\n%s", c.what, err, c.pass, rulesets["h1"].Text())
			continue
		}
		tx1, _ := l.overlayPackets(fromHost)
		_, rx1 := l.overlayPackets(toHost)
		switch c.where {
		case "source":
			if tx1 != tx0 {
				t.Errorf("%s: refused, but %d packets left %s into the overlay", c.what, tx1-tx0, fromHost)
			}
		case "destination":
			if rx1 == rx0 {
				t.Errorf("%s: refused, and nothing reached %s: the source host refused it, not the destination", c.what, toHost)
			}
		}
	}
}

// TestKernelOverlayAntiSpoofing: a host that sends, over the overlay, a packet whose inner
// source is an address placed on another host is not believed. h3 (which holds open) sends
// from cli's address (on h1), and cli's address is what srv's group reference admits: without
// the underlay filter srv receives it — the check is what stops it — and with it, it does not.
// A packet from h3 with an address h3 does hold still gets through.
func TestKernelOverlayAntiSpoofing(t *testing.T) {
	l, n := spanned(t)
	cli, srv, open := n.Snapshot.ENIs[0], n.Snapshot.ENIs[1], n.Snapshot.ENIs[2]
	// srv admits udp 8081 from cli's group: a plain listener that counts what arrives.
	var pc net.PacketConn
	if err := netlab.Do(l.ns[srv.ID], func() (err error) { pc, err = net.ListenPacket("udp", ":8081"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	received := func() bool {
		_ = pc.SetReadDeadline(time.Now().Add(netlab.DropTimeout))
		buf := make([]byte, 64)
		_, _, err := pc.ReadFrom(buf)
		return err == nil
	}
	for _, c := range []struct {
		what   string
		filter bool
		src    netip.Addr
		want   bool
	}{
		{"no underlay filter: h3 passes for cli", false, cli.PrivateIP, true},
		{"no underlay filter: h3 passes for cli over IPv6", false, cli.IPv6[0], true},
		{"underlay filter: h3 passes for cli", true, cli.PrivateIP, false},
		{"underlay filter: h3 passes for cli over IPv6", true, cli.IPv6[0], false},
	} {
		l.apply(n, c.filter)
		to := srv.PrivateIP
		if c.src.Is6() {
			to = srv.IPv6[0]
		}
		// From h3's router itself (as a rogue host would), so that only the overlay's checks
		// stand between the packet and srv.
		if err := sendFrom(l.router("h3"), c.src, netip.AddrPortFrom(to, 8081)); err != nil {
			t.Fatal(err)
		}
		if got := received(); got != c.want {
			t.Errorf("%s: received %v, want %v", c.what, got, c.want)
		}
	}
	// The filter's other half: an address h3 holds is let through, to the router (open is not
	// in the referenced group, so srv's rules still refuse it; the packet reaching h2's router
	// is what shows the filter passed it).
	_, rx0 := l.overlayPackets("h2")
	if err := sendFrom(l.router("h3"), open.PrivateIP, netip.AddrPortFrom(srv.PrivateIP, 8081)); err != nil {
		t.Fatal(err)
	}
	if _, rx1 := l.overlayPackets("h2"); rx1 == rx0 {
		t.Error("a packet from an address its host holds did not reach the destination's router")
	}
	if received() {
		t.Error("srv received a packet from a non-member")
	}
}

// sendFrom sends one UDP datagram from a router namespace with any source address
// (IP_TRANSPARENT lets a socket use an address its namespace does not have).
func sendFrom(ns string, src netip.Addr, to netip.AddrPort) error {
	return netlab.Do(ns, func() error {
		fam, lvl, opt := unix.AF_INET, unix.SOL_IP, unix.IP_TRANSPARENT
		if src.Is6() {
			fam, lvl, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_TRANSPARENT
		}
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, lvl, opt, 1); err != nil {
			return err
		}
		var from, dst unix.Sockaddr
		if src.Is4() {
			from, dst = &unix.SockaddrInet4{Port: 40001, Addr: src.As4()}, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
		} else {
			from, dst = &unix.SockaddrInet6{Port: 40001, Addr: src.As16()}, &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
		}
		if err := unix.Bind(fd, from); err != nil {
			return err
		}
		if err := unix.Sendto(fd, []byte("spoofed"), 0, dst); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
		}
		return nil
	})
}
