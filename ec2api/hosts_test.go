package ec2api

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// TestHostsGolden pins the replies of the Dedicated Host actions, and of DescribeInstances for
// an instance on a Dedicated Host (placement shows hostId and affinity), on a server with two
// registered hosts (through the service, as the admin API registers them).
func TestHostsGolden(t *testing.T) {
	cfg := control.DefaultConfig()
	cfg.Now = func() time.Time { return goldenClock }
	api := newTestAPIWith(t, cfg)
	for _, name := range []string{"node-1", "node-2"} {
		if err := api.svc.RegisterHost(context.Background(), cluster.Host{Name: name, Zone: "us-east-1a", VCPUs: 8, MemoryMiB: 32768, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	c := api.newAccount("alice")
	golden := func(name, body string) {
		t.Helper()
		checkGolden(t, filepath.Join("testdata", name+".xml"), indent(normalise(body, c.acct.ID)), "HostsGolden")
	}
	alloc := c.ok("AllocateHosts", kv("AvailabilityZone", "us-east-1a", "InstanceType", "t3.micro", "Quantity", 1, "AutoPlacement", "on",
		"ClientToken", "golden-hosts", "TagSpecification.1.ResourceType", "dedicated-host", "TagSpecification.1.Tag.1.Key", "team",
		"TagSpecification.1.Tag.1.Value", "blue")...)
	golden("AllocateHosts", alloc)
	hid := field(alloc, "item")
	vpc := field(c.ok("CreateVpc", kv("CidrBlock", "10.0.0.0/16")...), "vpcId")
	sn := field(c.ok("CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1a")...), "subnetId")
	inst := field(c.ok("RunInstances", kv("ImageId", image.DefaultID, "InstanceType", "t3.micro", "MinCount", 1, "MaxCount", 1, "SubnetId", sn,
		"PrivateIpAddress", "10.0.1.10", "Placement.HostId", hid, "Placement.Affinity", "host")...), "instanceId")
	golden("DescribeHosts", c.ok("DescribeHosts", kv("HostId.1", hid)...))
	golden("DescribeInstances-host", c.ok("DescribeInstances", kv("InstanceId.1", inst)...))
	golden("ReleaseHosts", c.ok("ReleaseHosts", kv("HostId.1", hid, "HostId.2", "h-0123456789abcdef0")...))

	// Filters and the instances' host-id filter.
	for _, f := range []struct {
		action, name, value string
		want                int
	}{
		{"DescribeHosts", "state", "available", 1},
		{"DescribeHosts", "auto-placement", "off", 0},
		{"DescribeHosts", "instance-type", "t3.micro", 1},
		{"DescribeHosts", "tag:team", "blue", 1},
		{"DescribeHosts", "client-token", "golden-hosts", 1},
		{"DescribeInstances", "host-id", hid, 1},
		{"DescribeInstances", "affinity", "host", 1},
	} {
		body := c.ok(f.action, kv("Filter.1.Name", f.name, "Filter.1.Value.1", f.value)...)
		set := "hostId"
		if f.action == "DescribeInstances" {
			set = "instanceId"
		}
		if got := len(uniq(xmlFields(body, set))); got != f.want {
			t.Errorf("%s %s=%s: %d, want %d", f.action, f.name, f.value, got, f.want)
		}
	}

	// Errors, each changing nothing: the host and the instance are as they were.
	before := c.ok("DescribeHosts", kv("HostId.1", hid)...)
	for _, e := range []struct {
		code, action string
		params       []string
	}{
		{"InvalidHostID.NotFound", "DescribeHosts", kv("HostId.1", "h-0123456789abcdef0")},
		{"InvalidHostID.Malformed", "DescribeHosts", kv("HostId.1", "h-nothex")},
		{"InvalidParameterCombination", "DescribeHosts", kv("HostId.1", hid, "MaxResults", 5)},
		{"InsufficientHostCapacity", "AllocateHosts", kv("AvailabilityZone", "us-east-1a", "InstanceType", "t3.micro", "Quantity", 2)},
		{"InvalidParameterCombination", "AllocateHosts", kv("AvailabilityZone", "us-east-1a", "InstanceType", "t3.micro", "InstanceFamily", "t3")},
		{"MissingParameter", "ReleaseHosts", nil},
		{"IncorrectInstanceState", "ModifyInstancePlacement", kv("InstanceId", inst, "Tenancy", "dedicated")},
		{"InvalidParameterCombination", "ModifyInstancePlacement", kv("InstanceId", inst, "GroupName", "spread")},
		{"IncompatibleHostRequirements", "RunInstances", kv("ImageId", image.DefaultID, "InstanceType", "m5.large", "MinCount", 1, "MaxCount", 1,
			"SubnetId", sn, "Placement.HostId", hid)},
		{"InvalidParameterCombination", "RunInstances", kv("ImageId", image.DefaultID, "MinCount", 1, "MaxCount", 1,
			"SubnetId", sn, "Placement.Affinity", "host")},
	} {
		c.fails(e.code, e.action, e.params...)
	}
	if after := c.ok("DescribeHosts", kv("HostId.1", hid)...); normalise(after, "") != normalise(before, "") {
		t.Errorf("a failed call changed the host:\n%s\n%s", before, after)
	}
	// Stopped, the instance moves to dedicated tenancy onto the other host; the host is then
	// empty and is released.
	c.ok("StopInstances", kv("InstanceId.1", inst)...)
	c.ok("ModifyInstancePlacement", kv("InstanceId", inst, "Tenancy", "dedicated")...)
	if got := field(c.ok("DescribeInstances", kv("InstanceId.1", inst)...), "tenancy"); got != "dedicated" {
		t.Errorf("tenancy after the move: %q", got)
	}
	if body := c.ok("DescribeInstances", kv("InstanceId.1", inst)...); field(body, "hostId") != "" {
		t.Errorf("a dedicated instance shows a host: %s", body)
	}
	if got := xmlFields(c.ok("ReleaseHosts", kv("HostId.1", hid)...), "item"); len(got) != 1 || got[0] != hid {
		t.Errorf("release of the emptied host: %v", got)
	}
	if got := field(c.ok("DescribeHosts", kv("HostId.1", hid)...), "state"); got != "released" {
		t.Errorf("state after release: %q", got)
	}
}

// TestInstanceStatusOnDownHost: an instance whose host's lease lapsed fails the system and
// instance checks (impaired, reachability failed) while its volumes' check passes, and is
// found by the impaired filter; a heartbeat makes it ok again.
func TestInstanceStatusOnDownHost(t *testing.T) {
	var mu sync.Mutex
	now := goldenClock
	cfg := control.DefaultConfig()
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	api := newTestAPIWith(t, cfg)
	ctx := context.Background()
	if err := api.svc.RegisterHost(ctx, cluster.Host{Name: "node-1", Zone: "us-east-1a", VCPUs: 4, MemoryMiB: 8192, Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c := api.newAccount("alice")
	vpc := field(c.ok("CreateVpc", kv("CidrBlock", "10.0.0.0/16")...), "vpcId")
	sn := field(c.ok("CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1a")...), "subnetId")
	inst := field(c.ok("RunInstances", kv("ImageId", image.DefaultID, "InstanceType", "t3.micro", "MinCount", 1, "MaxCount", 1, "SubnetId", sn)...), "instanceId")
	statuses := func() []string {
		return xmlFields(c.ok("DescribeInstanceStatus", kv("InstanceId.1", inst)...), "status")
	}
	// Each check: its status, then its reachability detail's.
	if got, want := statuses(), []string{"ok", "passed", "ok", "passed", "ok", "passed"}; !slices.Equal(got, want) {
		t.Errorf("host up: %v, want %v", got, want)
	}
	advance(2 * time.Minute)
	if got, want := statuses(), []string{"impaired", "failed", "impaired", "failed", "ok", "passed"}; !slices.Equal(got, want) {
		t.Errorf("host down: %v, want %v", got, want)
	}
	if got := xmlFields(c.ok("DescribeInstanceStatus", kv("Filter.1.Name", "instance-status.status", "Filter.1.Value.1", "impaired")...), "instanceId"); !slices.Equal(got, []string{inst}) {
		t.Errorf("impaired filter: %v", got)
	}
	if err := api.svc.HostHeartbeat(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	if got := statuses(); got[0] != "ok" {
		t.Errorf("after a heartbeat: %v", got)
	}
}
