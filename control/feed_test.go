package control

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// feedWorld is a tenant with n interfaces in one subnet of the default VPC, and a group.
func feedWorld(t testing.TB, s *Service, n int) (*model.Group, []*model.NetworkInterface) {
	t.Helper()
	ctx := context.Background()
	vpc := mustViewOf(t, s, alice, func(v View) *model.VPC { return v.DefaultVPC() })
	sn, _, err := s.CreateSubnet(ctx, alice, CreateSubnetInput{VpcID: vpc.ID, CIDR: "172.31.128.0/20"})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: vpc.ID, Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var enis []*model.NetworkInterface
	for i := range n {
		e, _, err := s.CreateENI(ctx, alice, CreateENIInput{SubnetID: sn.ID, Description: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		enis = append(enis, e)
	}
	return g, enis
}

// fresh is the tenant's network sorted from its maps now, without the cache.
func fresh(s *Service) netmap.Network {
	tn := s.tenants[alice]
	tn.mu.RLock()
	defer tn.mu.RUnlock()
	return netmap.Network{Tenant: alice, Snapshot: netmap.Snapshot{
		VPCs:        sorted(tn.vpcs, func(x *model.VPC) string { return x.ID }),
		Subnets:     sorted(tn.subnets, func(x *model.Subnet) string { return x.ID }),
		ENIs:        sorted(tn.enis, func(x *model.NetworkInterface) string { return x.ID }),
		Groups:      sorted(tn.groups, func(x *model.Group) string { return x.ID }),
		PrefixLists: tn.aws.withOwn(tn.key.Region, sorted(tn.prefixLists, func(x *model.PrefixList) string { return x.ID })),
		NACLs:       sorted(tn.nacls, func(x *model.NACL) string { return x.ID })},
		Instances: sorted(tn.instances, func(x *model.Instance) string { return x.ID })}
}

// viewed is the tenant's network as View lists it (the kinds it lists from the cache).
func viewed(t *testing.T, s *Service) netmap.Network {
	return mustViewOf(t, s, alice, func(v View) netmap.Network {
		return netmap.Network{Tenant: alice, Snapshot: netmap.Snapshot{VPCs: v.VPCs(), Subnets: v.Subnets(), ENIs: v.ENIs(),
			Groups: v.Groups(), PrefixLists: v.PrefixLists(), NACLs: v.NACLs()}, Instances: v.Instances()}
	})
}

// TestFeedCacheMatchesFresh: after every kind of change — a new object, a replaced one (a
// membership change), a deleted one, a write rolled back — the feed's network equals one
// sorted afresh from the maps.
func TestFeedCacheMatchesFresh(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	g, enis := feedWorld(t, s, 5)
	check := func(step string) {
		t.Helper()
		_, nets := s.Networks()
		if len(nets) != 1 {
			t.Fatalf("%s: %d networks", step, len(nets))
		}
		if want, got := fresh(s), nets[0]; !sameNetwork(want, got) {
			t.Errorf("%s: the feed differs from a fresh sort:\n fresh %+v\n feed  %+v", step, want, got)
		}
		// The Describe calls list from the same cache (no instance here has expired).
		if want, got := fresh(s), viewed(t, s); !sameNetwork(want, got) {
			t.Errorf("%s: View's listings differ from a fresh sort:\n fresh %+v\n view  %+v", step, want, got)
		}
	}
	check("start")
	check("again, from the cache")
	if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[2].ID, Groups: []string{g.ID}}); err != nil {
		t.Fatal(err)
	}
	check("membership change")
	if _, err := s.DeleteENI(ctx, alice, IDInput{ID: enis[0].ID}); err != nil {
		t.Fatal(err)
	}
	check("deleted interface")
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: g.VpcID, Name: "web", Description: "dup"}); err == nil {
		t.Fatal("duplicate group created")
	}
	check("failed write")
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: g.VpcID, Name: "app", Description: "app", DryRun: true}); code(err) != "DryRunOperation" {
		t.Fatal(err)
	}
	check("dry run")
	// The slices are shared and read-only, but an append copies: two consumers appending to
	// the same kind (here after a deletion, which left room behind the cached slice) do not
	// write into one array.
	_, nets := s.Networks()
	_, again := s.Networks()
	mine, theirs := &model.NetworkInterface{ID: "eni-mine"}, &model.NetworkInterface{ID: "eni-theirs"}
	a := append(nets[0].ENIs, mine)
	b := append(again[0].ENIs, theirs)
	if a[len(a)-1] != mine || b[len(b)-1] != theirs {
		t.Errorf("appends to the feed's slices share an array: %s, %s", a[len(a)-1].ID, b[len(b)-1].ID)
	}
	check("after consumers appended to their slices")
	// The changes since the copy are applied from the kind's log of them: a few, and more
	// than the log holds (sorted afresh).
	def := mustViewOf(t, s, alice, func(v View) string { return v.DefaultVPC().DefaultGroupID })
	modify := func(n int) {
		for i := range n {
			groups := []string{g.ID}
			if i%2 == 1 {
				groups = []string{def}
			}
			if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[1+i%4].ID, Groups: groups}); err != nil {
				t.Fatal(err)
			}
		}
	}
	modify(3)
	check("three replacements")
	modify(maxChanges + 7)
	check("more replacements than the log holds")
	modify(1)
	check("one more")
	for i := range 3 { // additions go in their place, whatever their IDs
		if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{VpcID: g.VpcID, Name: fmt.Sprint("new", i), Description: "d"}); err != nil {
			t.Fatal(err)
		}
		check("a new group")
	}
}

// TestRollbackDropsSortedCopies: a copy sorted while a transaction ran lists what the
// transaction had put in memory; once the transaction is rolled back, no listing serves it.
func TestRollbackDropsSortedCopies(t *testing.T) {
	s := newTestService(t)
	g, _ := feedWorld(t, s, 1)
	tn := s.tenants[alice]
	tn.mu.Lock()
	tx := s.begin(tn)
	gone := &model.Group{ID: "sg-0rolledback00000", VpcID: g.VpcID, Name: "gone"}
	set(tx, tn.groups, kindGroup, gone.ID, gone)
	during := View{tn}.Groups()
	tx.rollback()
	tn.mu.Unlock()
	if !slices.Contains(during, gone) {
		t.Fatalf("the group the transaction added is not listed during it")
	}
	if got := mustViewOf(t, s, alice, func(v View) []*model.Group { return v.Groups() }); slices.Contains(got, gone) {
		t.Errorf("a rolled-back group is still listed")
	}
	if _, nets := s.Networks(); slices.Contains(nets[0].Groups, gone) {
		t.Errorf("a rolled-back group is still in the feed")
	}
	if want, got := fresh(s), viewed(t, s); !sameNetwork(want, got) {
		t.Errorf("after the rollback, View's listings differ from a fresh sort:\n fresh %+v\n view  %+v", want, got)
	}
}

// BenchmarkNetworksMembershipChange is the host feed's cost per revision at 1,000 interfaces
// when a write changed one interface (the enforcement-latency path).
func BenchmarkNetworksMembershipChange(b *testing.B) {
	ctx := context.Background()
	st := tempBolt(b)
	s := openService(b, st)
	g, enis := feedWorld(b, s, 1000)
	def := mustViewOf(b, s, alice, func(v View) string { return v.DefaultVPC().DefaultGroupID })
	s.Networks()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		groups := []string{g.ID} // join web, then go back to the default group
		if i/len(enis)%2 == 1 {
			groups = []string{def}
		}
		if _, err := s.ModifyENI(ctx, alice, ModifyENIInput{ID: enis[i%len(enis)].ID, Groups: groups}); err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		s.Networks()
	}
}

// sameNetwork: the same tenant and the same objects (pointers: nothing is copied) in the same order.
func sameNetwork(a, b netmap.Network) bool {
	return a.Tenant == b.Tenant && slices.Equal(a.VPCs, b.VPCs) && slices.Equal(a.Subnets, b.Subnets) &&
		slices.Equal(a.ENIs, b.ENIs) && slices.Equal(a.Groups, b.Groups) && slices.Equal(a.PrefixLists, b.PrefixLists) &&
		slices.Equal(a.NACLs, b.NACLs) && slices.Equal(a.Instances, b.Instances)
}
