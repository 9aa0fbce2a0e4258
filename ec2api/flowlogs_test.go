package ec2api

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func TestFlowLogs(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	eni := field(c.ok("CreateNetworkInterface", "SubnetId", sn), "networkInterfaceId")
	perm := "arn:aws:iam::" + c.acct.ID + ":role/flow-logs"
	// cw is a valid CloudWatch Logs definition for the VPC with some parameters overridden.
	cw := func(overrides ...any) []string {
		base := kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogGroupName", "vpc-flows", "DeliverLogsPermissionArn", perm)
		over := kv(overrides...)
		for i := 0; i < len(over); i += 2 {
			if j := slices.Index(base, over[i]); j >= 0 && j%2 == 0 {
				base[j+1] = over[i+1]
			} else {
				base = append(base, over[i], over[i+1])
			}
		}
		return base
	}
	body := c.ok("CreateFlowLogs", cw("TagSpecification.1.ResourceType", "vpc-flow-log", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "net")...)
	fl := field(body, "item")
	if !strings.HasPrefix(fl, "fl-") || strings.Contains(body, "<code>") {
		t.Fatalf("create: %s", body)
	}
	s3 := c.ok("CreateFlowLogs", "ResourceType", "Subnet", "ResourceId.1", sn, "ResourceId.2", "subnet-0123456789abcdef0", "TrafficType", "REJECT",
		"LogDestinationType", "s3", "LogDestination", "arn:aws:s3:::flow-bucket/prod", "MaxAggregationInterval", "60",
		"LogFormat", "${version} ${vpc-id} ${srcaddr} ${dstaddr} ${action} ${tcp-flags}")
	if n := len(xmlFields(s3, "item")); n != 2 || field(s3, "code") != "InvalidSubnetID.NotFound" || field(s3, "resourceId") != "subnet-0123456789abcdef0" {
		t.Errorf("per-resource failure must be reported in unsuccessful: %s", s3)
	}
	tests := []struct {
		name, code string
		params     []string
	}{
		{"bad interval", "InvalidParameter", cw("MaxAggregationInterval", 300)},
		{"unknown field", "InvalidParameter", cw("LogFormat", "${version} ${colour}")},
		{"malformed format", "InvalidParameter", cw("LogFormat", "${version},${srcaddr}")},
		{"bad traffic type", "InvalidParameter", cw("TrafficType", "SOME")},
		{"firehose", "InvalidParameter", cw("LogDestinationType", "kinesis-data-firehose")},
		{"s3 without bucket ARN", "InvalidParameter", kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogDestinationType", "s3", "LogDestination", "flow-bucket")},
		{"s3 with a log group", "InvalidParameterCombination", kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogDestinationType", "s3", "LogDestination", "arn:aws:s3:::b-1", "LogGroupName", "x")},
		{"missing traffic type", "MissingParameter", kv("ResourceType", "VPC", "ResourceId.1", vpc, "LogGroupName", "g", "DeliverLogsPermissionArn", perm)},
		{"cloudwatch without role", "InvalidParameter", kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogGroupName", "g")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "CreateFlowLogs", tt.params...) })
	}
	// The same configuration twice is refused for that resource; a third flow log exceeds the limit.
	if code := field(c.ok("CreateFlowLogs", cw()...), "code"); code != "FlowLogAlreadyExists" {
		t.Errorf("duplicate: %s", code)
	}
	c.ok("CreateFlowLogs", cw("TrafficType", "ACCEPT")...)
	if code := field(c.ok("CreateFlowLogs", cw("TrafficType", "REJECT")...), "code"); code != "FlowLogsLimitExceeded" {
		t.Errorf("third flow log: %s", code)
	}
	desc := c.ok("DescribeFlowLogs", "FlowLogId.1", fl)
	if field(desc, "logFormat") != model.DefaultFlowLogFormat || field(desc, "maxAggregationInterval") != "600" ||
		field(desc, "logDestination") != "arn:aws:logs:us-east-1:"+c.acct.ID+":log-group:vpc-flows" || field(desc, "flowLogStatus") != "ACTIVE" {
		t.Errorf("describe: %s", desc)
	}
	if got := xmlFields(c.ok("DescribeFlowLogs", "Filter.1.Name", "log-destination-type", "Filter.1.Value.1", "s3"), "resourceId"); !slices.Equal(got, []string{sn}) {
		t.Errorf("destination filter: %v", got)
	}
	if got := xmlFields(c.ok("DescribeFlowLogs", "Filter.1.Name", "tag:team", "Filter.1.Value.1", "net"), "flowLogId"); !slices.Equal(got, []string{fl}) {
		t.Errorf("tag filter: %v", got)
	}
	del := c.ok("DeleteFlowLogs", "FlowLogId.1", fl, "FlowLogId.2", "fl-0123456789abcdef0")
	if field(del, "code") != "InvalidFlowLogId.NotFound" || field(del, "resourceId") != "fl-0123456789abcdef0" {
		t.Errorf("delete: %s", del)
	}
	c.fails("InvalidFlowLogId.NotFound", "DescribeFlowLogs", "FlowLogId.1", fl)
	// A flow log goes with its interface.
	c.ok("CreateFlowLogs", "ResourceType", "NetworkInterface", "ResourceId.1", eni, "TrafficType", "ALL", "LogDestinationType", "s3", "LogDestination", "arn:aws:s3:::b-1")
	c.ok("DeleteNetworkInterface", "NetworkInterfaceId", eni)
	if strings.Contains(c.ok("DescribeFlowLogs", "Filter.1.Name", "resource-id", "Filter.1.Value.1", eni), "<item>") {
		t.Error("flow log of a deleted interface survived")
	}
}

// TestFlowLogDestinationOptions: an s3 flow log keeps its Hive and hourly options and
// describes them; they are refused for CloudWatch Logs, as is Parquet, which Stockade does
// not write. DeliverLogsStatus and its message come from the record writer, and the
// deliver-log-status filter sees the same value.
func TestFlowLogDestinationOptions(t *testing.T) {
	failed := map[string]bool{}
	c := newTestAPIConfigs(t, control.DefaultConfig(), func(cfg *Config) {
		cfg.FlowLogDelivery = func(id string) (string, string) {
			if failed[id] {
				return "FAILED", "Access error"
			}
			return "SUCCESS", ""
		}
	}).newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16"), "vpcId")
	s3 := func(extra ...any) []string {
		return kv(append([]any{"ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogDestinationType", "s3", "LogDestination", "arn:aws:s3:::flows/p"}, extra...)...)
	}
	perm := "arn:aws:iam::" + c.acct.ID + ":role/flow-logs"
	for _, tt := range []struct {
		name, code string
		params     []string
	}{
		{"parquet", "InvalidParameter", s3("DestinationOptions.FileFormat", "parquet")},
		{"unknown file format", "InvalidParameter", s3("DestinationOptions.FileFormat", "csv")},
		{"options on cloudwatch", "InvalidParameterCombination", kv("ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "ALL", "LogGroupName", "g",
			"DeliverLogsPermissionArn", perm, "DestinationOptions.PerHourPartition", "true")},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "CreateFlowLogs", tt.params...) })
	}
	if n := len(xmlFields(c.ok("DescribeFlowLogs"), "flowLogId")); n != 0 {
		t.Fatalf("refused requests created %d flow logs", n)
	}
	hive := field(c.ok("CreateFlowLogs", s3("DestinationOptions.FileFormat", "plain-text", "DestinationOptions.HiveCompatiblePartitions", "true", "DestinationOptions.PerHourPartition", "true")...), "item")
	plain := field(c.ok("CreateFlowLogs", "ResourceType", "VPC", "ResourceId.1", vpc, "TrafficType", "REJECT", "LogDestinationType", "s3", "LogDestination", "arn:aws:s3:::flows"), "item")
	failed[plain] = true
	for _, tt := range []struct {
		id, hive, hourly, status, msg string
	}{{hive, "true", "true", "SUCCESS", ""}, {plain, "false", "false", "FAILED", "Access error"}} {
		d := c.ok("DescribeFlowLogs", "FlowLogId.1", tt.id)
		got := []string{field(d, "fileFormat"), field(d, "hiveCompatiblePartitions"), field(d, "perHourPartition"), field(d, "deliverLogsStatus"), field(d, "deliverLogsErrorMessage")}
		if diff := cmp.Diff([]string{"plain-text", tt.hive, tt.hourly, tt.status, tt.msg}, got); diff != "" {
			t.Errorf("%s (-want +got)\n%s", tt.id, diff)
		}
	}
	if got := xmlFields(c.ok("DescribeFlowLogs", "Filter.1.Name", "deliver-log-status", "Filter.1.Value.1", "FAILED"), "flowLogId"); !slices.Equal(got, []string{plain}) {
		t.Errorf("deliver-log-status filter: %v", got)
	}
}
