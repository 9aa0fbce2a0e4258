package reach

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

// fullQuotaLab adds to the lab a destination at full quotas: 5 groups of 60 ingress rules
// (CIDRs, group references, a prefix list of 20 entries), 1,000 other interfaces in its groups,
// and 20 more entries in the db subnet's ACL.
func fullQuotaLab(b testing.TB) (*Analyser, Question) {
	l := newLab()
	pl := &model.PrefixList{ID: "pl-000000aa"}
	for i := range 20 {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i), 0}), 24)})
	}
	l.s.PrefixLists = []*model.PrefixList{pl}
	var gs []string
	for g := range 5 {
		grp := &model.Group{ID: fmt.Sprintf("sg-1%07d", g), VpcID: l.db.VpcID}
		for i := range 60 {
			r := model.Rule{ID: fmt.Sprintf("sgr-%d-%d", g, i), Protocol: "tcp", FromPort: int32(1000 + g*100 + i), ToPort: int32(1000 + g*100 + i)}
			switch i % 3 {
			case 0:
				r.Peer = model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, byte(g), byte(i), 0}), 24)}
			case 1:
				r.Peer = model.Peer{GroupID: l.webG.ID}
			default:
				r.Peer = model.Peer{PrefixListID: pl.ID}
			}
			grp.Ingress = append(grp.Ingress, r)
		}
		l.s.Groups = append(l.s.Groups, grp)
		gs = append(gs, grp.ID)
	}
	l.db.Groups = gs
	for i := range 1000 {
		l.s.ENIs = append(l.s.ENIs, &model.NetworkInterface{ID: fmt.Sprintf("eni-1%07d", i), VpcID: l.db.VpcID, SubnetID: l.dbSubnet.ID,
			PrivateIP: l.dbSubnet.AddrAt(20 + i%200), Groups: []string{gs[i%5]}})
	}
	for i := range 20 {
		l.dbACL.Entries = append(l.dbACL.Entries, model.NACLEntry{RuleNumber: 200 + i, Protocol: "6", HasPorts: true, FromPort: int32(1000 + i*10),
			ToPort: int32(1009 + i*10), Allow: true, CIDR: pfx("10.0.0.0/16")})
		l.dbACL.Entries = append(l.dbACL.Entries, model.NACLEntry{RuleNumber: 200 + i, Egress: true, Protocol: "-1", Allow: true, CIDR: pfx("10.0.0.0/16")})
	}
	a, err := New(l.s)
	if err != nil {
		b.Fatal(err)
	}
	return a, Question{From: l.web.ID, To: l.db.ID, Protocol: "tcp", Port: 1101}
}

// BenchmarkPathFullQuota is "can A reach B, and why?" with the return path and the fix.
func BenchmarkPathFullQuota(b *testing.B) {
	a, q := fullQuotaLab(b)
	ans, err := a.Path(q)
	if err != nil || !ans.Reachable {
		b.Fatalf("%v %+v", err, ans)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Path(q)
	}
}

// BenchmarkPathAnyPort is the same question over every port (a Network Insights path without
// a destination port) when no port gets through: the worst case, all 65,536 ports.
func BenchmarkPathAnyPort(b *testing.B) {
	a, q := fullQuotaLab(b)
	q.From, q.AnyPort = "198.51.100.7", true
	b.ReportAllocs()
	for b.Loop() {
		a.Path(q)
	}
}
