package control

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

func TestChoose(t *testing.T) {
	micro, _ := model.LookupInstanceType("t3.micro") // 2 vCPUs, 1 GiB
	large, _ := model.LookupInstanceType("m5.large") // 2 vCPUs, 8 GiB
	up := func(name, zone string, vcpus int, mem int64) cluster.Host {
		return cluster.Host{Name: name, Zone: zone, VCPUs: vcpus, MemoryMiB: mem}
	}
	state := func(h cluster.Host) string {
		if strings.HasPrefix(h.Name, "down") {
			return cluster.Down
		}
		return cluster.Up
	}
	hosts := func(hs ...cluster.Host) map[string]cluster.Host {
		m := map[string]cluster.Host{}
		for _, h := range hs {
			m[h.Name] = h
		}
		return m
	}
	a, b := "111111111111", "222222222222"
	dh := func(id, node, typ string, auto bool) *model.DedicatedHost {
		return &model.DedicatedHost{ID: id, Node: node, AZ: "z1", InstanceType: typ, AutoPlacement: auto, State: model.HostAvailable}
	}
	for _, c := range []struct {
		name     string
		hosts    map[string]cluster.Host
		occ      map[string]cluster.Occupancy
		req      placeRequest
		want     string
		wantCode string
	}{
		{"the one host", hosts(up("h1", "z1", 4, 4096)), nil, placeRequest{account: a, zone: "z1", itype: micro}, "h1", ""},
		{"spread: most free vCPUs", hosts(up("h1", "z1", 4, 4096), up("h2", "z1", 8, 4096)), nil,
			placeRequest{account: a, zone: "z1", itype: micro}, "h2", ""},
		{"by name on a tie", hosts(up("h2", "z1", 4, 4096), up("h1", "z1", 4, 4096)), nil,
			placeRequest{account: a, zone: "z1", itype: micro}, "h1", ""},
		{"the subnet's zone only", hosts(up("h1", "z2", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", itype: micro}, "", "InsufficientInstanceCapacity"},
		{"a down host is not used", hosts(up("down1", "z1", 64, 65536), up("h1", "z1", 2, 2048)), nil,
			placeRequest{account: a, zone: "z1", itype: micro}, "h1", ""},
		{"vCPUs full", hosts(up("h1", "z1", 4, 65536)), map[string]cluster.Occupancy{"h1": {VCPUs: 3}},
			placeRequest{account: a, zone: "z1", itype: micro}, "", "InsufficientInstanceCapacity"},
		{"memory full", hosts(up("h1", "z1", 64, 8192)), map[string]cluster.Occupancy{"h1": {MemoryMiB: 1}},
			placeRequest{account: a, zone: "z1", itype: large}, "", "InsufficientInstanceCapacity"},
		{"exactly full fits", hosts(up("h1", "z1", 4, 2048)), map[string]cluster.Occupancy{"h1": {VCPUs: 2, MemoryMiB: 1024}},
			placeRequest{account: a, zone: "z1", itype: micro}, "h1", ""},
		{"another account's dedicated host is closed", hosts(up("h1", "z1", 64, 65536)),
			map[string]cluster.Occupancy{"h1": {Account: b, Dedicated: 1, Accounts: map[string]int{b: 1}}},
			placeRequest{account: a, zone: "z1", itype: micro}, "", "InsufficientInstanceCapacity"},
		{"the account's own dedicated host takes its default instances", hosts(up("h1", "z1", 64, 65536)),
			map[string]cluster.Occupancy{"h1": {Account: a, Dedicated: 1, Accounts: map[string]int{a: 1}}},
			placeRequest{account: a, zone: "z1", itype: micro}, "h1", ""},
		{"dedicated avoids a host with another account's default instance", hosts(up("h1", "z1", 64, 65536), up("h2", "z1", 4, 4096)),
			map[string]cluster.Occupancy{"h1": {Accounts: map[string]int{b: 1}}},
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyDedicated, itype: micro}, "h2", ""},
		{"dedicated packs onto the account's dedicated host", hosts(up("h1", "z1", 64, 65536), up("h2", "z1", 8, 8192)),
			map[string]cluster.Occupancy{"h2": {Account: a, Dedicated: 1, Accounts: map[string]int{a: 1}, VCPUs: 2}},
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyDedicated, itype: micro}, "h2", ""},
		{"dedicated with nowhere alone", hosts(up("h1", "z1", 64, 65536)), map[string]cluster.Occupancy{"h1": {Accounts: map[string]int{b: 1}}},
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyDedicated, itype: micro}, "", "InsufficientInstanceCapacity"},
		{"a Dedicated Host takes no default launch", hosts(up("h1", "z1", 64, 65536)),
			map[string]cluster.Occupancy{"h1": {Account: a, Allocation: &cluster.Allocation{Account: a, HostID: "h-1"}}},
			placeRequest{account: a, zone: "z1", itype: micro}, "", "InsufficientInstanceCapacity"},
		{"host tenancy: the named host", hosts(up("h1", "z1", 64, 65536), up("h2", "z1", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: micro, hosts: []*model.DedicatedHost{dh("h-2", "h2", "t3.micro", false)}, explicit: true}, "h2", ""},
		{"host tenancy: auto-placement off is not chosen", hosts(up("h1", "z1", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: micro, hosts: []*model.DedicatedHost{dh("h-1", "h1", "t3.micro", false)}}, "", "IncompatibleHostRequirements"},
		{"host tenancy: auto-placement on", hosts(up("h1", "z1", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: micro, hosts: []*model.DedicatedHost{dh("h-1", "h1", "t3.micro", true)}}, "h1", ""},
		{"host tenancy: another type", hosts(up("h1", "z1", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: large, hosts: []*model.DedicatedHost{dh("h-1", "h1", "t3.micro", true)}, explicit: true}, "", "IncompatibleHostRequirements"},
		{"host tenancy: full", hosts(up("h1", "z1", 2, 65536)), map[string]cluster.Occupancy{"h1": {VCPUs: 2}},
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: micro, hosts: []*model.DedicatedHost{dh("h-1", "h1", "t3.micro", true)}, explicit: true}, "", "InsufficientCapacityOnHost"},
		{"host tenancy: host down", hosts(up("down1", "z1", 64, 65536)), nil,
			placeRequest{account: a, zone: "z1", tenancy: model.TenancyHost, itype: micro, hosts: []*model.DedicatedHost{dh("h-1", "down1", "t3.micro", true)}, explicit: true}, "", "InsufficientCapacityOnHost"},
	} {
		got, err := choose(c.hosts, c.occ, c.req, state)
		code := ""
		if me, ok := err.(*model.Error); ok {
			code = me.Code
		} else if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if got != c.want || code != c.wantCode {
			t.Errorf("%s: %s: got %q %s, want %q %s", c.name, c.req, got, code, c.want, c.wantCode)
		}
	}
}

// checkPlacement reads every instance and occupancy record from st and fails unless the
// occupancy records are exactly what the instances add up to and B9.2's invariants hold:
// (1) a host with a dedicated instance of X runs only X's instances; (2) a Dedicated Host
// runs only its owner's host-tenancy instances, and host-tenancy instances run only on
// their Dedicated Host; (3) no host holds more than its capacity; (5) each instance is in its
// host's zone.
func checkPlacement(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	hosts, err := cluster.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cluster.Host{}
	for _, h := range hosts {
		byName[h.Name] = h
	}
	stored, _, err := cluster.Occupancies(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	kvs, _, err := st.List(ctx, resourcePrefix)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]cluster.Occupancy{}
	insts := map[string][]*model.Instance{}
	for _, kv := range kvs {
		_, kind, _, _ := parseKey(kv.Key)
		if kind != kindInstance {
			continue
		}
		var in model.Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			t.Fatal(err)
		}
		if in.Node == "" || in.State == model.StateTerminated {
			continue
		}
		it, _ := model.LookupInstanceType(typeOf(&in))
		o := want[in.Node]
		o.VCPUs += it.VCPUs
		o.MemoryMiB += it.MemoryMiB
		o.Instances++
		if o.Accounts == nil {
			o.Accounts = map[string]int{}
		}
		o.Accounts[in.OwnerID]++
		if in.Tenancy == model.TenancyDedicated {
			o.Dedicated++
			o.Account = in.OwnerID
		}
		want[in.Node] = o
		insts[in.Node] = append(insts[in.Node], &in)
	}
	for name, o := range stored {
		w := want[name]
		w.Allocation = o.Allocation
		if o.Allocation != nil {
			w.Account = o.Allocation.Account
		}
		want[name] = w
	}
	ignoreEmpty := cmpopts.EquateEmpty()
	if diff := cmp.Diff(want, stored, ignoreEmpty, cmpopts.IgnoreMapEntries(func(_ string, o cluster.Occupancy) bool {
		return o.Instances == 0 && o.Allocation == nil && o.Dedicated == 0 && o.Account == ""
	})); diff != "" {
		t.Errorf("occupancy records differ from the instances (-instances +records):\n%s", diff)
	}
	for name, list := range insts {
		h := byName[name]
		o := want[name]
		if o.VCPUs > h.VCPUs || o.MemoryMiB > h.MemoryMiB {
			t.Errorf("invariant 3: host %s holds %d vCPUs %d MiB of %d %d", name, o.VCPUs, o.MemoryMiB, h.VCPUs, h.MemoryMiB)
		}
		accounts := slicesOfKeys(o.Accounts)
		for _, in := range list {
			if in.AZ != h.Zone {
				t.Errorf("invariant 5: %s in %s on host %s of %s", in.ID, in.AZ, name, h.Zone)
			}
			if in.Tenancy == model.TenancyDedicated && len(accounts) > 1 {
				t.Errorf("invariant 1: dedicated %s of %s shares host %s with accounts %v", in.ID, in.OwnerID, name, accounts)
			}
			alloc := stored[name].Allocation
			switch {
			case alloc != nil && (in.Tenancy != model.TenancyHost || in.OwnerID != alloc.Account || in.HostID != alloc.HostID):
				t.Errorf("invariant 2: %s (%s of %s on %s) on Dedicated Host %s of %s", in.ID, in.Tenancy, in.OwnerID, in.HostID, alloc.HostID, alloc.Account)
			case alloc == nil && in.Tenancy == model.TenancyHost:
				t.Errorf("invariant 2: host-tenancy %s on host %s, which is no Dedicated Host", in.ID, name)
			}
		}
	}
}

func slicesOfKeys(m map[string]int) []string {
	var out []string
	for k, n := range maps.All(m) {
		if n > 0 {
			out = append(out, k)
		}
	}
	return out
}

// placeEnv is eniEnv with hosts and a second account (alice) with a subnet in us-east-1a.
type placeEnv struct {
	*eniEnv
	aliceSn *model.Subnet
}

func newPlaceEnv(t *testing.T, hosts ...cluster.Host) *placeEnv {
	e := &placeEnv{eniEnv: newENITestService(t, nil)}
	for _, h := range hosts {
		if h.Lease == 0 {
			h.Lease = time.Minute
		}
		if err := cluster.Register(e.ctx, e.st, h, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	vpc := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"}))
	e.aliceSn = eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, alice, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.1.0/24", Zone: "us-east-1a"}))
	return e
}

func (e *placeEnv) launch(tn Tenant, in RunInput) (*Reservation, error) {
	in.ImageID = image.DefaultID
	if in.InstanceType == "" {
		in.InstanceType = "t3.micro"
	}
	if in.MinCount == 0 {
		in.MinCount, in.MaxCount = 1, max(in.MaxCount, 1)
	}
	if in.SubnetID == "" {
		in.SubnetID = e.sn.ID
		if tn == alice {
			in.SubnetID = e.aliceSn.ID
		}
	}
	r, _, err := e.s.RunInstances(e.ctx, tn, in)
	return r, err
}

func (e *placeEnv) mustLaunch(tn Tenant, in RunInput) []*model.Instance {
	e.t.Helper()
	r, err := e.launch(tn, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Instances
}

func (e *placeEnv) nodeOf(tn Tenant, id string) string {
	e.t.Helper()
	var node string
	if err := e.s.View(e.ctx, tn, func(v View) error {
		in, err := v.Instance(id)
		if err == nil {
			node = in.Node
		}
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return node
}

func host(name, zone string, vcpus int) cluster.Host {
	return cluster.Host{Name: name, Zone: zone, VCPUs: vcpus, MemoryMiB: int64(vcpus) * 4096}
}

// TestNoHostsNoPlacement: with no host registered, launches are as before hosts existed.
func TestNoHostsNoPlacement(t *testing.T) {
	e := newPlaceEnv(t)
	for _, tenancy := range []string{"", model.TenancyDedicated} {
		in := e.mustLaunch(eniTenant, RunInput{Tenancy: tenancy, MaxCount: 3})
		for _, i := range in {
			if i.Node != "" || i.HostID != "" {
				t.Errorf("%s placed on %q %q", i.ID, i.Node, i.HostID)
			}
		}
	}
	if occ, _, _ := cluster.Occupancies(e.ctx, e.st); len(occ) != 0 {
		t.Errorf("occupancy written without hosts: %v", occ)
	}
}

// TestPlacementCapacity: launches fill the hosts of the subnet's zone and then fail with
// InsufficientInstanceCapacity, changing nothing; MinCount takes what fits; terminating frees,
// stopping keeps; a host whose lease lapsed takes nothing new.
func TestPlacementCapacity(t *testing.T) {
	e := newPlaceEnv(t, host("a1", "us-east-1a", 4), host("a2", "us-east-1a", 2), host("b1", "us-east-1b", 64))
	first := e.mustLaunch(eniTenant, RunInput{})
	if got := e.nodeOf(eniTenant, first[0].ID); got != "a1" {
		t.Errorf("first launch on %q, want a1 (most free)", got)
	}
	// Two more fit (a2, a1), a fourth does not: MinCount 1, MaxCount 5 launches two.
	more := e.mustLaunch(eniTenant, RunInput{MinCount: 1, MaxCount: 5})
	if len(more) != 2 {
		t.Fatalf("launched %d, want the 2 that fit", len(more))
	}
	checkPlacement(t, e.st)
	runErrorCases(t, e.eniEnv, []errCase[RunInput]{
		{"full zone", RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID},
			"InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested (us-east-1a)"},
		{"MinCount over what fits", RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2, SubnetID: e.sn.ID},
			"InsufficientInstanceCapacity", ""},
	}, e.s.RunInstances)
	occBefore, _, _ := cluster.Occupancies(e.ctx, e.st)
	if _, _, err := e.s.StopInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{first[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.launch(eniTenant, RunInput{}); codeOf(err) != "InsufficientInstanceCapacity" {
		t.Errorf("after a stop: %v, want InsufficientInstanceCapacity (a stopped instance keeps its place)", err)
	}
	if occ, _, _ := cluster.Occupancies(e.ctx, e.st); !cmp.Equal(occ, occBefore) {
		t.Errorf("a stop changed occupancy: %v -> %v", occBefore, occ)
	}
	// A stopped instance's new type is placed anew: too large for any host, refused with
	// nothing changed; a size that fits moves its share.
	big, small := "m5.4xlarge", "t3.small"
	runErrorCases(t, e.eniEnv, []errCase[ModifyInstanceInput]{
		{"type too large for any host", ModifyInstanceInput{ID: first[0].ID, InstanceType: &big}, "InsufficientInstanceCapacity", "m5.4xlarge"},
	}, noOutput(e.s.ModifyInstance))
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: first[0].ID, InstanceType: &small}); err != nil {
		t.Fatal(err)
	}
	checkPlacement(t, e.st)
	e.terminate(first[0].ID)
	again := e.mustLaunch(eniTenant, RunInput{})
	if got := e.nodeOf(eniTenant, again[0].ID); got != "a1" {
		t.Errorf("after a termination: on %q, want a1", got)
	}
	checkPlacement(t, e.st)
	// b1's lease lapses; a launch in us-east-1b finds no up host.
	snB := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.9.0/24", Zone: "us-east-1b"}))
	if got := e.nodeOf(eniTenant, e.mustLaunch(eniTenant, RunInput{SubnetID: snB.ID})[0].ID); got != "b1" {
		t.Errorf("us-east-1b launch on %q", got)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.launch(eniTenant, RunInput{SubnetID: snB.ID}); codeOf(err) != "InsufficientInstanceCapacity" {
		t.Errorf("on a down host: %v", err)
	}
	checkPlacement(t, e.st)
}

// TestPlacementDedicated: a dedicated instance takes a host no other account uses, and then
// keeps every other account off it, while its own account's default instances may join it.
func TestPlacementDedicated(t *testing.T) {
	e := newPlaceEnv(t, host("h1", "us-east-1a", 8), host("h2", "us-east-1a", 4))
	shared := e.mustLaunch(alice, RunInput{})[0] // h1: most free
	if got := e.nodeOf(alice, shared.ID); got != "h1" {
		t.Fatalf("alice's first instance on %q", got)
	}
	ded := e.mustLaunch(eniTenant, RunInput{Tenancy: model.TenancyDedicated})[0]
	if got := e.nodeOf(eniTenant, ded.ID); got != "h2" {
		t.Fatalf("dedicated instance on %q, want h2, the host without alice", got)
	}
	// Alice's next instances cannot use h2; h1 has room for 3 more.
	for range 3 {
		if got := e.nodeOf(alice, e.mustLaunch(alice, RunInput{})[0].ID); got != "h1" {
			t.Errorf("alice's instance on %q, want h1", got)
		}
	}
	if _, err := e.launch(alice, RunInput{}); codeOf(err) != "InsufficientInstanceCapacity" {
		t.Errorf("alice with h1 full and h2 dedicated: %v", err)
	}
	// The dedicated account's default instance may join its dedicated host.
	if got := e.nodeOf(eniTenant, e.mustLaunch(eniTenant, RunInput{})[0].ID); got != "h2" {
		t.Errorf("the account's default instance on %q, want h2", got)
	}
	// A second dedicated instance finds no host free of alice: h2 is full.
	if _, err := e.launch(eniTenant, RunInput{Tenancy: model.TenancyDedicated}); codeOf(err) != "InsufficientInstanceCapacity" {
		t.Errorf("second dedicated: %v", err)
	}
	checkPlacement(t, e.st)
}

// TestDedicatedHosts: AllocateHosts takes a whole free host, RunInstances with its HostId
// goes there (and nothing else does), ReleaseHosts refuses it while occupied, and
// ModifyInstancePlacement moves a stopped instance between dedicated and host tenancy.
func TestDedicatedHosts(t *testing.T) {
	e := newPlaceEnv(t, host("h1", "us-east-1a", 8), host("h2", "us-east-1a", 8), host("b1", "us-east-1b", 8))
	busy := e.mustLaunch(alice, RunInput{})[0] // h1: a host with an instance is not free
	if e.nodeOf(alice, busy.ID) != "h1" {
		t.Fatal("alice not on h1")
	}
	alloc := func(in AllocateHostsInput) ([]string, Result, error) { return e.s.AllocateHosts(e.ctx, eniTenant, in) }
	ids, _, err := alloc(AllocateHostsInput{Zone: "us-east-1a", InstanceType: "t3.micro", Quantity: 1, ClientToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || !model.ValidID(model.PrefixHost, ids[0]) {
		t.Fatalf("AllocateHosts = %v", ids)
	}
	hid := ids[0]
	if again, _, err := alloc(AllocateHostsInput{Zone: "us-east-1a", InstanceType: "t3.micro", Quantity: 1, ClientToken: "tok"}); err != nil || !cmp.Equal(again, ids) {
		t.Errorf("ClientToken retry: %v %v", again, err)
	}
	badAlloc := func(f func(*AllocateHostsInput)) AllocateHostsInput {
		in := AllocateHostsInput{Zone: "us-east-1a", InstanceType: "t3.micro", Quantity: 1}
		f(&in)
		return in
	}
	runErrorCases(t, e.eniEnv, []errCase[AllocateHostsInput]{
		{"no zone", badAlloc(func(in *AllocateHostsInput) { in.Zone = "" }), "MissingParameter", ""},
		{"no type", badAlloc(func(in *AllocateHostsInput) { in.InstanceType = "" }), "MissingParameter", ""},
		{"type and family", badAlloc(func(in *AllocateHostsInput) { in.InstanceFamily = "t3" }), "InvalidParameterCombination", ""},
		{"unknown family", badAlloc(func(in *AllocateHostsInput) { in.InstanceType, in.InstanceFamily = "", "x9" }), "InvalidParameterValue", "x9"},
		{"quantity 0", badAlloc(func(in *AllocateHostsInput) { in.Quantity = 0 }), "InvalidParameterValue", ""},
		{"bad auto-placement", badAlloc(func(in *AllocateHostsInput) { in.AutoPlacement = "yes" }), "InvalidParameterValue", "autoPlacement"},
		{"unknown zone", badAlloc(func(in *AllocateHostsInput) { in.Zone = "eu-west-1a" }), "InvalidParameterValue", "eu-west-1a"},
		{"no free host left in the zone", badAlloc(func(*AllocateHostsInput) {}), "InsufficientHostCapacity", "1 Dedicated Hosts in us-east-1a: 0 are free"},
		{"more than are free", badAlloc(func(in *AllocateHostsInput) { in.Zone, in.Quantity = "us-east-1b", 2 }), "InsufficientHostCapacity", ""},
	}, e.s.AllocateHosts)
	// Nothing but the owner's host-tenancy instances go on h2 now.
	if _, err := e.launch(alice, RunInput{MaxCount: 4}); err != nil {
		t.Fatal(err) // h1 has room for 3 more of alice's: the 4th fails...
	}
	checkPlacement(t, e.st)

	onHost := e.mustLaunch(eniTenant, RunInput{HostID: hid})[0]
	if onHost.Tenancy != model.TenancyHost || onHost.HostID != hid || onHost.Affinity != model.AffinityDefault {
		t.Errorf("launched %s/%s/%s", onHost.Tenancy, onHost.HostID, onHost.Affinity)
	}
	run := func(f func(*RunInput)) RunInput {
		in := RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, HostID: hid}
		f(&in)
		return in
	}
	runErrorCases(t, e.eniEnv, []errCase[RunInput]{
		{"malformed host", run(func(in *RunInput) { in.HostID = "h-xyz" }), "InvalidHostID.Malformed", "h-xyz"},
		{"unknown host", run(func(in *RunInput) { in.HostID = "h-0123456789abcdef0" }), "InvalidHostID.NotFound", "h-0123456789abcdef0"},
		{"host ID with dedicated tenancy", run(func(in *RunInput) { in.Tenancy = model.TenancyDedicated }), "InvalidParameterCombination", ""},
		{"affinity without host tenancy", run(func(in *RunInput) { in.HostID, in.Affinity = "", model.AffinityHost }), "InvalidParameterCombination", ""},
		{"bad affinity", run(func(in *RunInput) { in.Affinity = "sticky" }), "InvalidParameterValue", "sticky"},
		{"another type", run(func(in *RunInput) { in.InstanceType = "m5.large" }), "IncompatibleHostRequirements", ""},
		{"host tenancy, auto-placement off", run(func(in *RunInput) { in.HostID, in.Tenancy = "", model.TenancyHost }), "IncompatibleHostRequirements", ""},
		{"host full", run(func(in *RunInput) { in.MinCount, in.MaxCount = 4, 4 }), "InsufficientCapacityOnHost", ""},
	}, e.s.RunInstances)
	// Alice's account cannot use it by ID: it is not hers.
	if _, err := e.launch(alice, RunInput{HostID: hid}); codeOf(err) != "InvalidHostID.NotFound" {
		t.Errorf("alice on bob's host: %v", err)
	}
	release := func(ids ...string) ([]string, []FlowLogFailure) {
		ok, failed, _, err := e.s.ReleaseHosts(e.ctx, eniTenant, ids, false)
		if err != nil {
			t.Fatal(err)
		}
		return ok, failed
	}
	ok, failed := release(hid, "h-0123456789abcdef0")
	if len(ok) != 0 || len(failed) != 2 || failed[0].Code != "InvalidHost.Occupied" || failed[1].Code != "InvalidHostID.NotFound" {
		t.Errorf("release of an occupied and an unknown host: %v %+v", ok, failed)
	}
	// Move the instance off the host to dedicated tenancy: it must be stopped first.
	move := ModifyPlacementInput{InstanceID: onHost.ID, Tenancy: model.TenancyDedicated}
	if _, err := e.s.ModifyInstancePlacement(e.ctx, eniTenant, move); codeOf(err) != "IncorrectInstanceState" {
		t.Errorf("move of a running instance: %v", err)
	}
	if _, _, err := e.s.StopInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{onHost.ID}}); err != nil {
		t.Fatal(err)
	}
	runErrorCases(t, e.eniEnv, []errCase[ModifyPlacementInput]{
		{"to default", ModifyPlacementInput{InstanceID: onHost.ID, Tenancy: model.TenancyDefault}, "InvalidParameterCombination", "dedicated and host"},
		{"bad tenancy", ModifyPlacementInput{InstanceID: onHost.ID, Tenancy: "shared"}, "InvalidParameterValue", "shared"},
		{"affinity with dedicated", ModifyPlacementInput{InstanceID: onHost.ID, Tenancy: model.TenancyDedicated, Affinity: model.AffinityHost}, "InvalidParameterCombination", ""},
		{"unknown instance", ModifyPlacementInput{InstanceID: "i-0123456789abcdef0", Tenancy: model.TenancyDedicated}, "InvalidInstanceID.NotFound", ""},
		// h1 has alice, h2 is the Dedicated Host, b1 is another zone: nowhere to be dedicated.
		{"no host alone", move, "InsufficientInstanceCapacity", ""},
	}, noOutput(e.s.ModifyInstancePlacement))
	// Affinity changes in place.
	if _, err := e.s.ModifyInstancePlacement(e.ctx, eniTenant, ModifyPlacementInput{InstanceID: onHost.ID, Affinity: model.AffinityHost}); err != nil {
		t.Fatal(err)
	}
	if got := e.instance(onHost.ID); got.Affinity != model.AffinityHost || got.HostID != hid || got.Node != "h2" {
		t.Errorf("after affinity: %s %s %s", got.Affinity, got.HostID, got.Node)
	}
	e.terminate(onHost.ID)
	ok, failed = release(hid)
	if !cmp.Equal(ok, []string{hid}) || len(failed) != 0 {
		t.Errorf("release of an empty host: %v %+v", ok, failed)
	}
	if ok, failed := release(hid); len(ok) != 0 || len(failed) != 1 || failed[0].Code != "InvalidHostID.NotFound" {
		t.Errorf("second release: %v %+v", ok, failed)
	}
	if _, err := e.launch(eniTenant, RunInput{HostID: hid}); codeOf(err) != "InvalidHostID.NotFound" {
		t.Errorf("launch on a released host: %v", err)
	}
	// Released, h2 is anyone's again: alice's next instance goes there.
	if got := e.nodeOf(alice, e.mustLaunch(alice, RunInput{})[0].ID); got != "h2" {
		t.Errorf("after release, alice on %q", got)
	}
	checkPlacement(t, e.st)
}

// codeOf is err's EC2 code, "" for nil or another error.
func codeOf(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

// TestPlacementNATGateway: a NAT gateway is placed on an up host of its subnet's zone (spread
// as instances are) and takes none of its capacity; with no up host in the zone, or no host at
// all, it stays unplaced.
func TestPlacementNATGateway(t *testing.T) {
	e := newPlaceEnv(t, host("a1", "us-east-1a", 2), host("a2", "us-east-1a", 8), host("b1", "us-east-1b", 8))
	occBefore, _, _ := cluster.Occupancies(e.ctx, e.st)
	nat := func(sn string) *model.NATGateway {
		t.Helper()
		return eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: sn, ConnectivityType: "private"}))
	}
	if g := nat(e.sn.ID); g.Node != "a2" {
		t.Errorf("NAT gateway in us-east-1a on %q, want a2 (most free)", g.Node)
	}
	if occ, _, _ := cluster.Occupancies(e.ctx, e.st); !cmp.Equal(occ, occBefore) {
		t.Errorf("a NAT gateway changed occupancy: %v -> %v", occBefore, occ)
	}
	snC := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.9.0/24", Zone: "us-east-1c"}))
	if g := nat(snC.ID); g.Node != "" {
		t.Errorf("NAT gateway in a zone without hosts on %q, want unplaced", g.Node)
	}
	none := newPlaceEnv(t)
	g := eniOK[*model.NATGateway](t)(none.s.CreateNATGateway(none.ctx, eniTenant, CreateNATGatewayInput{SubnetID: none.sn.ID, ConnectivityType: "private"}))
	if g.Node != "" {
		t.Errorf("NAT gateway without hosts on %q", g.Node)
	}
}
