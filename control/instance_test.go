package control

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// The environment (eniEnv, newENITestService) is in eni_test.go.

func (e *eniEnv) run(in RunInput) *Reservation {
	e.t.Helper()
	if in.ImageID == "" {
		in.ImageID = image.DefaultID
	}
	if in.InstanceType == "" {
		in.InstanceType = "t3.micro"
	}
	return eniOK[*Reservation](e.t)(e.s.RunInstances(e.ctx, eniTenant, in))
}

func (e *eniEnv) instance(id string) *model.Instance {
	e.t.Helper()
	return lookup(e, func(v View) (*model.Instance, error) { return v.Instance(id) })
}

func (e *eniEnv) terminate(ids ...string) []StateChange {
	e.t.Helper()
	return eniOK[[]StateChange](e.t)(e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: ids}))
}

// fill creates n interfaces in a subnet, leaving fewer addresses for launches.
func (e *eniEnv) fill(sn *model.Subnet, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		e.createENI(CreateENIInput{SubnetID: sn.ID})
	}
}

func (e *eniEnv) keyPair(name string) *model.KeyPair {
	e.t.Helper()
	return lookup(e, func(v View) (*model.KeyPair, error) { return v.KeyPair(name, "") })
}

func instanceIDs(r *Reservation) []string { return idsOf(r.Instances) }

func TestRunInstancesErrors(t *testing.T) {
	e := newENITestService(t, nil)
	inUse := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].InterfaceIDs[0]
	free := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	base := func(f func(*RunInput)) RunInput {
		in := RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}
		f(&in)
		return in
	}
	var six []string
	for i := 0; i < 6; i++ {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: fmt.Sprintf("r%d", i), Description: "r", VpcID: e.vpc.ID}))
		six = append(six, g.ID)
	}
	tests := []errCase[RunInput]{
		{"MinCount 0", base(func(in *RunInput) { in.MinCount = 0 }), "InvalidParameterValue", "MinCount"},
		{"MaxCount 0", base(func(in *RunInput) { in.MaxCount = 0 }), "InvalidParameterValue", "MaxCount"},
		{"MinCount above MaxCount", base(func(in *RunInput) { in.MinCount, in.MaxCount = 3, 2 }), "InvalidParameterValue", "MinCount (3)"},
		{"user data too long", base(func(in *RunInput) { in.UserData = make([]byte, 16<<10+1) }), "InvalidParameterValue", "16384"},
		{"private IP for two", base(func(in *RunInput) { in.PrivateIP, in.MaxCount = "10.0.1.50", 2 }), "InvalidParameterCombination", ""},
		{"group names with a subnet", base(func(in *RunInput) { in.GroupNames = []string{"default"} }), "InvalidParameterCombination",
			"The parameter groupName cannot be used with the parameter subnet"},
		{"malformed image", base(func(in *RunInput) { in.ImageID = "ami-xyz" }), "InvalidAMIID.Malformed", `Invalid id: "ami-xyz"`},
		{"no image", base(func(in *RunInput) { in.ImageID = "" }), "InvalidAMIID.Malformed", ""},
		{"unknown image", base(func(in *RunInput) { in.ImageID = "ami-0123456789abcdef0" }), "InvalidAMIID.NotFound",
			"The image id '[ami-0123456789abcdef0]' does not exist"},
		{"unknown instance type", base(func(in *RunInput) { in.InstanceType = "foo.bar" }), "InvalidParameterValue",
			"Invalid value 'foo.bar' for InstanceType."},
		{"instance type not in the table", base(func(in *RunInput) { in.InstanceType = "u-6tb1.metal" }), "InvalidParameterValue",
			"Invalid value 'u-6tb1.metal' for InstanceType."},
		{"tenancy host without a Dedicated Host", base(func(in *RunInput) { in.Tenancy = "host" }), "IncompatibleHostRequirements", "Dedicated Hosts"},
		{"tenancy unknown", base(func(in *RunInput) { in.Tenancy = "shared" }), "InvalidParameterValue", "shared"},
		{"unknown key pair", base(func(in *RunInput) { in.KeyName = "missing" }), "InvalidKeyPair.NotFound", "The key pair 'missing' does not exist"},
		{"unknown subnet", base(func(in *RunInput) { in.SubnetID = "subnet-0123456789abcdef0" }), "InvalidSubnetID.NotFound", "subnet-0123456789abcdef0"},
		{"unknown group", base(func(in *RunInput) { in.GroupIDs = []string{"sg-0123456789abcdef0"} }), "InvalidGroup.NotFound", "sg-0123456789abcdef0"},
		{"group of another VPC", base(func(in *RunInput) { in.GroupIDs = []string{e.web.ID, e.other.ID} }), "InvalidParameter",
			fmt.Sprintf("Security group %s and subnet %s belong to different networks.", e.other.ID, e.sn.ID)},
		{"custom-VPC group in the default VPC", base(func(in *RunInput) { in.SubnetID, in.GroupIDs = "", []string{e.web.ID} }), "InvalidParameter", "different networks"},
		{"six groups", base(func(in *RunInput) { in.GroupIDs = six }), "SecurityGroupsPerInterfaceLimitExceeded", ""},
		{"unknown group name", base(func(in *RunInput) { in.SubnetID, in.GroupNames = "", []string{"nope"} }), "InvalidGroup.NotFound", "nope"},
		{"group name of a custom VPC", base(func(in *RunInput) { in.SubnetID, in.GroupNames = "", []string{"web"} }), "InvalidGroup.NotFound", "web"},
		{"zone of another subnet", base(func(in *RunInput) { in.Zone = "us-east-1b" }), "InvalidParameterValue", "us-east-1b"},
		{"private IP in use", base(func(in *RunInput) { in.PrivateIP = free.PrivateIP.String() }), "InvalidIPAddress.InUse", free.PrivateIP.String()},
		{"private IP reserved", base(func(in *RunInput) { in.PrivateIP = "10.0.1.3" }), "InvalidParameterValue", "10.0.1.3"},
		{"interfaces without device 0", base(func(in *RunInput) {
			in.SubnetID, in.Interfaces = "", []RunInterface{{DeviceIndex: 1, SubnetID: e.sn.ID}}
		}), "InvalidParameterValue", "DeviceIndex 0"},
		{"interfaces and a subnet", base(func(in *RunInput) { in.Interfaces = []RunInterface{{SubnetID: e.sn.ID}} }), "InvalidParameterCombination", ""},
		{"attached interface", base(func(in *RunInput) {
			in.SubnetID, in.Interfaces = "", []RunInterface{{NetworkInterfaceID: inUse}}
		}), "InvalidNetworkInterface.InUse", inUse},
		{"unknown interface", base(func(in *RunInput) {
			in.SubnetID, in.Interfaces = "", []RunInterface{{NetworkInterfaceID: "eni-0123456789abcdef0"}}
		}), "InvalidNetworkInterfaceID.NotFound", "eni-0123456789abcdef0"},
		{"existing interface for two", base(func(in *RunInput) {
			in.SubnetID, in.MaxCount, in.Interfaces = "", 2, []RunInterface{{NetworkInterfaceID: free.ID}}
		}), "InvalidParameterCombination", ""},
		{"bad conntrack", base(func(in *RunInput) {
			in.SubnetID, in.Interfaces = "", []RunInterface{{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 60, UDPStream: 60, UDP: 29}}}
		}), "InvalidParameterValue", "UdpTimeout"},
		{"second interface in another zone", base(func(in *RunInput) {
			b := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.3.0/24", Zone: "us-east-1b"}))
			in.SubnetID, in.Interfaces = "", []RunInterface{{SubnetID: e.sn.ID}, {DeviceIndex: 1, SubnetID: b.ID}}
		}), "InvalidParameterValue", "availability zone"},
		{"MinCount above free addresses", base(func(in *RunInput) { in.SubnetID, in.MinCount, in.MaxCount = e.small.ID, 12, 20 }),
			"InsufficientFreeAddressesInSubnet", e.small.ID},
		{"dry run", base(func(in *RunInput) { in.DryRun = true }), "DryRunOperation", ""},
	}
	runErrorCases(t, e, tests, e.s.RunInstances)
}

// TestRunInstances launches three instances and checks what is returned and what is stored.
func TestRunInstances(t *testing.T) {
	e := newENITestService(t, nil)
	if _, _, err := e.s.CreateKeyPair(e.ctx, eniTenant, CreateKeyPairInput{Name: "deploy", Type: "ed25519"}); err != nil {
		t.Fatal(err)
	}
	userData := []byte(strings.Repeat("x", 16<<10)) // exactly the limit
	r := e.run(RunInput{MinCount: 1, MaxCount: 3, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID, e.db.ID, e.web.ID}, KeyName: "deploy",
		UserData: userData, ClientToken: "launch-1", InstanceTags: model.Tags{"Name": "web"}, ENITags: model.Tags{"role": "primary"}})
	if !model.ValidID(model.PrefixReservation, r.ID) || r.OwnerID != eniTenant.Account || len(r.Instances) != 3 || len(r.ENIs) != 3 {
		t.Fatalf("reservation %s owner %s: %d instances, %d interfaces", r.ID, r.OwnerID, len(r.Instances), len(r.ENIs))
	}
	now := e.clock.Now()
	for i, got := range r.Instances {
		if !model.ValidID(model.PrefixInstance, got.ID) || len(got.InterfaceIDs) != 1 {
			t.Fatalf("instance %d: ID %q, interfaces %v", i, got.ID, got.InterfaceIDs)
		}
		want := &model.Instance{ID: got.ID, ReservationID: r.ID, OwnerID: eniTenant.Account, ImageID: image.DefaultID,
			InstanceType: "t3.micro", KeyName: "deploy", State: model.StatePending, LaunchTime: now, AZ: "us-east-1a", Tenancy: "default",
			SubnetID: e.sn.ID, VpcID: e.vpc.ID, LaunchIndex: i, ClientToken: "launch-1", UserData: userData,
			InterfaceIDs: got.InterfaceIDs, Tags: model.Tags{"Name": "web"},
			PublicKey: e.keyPair("deploy").PublicKey + " deploy", MetadataOptions: model.MetadataOptions{}.WithDefaults()}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("instance %d as returned (-want +got):\n%s", i, diff)
		}
		// Stored running; the reply alone says pending, as EC2's does.
		want.State = model.StateRunning
		if diff := cmp.Diff(want, e.instance(got.ID)); diff != "" {
			t.Errorf("instance %d as stored (-want +got):\n%s", i, diff)
		}
		n := r.ENIs[got.InterfaceIDs[0]]
		if n == nil {
			t.Fatalf("reservation lacks interface %s", got.InterfaceIDs[0])
		}
		if a := n.Attachment; a == nil || !model.ValidID(model.PrefixAttachment, a.ID) || a.InstanceID != got.ID || a.DeviceIndex != 0 ||
			!a.DeleteOnTermination || !a.AttachTime.Equal(now) {
			t.Errorf("primary interface attachment: %+v", n.Attachment)
		}
		wantIP := netip.MustParseAddr(fmt.Sprintf("10.0.1.%d", 4+i))
		if n.PrivateIP != wantIP || !slices.Equal(n.Groups, []string{e.web.ID, e.db.ID}) || n.Status() != "in-use" ||
			n.SubnetID != e.sn.ID || !n.SourceDestCheck || n.Tags["role"] != "primary" {
			t.Errorf("primary interface %d: %+v, want address %s, groups web and db", i, n, wantIP)
		}
		stored := e.instance(got.ID)
		e.view(func(v View) {
			if diff := cmp.Diff([]*model.NetworkInterface{n}, v.InstanceENIs(stored), eniCmpOpts); diff != "" {
				t.Errorf("InstanceENIs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunInstancesCounts checks MinCount and MaxCount: as many as fit up to MaxCount, an error
// when fewer than MinCount fit.
func TestRunInstancesCounts(t *testing.T) {
	t.Run("addresses", func(t *testing.T) {
		e := newENITestService(t, nil)
		e.fill(e.small, 8) // 3 of 11 left
		r := e.run(RunInput{MinCount: 2, MaxCount: 5, SubnetID: e.small.ID})
		if len(r.Instances) != 3 {
			t.Fatalf("launched %d, want the 3 that fit", len(r.Instances))
		}
		for i, in := range r.Instances {
			if in.LaunchIndex != i {
				t.Errorf("launch index %d at %d", in.LaunchIndex, i)
			}
		}
		before := e.snapshot()
		_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.small.ID})
		eniCheckErr(t, err, "InsufficientFreeAddressesInSubnet", e.small.ID)
		e.checkUnchanged(before)
	})
	t.Run("interface quota", func(t *testing.T) {
		e := newENITestService(t, func(c *Config) { c.Quotas.NetworkInterfaces = 4 })
		e.fill(e.sn, 1)
		before := e.snapshot()
		_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 4, MaxCount: 4, SubnetID: e.sn.ID})
		eniCheckErr(t, err, "NetworkInterfaceLimitExceeded", "")
		e.checkUnchanged(before)
		if r := e.run(RunInput{MinCount: 1, MaxCount: 10, SubnetID: e.sn.ID}); len(r.Instances) != 3 {
			t.Errorf("launched %d, want the 3 the quota allows", len(r.Instances))
		}
	})
	t.Run("exactly MaxCount", func(t *testing.T) {
		e := newENITestService(t, nil)
		r := e.run(RunInput{MinCount: 5, MaxCount: 5, SubnetID: e.sn.ID})
		ids := instanceIDs(r)
		slices.Sort(ids)
		if len(slices.Compact(ids)) != 5 {
			t.Errorf("instance IDs %v", instanceIDs(r))
		}
	})
}

// TestRunInstancesPlacement checks where an instance lands: the default VPC's default subnets
// without a subnet, group names there, and the errors without a default VPC.
func TestRunInstancesPlacement(t *testing.T) {
	e := newENITestService(t, nil)
	var dflt *model.VPC
	var subnets []*model.Subnet
	e.view(func(v View) { dflt, subnets = v.DefaultVPC(), v.Subnets() })
	byZone := map[string]*model.Subnet{}
	for _, sn := range subnets {
		if sn.VpcID == dflt.ID {
			byZone[sn.AZ] = sn
		}
	}
	custom := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "Custom", Description: "c"}))
	tests := []struct {
		name   string
		in     RunInput
		subnet *model.Subnet
		groups []string
	}{
		{"nothing given", RunInput{}, byZone["us-east-1a"], []string{dflt.DefaultGroupID}},
		{"zone", RunInput{Zone: "us-east-1c"}, byZone["us-east-1c"], []string{dflt.DefaultGroupID}},
		{"group names", RunInput{GroupNames: []string{"custom ", "default"}, Zone: "us-east-1b"}, byZone["us-east-1b"], []string{custom.ID, dflt.DefaultGroupID}},
		{"group IDs", RunInput{GroupIDs: []string{custom.ID}}, byZone["us-east-1a"], []string{custom.ID}},
		{"private IP", RunInput{PrivateIP: "172.31.5.9"}, byZone["us-east-1a"], []string{dflt.DefaultGroupID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.MinCount, tt.in.MaxCount = 1, 1
			r := e.run(tt.in)
			in := r.Instances[0]
			n := r.ENIs[in.InterfaceIDs[0]]
			if in.SubnetID != tt.subnet.ID || in.VpcID != dflt.ID || in.AZ != tt.subnet.AZ || n.SubnetID != tt.subnet.ID {
				t.Errorf("launched into %s/%s/%s, want %s in %s", in.VpcID, in.SubnetID, in.AZ, tt.subnet.ID, tt.subnet.AZ)
			}
			if !slices.Equal(n.Groups, tt.groups) {
				t.Errorf("groups %v, want %v", n.Groups, tt.groups)
			}
			if tt.in.PrivateIP != "" && n.PrivateIP.String() != tt.in.PrivateIP {
				t.Errorf("address %s, want %s", n.PrivateIP, tt.in.PrivateIP)
			}
		})
	}

	// Without a default VPC there is nowhere to launch without a subnet.
	bob := Tenant{Account: "777788889999", Region: "us-east-1"}
	var bobDefault *model.VPC
	var bobSubnets []*model.Subnet
	if err := e.s.View(e.ctx, bob, func(v View) error { bobDefault, bobSubnets = v.DefaultVPC(), v.Subnets(); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, sn := range bobSubnets {
		if _, err := e.s.DeleteSubnet(e.ctx, bob, IDInput{ID: sn.ID}); err != nil {
			t.Fatal(err)
		}
	}
	dropDefaultIGW(t, e.s, bob)
	if _, err := e.s.DeleteVPC(e.ctx, bob, IDInput{ID: bobDefault.ID}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []RunInput{{}, {GroupNames: []string{"default"}}} {
		in.ImageID, in.MinCount, in.MaxCount = image.DefaultID, 1, 1
		_, _, err := e.s.RunInstances(e.ctx, bob, in)
		eniCheckErr(t, err, "VPCIdNotSpecified", "No default VPC for this user")
	}
}

// TestRunInstancesTenancy checks placement tenancy: a dedicated VPC makes every instance
// dedicated, a default VPC takes what is asked.
func TestRunInstancesTenancy(t *testing.T) {
	e := newENITestService(t, nil)
	ded := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.5.0.0/16", Tenancy: "dedicated"}))
	dsn := eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: ded.ID, CIDR: "10.5.1.0/24"}))
	tests := []struct {
		subnet  *model.Subnet
		tenancy string
		want    string
	}{
		{e.sn, "", "default"},
		{e.sn, "default", "default"},
		{e.sn, "dedicated", "dedicated"},
		{dsn, "", "dedicated"},
		{dsn, "default", "dedicated"},
		{dsn, "dedicated", "dedicated"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s VPC, %q asked", e.tenancyOf(tt.subnet), tt.tenancy), func(t *testing.T) {
			r := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: tt.subnet.ID, Tenancy: tt.tenancy})
			if got := e.instance(r.Instances[0].ID).Tenancy; got != tt.want {
				t.Errorf("tenancy %q, want %q", got, tt.want)
			}
		})
	}
}

func (e *eniEnv) tenancyOf(sn *model.Subnet) string {
	var vpc *model.VPC
	e.view(func(v View) { vpc, _ = v.VPC(sn.VpcID) })
	return vpc.Tenancy
}

// TestRunInstancesInterfaces launches with NetworkInterface.N: new interfaces with their own
// settings, and an existing interface that survives termination.
func TestRunInstancesInterfaces(t *testing.T) {
	e := newENITestService(t, nil)
	ct := model.ConnTrack{TCPEstablished: 600, UDPStream: 90, UDP: 40}
	keep := false
	r := e.run(RunInput{MinCount: 1, MaxCount: 1, Interfaces: []RunInterface{
		{DeviceIndex: 1, SubnetID: e.small.ID, GroupIDs: []string{e.db.ID}},
		{DeviceIndex: 0, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}, PrivateIP: "10.0.1.77", ConnTrack: &ct, DeleteOnTermination: &keep},
	}})
	in := r.Instances[0]
	var got []*model.NetworkInterface
	stored := e.instance(in.ID)
	e.view(func(v View) { got = v.InstanceENIs(stored) })
	if len(got) != 2 {
		t.Fatalf("instance has %d interfaces, want 2", len(got))
	}
	p, s := got[0], got[1]
	if p.Attachment.DeviceIndex != 0 || p.PrivateIP.String() != "10.0.1.77" || p.ConnTrack != ct || p.Attachment.DeleteOnTermination ||
		!slices.Equal(p.Groups, []string{e.web.ID}) || in.SubnetID != e.sn.ID {
		t.Errorf("primary interface %+v (attachment %+v) of instance in %s", p, p.Attachment, in.SubnetID)
	}
	if s.Attachment.DeviceIndex != 1 || s.SubnetID != e.small.ID || !s.Attachment.DeleteOnTermination || !slices.Equal(s.Groups, []string{e.db.ID}) ||
		s.ConnTrack != model.DefaultConnTrack {
		t.Errorf("second interface %+v (attachment %+v)", s, s.Attachment)
	}

	// An existing interface becomes the primary one and is kept, detached, on termination.
	existing := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.db.ID}})
	r2 := e.run(RunInput{MinCount: 1, MaxCount: 1, Interfaces: []RunInterface{{NetworkInterfaceID: existing.ID}}})
	in2 := r2.Instances[0]
	att := e.eni(existing.ID)
	if att.Attachment == nil || att.Attachment.InstanceID != in2.ID || att.Attachment.DeleteOnTermination || in2.SubnetID != existing.SubnetID {
		t.Fatalf("existing interface after launch: %+v", att)
	}
	if _, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: existing.ID}); eniCode(err) != "InvalidParameterValue" {
		t.Errorf("deleting an attached interface: %v", err)
	}
	e.terminate(in.ID, in2.ID)
	e.view(func(v View) {
		if _, err := v.ENI(s.ID); eniCode(err) != "InvalidNetworkInterfaceID.NotFound" {
			t.Errorf("interface deleted on termination still there: %v", err)
		}
		for _, id := range []string{p.ID, existing.ID} {
			n, err := v.ENI(id)
			if err != nil || n.Attachment != nil || n.PrivateIP.IsUnspecified() {
				t.Errorf("kept interface %s after termination: %+v, %v", id, n, err)
			}
		}
	})
}

// TestRunInstancesClientToken checks that a retry returns the first launch, also after a
// restart, and that the same token with other parameters is refused.
func TestRunInstancesClientToken(t *testing.T) {
	e := newENITestService(t, nil)
	in := RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 2, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}, ClientToken: "run-1"}
	first := e.run(in)
	check := func(when string) {
		t.Helper()
		again := e.run(in)
		if again.ID != first.ID || !slices.Equal(instanceIDs(again), instanceIDs(first)) {
			t.Errorf("%s: retry gave %s %v, first launch %s %v", when, again.ID, instanceIDs(again), first.ID, instanceIDs(first))
		}
		for id := range first.ENIs {
			if again.ENIs[id] == nil {
				t.Errorf("%s: retry's reservation lacks interface %s", when, id)
			}
		}
		var n int
		e.view(func(v View) { n = len(v.Instances()) })
		if n != 2 {
			t.Errorf("%s: %d instances, want 2", when, n)
		}
	}
	check("retry")
	changed := in
	changed.MaxCount = 3
	before := e.snapshot()
	_, _, err := e.s.RunInstances(e.ctx, eniTenant, changed)
	eniCheckErr(t, err, "IdempotentParameterMismatch", "")
	e.checkUnchanged(before)
	e.reopen()
	check("after restart")
}

func TestTerminateInstancesErrors(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 2, MaxCount: 2, SubnetID: e.sn.ID})
	locked := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, DisableAPITermination: new(true)}).Instances[0].ID
	a, b := r.Instances[0].ID, r.Instances[1].ID
	tests := []errCase[TerminateInstancesInput]{
		{"none", TerminateInstancesInput{}, "MissingParameter", "InstanceId"},
		{"1001", TerminateInstancesInput{IDs: slices.Repeat([]string{a}, 1001)}, "InvalidParameterValue", "1000"},
		{"one unknown", TerminateInstancesInput{IDs: []string{a, "i-0123456789abcdef0", b}}, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"},
		{"malformed", TerminateInstancesInput{IDs: []string{a, "i-xyz"}}, "InvalidInstanceID.Malformed", "i-xyz"},
		{"termination disabled", TerminateInstancesInput{IDs: []string{a, locked}}, "OperationNotPermitted",
			fmt.Sprintf("The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", locked)},
		{"dry run", TerminateInstancesInput{IDs: []string{a}, DryRun: true}, "DryRunOperation", ""},
	}
	runErrorCases(t, e, tests, e.s.TerminateInstances)
}

// TestTerminateInstances checks the state changes, the release of addresses and groups
// (spec §9.3, §11.31), idempotency and the hour of visibility.
func TestTerminateInstances(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 2, MaxCount: 2, SubnetID: e.small.ID, GroupIDs: []string{e.web.ID}})
	a, b := r.Instances[0].ID, r.Instances[1].ID
	var avail int
	e.view(func(v View) { avail = v.Available(e.small) })
	if _, _, err := e.s.DeleteGroup(e.ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.web.ID}}); eniCode(err) != "DependencyViolation" {
		t.Fatalf("deleting a group of running instances: %v", err)
	}

	e.clock.Advance(time.Minute)
	got := e.terminate(a, a)
	if diff := cmp.Diff([]StateChange{{a, model.StateRunning, model.StateShuttingDown}}, got); diff != "" {
		t.Errorf("first terminate (-want +got):\n%s", diff)
	}
	stored := e.instance(a)
	if stored.State != model.StateTerminated || !stored.TerminatedAt.Equal(e.clock.Now()) {
		t.Errorf("stored after terminate: %v at %v", stored.State, stored.TerminatedAt)
	}
	// Idempotent for the terminated one, and it reports each instance once.
	e.clock.Advance(time.Minute)
	got = e.terminate(b, a)
	want := []StateChange{{b, model.StateRunning, model.StateShuttingDown}, {a, model.StateTerminated, model.StateTerminated}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second terminate (-want +got):\n%s", diff)
	}
	e.view(func(v View) {
		if n := v.Available(e.small); n != avail+2 {
			t.Errorf("available addresses %d after terminate, want %d", n, avail+2)
		}
		for _, id := range []string{a, b} {
			in, _ := v.Instance(id)
			if ns := v.InstanceENIs(in); len(ns) != 0 {
				t.Errorf("terminated instance %s still has interfaces %v", id, ns)
			}
			if _, err := v.ENI(in.InterfaceIDs[0]); eniCode(err) != "InvalidNetworkInterfaceID.NotFound" {
				t.Errorf("interface of %s not deleted: %v", id, err)
			}
		}
	})
	// The interfaces are gone, so their group is free.
	if _, _, err := e.s.DeleteGroup(e.ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.web.ID}}); err != nil {
		t.Errorf("deleting the group after terminate: %v", err)
	}

	// Terminated instances stay visible for an hour, then are gone: a was terminated a
	// minute before b.
	e.clock.Advance(model.TerminatedVisibleFor - 90*time.Second)
	e.view(func(v View) {
		if ids := idsOf(v.Instances()); !slices.Equal(ids, sortedIDs(a, b)) {
			t.Errorf("instances gone before their hour: %v", ids)
		}
	})
	e.clock.Advance(time.Minute)
	e.view(func(v View) {
		if _, err := v.Instance(a); eniCode(err) != "InvalidInstanceID.NotFound" {
			t.Errorf("instance visible after an hour: %v", err)
		}
		if _, err := v.Instance(b); err != nil {
			t.Errorf("instance terminated a minute later gone early: %v", err)
		}
		if ids := idsOf(v.Instances()); !slices.Equal(ids, []string{b}) {
			t.Errorf("Instances() = %v, want only %s", ids, b)
		}
		// Leaving the expired out wrote nothing into the listing that other readers share.
		if ids := idsOf(v.Instances()); !slices.Equal(ids, []string{b}) {
			t.Errorf("Instances() the second time = %v, want only %s", ids, b)
		}
	})
	_, _, err := e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: []string{a}})
	eniCheckErr(t, err, "InvalidInstanceID.NotFound", a)
}

func sortedIDs(ids ...string) []string { slices.Sort(ids); return ids }

func idsOf(ins []*model.Instance) []string {
	return mapIDs(ins, func(in *model.Instance) string { return in.ID })
}

// mapIDs lists the IDs of xs, in order.
func mapIDs[T any](xs []*T, id func(*T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func TestModifyInstanceErrors(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 2, MaxCount: 2, SubnetID: e.sn.ID})
	id, dead := r.Instances[0].ID, r.Instances[1].ID
	e.terminate(dead)
	yes, typ, bad := true, "m5.large", "foo.bar"
	tests := []errCase[ModifyInstanceInput]{
		{"no attribute", ModifyInstanceInput{ID: id}, "MissingParameter", ""},
		{"two attributes", ModifyInstanceInput{ID: id, SourceDestCheck: &yes, DisableAPITermination: &yes}, "InvalidParameterCombination",
			"Only one attribute may be modified at a time"},
		{"unknown instance", ModifyInstanceInput{ID: "i-0123456789abcdef0", SourceDestCheck: &yes}, "InvalidInstanceID.NotFound", "i-0123456789abcdef0"},
		{"malformed instance", ModifyInstanceInput{ID: "eni-0123456789abcdef0", SourceDestCheck: &yes}, "InvalidInstanceID.Malformed", ""},
		{"user data while running", ModifyInstanceInput{ID: id, UserData: []byte("x")}, "IncorrectInstanceState", id},
		{"type while running", ModifyInstanceInput{ID: id, InstanceType: &typ}, "IncorrectInstanceState", id},
		{"unknown type", ModifyInstanceInput{ID: id, InstanceType: &bad}, "InvalidParameterValue", "Invalid value 'foo.bar' for InstanceType."},
		{"unknown group", ModifyInstanceInput{ID: id, Groups: []string{"sg-0123456789abcdef0"}}, "InvalidGroup.NotFound", "sg-0123456789abcdef0"},
		{"group of another VPC", ModifyInstanceInput{ID: id, Groups: []string{e.other.ID}}, "InvalidParameter", "belong to different networks"},
		{"terminated", ModifyInstanceInput{ID: dead, Groups: []string{e.web.ID}}, "IncorrectInstanceState", dead},
		{"dry run", ModifyInstanceInput{ID: id, Groups: []string{e.web.ID}, DryRun: true}, "DryRunOperation", ""},
	}
	runErrorCases(t, e, tests, noOutput(e.s.ModifyInstance))
}

func TestModifyInstance(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 1, MaxCount: 1, Interfaces: []RunInterface{
		{DeviceIndex: 0, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}},
		{DeviceIndex: 1, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}},
	}})
	id := r.Instances[0].ID
	enis := func() (primary, second *model.NetworkInterface) {
		var ns []*model.NetworkInterface
		stored := e.instance(id)
		e.view(func(v View) { ns = v.InstanceENIs(stored) })
		return ns[0], ns[1]
	}
	// Groups replace the primary interface's set and leave the others alone (spec §11.21).
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, Groups: []string{e.db.ID, e.vpc.DefaultGroupID}}); err != nil {
		t.Fatal(err)
	}
	p, s := enis()
	if !slices.Equal(p.Groups, []string{e.db.ID, e.vpc.DefaultGroupID}) || !slices.Equal(s.Groups, []string{e.web.ID}) {
		t.Errorf("groups after modify: primary %v, second %v", p.Groups, s.Groups)
	}
	off := false
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, SourceDestCheck: &off}); err != nil {
		t.Fatal(err)
	}
	if p, s := enis(); p.SourceDestCheck || !s.SourceDestCheck {
		t.Errorf("source/dest check: primary %v, second %v", p.SourceDestCheck, s.SourceDestCheck)
	}

	// Termination protection on, then off.
	on := true
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, DisableAPITermination: &on}); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: []string{id}})
	eniCheckErr(t, err, "OperationNotPermitted", id)
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, DisableAPITermination: &off}); err != nil {
		t.Fatal(err)
	}
	if got := e.terminate(id); len(got) != 1 || got[0].Current != model.StateShuttingDown {
		t.Errorf("terminate after protection removed: %+v", got)
	}
}

// TestInstancesSurviveReopen restarts the service on the same bolt file: interfaces, instances
// (running and terminated) and their attachments are as they were.
func TestInstancesSurviveReopen(t *testing.T) {
	e := newENITestService(t, nil)
	free := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.db.ID}, Description: "spare", SecondaryCount: 1,
		ConnTrack: &model.ConnTrack{TCPEstablished: 120, UDPStream: 60, UDP: 30}, Tags: model.Tags{"k": "v"}})
	r := e.run(RunInput{MinCount: 3, MaxCount: 3, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}, UserData: []byte("#!/bin/sh\n"),
		InstanceTags: model.Tags{"Name": "x"}})
	e.terminate(r.Instances[2].ID)
	if _, err := e.s.ModifyENI(e.ctx, eniTenant, ModifyENIInput{ID: r.Instances[0].InterfaceIDs[0], Groups: []string{e.db.ID}}); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	if len(before.ENIs) != 3 || len(before.Instances) != 3 {
		t.Fatalf("%d interfaces, %d instances before restart", len(before.ENIs), len(before.Instances))
	}
	e.reopen()
	if diff := cmp.Diff(before, e.snapshot(), eniCmpOpts, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("state after restart (-before +after):\n%s", diff)
	}
	// Allocation continues from the stored state: the next address is after the three used.
	if n := e.createENI(CreateENIInput{SubnetID: e.sn.ID}); n.PrivateIP.String() != "10.0.1.8" || n.MAC == free.MAC {
		t.Errorf("after restart, new interface got %s (%s)", n.PrivateIP, n.MAC)
	}
}

// TestConcurrentLaunches launches and terminates from several goroutines (run with -race).
func TestConcurrentLaunches(t *testing.T) {
	e := newENITestService(t, nil)
	concurrently(t, 8, 4, func() error {
		r, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 2, MaxCount: 2, SubnetID: e.sn.ID})
		if err != nil {
			return err
		}
		_, _, err = e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: instanceIDs(r)[:1]})
		return err
	})
	e.view(func(v View) {
		if n, m := len(v.Instances()), len(v.ENIs()); n != 64 || m != 32 {
			t.Errorf("%d instances and %d interfaces, want 64 and 32", n, m)
		}
		if avail := v.Available(e.sn); avail != 256-5-32 {
			t.Errorf("available %d, want %d", avail, 256-5-32)
		}
	})
}

// TestRunInstancesSecondaryInterfaceDoesNotFit: once MinCount instances are launched, an
// instance that does not fit is not launched, also when it is a secondary interface that does
// not fit.
func TestRunInstancesSecondaryInterfaceDoesNotFit(t *testing.T) {
	e := newENITestService(t, nil)
	e.fill(e.small, 10) // one address left
	r, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 3, Interfaces: []RunInterface{
		{SubnetID: e.sn.ID}, {DeviceIndex: 1, SubnetID: e.small.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Instances) != 1 {
		t.Errorf("launched %d, want 1", len(r.Instances))
	}
	// The instance that did not fit is gone from memory and was never committed.
	for _, when := range []string{"before", "after"} {
		e.view(func(v View) {
			if n, m := len(v.ENIs()), len(v.Instances()); n != 12 || m != 1 {
				t.Errorf("%s restart: %d interfaces and %d instances, want 12 (10 + 2 of the one instance) and 1", when, n, m)
			}
		})
		e.reopen()
	}
}

// fakeImages is a catalogue of fixed images.
type fakeImages []image.Image

func (f fakeImages) Get(id string) (image.Image, bool) {
	for _, im := range f {
		if im.ID == id {
			return im, true
		}
	}
	return image.Image{}, false
}

func (f fakeImages) List() []image.Image { return f }

// TestRunInstancesImages checks that ImageId names an image of the catalogue, and that with
// AnyImage an unknown (but well-formed) ID launches, keeping the ID it was given.
func TestRunInstancesImages(t *testing.T) {
	imported := image.Image{ID: "ami-0aaaabbbbccccdddd", Name: "alpine"}
	cat := fakeImages{image.Default(), imported}
	tests := []struct {
		name     string
		images   Images
		anyImage bool
		id       string
		wantErr  string // the code, or "" when it launches
	}{
		{"default image, no catalogue", nil, false, image.DefaultID, ""},
		{"imported image", cat, false, imported.ID, ""},
		{"imported image, no catalogue", nil, false, imported.ID, "InvalidAMIID.NotFound"},
		{"unknown image", cat, false, "ami-12345678", "InvalidAMIID.NotFound"},
		{"unknown image, any image", cat, true, "ami-12345678", ""},
		{"unknown image, any image, no catalogue", nil, true, "ami-0123456789abcdef0", ""},
		{"short unknown image, any image", cat, true, "ami-123abc", ""},
		{"malformed image, any image", cat, true, "ami-1x", "InvalidAMIID.Malformed"},
		{"upper-case image, any image", cat, true, "ami-0AAAABBBBCCCCDDDD", "InvalidAMIID.Malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newENITestService(t, func(c *Config) { c.Images, c.AnyImage = tt.images, tt.anyImage })
			before := e.snapshot()
			r, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: tt.id, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID})
			if tt.wantErr != "" {
				eniCheckErr(t, err, tt.wantErr, tt.id)
				e.checkUnchanged(before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.instance(r.Instances[0].ID).ImageID; got != tt.id {
				t.Errorf("instance image %q, want %q", got, tt.id)
			}
		})
	}
}
