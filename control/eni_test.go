package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

// The helpers of this file and instance_test.go are prefixed (eni…) so that they cannot clash
// with those of the package's other test files, which are written in parallel.

var eniTenant = Tenant{Account: "444455556666", Region: "us-east-1"}

// eniClock is the service's clock in these tests: fixed until a test advances it.
type eniClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *eniClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *eniClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// eniEnv is a Service on a real bolt file, with a small network to put interfaces and
// instances into.
type eniEnv struct {
	t     *testing.T
	ctx   context.Context
	path  string
	cfg   Config
	clock *eniClock
	st    store.Store
	s     *Service

	vpc      *model.VPC    // 10.0.0.0/16
	sn       *model.Subnet // 10.0.1.0/24, us-east-1a
	small    *model.Subnet // 10.0.2.0/28: 16 - 5 = 11 usable addresses, .4 to .14
	web, db  *model.Group  // in vpc
	otherVPC *model.VPC    // 10.9.0.0/16
	other    *model.Group  // in otherVPC
	otherSn  *model.Subnet // 10.9.1.0/24
}

// newENITestService opens a Service on a bolt file in t.TempDir() (tweak may change the
// config first) and creates the test network.
func newENITestService(t *testing.T, tweak func(*Config)) *eniEnv {
	t.Helper()
	e := &eniEnv{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "state.db"),
		clock: &eniClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.cfg = DefaultConfig()
	e.cfg.Now = e.clock.Now
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.open()
	e.vpc = eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.0.0.0/16"}))
	e.sn = eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.1.0/24", Zone: "us-east-1a"}))
	e.small = eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.vpc.ID, CIDR: "10.0.2.0/28", Zone: "us-east-1a"}))
	e.web = eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "web", Description: "web", VpcID: e.vpc.ID}))
	e.db = eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "db", Description: "db", VpcID: e.vpc.ID}))
	e.otherVPC = eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.9.0.0/16"}))
	e.other = eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "other", Description: "other", VpcID: e.otherVPC.ID}))
	e.otherSn = eniOK[*model.Subnet](t)(e.s.CreateSubnet(e.ctx, eniTenant, CreateSubnetInput{VpcID: e.otherVPC.ID, CIDR: "10.9.1.0/24", Zone: "us-east-1a"}))
	return e
}

func (e *eniEnv) open() {
	e.t.Helper()
	st, err := bolt.Open(e.path, bolt.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	s, err := Open(e.ctx, st, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.s = st, s
}

// reopen closes the store and starts a new Service on the same file, as a restart does.
func (e *eniEnv) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// eniOK unwraps a write's results, failing the test on error.
func eniOK[T any](t *testing.T) func(T, Result, error) T {
	return func(v T, _ Result, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *eniEnv) createENI(in CreateENIInput) *model.NetworkInterface {
	e.t.Helper()
	return eniOK[*model.NetworkInterface](e.t)(e.s.CreateENI(e.ctx, eniTenant, in))
}

// view runs fn on the tenant's state.
func (e *eniEnv) view(fn func(v View)) {
	e.t.Helper()
	if err := e.s.View(e.ctx, eniTenant, func(v View) error { fn(v); return nil }); err != nil {
		e.t.Fatal(err)
	}
}

// lookup returns what find finds in the tenant's state, failing the test on error.
func lookup[T any](e *eniEnv, find func(View) (T, error)) T {
	e.t.Helper()
	var out T
	var err error
	e.view(func(v View) { out, err = find(v) })
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *eniEnv) eni(id string) *model.NetworkInterface {
	e.t.Helper()
	return lookup(e, func(v View) (*model.NetworkInterface, error) { return v.ENI(id) })
}

// snapshot is everything the tests check for "nothing changed": the stored revision and the
// tenant's interfaces and instances.
type eniSnapshot struct {
	Revision  int64
	ENIs      []*model.NetworkInterface
	Instances []*model.Instance
}

func (e *eniEnv) snapshot() eniSnapshot {
	e.t.Helper()
	var sn eniSnapshot
	e.view(func(v View) { sn.ENIs, sn.Instances = v.ENIs(), v.Instances() })
	sn.Revision = e.s.Revision()
	return sn
}

// eniCmpOpts compare model objects: netip.Addr has no exported fields.
var eniCmpOpts = cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

// checkUnchanged fails unless the state is what before was: a failed call left nothing behind.
func (e *eniEnv) checkUnchanged(before eniSnapshot) {
	e.t.Helper()
	if diff := cmp.Diff(before, e.snapshot(), eniCmpOpts); diff != "" {
		e.t.Errorf("state changed by a failed call (-before +after):\n%s", diff)
	}
}

// eniCheckErr fails unless err is an API error with the code and a message containing msg.
func eniCheckErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var me *model.Error
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if me.Code != code || !strings.Contains(me.Message, msg) {
		t.Fatalf("got %s %q, want %s containing %q", me.Code, me.Message, code, msg)
	}
}

// errCase is a row of an error table: a write's input, the code it must fail with and a part
// of the message.
type errCase[In any] struct {
	name      string
	in        In
	code, msg string
}

// runErrorCases runs write once per case, each in its own subtest: the write must fail with
// the case's code and message, return nothing besides the error (a dry run may: it is refused
// as a whole), and change nothing.
func runErrorCases[In, Out any](t *testing.T, e *eniEnv, cases []errCase[In], write func(context.Context, Tenant, In) (Out, Result, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			out, _, err := write(e.ctx, eniTenant, tc.in)
			eniCheckErr(t, err, tc.code, tc.msg)
			if tc.code != "DryRunOperation" && !reflect.ValueOf(&out).Elem().IsZero() {
				t.Errorf("failed call returned %+v", out)
			}
			e.checkUnchanged(before)
		})
	}
}

// noOutput adapts a write that returns only its Result to runErrorCases.
func noOutput[In any](write func(context.Context, Tenant, In) (Result, error)) func(context.Context, Tenant, In) (struct{}, Result, error) {
	return func(ctx context.Context, tn Tenant, in In) (struct{}, Result, error) {
		r, err := write(ctx, tn, in)
		return struct{}{}, r, err
	}
}

func addrs(ns []*model.NetworkInterface) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.PrivateIP.String())
	}
	return out
}

func TestCreateENIErrors(t *testing.T) {
	e := newENITestService(t, nil)
	taken := e.createENI(CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.5"})
	six := []string{e.vpc.DefaultGroupID, e.web.ID, e.db.ID}
	for i := 0; i < 3; i++ {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: fmt.Sprintf("g%d", i), Description: "g", VpcID: e.vpc.ID}))
		six = append(six, g.ID)
	}
	tests := []errCase[CreateENIInput]{
		{"no subnet", CreateENIInput{}, "MissingParameter", "SubnetId"},
		{"malformed subnet", CreateENIInput{SubnetID: "subnet-xyz"}, "InvalidSubnetID.Malformed", "subnet-xyz"},
		{"unknown subnet", CreateENIInput{SubnetID: "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound", "subnet-0123456789abcdef0"},
		{"unknown group", CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID, "sg-0123456789abcdef0"}}, "InvalidGroup.NotFound", "sg-0123456789abcdef0"},
		{"malformed group", CreateENIInput{SubnetID: e.sn.ID, Groups: []string{"web"}}, "InvalidGroupId.Malformed", "web"},
		{"group of another VPC", CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID, e.other.ID}}, "InvalidParameter",
			fmt.Sprintf("Security group %s and subnet %s belong to different networks.", e.other.ID, e.sn.ID)},
		{"six groups", CreateENIInput{SubnetID: e.sn.ID, Groups: six}, "SecurityGroupsPerInterfaceLimitExceeded",
			"The maximum number of security groups per interface has been reached."},
		{"address in use", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: taken.PrivateIP.String()}, "InvalidIPAddress.InUse", "Address 10.0.1.5 is in use."},
		{"network address", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.0"}, "InvalidParameterValue", "10.0.1.0"},
		{"router address", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.1"}, "InvalidParameterValue", "10.0.1.1"},
		{"DNS address", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.2"}, "InvalidParameterValue", "10.0.1.2"},
		{"reserved .3", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.3"}, "InvalidParameterValue", "10.0.1.3"},
		{"broadcast", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.255"}, "InvalidParameterValue", "10.0.1.255"},
		{"outside the subnet", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.2.4"}, "InvalidParameterValue", "10.0.2.4"},
		{"IPv6 address", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "fd00::4"}, "InvalidParameterValue", "fd00::4"},
		{"not an address", CreateENIInput{SubnetID: e.sn.ID, PrivateIP: "10.0.1.x"}, "InvalidParameterValue", "10.0.1.x"},
		{"TCP timeout too long", CreateENIInput{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 432001, UDPStream: 180, UDP: 30}},
			"InvalidParameterValue", "TcpEstablishedTimeout"},
		{"UDP stream timeout too short", CreateENIInput{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 60, UDPStream: 59, UDP: 30}},
			"InvalidParameterValue", "UdpStreamTimeout"},
		{"UDP timeout too long", CreateENIInput{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 60, UDPStream: 60, UDP: 61}},
			"InvalidParameterValue", "UdpTimeout"},
		{"negative secondary count", CreateENIInput{SubnetID: e.sn.ID, SecondaryCount: -1}, "InvalidParameterValue", "secondaryPrivateIpAddressCount"},
		{"description not UTF-8", CreateENIInput{SubnetID: e.sn.ID, Description: "\xff"}, "InvalidParameterValue", "Description"},
		{"description too long", CreateENIInput{SubnetID: e.sn.ID, Description: strings.Repeat("d", 256)}, "InvalidParameterValue", "Description"},
		{"secondaries do not fit", CreateENIInput{SubnetID: e.small.ID, SecondaryCount: 11}, "InsufficientFreeAddressesInSubnet", e.small.ID},
		{"dry run of a bad request", CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.other.ID}, DryRun: true}, "InvalidParameter", "different networks"},
		{"dry run", CreateENIInput{SubnetID: e.sn.ID, DryRun: true}, "DryRunOperation", "Request would have succeeded"},
	}
	runErrorCases(t, e, tests, e.s.CreateENI)
}

// TestCreateENIQuota checks the per-region interface quota.
func TestCreateENIQuota(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.NetworkInterfaces = 2 })
	e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	e.createENI(CreateENIInput{SubnetID: e.otherSn.ID})
	before := e.snapshot()
	_, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID})
	eniCheckErr(t, err, "NetworkInterfaceLimitExceeded", "")
	e.checkUnchanged(before)
}

func TestCreateENI(t *testing.T) {
	e := newENITestService(t, nil)
	// Defaults: the VPC's default group, the lowest usable address, AWS's timeouts.
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	want := &model.NetworkInterface{ID: n.ID, SubnetID: e.sn.ID, VpcID: e.vpc.ID, AZ: "us-east-1a", OwnerID: eniTenant.Account,
		Groups: []string{e.vpc.DefaultGroupID}, MAC: n.MAC, PrivateIP: netip.MustParseAddr("10.0.1.4"), SourceDestCheck: true,
		ConnTrack: model.DefaultConnTrack}
	if diff := cmp.Diff(want, n, eniCmpOpts); diff != "" {
		t.Errorf("default interface (-want +got):\n%s", diff)
	}
	if !model.ValidID(model.PrefixENI, n.ID) || n.Status() != "available" {
		t.Errorf("ID %q, status %q", n.ID, n.Status())
	}
	if diff := cmp.Diff(n, e.eni(n.ID), eniCmpOpts); diff != "" {
		t.Errorf("stored interface differs from the returned one:\n%s", diff)
	}

	// Everything given: duplicate groups fold, the requested address, secondaries after it.
	full := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID, e.db.ID, e.web.ID}, Description: "app server",
		PrivateIP: "10.0.1.20", SecondaryCount: 2, ConnTrack: &model.ConnTrack{TCPEstablished: 3600, UDPStream: 60, UDP: 60},
		Tags: model.Tags{"Name": "app"}})
	want = &model.NetworkInterface{ID: full.ID, SubnetID: e.sn.ID, VpcID: e.vpc.ID, AZ: "us-east-1a", OwnerID: eniTenant.Account,
		Description: "app server", Groups: []string{e.web.ID, e.db.ID}, MAC: full.MAC, PrivateIP: netip.MustParseAddr("10.0.1.20"),
		SecondaryIPs:    []netip.Addr{netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("10.0.1.6")},
		SourceDestCheck: true, ConnTrack: model.ConnTrack{TCPEstablished: 3600, UDPStream: 60, UDP: 60}, Tags: model.Tags{"Name": "app"}}
	if diff := cmp.Diff(want, full, eniCmpOpts); diff != "" {
		t.Errorf("interface with every parameter (-want +got):\n%s", diff)
	}
	// The quota counts distinct groups: five plus a repeat is five.
	var five []string
	for i := 0; i < 3; i++ {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: fmt.Sprintf("q%d", i), Description: "q", VpcID: e.vpc.ID}))
		five = append(five, g.ID)
	}
	five = append(five, e.web.ID, e.db.ID, e.web.ID)
	if got := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: five}).Groups; len(got) != 5 {
		t.Errorf("groups %v, want the five distinct ones", got)
	}
	var avail int
	e.view(func(v View) { avail = v.Available(e.sn) })
	if want := 256 - 5 - 5; avail != want { // .4, .20 + two secondaries, and the last interface
		t.Errorf("available addresses %d, want %d", avail, want)
	}
}

// TestENIAddressAllocation fills a /28: addresses go lowest first from .4, skip the reserved
// first four and the broadcast address, and a freed address is handed out again first.
func TestENIAddressAllocation(t *testing.T) {
	e := newENITestService(t, nil)
	var got []*model.NetworkInterface
	for i := 0; i < 11; i++ {
		got = append(got, e.createENI(CreateENIInput{SubnetID: e.small.ID}))
	}
	var want []string
	for i := 4; i <= 14; i++ {
		want = append(want, fmt.Sprintf("10.0.2.%d", i))
	}
	if diff := cmp.Diff(want, addrs(got)); diff != "" {
		t.Errorf("allocation order (-want +got):\n%s", diff)
	}
	before := e.snapshot()
	_, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.small.ID})
	eniCheckErr(t, err, "InsufficientFreeAddressesInSubnet", e.small.ID)
	e.checkUnchanged(before)
	e.view(func(v View) {
		if n := v.Available(e.small); n != 0 {
			t.Errorf("full subnet reports %d available addresses", n)
		}
	})

	// Free .6 and .9: the next two interfaces get them, lowest first.
	for _, i := range []int{2, 5} {
		if _, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: got[i].ID}); err != nil {
			t.Fatal(err)
		}
	}
	again := []*model.NetworkInterface{e.createENI(CreateENIInput{SubnetID: e.small.ID}), e.createENI(CreateENIInput{SubnetID: e.small.ID})}
	if diff := cmp.Diff([]string{"10.0.2.6", "10.0.2.9"}, addrs(again)); diff != "" {
		t.Errorf("reuse of freed addresses (-want +got):\n%s", diff)
	}

	// A requested address is taken out of the pool: allocation skips it.
	e2 := newENITestService(t, nil)
	e2.createENI(CreateENIInput{SubnetID: e2.sn.ID, PrivateIP: "10.0.1.5"})
	seq := []*model.NetworkInterface{e2.createENI(CreateENIInput{SubnetID: e2.sn.ID}), e2.createENI(CreateENIInput{SubnetID: e2.sn.ID})}
	if diff := cmp.Diff([]string{"10.0.1.4", "10.0.1.6"}, addrs(seq)); diff != "" {
		t.Errorf("allocation around a requested address (-want +got):\n%s", diff)
	}
	// The same address in another subnet is another address.
	if n := e2.createENI(CreateENIInput{SubnetID: e2.otherSn.ID, PrivateIP: "10.9.1.5"}); n.PrivateIP.String() != "10.9.1.5" {
		t.Errorf("address in other subnet: %s", n.PrivateIP)
	}
}

var macPattern = regexp.MustCompile(`^02(:[0-9a-f]{2}){5}$`)

// TestENIMACs checks that MACs are locally administered unicast addresses, unique in the tenant.
func TestENIMACs(t *testing.T) {
	e := newENITestService(t, nil)
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		n := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
		if !macPattern.MatchString(n.MAC) {
			t.Errorf("MAC %q is not a locally administered unicast address", n.MAC)
		}
		if seen[n.MAC] {
			t.Errorf("MAC %s given twice", n.MAC)
		}
		seen[n.MAC] = true
	}
}

// TestCreateENIClientToken checks idempotency: a retry returns the first interface, also after
// a restart; other parameters with the same token are refused.
func TestCreateENIClientToken(t *testing.T) {
	e := newENITestService(t, nil)
	in := CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID}, Description: "d", ClientToken: "tok-1"}
	first := e.createENI(in)
	count := func() int {
		var n int
		e.view(func(v View) { n = len(v.ENIs()) })
		return n
	}
	if again := e.createENI(in); again.ID != first.ID {
		t.Errorf("retry created %s, first call %s", again.ID, first.ID)
	}
	if n := count(); n != 1 {
		t.Errorf("%d interfaces after a retry, want 1", n)
	}
	changed := in
	changed.Description = "other"
	before := e.snapshot()
	_, _, err := e.s.CreateENI(e.ctx, eniTenant, changed)
	eniCheckErr(t, err, "IdempotentParameterMismatch", "")
	e.checkUnchanged(before)

	// Tokens are per action: the same token on RunInstances is another request.
	if _, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, ClientToken: "tok-1"}); err != nil {
		t.Errorf("RunInstances with a CreateNetworkInterface token: %v", err)
	}
	// A dry run remembers nothing.
	dry := in
	dry.ClientToken, dry.DryRun = "tok-2", true
	if _, _, err := e.s.CreateENI(e.ctx, eniTenant, dry); eniCode(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	dry.DryRun, dry.Description = false, "after the dry run"
	if n := e.createENI(dry); n.Description != "after the dry run" {
		t.Errorf("token of a dry run was remembered: %+v", n)
	}

	e.reopen()
	if again := e.createENI(in); again.ID != first.ID {
		t.Errorf("retry after restart created %s, first call %s", again.ID, first.ID)
	}
	_, _, err = e.s.CreateENI(e.ctx, eniTenant, changed)
	eniCheckErr(t, err, "IdempotentParameterMismatch", "")
}

func eniCode(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return fmt.Sprint(err)
}

func TestDeleteENI(t *testing.T) {
	e := newENITestService(t, nil)
	free := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID}})
	resv := eniOK[*Reservation](t)(e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}))
	attached := resv.Instances[0].InterfaceIDs[0]
	tests := []errCase[IDInput]{
		{"malformed", IDInput{ID: "eni-nothex"}, "InvalidNetworkInterfaceID.Malformed", "eni-nothex"},
		{"unknown", IDInput{ID: "eni-0123456789abcdef0"}, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID 'eni-0123456789abcdef0' does not exist"},
		{"attached", IDInput{ID: attached}, "InvalidParameterValue", fmt.Sprintf("Network interface '%s' is currently in use.", attached)},
		{"dry run", IDInput{ID: free.ID, DryRun: true}, "DryRunOperation", ""},
	}
	runErrorCases(t, e, tests, noOutput(e.s.DeleteENI))

	// The interface holds its group: the group cannot go before it.
	if _, _, err := e.s.DeleteGroup(e.ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.web.ID}}); eniCode(err) != "DependencyViolation" {
		t.Fatalf("deleting a group an interface carries: %v", err)
	}
	res, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: free.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != e.s.Revision() {
		t.Errorf("result revision %d, store at %d", res.Revision, e.s.Revision())
	}
	if _, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: free.ID}); eniCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Errorf("second delete: %v", err)
	}
	if _, _, err := e.s.DeleteGroup(e.ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.web.ID}}); err != nil {
		t.Errorf("deleting the group after its interface: %v", err)
	}
	// Its address is free again.
	if n := e.createENI(CreateENIInput{SubnetID: e.sn.ID}); n.PrivateIP != free.PrivateIP {
		t.Errorf("new interface got %s, want the freed %s", n.PrivateIP, free.PrivateIP)
	}
}

func TestModifyENIErrors(t *testing.T) {
	e := newENITestService(t, nil)
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID}})
	resv := eniOK[*Reservation](t)(e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}))
	attached := e.eni(resv.Instances[0].InterfaceIDs[0])
	var six []string
	for i := 0; i < 6; i++ {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: fmt.Sprintf("m%d", i), Description: "m", VpcID: e.vpc.ID}))
		six = append(six, g.ID)
	}
	yes, desc := true, "x"
	tests := []errCase[ModifyENIInput]{
		{"no attribute", ModifyENIInput{ID: n.ID}, "MissingParameter", ""},
		{"two attributes", ModifyENIInput{ID: n.ID, Groups: []string{e.db.ID}, Description: &desc}, "InvalidParameterCombination", "Only one attribute may be modified at a time"},
		{"source/dest and conntrack", ModifyENIInput{ID: n.ID, SourceDestCheck: &yes, ConnTrack: &model.DefaultConnTrack}, "InvalidParameterCombination", "Only one attribute"},
		{"unknown interface", ModifyENIInput{ID: "eni-0123456789abcdef0", Description: &desc}, "InvalidNetworkInterfaceID.NotFound", "eni-0123456789abcdef0"},
		{"malformed interface", ModifyENIInput{ID: "sg-0123456789abcdef0", Description: &desc}, "InvalidNetworkInterfaceID.Malformed", "sg-0123456789abcdef0"},
		{"unknown group", ModifyENIInput{ID: n.ID, Groups: []string{"sg-0123456789abcdef0"}}, "InvalidGroup.NotFound", "sg-0123456789abcdef0"},
		{"group of another VPC", ModifyENIInput{ID: n.ID, Groups: []string{e.db.ID, e.other.ID}}, "InvalidParameter", "belong to different networks"},
		{"six groups", ModifyENIInput{ID: n.ID, Groups: six}, "SecurityGroupsPerInterfaceLimitExceeded", "The maximum number of security groups per interface has been reached."},
		{"timeout out of range", ModifyENIInput{ID: n.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 59, UDPStream: 180, UDP: 30}}, "InvalidParameterValue", "TcpEstablishedTimeout"},
		{"description too long", ModifyENIInput{ID: n.ID, Description: new(strings.Repeat("d", 256))}, "InvalidParameterValue", "Description"},
		{"delete on termination without attachment ID", ModifyENIInput{ID: attached.ID, DeleteOnTermination: &yes}, "MissingParameter", "Attachment.AttachmentId"},
		{"delete on termination, detached", ModifyENIInput{ID: n.ID, DeleteOnTermination: &yes, AttachmentID: "eni-attach-0123456789abcdef0"}, "InvalidAttachmentID.NotFound", ""},
		{"delete on termination, other attachment", ModifyENIInput{ID: attached.ID, DeleteOnTermination: &yes, AttachmentID: "eni-attach-0123456789abcdef0"},
			"InvalidAttachmentID.NotFound", "eni-attach-0123456789abcdef0"},
		{"dry run", ModifyENIInput{ID: n.ID, Groups: []string{e.db.ID}, DryRun: true}, "DryRunOperation", ""},
	}
	runErrorCases(t, e, tests, noOutput(e.s.ModifyENI))
}

func TestModifyENI(t *testing.T) {
	e := newENITestService(t, nil)
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID}})
	resv := eniOK[*Reservation](t)(e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}))
	primary := e.eni(resv.Instances[0].InterfaceIDs[0])
	no, desc := false, "renamed"
	ct := model.ConnTrack{TCPEstablished: 350, UDPStream: 120, UDP: 45}
	tests := []struct {
		name  string
		in    ModifyENIInput
		check func(got *model.NetworkInterface) any // what should have changed
		want  any
	}{
		// Spec §11.21: the list replaces the set, it does not add to it.
		{"groups replace", ModifyENIInput{ID: n.ID, Groups: []string{e.db.ID, e.db.ID, e.vpc.DefaultGroupID}},
			func(g *model.NetworkInterface) any { return g.Groups }, []string{e.db.ID, e.vpc.DefaultGroupID}},
		{"description", ModifyENIInput{ID: n.ID, Description: &desc},
			func(g *model.NetworkInterface) any { return g.Description }, "renamed"},
		{"source/dest check", ModifyENIInput{ID: n.ID, SourceDestCheck: &no},
			func(g *model.NetworkInterface) any { return g.SourceDestCheck }, false},
		{"conntrack", ModifyENIInput{ID: n.ID, ConnTrack: &ct},
			func(g *model.NetworkInterface) any { return g.ConnTrack }, ct},
		{"delete on termination", ModifyENIInput{ID: primary.ID, DeleteOnTermination: &no, AttachmentID: primary.Attachment.ID},
			func(g *model.NetworkInterface) any { return g.Attachment.DeleteOnTermination }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := e.eni(tt.in.ID)
			if _, err := e.s.ModifyENI(e.ctx, eniTenant, tt.in); err != nil {
				t.Fatal(err)
			}
			got := e.eni(tt.in.ID)
			if diff := cmp.Diff(tt.want, tt.check(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got == old {
				t.Error("the stored interface was modified in place")
			}
		})
	}
	// The old groups are released: web is deletable now.
	if _, _, err := e.s.DeleteGroup(e.ctx, eniTenant, DeleteGroupInput{Group: GroupRef{ID: e.web.ID}}); err != nil {
		t.Errorf("deleting a group the interface no longer carries: %v", err)
	}
	// The primary interface was kept on termination, so it is detached and kept.
	if _, _, err := e.s.TerminateInstances(e.ctx, eniTenant, TerminateInstancesInput{IDs: []string{resv.Instances[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if got := e.eni(primary.ID); got.Attachment != nil || got.Status() != "available" {
		t.Errorf("interface kept on termination: %+v", got)
	}
}

// TestENILookups checks tenant.eni's errors and that tenants do not see each other's interfaces.
func TestENILookups(t *testing.T) {
	e := newENITestService(t, nil)
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID})
	bob := Tenant{Account: "777788889999", Region: eniTenant.Region}
	elsewhere := Tenant{Account: eniTenant.Account, Region: "eu-west-1"}
	for _, tn := range []Tenant{bob, elsewhere} {
		err := e.s.View(e.ctx, tn, func(v View) error {
			_, err := v.ENI(n.ID)
			return err
		})
		eniCheckErr(t, err, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", n.ID))
	}
	for _, id := range []string{"", "eni", "eni-", "eni-xyz", "eni-0123456789ABCDEF0", "i-0123456789abcdef0"} {
		e.view(func(v View) {
			_, err := v.ENI(id)
			eniCheckErr(t, err, "InvalidNetworkInterfaceID.Malformed", "")
		})
	}
	e.view(func(v View) {
		if got := v.ENIs(); !slices.EqualFunc(got, []*model.NetworkInterface{n}, func(a, b *model.NetworkInterface) bool { return a.ID == b.ID }) {
			t.Errorf("ENIs() = %v", got)
		}
	})
}

// TestConcurrentCreateENI creates interfaces from many goroutines (run with -race): every one
// gets its own address and MAC.
func TestConcurrentCreateENI(t *testing.T) {
	e := newENITestService(t, nil)
	concurrently(t, 8, 10, func() error {
		if _, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID}); err != nil {
			return err
		}
		return e.s.View(e.ctx, eniTenant, func(v View) error { _ = v.ENIs(); return nil })
	})
	ips, macs := map[netip.Addr]bool{}, map[string]bool{}
	e.view(func(v View) {
		for _, n := range v.ENIs() {
			ips[n.PrivateIP], macs[n.MAC] = true, true
		}
	})
	if len(ips) != 80 || len(macs) != 80 {
		t.Errorf("80 interfaces have %d addresses and %d MACs", len(ips), len(macs))
	}
}

// TestClientTokenRetryWithPointers: a retry is a new request, its pointers are new too, with
// the same values; the fingerprint must compare the values.
func TestClientTokenRetryWithPointers(t *testing.T) {
	e := newENITestService(t, nil)
	mk := func() CreateENIInput {
		return CreateENIInput{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 3600, UDPStream: 60, UDP: 30}, ClientToken: "ct"}
	}
	if a, b := e.createENI(mk()), e.createENI(mk()); a.ID != b.ID {
		t.Errorf("CreateENI retry created %s then %s", a.ID, b.ID)
	}
	run := func() RunInput {
		yes := true
		return RunInput{MinCount: 1, MaxCount: 1, ClientToken: "rt", Interfaces: []RunInterface{{SubnetID: e.sn.ID, DeleteOnTermination: &yes,
			ConnTrack: &model.ConnTrack{TCPEstablished: 3600, UDPStream: 60, UDP: 30}}}}
	}
	if a, b := e.run(run()), e.run(run()); a.ID != b.ID {
		t.Errorf("RunInstances retry launched %s then %s", a.ID, b.ID)
	}
}

// TestCreateENIPartialConnTrack: ConnTrack fields left 0 take AWS's defaults.
func TestCreateENIPartialConnTrack(t *testing.T) {
	e := newENITestService(t, nil)
	n := e.createENI(CreateENIInput{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{TCPEstablished: 3600}})
	if want := (model.ConnTrack{TCPEstablished: 3600, UDPStream: 180, UDP: 30}); n.ConnTrack != want {
		t.Errorf("conntrack %+v, want %+v", n.ConnTrack, want)
	}
	r := e.run(RunInput{MinCount: 1, MaxCount: 1, Interfaces: []RunInterface{{SubnetID: e.sn.ID, ConnTrack: &model.ConnTrack{UDP: 45}}}})
	if got, want := r.ENIs[r.Instances[0].InterfaceIDs[0]].ConnTrack, (model.ConnTrack{TCPEstablished: 432000, UDPStream: 180, UDP: 45}); got != want {
		t.Errorf("launch conntrack %+v, want %+v", got, want)
	}
}
