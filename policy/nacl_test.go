package policy

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

// TestACLDecide: an ACL on its own decides as at a subnet boundary — rule-number order
// whatever the stored order, first match, ports and families apart, the implicit deny of the
// remote address's family last.
func TestACLDecide(t *testing.T) {
	pfx := netip.MustParsePrefix
	acl := NewACL(&model.NACL{ID: "acl-1", Entries: []model.NACLEntry{
		{RuleNumber: 200, Protocol: "-1", Allow: true, CIDR: pfx("0.0.0.0/0")},
		{RuleNumber: 100, Protocol: "6", HasPorts: true, FromPort: 22, ToPort: 22, CIDR: pfx("0.0.0.0/1")},
		{RuleNumber: 100, Egress: true, Protocol: "6", HasPorts: true, FromPort: 1024, ToPort: 65535, Allow: true, CIDR: pfx("::/0")},
	}})
	ssh := Flow{Proto: model.ProtoNumTCP, DstPort: 22}
	for _, tc := range []struct {
		egress bool
		f      Flow
		remote string
		want   int
		allow  bool
	}{
		{false, ssh, "1.2.3.4", 100, false},
		{false, ssh, "200.2.3.4", 200, true},
		{false, Flow{Proto: model.ProtoNumTCP, DstPort: 443}, "1.2.3.4", 200, true},
		{false, ssh, "2600::1", model.NACLDenyAllIPv6, false},
		{true, Flow{Proto: model.ProtoNumTCP, DstPort: 50000}, "2600::1", 100, true},
		{true, Flow{Proto: model.ProtoNumTCP, DstPort: 50000}, "1.2.3.4", model.NACLDenyAllIPv4, false},
	} {
		e := acl.Decide(tc.egress, tc.f, netip.MustParseAddr(tc.remote))
		if e.RuleNumber != tc.want || e.Allow != tc.allow {
			t.Errorf("egress %v %+v from %s: rule %d allow %v, want %d %v", tc.egress, tc.f, tc.remote, e.RuleNumber, e.Allow, tc.want, tc.allow)
		}
	}
	if in := acl.Entries(false); len(in) != 2 || in[0].RuleNumber != 100 {
		t.Errorf("inbound entries in order: %+v", in)
	}
}
