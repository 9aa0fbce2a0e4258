package ec2api

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
)

// TestStopStartReboot drives the lifecycle actions over the wire: the replies' state pairs,
// what DescribeInstances and DescribeInstanceAttribute show of a stopped instance, and EC2's
// error codes for every refusal.
func TestStopStartReboot(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	body := c.ok("RunInstances", kv("ImageId", image.DefaultID, "MinCount", 2, "MaxCount", 2, "DisableApiStop", "false")...)
	ids := uniq(xmlFields(body, "instanceId"))
	a, b := ids[0], ids[1]
	states := func(body string) []string {
		return append(xmlFields(body, "name"), xmlFields(body, "code")...)
	}
	stop := c.ok("StopInstances", "InstanceId.1", a, "Force", "true", "SkipOsShutdown", "true")
	if diff := cmp.Diff([]string{"stopping", "running", "64", "16"}, states(stop)); diff != "" || field(stop, "instanceId") != a {
		t.Errorf("StopInstances (-want +got):\n%s\n%s", diff, stop)
	}
	desc := c.ok("DescribeInstances", "InstanceId.1", a)
	if field(desc, "name") != "stopped" || !strings.HasPrefix(field(desc, "reason"), "User initiated (") ||
		field(desc, "message") != "Client.UserInitiatedShutdown: User initiated shutdown" || field(desc, "ipAddress") != "" ||
		field(desc, "privateIpAddress") == "" {
		t.Errorf("a stopped instance described:\n%s", desc)
	}
	for _, f := range [][]string{{"instance-state-name", "stopped"}, {"state-reason-code", "Client.UserInitiatedShutdown"}, {"reason", "User initiated*"}} {
		if got := c.ok("DescribeInstances", "Filter.1.Name", f[0], "Filter.1.Value.1", f[1]); !slices1(uniq(xmlFields(got, "instanceId")), a) {
			t.Errorf("filter %s: %s", f[0], got)
		}
	}
	c.ok("ModifyInstanceAttribute", "InstanceId", a, "InstanceType.Value", "t3.large")
	c.ok("ModifyInstanceAttribute", "InstanceId", a, "Attribute", "userData", "Value", b64("echo new"))
	c.ok("ModifyInstanceAttribute", "InstanceId", a, "DisableApiStop.Value", "true")
	c.ok("ModifyInstanceAttribute", "InstanceId", a, "InstanceInitiatedShutdownBehavior.Value", "terminate")
	attr := func(name string) string {
		return c.ok("DescribeInstanceAttribute", "InstanceId", a, "Attribute", name)
	}
	for name, want := range map[string]string{"instanceType": "t3.large", "userData": b64("echo new"), "disableApiStop": "true",
		"instanceInitiatedShutdownBehavior": "terminate", "rootDeviceName": "/dev/xvda", "ebsOptimized": "false", "enaSupport": "true",
		"disableApiTermination": "false", "sourceDestCheck": "true"} {
		if got := attr(name); field(got, "value") != want || field(got, "instanceId") != a {
			t.Errorf("attribute %s: want %s:\n%s", name, want, got)
		}
	}
	if got := attr("enclaveOptions"); field(got, "enabled") != "false" {
		t.Errorf("enclaveOptions: %s", got)
	}
	if got := attr("kernel"); !strings.Contains(got, "<kernel/>") {
		t.Errorf("kernel: %s", got)
	}
	start := c.ok("StartInstances", "InstanceId.1", a)
	if diff := cmp.Diff([]string{"pending", "stopped", "0", "80"}, states(start)); diff != "" {
		t.Errorf("StartInstances (-want +got):\n%s", diff)
	}
	c.ok("RebootInstances", "InstanceId.1", a, "InstanceId.2", b)
	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"stop without IDs", "MissingParameter", "StopInstances", nil},
		{"stop malformed", "InvalidInstanceID.Malformed", "StopInstances", kv("InstanceId.1", "sg-1")},
		{"stop unknown", "InvalidInstanceID.NotFound", "StopInstances", kv("InstanceId.1", "i-0123456789abcdef0")},
		{"stop protected", "OperationNotPermitted", "StopInstances", kv("InstanceId.1", a)},
		{"hibernate", "UnsupportedHibernationConfiguration", "StopInstances", kv("InstanceId.1", b, "Hibernate", "true")},
		{"hibernation at launch", "UnsupportedHibernationConfiguration", "RunInstances", kv("ImageId", image.DefaultID, "MinCount", 1,
			"MaxCount", 1, "HibernationOptions.Configured", "true")},
		{"stop dry run", "DryRunOperation", "StopInstances", kv("InstanceId.1", b, "DryRun", "true")},
		{"start dry run", "DryRunOperation", "StartInstances", kv("InstanceId.1", b, "DryRun", "true")},
		{"reboot dry run", "DryRunOperation", "RebootInstances", kv("InstanceId.1", b, "DryRun", "true")},
		{"start unknown parameter", "UnknownParameter", "StartInstances", kv("InstanceId.1", b, "Force", "true")},
		{"type while running", "IncorrectInstanceState", "ModifyInstanceAttribute", kv("InstanceId", b, "InstanceType.Value", "t3.large")},
		{"bad shutdown behaviour", "InvalidParameterValue", "ModifyInstanceAttribute", kv("InstanceId", b, "InstanceInitiatedShutdownBehavior.Value", "halt")},
		{"kernel", "InvalidParameterValue", "ModifyInstanceAttribute", kv("InstanceId", b, "Kernel.Value", "aki-1")},
		{"unknown attribute", "InvalidParameterValue", "DescribeInstanceAttribute", kv("InstanceId", b, "Attribute", "colour")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	c.ok("StopInstances", "InstanceId.1", b)
	c.fails("IncorrectInstanceState", "RebootInstances", "InstanceId.1", b)
	c.ok("TerminateInstances", "InstanceId.1", b)
	c.fails("IncorrectInstanceState", "StartInstances", "InstanceId.1", b)
	c.fails("IncorrectInstanceState", "StopInstances", "InstanceId.1", b)
}

func slices1(got []string, want string) bool { return len(got) == 1 && got[0] == want }
