package policy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
)

// specGroup is spec §2.6's example: ingress TCP 22 from 203.0.113.1/32, TCP 80 from 0.0.0.0/0
// and ::/0, ICMP from 0.0.0.0/0; egress all to 0.0.0.0/0 and ::/0.
func specWorld(ingress ...model.Rule) (*world, *model.NetworkInterface, *model.Group) {
	w := newWorld()
	sn := w.subnet("10.0.1.0/24", nil)
	if ingress == nil {
		ingress = []model.Rule{
			tcp(22, 22, cidr("203.0.113.1/32")),
			tcp(80, 80, cidr("0.0.0.0/0")),
			tcp(80, 80, cidr("::/0")),
			{Protocol: "icmp", FromPort: -1, ToPort: -1, Peer: cidr("0.0.0.0/0")},
		}
	}
	g := w.group("web", append(ingress, allOut(cidr("0.0.0.0/0")), allOut(cidr("::/0")))...)
	n := w.eni(sn, "10.0.1.4", g)
	return w, n, g
}

// without returns the snapshot with the group's ingress rules on port (or protocol) removed.
func without(t *testing.T, w *world, g *model.Group, keep func(model.Rule) bool) *Policy {
	c := *g
	c.Ingress = nil
	for _, r := range g.Ingress {
		if keep(r) {
			c.Ingress = append(c.Ingress, r)
		}
	}
	s := w.s
	s.Groups = []*model.Group{&c}
	return mustCompile(t, s)
}

func TestConntrackSpecExample(t *testing.T) {
	w, n, g := specWorld()
	eni := Endpoint{ENI: n.ID}
	ct := NewConntrack(mustCompile(t, w.s))
	ssh := Flow{Src: netip.MustParseAddr("203.0.113.1"), Dst: n.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 50000, DstPort: 22}
	http := Flow{Src: netip.MustParseAddr("198.51.100.7"), Dst: n.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 50001, DstPort: 80}
	ping := Flow{Src: netip.MustParseAddr("198.51.100.7"), Dst: n.PrivateIP, Proto: model.ProtoNumICMP, ICMPType: 8}
	for _, f := range []Flow{ssh, http, ping} {
		if got := ct.Packet(Outside, eni, f); got != Admitted {
			t.Fatalf("%+v: %v", f, got)
		}
	}
	// SSH (narrow source) and ICMP (always) are tracked; HTTP (open both ways) is not.
	if ct.Tracked() != 2 {
		t.Errorf("%d tracked entries, want 2 (ssh, icmp)", ct.Tracked())
	}
	// Revoke both TCP rules: the tracked SSH connection goes on, untracked HTTP is cut at once,
	// a new SSH connection is refused.
	ct.SetPolicy(without(t, w, g, func(r model.Rule) bool { return r.Protocol != "tcp" }))
	if got := ct.Packet(Outside, eni, ssh); got != Admitted {
		t.Errorf("tracked ssh after revoke: %v", got)
	}
	if got := ct.Packet(eni, Outside, reverse(ssh)); got != Admitted {
		t.Errorf("tracked ssh reply after revoke: %v", got)
	}
	if got := ct.Packet(Outside, eni, http); got != DestIngress {
		t.Errorf("untracked http after revoke: %v, want cut", got)
	}
	newSSH := ssh
	newSSH.SrcPort = 50002
	if got := ct.Packet(Outside, eni, newSSH); got != DestIngress {
		t.Errorf("new ssh connection after revoke: %v", got)
	}
	// Established TCP idles out after 5 days by default.
	ct.Advance(432000 * time.Second)
	if got := ct.Packet(Outside, eni, ssh); got != DestIngress {
		t.Errorf("ssh after the idle timeout: %v", got)
	}
}

func reverse(f Flow) Flow {
	f.Src, f.Dst = f.Dst, f.Src
	f.SrcPort, f.DstPort = f.DstPort, f.SrcPort
	return f
}

// TestConntrackReturnTraffic: a group with no ingress rules still receives the replies of its
// own outbound connections, until they idle out (UDP: 30 s, then 180 s once it streams).
func TestConntrackReturnTraffic(t *testing.T) {
	w := newWorld()
	sn := w.subnet("10.0.1.0/24", nil)
	g := w.group("client", model.Rule{Egress: true, Protocol: "udp", FromPort: 53, ToPort: 53, Peer: cidr("10.0.0.0/8")})
	n := w.eni(sn, "10.0.1.4", g)
	n.ConnTrack = model.ConnTrack{TCPEstablished: 3600, UDPStream: 120, UDP: 40}
	ct := NewConntrack(mustCompile(t, w.s))
	eni := Endpoint{ENI: n.ID}
	q := Flow{Src: n.PrivateIP, Dst: netip.MustParseAddr("10.9.9.9"), Proto: model.ProtoNumUDP, SrcPort: 41000, DstPort: 53}
	if got := ct.Packet(eni, Outside, q); got != Admitted {
		t.Fatalf("query: %v", got)
	}
	if got := ct.Packet(Outside, eni, reverse(q)); got != Admitted {
		t.Fatalf("reply: %v", got)
	}
	unsolicited := reverse(q)
	unsolicited.DstPort = 41001
	if got := ct.Packet(Outside, eni, unsolicited); got != DestIngress {
		t.Errorf("unsolicited: %v", got)
	}
	// One exchange: the interface's UDP timeout (40 s here) applies.
	ct.Advance(41 * time.Second)
	if got := ct.Packet(Outside, eni, reverse(q)); got != DestIngress {
		t.Errorf("reply after the UDP timeout: %v", got)
	}
	// A stream (several exchanges) gets the stream timeout (120 s here).
	ct.Packet(eni, Outside, q)
	ct.Packet(Outside, eni, reverse(q))
	ct.Packet(eni, Outside, q)
	ct.Advance(100 * time.Second)
	if got := ct.Packet(Outside, eni, reverse(q)); got != Admitted {
		t.Errorf("stream reply after 100 s: %v", got)
	}
}

// TestConntrackNACLStateless: the NACL is checked on every packet, so a tracked connection
// whose replies the NACL does not allow (no ephemeral ports) fails, and a NACL change cuts an
// established connection at once.
func TestConntrackNACLStateless(t *testing.T) {
	w := newWorld()
	acl := &model.NACL{ID: "acl-00000001", Entries: []model.NACLEntry{
		{RuleNumber: 100, Protocol: "6", HasPorts: true, FromPort: 443, ToPort: 443, Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Egress: true, Protocol: "6", HasPorts: true, FromPort: 443, ToPort: 443, Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	w.s.NACLs = []*model.NACL{acl}
	sn := w.subnet("10.0.1.0/24", acl)
	g := w.group("web", tcp(443, 443, cidr("198.51.100.0/24")), allOut(cidr("0.0.0.0/0")))
	n := w.eni(sn, "10.0.1.4", g)
	ct := NewConntrack(mustCompile(t, w.s))
	eni := Endpoint{ENI: n.ID}
	req := Flow{Src: netip.MustParseAddr("198.51.100.7"), Dst: n.PrivateIP, Proto: model.ProtoNumTCP, SrcPort: 50000, DstPort: 443}
	if got := ct.Packet(Outside, eni, req); got != Admitted {
		t.Fatalf("request: %v", got)
	}
	// The reply goes to port 50000, which the NACL's egress does not allow.
	if got := ct.Packet(eni, Outside, reverse(req)); got != SourceNACL {
		t.Errorf("reply without ephemeral ports in the NACL: %v", got)
	}
	acl2 := *acl
	acl2.Entries = append([]model.NACLEntry{{RuleNumber: 110, Egress: true, Protocol: "6", HasPorts: true, FromPort: 1024, ToPort: 65535, Allow: true,
		CIDR: netip.MustParsePrefix("0.0.0.0/0")}}, acl.Entries...)
	s := w.s
	s.NACLs = []*model.NACL{&acl2}
	ct.SetPolicy(mustCompile(t, s))
	if got := ct.Packet(eni, Outside, reverse(req)); got != Admitted {
		t.Errorf("reply with ephemeral ports: %v", got)
	}
	ct.SetPolicy(mustCompile(t, w.s)) // the ephemeral rule is removed again: cut at once
	if got := ct.Packet(eni, Outside, reverse(req)); got != SourceNACL {
		t.Errorf("reply after the NACL change: %v", got)
	}
}
