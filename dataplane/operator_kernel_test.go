package dataplane_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/policy"
)

// TestKernelOperator: a connection from a VPC's operator attachment enters the router as
// traffic from outside the VPC (console-ssh.md §B4.1). The target's security groups decide
// (refused until a rule admits the operator address, accepted once one does), the network ACL
// of its subnet applies both ways statelessly (inbound for the request, outbound for the
// replies), and a packet from the operator link with any other source address is dropped even
// where a rule would admit it. At every step the policy engine, which takes the operator for
// policy.Outside, agrees with the kernel.
func TestKernelOperator(t *testing.T) {
	l := newKernelLab(t)
	ctx := context.Background()
	op := l.names.OperatorOf("vpc-1")
	created, err := netlab.AttachOperator(ctx, l.router, op)
	if err != nil || !created {
		t.Fatalf("AttachOperator = %v, %v; want a new attachment", created, err)
	}
	if again, err := netlab.AttachOperator(ctx, l.router, op); err != nil || again {
		t.Fatalf("AttachOperator again = %v, %v; want the attachment adopted", again, err)
	}

	n := threeTier()
	n.Link = l.names.Link
	n.Operator = dataplane.Operator{Link: op.Link, Addr: netlab.OperatorAddr}
	db := n.Snapshot.ENIs[2] // 10.0.2.30 in subnet-2; sg-db lets in 8080 from sg-app only
	ns := l.attach(db, n.Snapshot.Subnets[1].CIDR)
	srv, err := netlab.Serve(ns, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	to := netip.AddrPortFrom(db.PrivateIP, 8080)

	var last *dataplane.Ruleset
	apply := func(n dataplane.Network) *policy.Policy {
		t.Helper()
		rs := dataplane.Render(n)
		tx := rs.Replace()
		if last != nil {
			if upd, ok := rs.Update(last); ok {
				tx = upd
			}
		}
		if tx != "" {
			l.apply(tx)
		}
		last = rs
		p, err := policy.Compile(n.Snapshot)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// connect dials from the operator namespace (from src when it is valid) and echoes.
	connect := func(src netip.Addr, timeout time.Duration) error {
		if !src.IsValid() {
			c, err := netlab.DialFrom(op.Namespace, "tcp", to.String(), timeout)
			if err != nil {
				return err
			}
			defer c.Close()
			return echo(c, timeout)
		}
		var c net.Conn
		err := netlab.Do(op.Namespace, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}).Dial("tcp", to.String())
			return err
		})
		if err != nil {
			return err
		}
		defer c.Close()
		if got := c.LocalAddr().(*net.TCPAddr).IP; !got.Equal(src.AsSlice()) {
			t.Fatalf("the connection is from %v, not %v: the test proves nothing", got, src)
		}
		return echo(c, timeout)
	}
	check := func(step string, p *policy.Policy, want policy.Stage) {
		t.Helper()
		f := policy.Flow{Src: netlab.OperatorAddr, Dst: db.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 40000, DstPort: 8080}
		if got := p.Verdict(policy.Outside, policy.Endpoint{ENI: db.ID}, f); got != want {
			t.Fatalf("%s: the policy engine says %v, want %v", step, got, want)
		}
		pass := want == policy.Admitted
		// The replies (db → operator, from 8080 to an ephemeral port) must pass too.
		if pass {
			r := policy.Flow{Src: db.PrivateIP, Dst: netlab.OperatorAddr, Proto: model.ProtoNumTCP, SrcPort: 8080, DstPort: 40000}
			if got := p.Verdict(policy.Endpoint{ENI: db.ID}, policy.Outside, r); got != policy.Admitted && got != policy.SourceEgress {
				t.Fatalf("%s: the policy engine blocks the replies at %v", step, got)
			}
		}
		if err := connect(netip.Addr{}, netlab.Timeout(pass)); (err == nil) != pass {
			t.Errorf("%s: operator → %s: kernel err=%v, want admitted=%v\n%s", step, to, err, pass, last.Text())
		}
	}

	p := apply(n)
	if err := netlab.EnableForwarding(ctx, l.router); err != nil {
		t.Fatal(err)
	}
	check("no rule admits the operator", p, policy.DestIngress)

	withRule := func(peer string) dataplane.Network {
		m := n
		m.Snapshot.Groups = append([]*model.Group(nil), n.Snapshot.Groups...)
		g := m.Snapshot.Groups[2].Clone()
		g.Ingress = append(g.Ingress, rule("tcp", 8080, 8080, cidr(peer)))
		m.Snapshot.Groups[2] = g
		return m
	}
	check("a rule for another address", apply(withRule("100.64.0.3/32")), policy.DestIngress)
	check("a rule for the operator address", apply(withRule("100.64.0.2/32")), policy.Admitted)

	// The other way: an instance's connection to the operator needs only its egress rules.
	opSrv, err := netlab.Serve(op.Namespace, 9000)
	if err != nil {
		t.Fatal(err)
	}
	defer opSrv.Close()
	toOp := netip.AddrPortFrom(netlab.OperatorAddr, 9000)
	if err := netlab.TCP(ns, toOp, netlab.PassTimeout); err != nil {
		t.Errorf("db → operator with egress open: %v", err)
	}
	closed := withRule("100.64.0.2/32")
	g := closed.Snapshot.Groups[2].Clone()
	g.Egress = []model.Rule{rule("tcp", 443, 443, cidr("0.0.0.0/0"))}
	closed.Snapshot.Groups[2] = g
	apply(closed)
	if err := netlab.TCP(ns, toOp, netlab.DropTimeout); err == nil {
		t.Errorf("db → operator:9000 got through with egress open to 443 only")
	}

	// Spoofing through the operator link: a second address in the operator namespace, which a
	// rule for a prefix around the operator's admits. The source check drops it at the router.
	// (Not 100.64.0.3: that is the link's broadcast address, which the kernel will not send
	// from; a socket bound to it sends from 100.64.0.2.)
	open := withRule("100.64.0.0/29")
	p = apply(open)
	check("a rule for the link prefix", p, policy.Admitted)
	spoof := netip.MustParseAddr("100.64.0.5")
	if err := netlab.Do(op.Namespace, func() error {
		eth, err := netlink.LinkByName(netlab.OperatorDevice)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: spoof.AsSlice(), Mask: net.CIDRMask(32, 32)}})
	}); err != nil {
		t.Fatal(err)
	}
	f := policy.Flow{Src: spoof, Dst: db.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 40000, DstPort: 8080}
	if got := p.Verdict(policy.Outside, policy.Endpoint{ENI: db.ID}, f); got != policy.Admitted {
		t.Fatalf("the groups must admit %s for this step to test the source check; policy says %v", spoof, got)
	}
	if err := connect(spoof, netlab.DropTimeout); err == nil {
		t.Errorf("a packet from the operator link with source %s got through", spoof)
	}
	if err := connect(netip.Addr{}, netlab.PassTimeout); err != nil {
		t.Errorf("the operator address itself, with the spoofed one on the link too: %v", err)
	}

	// The db subnet's network ACL: in from the VPC only, then in from the operator too but
	// no way out to it (stateless: the replies are dropped), then both ways.
	withACL := func(in []string, out []string) dataplane.Network {
		m := open
		acl := &model.NACL{ID: "acl-db", VpcID: "vpc-1", Assocs: []model.NACLAssoc{{ID: "aclassoc-9", SubnetID: "subnet-2"}}}
		for i, c := range in {
			acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 100 + i, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix(c)})
		}
		for i, c := range out {
			acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 100 + i, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix(c)})
		}
		def := *open.Snapshot.NACLs[0]
		def.Assocs = def.Assocs[:1]
		m.Snapshot.NACLs = []*model.NACL{&def, acl}
		return m
	}
	check("inbound ACL: the VPC only", apply(withACL([]string{"10.0.0.0/16"}, []string{"0.0.0.0/0"})), policy.DestNACL)
	p = apply(withACL([]string{"10.0.0.0/16", "100.64.0.2/32"}, []string{"10.0.0.0/16"}))
	r := policy.Flow{Src: db.PrivateIP, Dst: netlab.OperatorAddr, Proto: model.ProtoNumTCP, SrcPort: 8080, DstPort: 40000}
	if got := p.Verdict(policy.Endpoint{ENI: db.ID}, policy.Outside, r); got != policy.SourceNACL {
		t.Errorf("outbound ACL without the operator: the policy engine says %v to the replies, want %v", got, policy.SourceNACL)
	}
	if err := connect(netip.Addr{}, netlab.DropTimeout); err == nil {
		t.Errorf("outbound ACL without the operator: the replies got through\n%s", last.Text())
	}
	check("both ways", apply(withACL([]string{"10.0.0.0/16", "100.64.0.2/32"}, []string{"10.0.0.0/16", "100.64.0.2/32"})), policy.Admitted)
}

// echo sends a line on c and waits for it to come back.
func echo(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("stockade\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, len(msg)))
	return err
}
