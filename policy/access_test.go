package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// grantFor finds the addresses a list of grants gives a protocol at a key.
func grantFor(gs []Grant, proto, key int) *netipx.IPSet {
	own := false
	for _, g := range gs {
		if g.Protocol == proto {
			own = true
			if g.From <= key && key <= g.To {
				return g.Addrs
			}
		}
	}
	for _, g := range gs {
		if g.Protocol == -1 && !own && !slices.Contains(g.Except, proto) {
			return g.Addrs
		}
	}
	return &netipx.IPSet{}
}

// flowKey is the key of a flow in its protocol's key space.
func flowKey(f Flow) int {
	switch f.Proto {
	case model.ProtoNumTCP, model.ProtoNumUDP:
		return int(f.DstPort)
	case model.ProtoNumICMP, model.ProtoNumICMPv6:
		return int(f.ICMPType)<<8 | int(f.ICMPCode)
	}
	return 0
}

// TestAccessMatchesOracle checks the effective access of every interface of random worlds
// against the naive oracle, address by address and flow by flow: an address is in the grant
// for a flow exactly when the oracle admits that flow from (or to) it. Addresses inside the
// interface's subnet are judged without the NACL, which they do not cross.
func TestAccessMatchesOracle(t *testing.T) {
	for seed := uint64(0); seed < 150; seed++ {
		checkAccess(t, seed, 7)
	}
}

// FuzzAccessMatchesOracle is the same check on seeds the fuzzer picks.
func FuzzAccessMatchesOracle(f *testing.F) {
	for i := uint64(0); i < 4; i++ {
		f.Add(i, i*5+1)
	}
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) { checkAccess(t, seed1, seed2) })
}

func checkAccess(t *testing.T, seed1, seed2 uint64) {
	addrs := []string{"198.51.100.7", "198.51.100.200", "203.0.113.1", "192.0.2.1", "10.0.2.9", "10.0.1.77", "10.0.3.4", "172.16.0.1",
		"2001:db8::5", "2001:db8:8000::1", "2600::1", "fd00:1::9"}
	r := rand.New(rand.NewPCG(seed1, seed2))
	w := randomWorld(r)
	p := mustCompile(t, w.s)
	noACL := w.s
	noACL.NACLs = nil
	sample := slices.Clone(addrs)
	for _, n := range w.s.ENIs {
		for _, a := range n.Addrs() {
			sample = append(sample, a.String())
		}
	}
	for _, n := range w.s.ENIs {
		var subnet netip.Prefix
		for _, sn := range w.s.Subnets {
			if sn.ID == n.SubnetID {
				subnet = sn.CIDR
			}
		}
		for _, egress := range []bool{false, true} {
			gs, err := p.Access(n.ID, egress, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 60; i++ {
				_, _, f := randomFlow(r, w)
				remote := netip.MustParseAddr(sample[r.IntN(len(sample))])
				local := n.PrivateIP
				if remote.Is6() {
					local = n.IPv6[0]
				}
				var want Stage
				ep := Endpoint{ENI: n.ID}
				s := w.s
				if subnet.Contains(remote) {
					s = noACL
				}
				// Access is the filters' view (groups and ACL), whatever the routing.
				s.RouteTables = nil
				if egress {
					f.Src, f.Dst = local, remote
					want = oracle(s, ep, Outside, f)
				} else {
					f.Src, f.Dst = remote, local
					want = oracle(s, Outside, ep, f)
				}
				got := grantFor(gs, int(f.Proto), flowKey(f)).Contains(remote)
				if got != (want == Admitted) {
					t.Fatalf("seed (%d,%d) %s egress=%v flow %+v: access says %v, oracle %v\ngrants:\n%s", seed1, seed2, n.ID, egress, f, got, want, grantLines(gs))
				}
			}
		}
	}
}

func grantLines(gs []Grant) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintln(&b, " ", g)
	}
	return b.String()
}

// TestAccessReadable checks what a person reads for a small, known case: a database that
// admits 5432 from the app group and 22 from an office, behind a NACL that denies one network.
func TestAccessReadable(t *testing.T) {
	w := newWorld()
	acl := &model.NACL{ID: "acl-00000001", VpcID: w.vpc.ID, Entries: []model.NACLEntry{
		{RuleNumber: 90, Protocol: "-1", CIDR: netip.MustParsePrefix("203.0.113.128/25")},
		{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	w.s.NACLs = []*model.NACL{acl}
	dbNet := w.subnet("10.0.2.0/24", acl)
	appNet := w.subnet("10.0.1.0/24", nil)
	app := w.group("app", allOut(cidr("0.0.0.0/0")))
	db := w.group("db", tcp(5432, 5432, ref(app)), tcp(22, 22, cidr("203.0.113.0/24")), allOut(cidr("0.0.0.0/0")))
	w.eni(appNet, "10.0.1.10", app)
	w.eni(appNet, "10.0.1.11", app)
	dn := w.eni(dbNet, "10.0.2.5", db)
	p := mustCompile(t, w.s)

	in, err := p.Access(dn.ID, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp 22 203.0.113.0/25", "tcp 5432 10.0.1.10/31"}
	if got := grantStrings(in); !slices.Equal(got, want) {
		t.Errorf("ingress:\n got %q\nwant %q", got, want)
	}
	out, err := p.Access(dn.ID, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := grantStrings(out); !slices.Equal(got, []string{"all 0.0.0.0/0"}) {
		t.Errorf("egress: %q", got)
	}
	if _, err := p.Access("eni-00000000", false, nil); err == nil {
		t.Error("no error for an unknown interface")
	}

	exp, err := p.Exposure()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exp {
		got := grantStrings(e.Grants)
		switch e.ENI {
		case dn.ID: // the app servers are inside the VPC, so only the office's 22 is exposed
			if !slices.Equal(got, []string{"tcp 22 203.0.113.0/25"}) {
				t.Errorf("db exposure %q", got)
			}
		default:
			if len(got) != 0 {
				t.Errorf("%s exposed: %q", e.ENI, got)
			}
		}
	}
	// ExposureOf answers the same for the interfaces asked, in their order, and leaves out
	// those the policy does not know.
	some, err := p.ExposureOf([]string{dn.ID, "eni-00000000", exp[0].ENI}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want0 Exposed
	for _, e := range exp {
		if e.ENI == dn.ID {
			want0 = e
		}
	}
	if len(some) != 2 || some[0].ENI != dn.ID || some[1].ENI != exp[0].ENI ||
		!slices.Equal(grantStrings(some[0].Grants), grantStrings(want0.Grants)) || !slices.Equal(grantStrings(some[1].Grants), grantStrings(exp[0].Grants)) {
		t.Errorf("ExposureOf: %+v, want the db's and %s's of %+v", some, exp[0].ENI, exp)
	}
	// On one worker (the continuous audit's), the same.
	one, err := p.ExposureOn(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != len(exp) {
		t.Fatalf("ExposureOn(1): %d interfaces, Exposure %d", len(one), len(exp))
	}
	for i := range one {
		if one[i].ENI != exp[i].ENI || !slices.Equal(grantStrings(one[i].Grants), grantStrings(exp[i].Grants)) {
			t.Errorf("ExposureOn(1)[%d] = %+v, Exposure's %+v", i, one[i], exp[i])
		}
	}
}

func grantStrings(gs []Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.String())
	}
	return out
}

// TestGrantPorts covers the rendering of key ranges.
func TestGrantPorts(t *testing.T) {
	for _, tt := range []struct {
		g    Grant
		want string
	}{
		{Grant{Protocol: model.ProtoNumTCP, From: 0, To: 65535}, "all"},
		{Grant{Protocol: model.ProtoNumUDP, From: 53, To: 53}, "53"},
		{Grant{Protocol: model.ProtoNumTCP, From: 1024, To: 65535}, "1024-65535"},
		{Grant{Protocol: model.ProtoNumICMP, From: 8 << 8, To: 8<<8 | 255}, "type 8"},
		{Grant{Protocol: model.ProtoNumICMP, From: 3<<8 | 4, To: 3<<8 | 4}, "type 3 code 4"},
		{Grant{Protocol: model.ProtoNumICMPv6, From: 0, To: 65535}, "all"},
		{Grant{Protocol: model.ProtoNumICMP, From: 0, To: 8<<8 | 255}, "types 0-8"},
		{Grant{Protocol: model.ProtoNumICMP, From: 3 << 8, To: 3<<8 | 3}, "type 3 codes 0-3"},
		{Grant{Protocol: 50}, ""},
	} {
		if got := tt.g.Ports(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.g, got, tt.want)
		}
	}
}

// exposureWorld is 10,000 interfaces in 100 subnets with their own NACLs, over 2,500 groups of
// 20 rules (CIDRs, references, prefix lists), 1-5 groups an interface.
func exposureWorld(b testing.TB) *Policy {
	w := newWorld()
	w.vpc.CIDR = netip.MustParsePrefix("10.0.0.0/8")
	pl := &model.PrefixList{ID: "pl-000000aa"}
	for i := 0; i < 20; i++ {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i), 0}), 24)})
	}
	w.s.PrefixLists = []*model.PrefixList{pl}
	var subnets []*model.Subnet
	for i := 0; i < 100; i++ {
		acl := &model.NACL{ID: fmt.Sprintf("acl-%08x", i), VpcID: w.vpc.ID, Entries: []model.NACLEntry{
			{RuleNumber: 50, Protocol: "6", HasPorts: true, FromPort: 22, ToPort: 22, CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i), 0}), 24)},
			{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 101, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("::/0")},
			{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		}}
		w.s.NACLs = append(w.s.NACLs, acl)
		subnets = append(subnets, w.subnet(fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), acl))
	}
	var gs []*model.Group
	for i := 0; i < 2500; i++ {
		gs = append(gs, w.group(fmt.Sprintf("g%d", i)))
	}
	for i, g := range gs {
		for j := 0; j < 20; j++ {
			r := model.Rule{ID: w.id("sgr"), Protocol: "tcp", FromPort: int32(1000 + (i+j)%200), ToPort: int32(1000 + (i+j)%200)}
			switch j % 4 {
			case 0:
				r.Peer = model.Peer{GroupID: gs[(i+j)%len(gs)].ID}
			case 1:
				r.Peer = model.Peer{PrefixListID: pl.ID}
			case 2:
				r.Peer = cidr("0.0.0.0/0")
				if j%8 == 6 {
					r.Peer = cidr("::/0")
				}
			default:
				r.Peer = model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24)}
			}
			g.Ingress = append(g.Ingress, r)
		}
		g.Ingress = append(g.Ingress, model.Rule{ID: w.id("sgr"), Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: cidr("0.0.0.0/0")})
	}
	for i := 0; i < 10000; i++ {
		sn := subnets[i%len(subnets)]
		n := w.eni(sn, "10.0.0.1")
		n.PrivateIP = sn.AddrAt(4 + i/len(subnets))
		for k := 0; k <= i%5; k++ {
			n.Groups = append(n.Groups, gs[(i*7+k*13)%len(gs)].ID)
		}
	}
	return mustCompile(b, w.s)
}

// BenchmarkExposure10kInterfaces is the "what is exposed?" inventory of exposureWorld.
func BenchmarkExposure10kInterfaces(b *testing.B) {
	p := exposureWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		exp, err := p.Exposure()
		if err != nil {
			b.Fatal(err)
		}
		if len(exp) != 10000 || len(exp[0].Grants) == 0 {
			b.Fatalf("%d interfaces, first has %d grants", len(exp), len(exp[0].Grants))
		}
	}
}

// BenchmarkAccessFullQuota is "what can reach B?" for an interface at full quotas.
func BenchmarkAccessFullQuota(b *testing.B) {
	p, dst, _ := fullQuota(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Access(dst.ENI, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}
