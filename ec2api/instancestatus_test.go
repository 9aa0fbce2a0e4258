package ec2api

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// TestDescribeInstanceStatus: running instances only by default, every one with
// IncludeAllInstances; checks "initializing" until the lab says the instance booted, then "ok";
// "not-applicable" for a stopped one; the filters; EC2's errors.
func TestDescribeInstanceStatus(t *testing.T) {
	var mu sync.Mutex
	booted := map[string]bool{}
	c := newTestAPIConfigs(t, control.DefaultConfig(), func(cfg *Config) {
		cfg.Booted = func(id string) bool { mu.Lock(); defer mu.Unlock(); return booted[id] }
	}).newAccount("alice")
	ids := sorted(uniq(xmlFields(c.ok("RunInstances", kv("ImageId", image.DefaultID, "MinCount", 3, "MaxCount", 3)...), "instanceId")))
	a, b, stopped := ids[0], ids[1], ids[2]
	c.ok("StopInstances", "InstanceId.1", stopped)
	mu.Lock()
	booted[a] = true
	mu.Unlock()

	statuses := func(params ...string) []string {
		t.Helper()
		body := c.ok("DescribeInstanceStatus", params...)
		var out []string
		for _, id := range sorted(xmlFields(body, "instanceId")) {
			one := c.ok("DescribeInstanceStatus", "InstanceId.1", id, "IncludeAllInstances", "true")
			out = append(out, id+"="+field(one, "status"))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		params []string
		want   []string
	}{
		{"default: running only", nil, []string{a + "=ok", b + "=initializing"}},
		{"all", kv("IncludeAllInstances", "true"), []string{a + "=ok", b + "=initializing", stopped + "=not-applicable"}},
		{"by ID, stopped left out", kv("InstanceId.1", stopped), nil},
		{"instance-status.status", kv("Filter.1.Name", "instance-status.status", "Filter.1.Value.1", "initializing"), []string{b + "=initializing"}},
		{"system-status.reachability", kv("Filter.1.Name", "system-status.reachability", "Filter.1.Value.1", "passed"), []string{a + "=ok"}},
		{"instance-state-name", kv("IncludeAllInstances", "true", "Filter.1.Name", "instance-state-name", "Filter.1.Value.1", "stopped"),
			[]string{stopped + "=not-applicable"}},
		{"availability-zone", kv("Filter.1.Name", "availability-zone", "Filter.1.Value.1", "us-east-1b"), nil},
		{"event.code", kv("Filter.1.Name", "event.code", "Filter.1.Value.1", "system-reboot"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, statuses(tc.params...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The whole item of a booted instance, as EC2 writes it.
	got := c.ok("DescribeInstanceStatus", "InstanceId.1", a)
	for _, want := range []string{"<availabilityZone>us-east-1a</availabilityZone>", "<instanceState><code>16</code><name>running</name></instanceState>",
		"<systemStatus><status>ok</status><details><item><name>reachability</name><status>passed</status></item></details></systemStatus>",
		"<instanceStatus><status>ok</status><details><item><name>reachability</name><status>passed</status></item></details></instanceStatus>"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	// Pagination: one at a time, in ID order.
	var paged []string
	token := ""
	for range 3 {
		params := kv("MaxResults", 5)
		if token != "" {
			params = append(params, "NextToken", token)
		}
		body := c.ok("DescribeInstanceStatus", params...)
		paged = append(paged, xmlFields(body, "instanceId")...)
		if token = field(body, "nextToken"); token == "" {
			break
		}
	}
	if !slices.Equal(paged, []string{a, b}) {
		t.Errorf("paged: %v", paged)
	}
	for _, tc := range []struct {
		name, code string
		params     []string
	}{
		{"unknown filter", "InvalidParameterValue", kv("Filter.1.Name", "colour", "Filter.1.Value.1", "red")},
		{"malformed ID", "InvalidInstanceID.Malformed", kv("InstanceId.1", "i-zz")},
		{"unknown ID", "InvalidInstanceID.NotFound", kv("InstanceId.1", "i-0123456789abcdef0")},
		{"MaxResults with IDs", "InvalidParameterCombination", kv("InstanceId.1", a, "MaxResults", 5)},
	} {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.code, "DescribeInstanceStatus", tc.params...) })
	}
}
