package dataplane_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
)

// internetVPC is one VPC router of a kernelLab linked to the lab's internet namespace, with
// its route tables and ruleset applied on every change.
type internetVPC struct {
	l      *kernelLab
	router string
	up     netlab.Uplink
	last   *dataplane.Ruleset
}

func (l *kernelLab) internetVPC(vpc, router string) *internetVPC {
	l.t.Helper()
	ctx := context.Background()
	if _, err := netlab.CreateRouter(ctx, router); err != nil {
		l.t.Fatal(err)
	}
	v := &internetVPC{l: l, router: router, up: l.names.UplinkOf(vpc)}
	if _, err := netlab.AttachInternet(ctx, router, v.up); err != nil {
		l.t.Fatal(err)
	}
	return v
}

// apply programs the router: public routes in the internet, route tables, then the ruleset
// (an in-place update when it can), and forwarding on.
func (v *internetVPC) apply(n dataplane.Network, tables ...netlab.RouteTable) {
	t := v.l.t
	t.Helper()
	ctx := context.Background()
	var public []netip.Prefix
	for pub := range n.Internet.Public {
		public = append(public, netip.PrefixFrom(pub, 32))
	}
	for _, g := range n.Internet.NAT {
		public = append(public, netip.PrefixFrom(g.Public, 32))
	}
	if n.VPC.IPv6CIDR.IsValid() {
		public = append(public, n.VPC.IPv6CIDR)
	}
	if err := netlab.SetPublic(ctx, v.up, public); err != nil {
		t.Fatal(err)
	}
	if err := netlab.SetRoutes(ctx, v.router, v.up.Link, tables, nil); err != nil {
		t.Fatal(err)
	}
	rs := dataplane.Render(n)
	tx := rs.Replace()
	if v.last != nil {
		if upd, ok := rs.Update(v.last); ok {
			tx = upd
		}
	}
	if tx != "" {
		if err := v.l.k.Apply(ctx, v.router, tx); err != nil {
			t.Fatalf("%v\n%s", err, tx)
		}
	}
	v.last = rs
	if err := netlab.EnableForwarding(ctx, v.router); err != nil {
		t.Fatal(err)
	}
}

// attach wires an interface to this router.
func (v *internetVPC) attach(e *model.NetworkInterface, subnet netip.Prefix) string {
	v.l.t.Helper()
	ns := v.l.names.Instance(e.ID)
	if err := netlab.Attach(context.Background(), v.router, netlab.Interface{Namespace: ns, Link: v.l.names.Link(e.ID), MAC: e.MAC, Addr: e.PrivateIP, Subnet: subnet}); err != nil {
		v.l.t.Fatal(err)
	}
	return ns
}

// whoServer answers every TCP connection on port with the address it came from, in the
// internet namespace at netlab.InternetHost.
func whoServer(t *testing.T, ns string, port int) {
	t.Helper()
	var ln net.Listener
	if err := netlab.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(netlab.InternetHost, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
}

// seenAs connects from ns to the internet host's who-server and returns the address the
// server saw, or an error if no connection is made within timeout.
func seenAs(ns string, timeout time.Duration) (string, error) {
	c, err := netlab.DialFrom(ns, "tcp", netip.AddrPortFrom(netlab.InternetHost, 9000).String(), timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

var (
	pubWeb   = netip.MustParseAddr("198.51.100.10")
	pubApp   = netip.MustParseAddr("198.51.100.20")
	pubNAT   = netip.MustParseAddr("198.51.100.99")
	anywhere = netip.MustParsePrefix("0.0.0.0/0")
	vpcCIDR  = netip.MustParsePrefix("10.0.0.0/16")
)

func table(rtb string, subnet string, routes ...netlab.Route) netlab.RouteTable {
	return netlab.RouteTable{Table: netlab.TableNumber(rtb), Subnets: []netip.Prefix{netip.MustParsePrefix(subnet)},
		Routes: append([]netlab.Route{{Dst: vpcCIDR, Target: netlab.TargetLocal}}, routes...)}
}

// TestKernelInternetPublic: the internet host reaches a public instance on its public address
// only while its group allows it and its subnet routes to the gateway; never on its private
// address; the instance goes out with its public address; an instance without one gets
// nothing out.
func TestKernelInternetPublic(t *testing.T) {
	l := newKernelLab(t)
	v := l.internetVPC("vpc-1", l.router)
	inet := l.names.Internet()
	whoServer(t, inet, 9000)
	n := threeTier()
	n.Link = l.names.Link
	n.Internet = dataplane.Internet{Link: v.up.Link, Public: map[netip.Addr]netip.Addr{pubWeb: netip.MustParseAddr("10.0.1.10")}}
	web, app := n.Snapshot.ENIs[0], n.Snapshot.ENIs[1]
	webNS := v.attach(web, n.Snapshot.Subnets[0].CIDR)
	appNS := v.attach(app, n.Snapshot.Subnets[0].CIDR)
	srv, err := netlab.Serve(webNS, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	public := table("rtb-pub", "10.0.1.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetGateway})
	private := table("rtb-pub", "10.0.1.0/24")
	toWeb := netip.AddrPortFrom(pubWeb, 8080)

	v.apply(n, public)
	if err := netlab.TCP(inet, toWeb, netlab.PassTimeout); err != nil {
		t.Errorf("internet → web's public address, group open, route to the gateway: %v\n%s", err, v.last.Text())
	}
	if got, err := seenAs(webNS, netlab.PassTimeout); err != nil || got != pubWeb.String() {
		t.Errorf("web → internet: the server saw %q (%v), want %s", got, err, pubWeb)
	}
	if got, err := seenAs(appNS, netlab.DropTimeout); err == nil {
		t.Errorf("app, without a public address, reached the internet as %s", got)
	}

	closed := n
	closed.Snapshot.Groups = append([]*model.Group(nil), n.Snapshot.Groups...)
	g := closed.Snapshot.Groups[0].Clone()
	g.Ingress = nil
	closed.Snapshot.Groups[0] = g
	v.apply(closed, public)
	if err := netlab.TCP(inet, toWeb, netlab.DropTimeout); err == nil {
		t.Error("internet → web got through with no ingress rule")
	}

	v.apply(n, private)
	if err := netlab.TCP(inet, toWeb, netlab.DropTimeout); err == nil {
		t.Error("internet → web got through with no route to the gateway (the replies must not get out)")
	}
	if _, err := seenAs(webNS, netlab.DropTimeout); err == nil {
		t.Error("web reached the internet with no route to the gateway")
	}

	v.apply(n, public)
	if err := netlab.TCP(inet, toWeb, netlab.PassTimeout); err != nil {
		t.Errorf("internet → web with the route back: %v", err)
	}
	// The private address from the internet (someone on the internet routes it to the VPC):
	// no translation opened the connection, so it is dropped.
	if err := run(inet, "ip", "route", "add", "10.0.0.0/16", "via", netlab.InternetRouterHop.String(), "dev", v.up.Peer, "onlink"); err != nil {
		t.Fatal(err)
	}
	if err := netlab.TCP(inet, netip.AddrPortFrom(web.PrivateIP, 8080), netlab.DropTimeout); err == nil {
		t.Error("internet → web's private address got through")
	}
}

// TestKernelInternetNAT: a private instance behind a NAT gateway reaches an internet server,
// which sees the NAT gateway's address; nothing from the internet reaches it, through the
// NAT gateway's address or otherwise; a blackhole route (or a subnet without the NAT) cuts it.
func TestKernelInternetNAT(t *testing.T) {
	l := newKernelLab(t)
	v := l.internetVPC("vpc-1", l.router)
	inet := l.names.Internet()
	whoServer(t, inet, 9000)
	n := threeTier()
	n.Link = l.names.Link
	n.Internet = dataplane.Internet{Link: v.up.Link, NAT: []dataplane.NATGateway{{Public: pubNAT, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24")}}}}
	db := n.Snapshot.ENIs[2]
	dbNS := v.attach(db, n.Snapshot.Subnets[1].CIDR)
	// db lets in 8080 from everywhere too: what keeps the internet out is the NAT gateway.
	g := n.Snapshot.Groups[2].Clone()
	g.Ingress = append(g.Ingress, rule("tcp", 8080, 8080, cidr("0.0.0.0/0")))
	n.Snapshot.Groups = []*model.Group{n.Snapshot.Groups[0], n.Snapshot.Groups[1], g}
	srv, err := netlab.Serve(dbNS, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	v.apply(n, table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetNAT}))
	if got, err := seenAs(dbNS, netlab.PassTimeout); err != nil || got != pubNAT.String() {
		t.Errorf("db → internet through the NAT gateway: the server saw %q (%v), want %s\n%s", got, err, pubNAT, v.last.Text())
	}
	if err := netlab.TCP(inet, netip.AddrPortFrom(pubNAT, 8080), netlab.DropTimeout); err == nil {
		t.Error("internet → the NAT gateway's address got through")
	}

	v.apply(n, table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetBlackhole}))
	if got, err := seenAs(dbNS, netlab.DropTimeout); err == nil {
		t.Errorf("db reached the internet (as %s) through a blackhole route", got)
	}
	// The more specific route wins: the internet host's /32 to the NAT, the rest blackholed.
	v.apply(n, table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetBlackhole},
		netlab.Route{Dst: netip.PrefixFrom(netlab.InternetHost, 32), Target: netlab.TargetNAT}))
	if got, err := seenAs(dbNS, netlab.PassTimeout); err != nil || got != pubNAT.String() {
		t.Errorf("db → internet host by its /32 route: %q, %v", got, err)
	}
}

// TestKernelInternetRouteDecides: in a subnet that sends some destinations to a NAT gateway
// and others to the internet gateway, the route a packet takes decides its translation, as
// on EC2, not the subnet: by the internet gateway's route an instance without a public
// address gets nothing out (not the NAT gateway's address) and one with a public address goes
// out with it; by the NAT gateway's route both go out with the NAT gateway's address; and a
// connection from the internet to the public address gets its reply back only while the
// subnet routes the client to the internet gateway (by the NAT gateway's route it dies).
func TestKernelInternetRouteDecides(t *testing.T) {
	l := newKernelLab(t)
	v := l.internetVPC("vpc-1", l.router)
	inet := l.names.Internet()
	whoServer(t, inet, 9000)
	n := threeTier()
	n.Link = l.names.Link
	db := n.Snapshot.ENIs[2]
	dbNS := v.attach(db, n.Snapshot.Subnets[1].CIDR)
	g := n.Snapshot.Groups[2].Clone()
	g.Ingress = append(g.Ingress, rule("tcp", 8080, 8080, cidr("0.0.0.0/0")))
	n.Snapshot.Groups = []*model.Group{n.Snapshot.Groups[0], n.Snapshot.Groups[1], g}
	srv, err := netlab.Serve(dbNS, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	private := dataplane.Internet{Link: v.up.Link, NAT: []dataplane.NATGateway{{Public: pubNAT, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24")}}}}
	public := private
	public.Public = map[netip.Addr]netip.Addr{pubApp: db.PrivateIP}
	host := netip.PrefixFrom(netlab.InternetHost, 32)
	natDefault := table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetNAT},
		netlab.Route{Dst: host, Target: netlab.TargetGateway})
	igwDefault := table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetGateway},
		netlab.Route{Dst: host, Target: netlab.TargetNAT})

	for _, c := range []struct {
		name    string
		inet    dataplane.Internet
		rt      netlab.RouteTable
		seenAs  string // "" for no way out
		inbound bool   // the internet reaches db's public address
	}{
		{"no public address, the internet host by the internet gateway", private, natDefault, "", false},
		{"no public address, the internet host by the NAT gateway", private, igwDefault, pubNAT.String(), false},
		{"public address, the internet host by the internet gateway", public, natDefault, pubApp.String(), true},
		{"public address, the internet host by the NAT gateway", public, igwDefault, pubNAT.String(), false},
	} {
		n.Internet = c.inet
		v.apply(n, c.rt)
		got, err := seenAs(dbNS, netlab.Timeout(c.seenAs != ""))
		switch {
		case c.seenAs == "" && err == nil:
			t.Errorf("%s: db reached the internet host as %s, want no way out\n%s", c.name, got, v.last.Text())
		case c.seenAs != "" && (err != nil || got != c.seenAs):
			t.Errorf("%s: the internet host saw db as %q (%v), want %s\n%s", c.name, got, err, c.seenAs, v.last.Text())
		}
		if _, ok := c.inet.Public[pubApp]; !ok {
			continue
		}
		err = netlab.TCP(inet, netip.AddrPortFrom(pubApp, 8080), netlab.Timeout(c.inbound))
		if c.inbound && err != nil {
			t.Errorf("%s: internet → db's public address: %v", c.name, err)
		} else if !c.inbound && err == nil {
			t.Errorf("%s: internet → db's public address got a reply, which EC2 sends to the NAT gateway", c.name)
		}
	}
}

// TestKernelInternetSameCIDR: two VPCs with the same CIDR, an instance at the same private
// address in each, both reach the internet, each with its own public address.
func TestKernelInternetSameCIDR(t *testing.T) {
	l := newKernelLab(t)
	inet := l.names.Internet()
	a := l.internetVPC("vpc-1", l.router)
	b := l.internetVPC("vpc-2", l.names.Router("vpc-2"))
	whoServer(t, inet, 9000)
	for _, c := range []struct {
		v   *internetVPC
		eni string
		pub netip.Addr
	}{{a, "eni-1", pubWeb}, {b, "eni-7", pubApp}} {
		n := threeTier()
		n.Link = l.names.Link
		web := n.Snapshot.ENIs[0].Clone()
		web.ID = c.eni
		n.Snapshot.ENIs = []*model.NetworkInterface{web}
		n.Internet = dataplane.Internet{Link: c.v.up.Link, Public: map[netip.Addr]netip.Addr{c.pub: web.PrivateIP}}
		ns := c.v.attach(web, n.Snapshot.Subnets[0].CIDR)
		c.v.apply(n, table("rtb-pub", "10.0.1.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetGateway}))
		if got, err := seenAs(ns, netlab.PassTimeout); err != nil || got != c.pub.String() {
			t.Errorf("%s (10.0.1.10) → internet: the server saw %q (%v), want %s", c.eni, got, err, c.pub)
		}
	}
}

// TestKernelInternetAppliance: a private subnet's default route sends its traffic through an
// appliance instance (a NAT instance: forwarding on, masquerading, its source/destination
// check off), which goes out with its own public address; the appliance's group decides what
// it takes from the subnet.
func TestKernelInternetAppliance(t *testing.T) {
	l := newKernelLab(t)
	v := l.internetVPC("vpc-1", l.router)
	inet := l.names.Internet()
	whoServer(t, inet, 9000)
	n := threeTier()
	n.Link = l.names.Link
	app, db := n.Snapshot.ENIs[1], n.Snapshot.ENIs[2]
	n.Snapshot.ENIs = []*model.NetworkInterface{app, db}
	n.Internet = dataplane.Internet{Link: v.up.Link, Public: map[netip.Addr]netip.Addr{pubApp: app.PrivateIP}}
	n.Unchecked = map[string]bool{app.ID: true}
	appNS := v.attach(app, n.Snapshot.Subnets[0].CIDR)
	dbNS := v.attach(db, n.Snapshot.Subnets[1].CIDR)
	if err := netlab.Sysctl(appNS, "ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if err := netlab.Sysctl(appNS, "ipv4.conf.all.send_redirects", "0"); err != nil {
		t.Fatal(err)
	}
	if err := run(appNS, "nft", "add table ip natinst; add chain ip natinst post { type nat hook postrouting priority srcnat; }; add rule ip natinst post ip saddr != 10.0.1.20 masquerade"); err != nil {
		t.Fatal(err)
	}
	tables := []netlab.RouteTable{
		table("rtb-pub", "10.0.1.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetGateway}),
		table("rtb-priv", "10.0.2.0/24", netlab.Route{Dst: anywhere, Target: netlab.TargetInterface, Link: l.names.Link(app.ID), Via: app.PrivateIP}),
	}
	// sg-app takes nothing from db's subnet on 9000 yet.
	v.apply(n, tables...)
	if got, err := seenAs(dbNS, netlab.DropTimeout); err == nil {
		t.Errorf("db went out through the appliance (as %s), whose group does not admit it", got)
	}
	open := n
	g := n.Snapshot.Groups[1].Clone()
	g.Ingress = append(g.Ingress, rule("tcp", 9000, 9000, cidr("10.0.2.0/24")))
	open.Snapshot.Groups = []*model.Group{n.Snapshot.Groups[0], g, n.Snapshot.Groups[2]}
	v.apply(open, tables...)
	if got, err := seenAs(dbNS, netlab.PassTimeout); err != nil || got != pubApp.String() {
		t.Errorf("db → internet through the appliance: the server saw %q (%v), want the appliance's %s\n%s", got, err, pubApp, v.last.Text())
	}
	// Without the exemption, the source check drops what the appliance forwards back.
	strict := open
	strict.Unchecked = nil
	v.apply(strict, tables...)
	if got, err := seenAs(dbNS, netlab.DropTimeout); err == nil {
		t.Errorf("db went through an appliance with its source/destination check on (as %s)", got)
	}
}

// TestKernelInternetIPv6: an instance's IPv6 address is public, untranslated. With "::/0" to
// the internet gateway (and the client routed to it: Open6) the internet reaches it while its
// group allows it and it reaches the internet as itself; with "::/0" to an egress-only gateway
// it reaches the internet and the replies come back, but nothing from the internet opens a
// connection to it; without the route nothing either way.
func TestKernelInternetIPv6(t *testing.T) {
	l := newKernelLab(t)
	v := l.internetVPC("vpc-1", l.router)
	inet := l.names.Internet()
	if err := netlab.Do(inet, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := netlab.Do(inet, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(netlab.InternetHost6, 9000).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
	seen6 := func(ns string, timeout time.Duration) (string, error) {
		c, err := netlab.DialFrom(ns, "tcp", netip.AddrPortFrom(netlab.InternetHost6, 9000).String(), timeout)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		return strings.TrimSpace(string(b)), err
	}

	n := threeTier()
	n.Link = l.names.Link
	vpc6, sn6 := netip.MustParsePrefix("fd00:ec2:1::/56"), netip.MustParsePrefix("fd00:ec2:1:1::/64")
	vpc := *n.VPC
	vpc.IPv6CIDR = vpc6
	n.VPC = &vpc
	n.Snapshot.VPCs = []*model.VPC{&vpc}
	s1 := *n.Snapshot.Subnets[0]
	s1.IPv6CIDR = sn6
	n.Snapshot.Subnets = []*model.Subnet{&s1, n.Snapshot.Subnets[1]}
	acl := n.Snapshot.NACLs[0].Clone()
	for _, egress := range []bool{false, true} {
		acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 101, Egress: egress, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("::/0")})
	}
	n.Snapshot.NACLs = []*model.NACL{acl}
	web := n.Snapshot.ENIs[0].Clone()
	web.IPv6 = []netip.Addr{netip.MustParseAddr("fd00:ec2:1:1::10")}
	n.Snapshot.ENIs = []*model.NetworkInterface{web}
	g := n.Snapshot.Groups[0].Clone()
	g.Ingress = []model.Rule{rule("tcp", 8080, 8080, cidr("::/0"))}
	g.Egress = append(g.Egress, rule("-1", -1, -1, cidr("::/0")))
	n.Snapshot.Groups[0] = g
	ns := l.names.Instance(web.ID)
	if err := netlab.Attach(context.Background(), v.router, netlab.Interface{Namespace: ns, Link: l.names.Link(web.ID), MAC: web.MAC,
		Addr: web.PrivateIP, Subnet: s1.CIDR, IPv6: web.IPv6}); err != nil {
		t.Fatal(err)
	}
	srv, err := netlab.Serve(ns, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	toWeb := netip.AddrPortFrom(web.IPv6[0], 8080)
	tbl := func(routes ...netlab.Route) netlab.RouteTable {
		t := table("rtb-pub", "10.0.1.0/24", append([]netlab.Route{{Dst: vpc6, Target: netlab.TargetLocal}}, routes...)...)
		t.Subnets = append(t.Subnets, sn6)
		return t
	}
	any6 := netip.MustParsePrefix("::/0")
	n.Internet = dataplane.Internet{Link: v.up.Link}
	igw := n
	igw.Internet.Open6 = []dataplane.Open6{{Subnet: sn6, From: []netip.Prefix{any6}}}

	for _, c := range []struct {
		name    string
		n       dataplane.Network
		table   netlab.RouteTable
		in, out bool
	}{
		{"no route", n, tbl(), false, false},
		{"::/0 to the internet gateway", igw, tbl(netlab.Route{Dst: any6, Target: netlab.TargetGateway}), true, true},
		{"::/0 to an egress-only gateway", n, tbl(netlab.Route{Dst: any6, Target: netlab.TargetEgressOnly}), false, true},
		{"::/0 a blackhole", igw, tbl(netlab.Route{Dst: any6, Target: netlab.TargetBlackhole}), false, false},
	} {
		v.apply(c.n, c.table)
		err := netlab.TCP(inet, toWeb, netlab.Timeout(c.in))
		if (err == nil) != c.in {
			t.Errorf("%s: internet → web [%s]: %v, want reachable=%v\n%s", c.name, web.IPv6[0], err, c.in, v.last.Text())
		}
		got, err := seen6(ns, netlab.Timeout(c.out))
		switch {
		case c.out && (err != nil || got != web.IPv6[0].String()):
			t.Errorf("%s: web → internet over IPv6: the server saw %q (%v), want %s", c.name, got, err, web.IPv6[0])
		case !c.out && err == nil:
			t.Errorf("%s: web reached the internet over IPv6 (as %s)", c.name, got)
		}
	}
	// The group still decides, as for IPv4.
	closed := igw
	cg := g.Clone()
	cg.Ingress = nil
	closed.Snapshot.Groups = []*model.Group{cg, n.Snapshot.Groups[1], n.Snapshot.Groups[2]}
	v.apply(closed, tbl(netlab.Route{Dst: any6, Target: netlab.TargetGateway}))
	if err := netlab.TCP(inet, toWeb, netlab.DropTimeout); err == nil {
		t.Error("internet → web over IPv6 got through with no ingress rule")
	}
}

// run runs a command inside a namespace.
func run(ns string, argv ...string) error {
	out, err := netlab.Command(context.Background(), ns, argv...).CombinedOutput()
	if err != nil {
		return &execError{argv, string(out), err}
	}
	return nil
}

type execError struct {
	argv []string
	out  string
	err  error
}

func (e *execError) Error() string {
	return strings.Join(e.argv, " ") + ": " + e.err.Error() + ": " + e.out
}

// TestRealmsAgree: the realms the ruleset matches are the ones netlab's routes carry.
func TestRealmsAgree(t *testing.T) {
	if dataplane.RealmGateway != netlab.RealmGateway || dataplane.RealmNAT != netlab.RealmNAT {
		t.Errorf("dataplane realms (gateway %d, NAT %d) differ from netlab's (%d, %d)",
			dataplane.RealmGateway, dataplane.RealmNAT, netlab.RealmGateway, netlab.RealmNAT)
	}
}
