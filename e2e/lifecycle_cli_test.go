package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stockade/stockade/image"
)

// cliVolatile are values that differ between any two accounts or runs: resource IDs, times,
// principals and availability zones. cliShape compares them by form only.
var cliVolatile = []*regexp.Regexp{
	regexp.MustCompile(`^(i|lt|subnet|sg|vpc|eni|ami|vol|r)-[0-9a-f]{8,17}$`),
	regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`),
	regexp.MustCompile(`^arn:aws:iam::\d{12}:`),
	regexp.MustCompile(`^[a-z]{2}-[a-z]+-\d[a-z]$`),
}

// volatile returns the form of a volatile value: which pattern it matches and, for an ID,
// its prefix (an instance ID is not a launch template's).
func volatile(s string) (string, bool) {
	for i, re := range cliVolatile {
		if m := re.FindStringSubmatch(s); m != nil {
			if i == 0 {
				return m[1], true
			}
			return fmt.Sprint(i), true
		}
	}
	return "", false
}

// cliShape reports how got differs from want, a recorded EC2 reply: every member of want must
// be in got with the same value (a volatile one only of the same form); members got has beyond
// want are newer API members and allowed.
func cliShape(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, want an object", path, got)}
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, cliShape(path+"."+k, wv, gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %d items", path, got, len(w))}
		}
		var out []string
		for i := range w {
			out = append(out, cliShape(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	case string:
		if wi, ok := volatile(w); ok {
			if gs, _ := got.(string); gs != "" {
				if gi, ok := volatile(gs); ok && gi == wi {
					return nil
				}
			}
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}

// matchRecording runs an AWS CLI command and compares its output with the recording in
// testdata/awscli.
func matchRecording(t *testing.T, a awsCLI, recording string, args ...string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "awscli", recording+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	a.ok(&got, args...)
	for _, d := range cliShape("", want, got) {
		t.Errorf("%s: %s", recording, d)
	}
	return got
}

// TestInstanceLifecycleWithAWSCLI runs the AWS CLI's examples for stop-instances,
// describe-instance-status and describe-instance-attribute, and the lifecycle around them.
func TestInstanceLifecycleWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var run struct{ Instances []struct{ InstanceId string } }
	a.ok(&run, "ec2", "run-instances", "--image-id", image.DefaultID, "--count", "1")
	id := run.Instances[0].InstanceId
	matchRecording(t, a, "describe-instance-status", "ec2", "describe-instance-status", "--instance-id", id)
	matchRecording(t, a, "describe-instance-attribute-disableApiTermination", "ec2", "describe-instance-attribute",
		"--instance-id", id, "--attribute", "disableApiTermination")
	matchRecording(t, a, "stop-instances", "ec2", "stop-instances", "--instance-ids", id)
	a.fails("IncorrectInstanceState", "ec2", "reboot-instances", "--instance-ids", id)
	a.ok(nil, "ec2", "modify-instance-attribute", "--instance-id", id, "--instance-type", "Value=t3.large")
	var all struct {
		InstanceStatuses []struct{ InstanceStatus struct{ Status string } }
	}
	a.ok(&all, "ec2", "describe-instance-status", "--include-all-instances", "--instance-ids", id)
	if len(all.InstanceStatuses) != 1 || all.InstanceStatuses[0].InstanceStatus.Status != "not-applicable" {
		t.Errorf("status of a stopped instance: %+v", all)
	}
	var started struct {
		StartingInstances []struct{ CurrentState, PreviousState struct{ Name string } }
	}
	a.ok(&started, "ec2", "start-instances", "--instance-ids", id)
	if len(started.StartingInstances) != 1 || started.StartingInstances[0].CurrentState.Name != "pending" ||
		started.StartingInstances[0].PreviousState.Name != "stopped" {
		t.Errorf("start-instances: %+v", started)
	}
	a.ok(nil, "ec2", "reboot-instances", "--instance-ids", id)
	var typ struct{ InstanceType struct{ Value string } }
	a.ok(&typ, "ec2", "describe-instance-attribute", "--instance-id", id, "--attribute", "instanceType")
	if typ.InstanceType.Value != "t3.large" {
		t.Errorf("type after modify while stopped: %+v", typ)
	}
	a.fails("DryRunOperation", "ec2", "stop-instances", "--instance-ids", id, "--dry-run")
	a.ok(nil, "ec2", "modify-instance-attribute", "--instance-id", id, "--disable-api-stop")
	a.fails("OperationNotPermitted", "ec2", "stop-instances", "--instance-ids", id)
}

// TestLaunchTemplatesWithAWSCLI runs the AWS CLI's launch-template examples: create (with the
// example's data), a version from a source version, describe, delete versions, run an instance
// from the template.
func TestLaunchTemplatesWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var subnets struct{ Subnets []struct{ SubnetId string } }
	a.ok(&subnets, "ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true", "Name=availability-zone,Values=us-east-1a")
	sn := subnets.Subnets[0].SubnetId
	data := fmt.Sprintf(`{"NetworkInterfaces":[{"AssociatePublicIpAddress":true,"DeviceIndex":0,"Ipv6AddressCount":0,"SubnetId":"%s"}],`+
		`"ImageId":"%s","InstanceType":"t2.small","TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"purpose","Value":"webserver"}]}]}`, sn, image.DefaultID)
	got := matchRecording(t, a, "create-launch-template", "ec2", "create-launch-template", "--launch-template-name", "TemplateForWebServer",
		"--version-description", "WebVersion1", "--launch-template-data", data)
	web := got["LaunchTemplate"].(map[string]any)["LaunchTemplateId"].(string)

	var lt struct {
		LaunchTemplate struct{ LaunchTemplateId string }
	}
	a.ok(&lt, "ec2", "create-launch-template", "--launch-template-name", "WebServers", "--launch-template-data",
		fmt.Sprintf(`{"InstanceType":"t2.micro","NetworkInterfaces":[{"DeviceIndex":0,"SubnetId":"%s","AssociatePublicIpAddress":true}]}`, sn))
	servers := lt.LaunchTemplate.LaunchTemplateId
	matchRecording(t, a, "create-launch-template-version", "ec2", "create-launch-template-version", "--launch-template-id", servers,
		"--version-description", "WebVersion2", "--source-version", "1", "--launch-template-data", `{"ImageId":"ami-c998b6b2"}`)

	var versions struct{ LaunchTemplateVersions []struct{ VersionNumber int } }
	a.ok(&versions, "ec2", "describe-launch-template-versions", "--launch-template-id", servers, "--versions", "$Latest", "$Default")
	if len(versions.LaunchTemplateVersions) != 2 {
		t.Errorf("$Latest and $Default: %+v", versions)
	}
	a.ok(nil, "ec2", "modify-launch-template", "--launch-template-id", servers, "--default-version", "2")
	a.ok(nil, "ec2", "create-launch-template", "--launch-template-name", "TestVersion", "--launch-template-data", `{"InstanceType":"t3.micro"}`)
	a.ok(nil, "ec2", "create-launch-template-version", "--launch-template-name", "TestVersion", "--launch-template-data", `{"InstanceType":"t3.nano"}`)
	a.ok(nil, "ec2", "modify-launch-template", "--launch-template-name", "TestVersion", "--default-version", "2")
	var tv struct {
		LaunchTemplates []struct{ LaunchTemplateId string }
	}
	a.ok(&tv, "ec2", "describe-launch-templates", "--launch-template-names", "TestVersion")
	matchRecording(t, a, "delete-launch-template-versions", "ec2", "delete-launch-template-versions",
		"--launch-template-id", tv.LaunchTemplates[0].LaunchTemplateId, "--versions", "1")

	var run struct {
		Instances []struct {
			InstanceType string
			Tags         []struct{ Key, Value string }
		}
	}
	a.ok(&run, "ec2", "run-instances", "--launch-template", "LaunchTemplateId="+web+",Version=$Latest", "--count", "1")
	if len(run.Instances) != 1 || run.Instances[0].InstanceType != "t2.small" || len(run.Instances[0].Tags) != 1 {
		t.Errorf("run-instances from a template: %+v", run)
	}
	var page struct {
		LaunchTemplates []struct{ LaunchTemplateName string }
	}
	a.ok(&page, "ec2", "describe-launch-templates") // the CLI pages through them all
	if len(page.LaunchTemplates) != 3 {
		t.Errorf("describe-launch-templates: %+v", page)
	}
	a.fails("InvalidLaunchTemplateName.AlreadyExistsException", "ec2", "create-launch-template", "--launch-template-name", "WebServers",
		"--launch-template-data", `{}`)
	a.ok(nil, "ec2", "delete-launch-template", "--launch-template-name", "WebServers")
	a.fails("InvalidLaunchTemplateName.NotFoundException", "ec2", "describe-launch-templates", "--launch-template-names", "WebServers")
}

// TestCLIShape: the comparison finds a missing member, a different value, a volatile value of
// another form and a list of another length, and allows extra members.
func TestCLIShape(t *testing.T) {
	want := map[string]any{"Id": "i-1a2b3c4d", "State": map[string]any{"Code": 64.0}, "List": []any{"a"}, "Gone": true}
	got := map[string]any{"Id": "lt-0123456789abcdef0", "State": map[string]any{"Code": 80.0}, "List": []any{"a", "b"}, "Extra": 1}
	if d := cliShape("", want, got); len(d) != 4 {
		t.Errorf("differences: %q, want 4", d)
	}
	got = map[string]any{"Id": "i-0123456789abcdef0", "State": map[string]any{"Code": 64.0}, "List": []any{"a"}, "Gone": true, "Extra": 1}
	if d := cliShape("", want, got); len(d) != 0 {
		t.Errorf("differences: %q, want none", d)
	}
}
