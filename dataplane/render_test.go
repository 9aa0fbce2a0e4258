package dataplane_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func link(eni string) string { return "stk-" + strings.TrimPrefix(eni, "eni-") }

// rich is the three-tier network plus what the golden file should show: a prefix list, ICMP
// rules, a custom ACL with ports, ICMP and a deny, an IPv6 subnet, another protocol, a rule
// open to the world with everything open outbound (untracked), custom timeouts, and the
// operator attachment (its inbound pair meets the db subnet's ACL, which lets in only the VPC).
func rich() dataplane.Network {
	n := threeTier()
	n.Operator = dataplane.Operator{Link: "stk-op", Addr: netip.MustParseAddr("100.64.0.2")}
	s := &n.Snapshot
	s.VPCs[0].IPv6CIDR = netip.MustParsePrefix("2600:1f18:aaaa:bb00::/56")
	s.Subnets[1].IPv6CIDR = netip.MustParsePrefix("2600:1f18:aaaa:bb01::/64")
	s.PrefixLists = []*model.PrefixList{{ID: "pl-admins", Entries: []model.PLEntry{
		{CIDR: netip.MustParsePrefix("192.0.2.0/25")}, {CIDR: netip.MustParsePrefix("192.0.2.128/25")}, {CIDR: netip.MustParsePrefix("198.51.100.7/32")}}}}
	db := s.Groups[2]
	db.Ingress = append(db.Ingress,
		rule("tcp", 22, 22, model.Peer{PrefixListID: "pl-admins"}),
		rule("icmp", -1, -1, cidr("10.0.0.0/16")),
		rule("icmpv6", 128, 0, cidr("2600:1f18:aaaa:bb00::/56")),
		rule("47", -1, -1, cidr("10.0.2.0/24")),
		rule("tcp", 5000, 5500, cidr("10.0.1.0/24")))
	acl := &model.NACL{ID: "acl-db", VpcID: "vpc-1", Assocs: []model.NACLAssoc{{ID: "aclassoc-9", SubnetID: "subnet-2"}},
		Entries: []model.NACLEntry{
			{RuleNumber: 90, Protocol: "6", CIDR: netip.MustParsePrefix("10.0.1.13/32"), HasPorts: true, FromPort: 8080, ToPort: 8080},
			{RuleNumber: 100, Protocol: "6", Allow: true, CIDR: netip.MustParsePrefix("10.0.1.0/24"), HasPorts: true, FromPort: 8080, ToPort: 8080},
			{RuleNumber: 110, Protocol: "1", Allow: true, CIDR: netip.MustParsePrefix("10.0.0.0/16"), HasICMP: true, ICMPType: 8, ICMPCode: -1},
			{RuleNumber: 120, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("2600:1f18:aaaa:bb00::/56")},
			{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{RuleNumber: 100, Egress: true, Protocol: "6", Allow: true, CIDR: netip.MustParsePrefix("10.0.0.0/16"), HasPorts: true, FromPort: 1024, ToPort: 65535},
			{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		}}
	s.NACLs[0].Assocs = s.NACLs[0].Assocs[:1]
	s.NACLs = append(s.NACLs, acl)
	s.ENIs[2].IPv6 = []netip.Addr{netip.MustParseAddr("2600:1f18:aaaa:bb01::30")}
	s.ENIs[2].ConnTrack = model.ConnTrack{TCPEstablished: 3600, UDPStream: 120, UDP: 60}
	return n
}

func TestRenderGolden(t *testing.T) {
	for name, n := range map[string]dataplane.Network{"three-tier": threeTier(), "rich": rich(), "internet": withInternet(rich()), "flowlogs": withFlowLogs(rich()),
		"span": spanning(threeTier()), "span-rich": spanning(rich())} {
		t.Run(name, func(t *testing.T) {
			n.Link = link
			got := dataplane.Render(n).Text()
			golden(t, name+".nft", got)
			if again := dataplane.Render(n).Text(); again != got {
				t.Errorf("rendering is not deterministic")
			}
		})
	}
}

// golden compares got with testdata/name (which -update writes).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./dataplane -run Golden -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s changed (-golden +now); if intended, run go test ./dataplane -run Golden -update and review:\n%s", name, diff)
	}
}

// TestUpdateTouchesOnlyWhatChanged: a membership change is an element update of one set; a
// rule change refills one group chain and its sets; nothing changed is no transaction.
func TestUpdateTouchesOnlyWhatChanged(t *testing.T) {
	n := threeTier()
	n.Link = link
	before := dataplane.Render(n)
	if tx, ok := dataplane.Render(n).Update(before); !ok || tx != "" {
		t.Errorf("same network: update %q, %v; want nothing", tx, ok)
	}

	// eni-2 (app) also joins web: the web member set gains an element in place.
	m := threeTier()
	m.Link = link
	app := m.Snapshot.ENIs[1].Clone()
	app.Groups = append(app.Groups, "sg-web")
	m.Snapshot.ENIs[1] = app
	tx, ok := dataplane.Render(m).Update(before)
	if !ok {
		t.Fatal("no in-place update")
	}
	// Its slots gain the group too: elements, never a rule (a rule with a jump has the
	// kernel validate the whole table).
	for _, want := range []string{
		"add element inet stockade members4_sg_web { 10.0.1.20 }",
		`add element inet stockade out_slot1 { "stk-2" : jump sg_web_out }`,
		`add element inet stockade in_slot1 { "stk-2" : jump sg_web_in }`,
	} {
		if !strings.Contains(tx, want) {
			t.Errorf("update lacks %q:\n%s", want, tx)
		}
	}
	for _, never := range []string{"delete table", "add rule", "flush chain", "flush set"} {
		if strings.Contains(tx, never) {
			t.Errorf("update has %q:\n%s", never, tx)
		}
	}

	// Revoking a group's CIDR rules only removes set elements: the chain stays as it is.
	d := threeTier()
	d.Link = link
	db := *d.Snapshot.Groups[2]
	db.Ingress = db.Ingress[:1]
	d.Snapshot.Groups[2] = &db
	tx, _ = dataplane.Render(d).Update(before)
	if !strings.Contains(tx, "delete element inet stockade sg_db_in4") || strings.Contains(tx, "flush chain") {
		t.Errorf("want element deletions only:\n%s", tx)
	}

	// Deleting a group (its interface moved to another): the interface's slot leaves the
	// group's chains before they are deleted, and those go before its sets.
	x := threeTier()
	x.Link = link
	moved := x.Snapshot.ENIs[2].Clone()
	moved.Groups = []string{"sg-app"}
	x.Snapshot.ENIs[2] = moved
	x.Snapshot.Groups = x.Snapshot.Groups[:2]
	tx, _ = dataplane.Render(x).Update(before)
	leave := strings.Index(tx, `delete element inet stockade in_slot0 { "stk-3" : jump sg_db_in }`)
	delChain, delSet := strings.Index(tx, "delete chain inet stockade sg_db_in"), strings.Index(tx, "delete set inet stockade sg_db_in4")
	if leave < 0 || delChain < leave || delSet < delChain {
		t.Errorf("want the slot's element deleted, then the chain, then its set:\n%s", tx)
	}
}

// TestRendererCacheMatchesFresh: a Renderer that reuses group and interface renderings
// across changes produces exactly what a fresh rendering does, and the in-place update from
// its previous rendering (which passes over objects it reused) is the update between two fresh
// renderings. The changes: everything new, an interface's groups, and a group's rules under
// interfaces that stay the same objects (their entries depend on the rules: spec §2.6),
// interfaces coming and going, and an interface's addresses.
func TestRendererCacheMatchesFresh(t *testing.T) {
	g := newGen(rand.New(rand.NewPCG(1, 2)))
	base := g.network()
	base.Link = link
	var k cacheCheck
	n := g.vary(base)
	for i := range 120 {
		switch i % 6 {
		case 0:
			n = g.vary(base) // new groups
		case 1, 2:
			e := n.Snapshot.ENIs[i%len(n.Snapshot.ENIs)].Clone() // membership change only
			e.Groups = []string{fmt.Sprintf("sg-%d", i%5)}
			if i%4 == 1 {
				e.Groups = append(e.Groups, fmt.Sprintf("sg-%d", (i+1)%5), fmt.Sprintf("sg-%d", (i+3)%5))
			}
			enis := slices.Clone(n.Snapshot.ENIs)
			enis[i%len(enis)] = e
			n.Snapshot.ENIs = enis
		case 4:
			// An interface comes (its address the next free one) and, every other time, one
			// goes: the interfaces around them stay the same objects.
			enis := slices.Clone(n.Snapshot.ENIs)
			e := enis[i%len(enis)].Clone()
			e.ID = fmt.Sprintf("%s-%d", e.ID, i)
			a := e.PrivateIP.As4()
			a[3] = byte(200 + i%50)
			e.PrivateIP, e.SecondaryIPs = netip.AddrFrom4(a), nil
			enis = append(enis, e)
			if i%12 == 4 && len(enis) > 2 {
				enis = slices.Delete(enis, 1, 2)
			}
			slices.SortFunc(enis, func(a, b *model.NetworkInterface) int { return strings.Compare(a.ID, b.ID) })
			n.Snapshot.ENIs = enis
		case 5:
			// An interface gains a secondary address.
			enis := slices.Clone(n.Snapshot.ENIs)
			e := enis[(i/6)%len(enis)].Clone()
			a := e.PrivateIP.As4()
			a[3] = byte(100 + i%50)
			e.SecondaryIPs = append(e.SecondaryIPs, netip.AddrFrom4(a))
			enis[(i/6)%len(enis)] = e
			n.Snapshot.ENIs = enis
		case 3:
			groups := slices.Clone(n.Snapshot.Groups) // one group's rules only
			k := i % len(groups)
			grp := groups[k].Clone()
			if i%8 == 3 {
				grp.Ingress = append(grp.Ingress, rule("tcp", 0, 65535, cidr("0.0.0.0/0")))
				grp.Egress = append(grp.Egress, rule("-1", -1, -1, cidr("0.0.0.0/0")))
			} else {
				grp.Ingress, grp.Egress = nil, nil
			}
			groups[k] = grp
			n.Snapshot.Groups = groups
		}
		k.step(t, i, n)
	}
}

// TestPatchLines: a set's lines patched from its last rendering are what sorting the new
// input gives, for random inputs and changes of a few elements in one place; inputs with an
// element twice, and larger changes, are left to sorting.
func TestPatchLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string { return fmt.Sprintf("e%03d", rng.IntN(400)) }
	sorted := func(in []string) []string { out := slices.Clone(in); slices.Sort(out); return slices.Compact(out) }
	patched := 0
	for i := range 2000 {
		var prev []string
		for range rng.IntN(40) {
			prev = append(prev, word())
		}
		at := rng.IntN(len(prev) + 1)
		cut := min(len(prev)-at, rng.IntN(4))
		var put []string
		for range rng.IntN(4) {
			put = append(put, word())
		}
		elems := slices.Concat(prev[:at], put, prev[at+cut:])
		lines, ok := dataplane.PatchLines(prev, sorted(prev), elems)
		if !ok {
			continue
		}
		patched++
		if want := sorted(elems); !slices.Equal(lines, want) {
			t.Fatalf("case %d: %v → %v: patched %v, want %v", i, prev, elems, lines, want)
		}
	}
	if patched < 500 {
		t.Errorf("only %d of 2000 changes patched", patched)
	}
	if _, ok := dataplane.PatchLines([]string{"a", "a", "b"}, []string{"a", "b"}, []string{"a", "b"}); ok {
		t.Error("patched an input that held an element twice")
	}
	if _, ok := dataplane.PatchLines([]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b", "b"}); ok {
		t.Error("patched to an input that holds an element twice")
	}
}

// cacheCheck renders each step with a kept Renderer and afresh: both renderings, and both
// updates from the step before, must be the same.
type cacheCheck struct {
	c                     dataplane.Renderer
	prevCached, prevFresh *dataplane.Ruleset
}

func (k *cacheCheck) step(t *testing.T, i int, n dataplane.Network) {
	t.Helper()
	cached, fresh := k.c.Render(n), dataplane.Render(n)
	if got, want := cached.Text(), fresh.Text(); got != want {
		t.Fatalf("change %d: cached rendering differs:\n%s", i, cmp.Diff(want, got))
	}
	if k.prevCached != nil {
		got, gotOK := cached.Update(k.prevCached)
		want, wantOK := fresh.Update(k.prevFresh)
		if got != want || gotOK != wantOK {
			t.Fatalf("change %d: update from the cache differs:\n%s", i, cmp.Diff(want, got))
		}
	}
	k.prevCached, k.prevFresh = cached, fresh
}

// TestRendererReusesUnchangedObjects: after a membership change, the objects the change did
// not touch are the very objects of the previous rendering (which is what lets Update pass
// over them unread), and the ones it touched are new.
func TestRendererReusesUnchangedObjects(t *testing.T) {
	n := threeTier()
	n.Link = link
	var c dataplane.Renderer
	before := c.Render(n)
	app := n.Snapshot.ENIs[1].Clone()
	app.Groups = append(app.Groups, "sg-web")
	n.Snapshot.ENIs = []*model.NetworkInterface{n.Snapshot.ENIs[0], app, n.Snapshot.ENIs[2]}
	after := c.Render(n)
	for _, same := range []string{"out_slot0", "in_slot0", "out_untracked", "src4", "out_dispatch", "in_dispatch", "members4_sg_app", "sg_db_in", "sg_db_in4"} {
		if after.Object(same) == nil || after.Object(same) != before.Object(same) {
			t.Errorf("%s: rendered again, want the previous object", same)
		}
	}
	for _, changed := range []string{"out_slot1", "in_slot1", "members4_sg_web"} {
		if after.Object(changed) == before.Object(changed) {
			t.Errorf("%s: reused, but the change touched it", changed)
		}
	}
}

// TestOperatorInsideTheVPC: a VPC whose subnet holds the operator address (VPCs may use
// 100.64.0.0/10) gives the operator link no path: its elements would pass for an instance's,
// and its network ACL pairs would overlap the subnets'. Without one the link fails closed.
func TestOperatorInsideTheVPC(t *testing.T) {
	n := rich()
	n.Link = link
	if txt := dataplane.Render(n).Text(); !strings.Contains(txt, `"stk-op" . 100.64.0.2`) || !strings.Contains(txt, "100.64.0.2/32 . 10.0.2.0/24") {
		t.Fatalf("the operator has no path in the rich network:\n%s", txt)
	}
	sn := *n.Snapshot.Subnets[0]
	sn.CIDR = netip.MustParsePrefix("100.64.0.0/24")
	n.Snapshot.Subnets = []*model.Subnet{&sn, n.Snapshot.Subnets[1]}
	txt := dataplane.Render(n).Text()
	for _, never := range []string{"stk-op", "100.64.0.2", "operator_"} {
		if strings.Contains(txt, never) {
			t.Errorf("rendering has %q with the operator address inside a subnet:\n%s", never, txt)
		}
	}
}

// TestInternetAssociationIsElementUpdate: associating a public address changes the elements
// of the translation maps and of the translated sources, and nothing else (elements the agent
// sends over netlink itself); a subnet given to
// two NAT gateways goes out with the first one's address only.
func TestInternetAssociationIsElementUpdate(t *testing.T) {
	n := withInternet(rich())
	n.Link = link
	var c dataplane.Renderer
	before := c.Render(n)
	m := n
	m.Internet.Public = map[netip.Addr]netip.Addr{netip.MustParseAddr("198.51.100.10"): netip.MustParseAddr("10.0.1.10"),
		netip.MustParseAddr("198.51.100.20"): netip.MustParseAddr("10.0.1.20")}
	tx, ok := c.Render(m).Update(before)
	if !ok {
		t.Fatal("no in-place update")
	}
	want := "add element inet stockade internet_pub4 { 10.0.1.20 }\n" +
		"add element inet stockade internet_dnat4 { 198.51.100.20 : 10.0.1.20 }\n" +
		"add element inet stockade internet_snat4 { 10.0.1.20 : 198.51.100.20 }\n"
	if diff := cmp.Diff(want, tx); diff != "" {
		t.Errorf("association transaction (-want +got):\n%s", diff)
	}
	if !dataplane.NetlinkCovers(tx) {
		t.Error("an association goes through nft, not over netlink")
	}
	m.Internet.NAT = append(m.Internet.NAT, dataplane.NATGateway{Public: netip.MustParseAddr("198.51.100.98"),
		Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24"), netip.MustParsePrefix("10.0.3.0/24")}})
	nat := dataplane.Render(m).Object("internet_nat4")
	if diff := cmp.Diff([]string{"10.0.2.0/24 : 198.51.100.99", "10.0.3.0/24 : 198.51.100.98"}, nat.Lines); diff != "" {
		t.Errorf("NAT map (-want +got):\n%s", diff)
	}
}

// TestOperatorIPv6: with an IPv6 address, the operator may send from it through its link (the
// way to instances of IPv6-only subnets), and its pairs meet the ACLs of the subnets with an
// IPv6 block as its IPv4 pairs do; an address inside a subnet's IPv6 block gets no IPv6 path,
// while the IPv4 one stays.
func TestOperatorIPv6(t *testing.T) {
	n := rich()
	n.Link = link
	op6 := netip.MustParseAddr("fd64:ec2::2")
	n.Operator.Addr6 = op6
	txt := dataplane.Render(n).Text()
	for _, want := range []string{`"stk-op" . fd64:ec2::2`, "fd64:ec2::2/128 . 2600:1f18:aaaa:bb01::/64", `"stk-op" . 100.64.0.2`} {
		if !strings.Contains(txt, want) {
			t.Errorf("rendering lacks %q:\n%s", want, txt)
		}
	}
	n.Operator.Addr6 = netip.MustParseAddr("2600:1f18:aaaa:bb01::99")
	txt = dataplane.Render(n).Text()
	if strings.Contains(txt, "2600:1f18:aaaa:bb01::99") || !strings.Contains(txt, `"stk-op" . 100.64.0.2`) {
		t.Errorf("an operator IPv6 address inside a subnet has a path, or the IPv4 one went:\n%s", txt)
	}
}

// TestIPv6OnlyInterface: an interface of an IPv6-only subnet (no IPv4 address) is in the IPv6
// source set and in its group's IPv6 member set, and nowhere in the IPv4 ones: no zero or
// invalid address is rendered for it.
func TestIPv6OnlyInterface(t *testing.T) {
	n := rich()
	n.Link = link
	s := &n.Snapshot
	native := &model.Subnet{ID: "subnet-6", VpcID: "vpc-1", IPv6Native: true, IPv6CIDR: netip.MustParsePrefix("2600:1f18:aaaa:bb06::/64")}
	s.Subnets = append(s.Subnets, native)
	six := netip.MustParseAddr("2600:1f18:aaaa:bb06::4")
	s.ENIs = append(s.ENIs, &model.NetworkInterface{ID: "eni-6", SubnetID: native.ID, VpcID: "vpc-1", Groups: []string{"sg-app"},
		MAC: "02:00:00:00:00:06", IPv6: []netip.Addr{six}})
	txt := dataplane.Render(n).Text()
	for _, never := range []string{"invalid IP", " 0.0.0.0 ", `"stk-6" . 0`} {
		if strings.Contains(txt, never) {
			t.Errorf("rendering has %q for the IPv6-only interface:\n%s", never, txt)
		}
	}
	if want := `"stk-6" . ` + six.String(); !strings.Contains(txt, want) {
		t.Errorf("the IPv6 source set lacks %q:\n%s", want, txt)
	}
	if got := strings.Count(txt, six.String()); got < 2 { // a source and a member of sg-app
		t.Errorf("%s appears %d times, want in the source set and sg-app's members:\n%s", six, got, txt)
	}
}

// TestRendererOutsideFollowsTheVPC: the internet's prefixes, which a Renderer keeps between
// calls, follow what they are the complement of: a subnet added, a secondary block, the
// operator's address. An ACL that denies something to the internet renders a pair for each
// of them.
func TestRendererOutsideFollowsTheVPC(t *testing.T) {
	n := withInternet(threeTier())
	n.Link = link
	acl := *n.Snapshot.NACLs[0]
	acl.Entries = append([]model.NACLEntry{{RuleNumber: 50, Protocol: "6", HasPorts: true, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}, acl.Entries...)
	n.Snapshot.NACLs = []*model.NACL{&acl}
	var k cacheCheck
	k.step(t, 0, n)
	n.Snapshot.Subnets = append(slices.Clone(n.Snapshot.Subnets), &model.Subnet{ID: "subnet-3", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.1.0.0/24")})
	k.step(t, 1, n)
	vpc := n.VPC.Clone()
	vpc.Secondary = append(vpc.Secondary, model.CIDRBlock{CIDR: netip.MustParsePrefix("100.64.0.0/16")})
	n.VPC, n.Snapshot.VPCs = vpc, []*model.VPC{vpc}
	k.step(t, 2, n)
	n.Operator.Addr = netip.MustParseAddr("192.0.2.1")
	k.step(t, 3, n)
	e := n.Snapshot.ENIs[0].Clone() // and a membership change, which keeps them
	e.Groups = []string{"sg-app"}
	n.Snapshot.ENIs = append([]*model.NetworkInterface{e}, n.Snapshot.ENIs[1:]...)
	k.step(t, 4, n)
}
