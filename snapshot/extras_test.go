package snapshot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestLoadExtras: the extra files are read as the AWS CLI writes them; a missing one is nil
// (not known), an empty one empty; a missing field names the file and its path.
func TestLoadExtras(t *testing.T) {
	dir := t.TempDir()
	x, err := LoadExtras(dir)
	if err != nil || x.FlowLogs != nil || x.LaunchTemplates != nil || x.LaunchTemplateVersions != nil {
		t.Fatalf("no files: %+v %v", x, err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("describe-flow-logs.json", `{"FlowLogs": [{"CreationTime": "2026-11-30T10:00:00+00:00", "DeliverLogsStatus": "SUCCESS",
	  "FlowLogId": "fl-0123", "FlowLogStatus": "ACTIVE", "ResourceId": "vpc-0a1b", "TrafficType": "REJECT",
	  "LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::logs", "LogFormat": "${version}", "Tags": [{"Key": "owner", "Value": "net"}]}]}`)
	write("describe-launch-templates.json", `{"LaunchTemplates": [{"LaunchTemplateId": "lt-01", "LaunchTemplateName": "web",
	  "CreateTime": "2026-11-30T10:00:00+00:00", "DefaultVersionNumber": 1, "LatestVersionNumber": 2}]}`)
	write("describe-launch-template-versions.json", `{"LaunchTemplateVersions": [{"LaunchTemplateId": "lt-01", "LaunchTemplateName": "web",
	  "VersionNumber": 2, "DefaultVersion": false, "LaunchTemplateData": {"SecurityGroupIds": ["sg-01"],
	  "NetworkInterfaces": [{"DeviceIndex": 0, "Groups": ["sg-02", "sg-03"]}]}}]}`)
	write("list-rules.json", `{"Rules": [
	  {"Name": "sg", "Arn": "arn:aws:events:us-east-1:123456789012:rule/sg", "State": "ENABLED", "EventBusName": "default",
	   "EventPattern": "{\"source\":[\"aws.ec2\"]}"},
	  {"Name": "off", "State": "DISABLED", "EventPattern": "{\"source\":[\"aws.iam\"]}"},
	  {"Name": "all", "State": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", "EventPattern": "{}"},
	  {"Name": "cron", "State": "ENABLED", "ScheduleExpression": "rate(5 minutes)"}]}`)
	x, err = LoadExtras(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]json.RawMessage{json.RawMessage(`{"source":["aws.ec2"]}`), json.RawMessage(`{}`)}, x.AlertPatterns); d != "" {
		t.Errorf("alert patterns (-want +got):\n%s", d)
	}
	x.AlertPatterns = nil
	want := Extras{
		FlowLogs: []*model.FlowLog{{ID: "fl-0123", ResourceID: "vpc-0a1b", ResourceType: "VPC", TrafficType: "REJECT", DestType: "s3",
			Destination: "arn:aws:s3:::logs", Format: "${version}", Tags: model.Tags{"owner": "net"}}},
		LaunchTemplates: []*model.LaunchTemplate{{ID: "lt-01", Name: "web", DefaultVersion: 1, LatestVersion: 2}},
		LaunchTemplateVersions: []*model.LaunchTemplateVersion{{TemplateID: "lt-01", Number: 2, Data: model.LaunchTemplateData{
			GroupIDs: []string{"sg-01"}, Interfaces: []model.LaunchTemplateENI{{Groups: []string{"sg-02", "sg-03"}}}}}},
	}
	if d := cmp.Diff(want, x); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	write("describe-flow-logs.json", `{"FlowLogs": [{"FlowLogId": "fl-0123", "TrafficType": "ALL"}]}`)
	if _, err := LoadExtras(dir); err == nil || !strings.Contains(err.Error(), "describe-flow-logs.json: FlowLogs[0].ResourceId: missing") {
		t.Fatalf("missing field: %v", err)
	}
}
