package ec2api

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
)

// TestLaunchTemplates drives the launch-template actions over the wire with the AWS CLI
// example's request (create-launch-template.rst: an interface with a public address and an
// IPv6 address, an image, a type, instance tags), then versions, the default, describes with
// $Latest/$Default and filters, RunInstances from the template, and the deletes.
func TestLaunchTemplates(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	sn := field(c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24"), "subnetId")
	created := c.ok("CreateLaunchTemplate", kv("LaunchTemplateName", "TemplateForWebServer", "VersionDescription", "WebVersion1",
		"LaunchTemplateData.NetworkInterface.1.AssociatePublicIpAddress", "true", "LaunchTemplateData.NetworkInterface.1.DeviceIndex", 0,
		"LaunchTemplateData.NetworkInterface.1.SubnetId", sn, "LaunchTemplateData.NetworkInterface.1.SecurityGroupId.1", web,
		"LaunchTemplateData.ImageId", image.DefaultID, "LaunchTemplateData.InstanceType", "t2.small",
		"LaunchTemplateData.TagSpecification.1.ResourceType", "instance", "LaunchTemplateData.TagSpecification.1.Tag.1.Key", "purpose",
		"LaunchTemplateData.TagSpecification.1.Tag.1.Value", "webserver",
		"TagSpecification.1.ResourceType", "launch-template", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "blue")...)
	id := field(created, "launchTemplateId")
	for k, want := range map[string]string{"launchTemplateName": "TemplateForWebServer", "defaultVersionNumber": "1", "latestVersionNumber": "1",
		"createdBy": "arn:aws:iam::" + c.acct.ID + ":root"} {
		if got := field(created, k); got != want {
			t.Errorf("CreateLaunchTemplate %s = %q, want %q", k, got, want)
		}
	}
	v2 := c.ok("CreateLaunchTemplateVersion", "LaunchTemplateId", id, "SourceVersion", "1", "VersionDescription", "bigger",
		"LaunchTemplateData.InstanceType", "t3.large")
	if field(v2, "versionNumber") != "2" || field(v2, "imageId") != image.DefaultID || field(v2, "instanceType") != "t3.large" ||
		field(v2, "defaultVersion") != "false" || field(v2, "subnetId") != sn {
		t.Errorf("CreateLaunchTemplateVersion from 1:\n%s", v2)
	}
	latest := c.ok("DescribeLaunchTemplateVersions", "LaunchTemplateName", "TemplateForWebServer", "LaunchTemplateVersion.1", "$Latest")
	if got := xmlFields(latest, "versionNumber"); !cmp.Equal(got, []string{"2"}) {
		t.Errorf("$Latest: %v", got)
	}
	all := c.ok("DescribeLaunchTemplateVersions", "LaunchTemplateVersion.1", "$Default")
	if got := xmlFields(all, "versionNumber"); !cmp.Equal(got, []string{"1"}) || !strings.Contains(all, "<key>purpose</key><value>webserver</value>") {
		t.Errorf("$Default of all templates: %v\n%s", got, all)
	}
	if got := xmlFields(c.ok("DescribeLaunchTemplateVersions", "LaunchTemplateId", id, "Filter.1.Name", "instance-type",
		"Filter.1.Value.1", "t3.*"), "versionNumber"); !cmp.Equal(got, []string{"2"}) {
		t.Errorf("filter instance-type: %v", got)
	}
	if got := xmlFields(c.ok("DescribeLaunchTemplateVersions", "LaunchTemplateId", id, "MinVersion", "2"), "versionNumber"); !cmp.Equal(got, []string{"2"}) {
		t.Errorf("MinVersion: %v", got)
	}
	c.ok("ModifyLaunchTemplate", "LaunchTemplateId", id, "SetDefaultVersion", "2")
	if got := c.ok("DescribeLaunchTemplates", "Filter.1.Name", "tag:team", "Filter.1.Value.1", "blue"); field(got, "defaultVersionNumber") != "2" ||
		field(got, "launchTemplateId") != id {
		t.Errorf("DescribeLaunchTemplates by tag:\n%s", got)
	}
	if got := c.ok("DescribeLaunchTemplates", "LaunchTemplateName.1", "TemplateForWebServer"); field(got, "launchTemplateId") != id {
		t.Errorf("DescribeLaunchTemplates by name:\n%s", got)
	}
	// RunInstances from the template's default (version 2), with the request's type winning.
	run := c.ok("RunInstances", "MinCount", "1", "MaxCount", "1", "LaunchTemplate.LaunchTemplateName", "TemplateForWebServer",
		"InstanceType", "t3.nano")
	if field(run, "instanceType") != "t3.nano" || field(run, "subnetId") != sn || field(run, "imageId") != image.DefaultID ||
		!strings.Contains(run, "<key>purpose</key><value>webserver</value>") || field(run, "ipAddress") == "" {
		t.Errorf("RunInstances from a template:\n%s", run)
	}
	del := c.ok("DeleteLaunchTemplateVersions", "LaunchTemplateId", id, "LaunchTemplateVersion.1", "1", "LaunchTemplateVersion.2", "2")
	if field(del, "code") != "unexpectedError" || !strings.Contains(del, "<successfullyDeletedLaunchTemplateVersionSet><item><launchTemplateId>"+id) {
		t.Errorf("DeleteLaunchTemplateVersions:\n%s", del)
	}
	for _, tc := range []struct {
		name, code, action string
		params             []string
	}{
		{"duplicate name", "InvalidLaunchTemplateName.AlreadyExistsException", "CreateLaunchTemplate", kv("LaunchTemplateName", "TemplateForWebServer")},
		{"malformed name", "InvalidLaunchTemplateName.MalformedException", "CreateLaunchTemplate", kv("LaunchTemplateName", "a b")},
		{"unsupported data", "InvalidParameterValue", "CreateLaunchTemplate", kv("LaunchTemplateName", "ebs", "LaunchTemplateData.EbsOptimized", "true")},
		{"bad tag type", "InvalidParameterValue", "CreateLaunchTemplate", kv("LaunchTemplateName", "tags",
			"LaunchTemplateData.TagSpecification.1.ResourceType", "volume", "LaunchTemplateData.TagSpecification.1.Tag.1.Key", "k")},
		{"unknown template", "InvalidLaunchTemplateId.NotFound", "DescribeLaunchTemplates", kv("LaunchTemplateId.1", "lt-0123456789abcdef0")},
		{"unknown name", "InvalidLaunchTemplateName.NotFoundException", "DescribeLaunchTemplateVersions", kv("LaunchTemplateName", "nope")},
		{"numbered version of all", "InvalidParameterCombination", "DescribeLaunchTemplateVersions", kv("LaunchTemplateVersion.1", "1")},
		{"unknown version", "InvalidLaunchTemplateId.VersionNotFound", "DescribeLaunchTemplateVersions", kv("LaunchTemplateId", id, "LaunchTemplateVersion.1", "7")},
		{"run unknown version", "InvalidLaunchTemplateId.VersionNotFound", "RunInstances", kv("MinCount", 1, "MaxCount", 1,
			"LaunchTemplate.LaunchTemplateId", id, "LaunchTemplate.Version", "9")},
		{"modify dry run", "DryRunOperation", "ModifyLaunchTemplate", kv("LaunchTemplateId", id, "SetDefaultVersion", "2", "DryRun", "true")},
		{"delete neither", "MissingParameter", "DeleteLaunchTemplate", nil},
	} {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.code, tc.action, tc.params...) })
	}
	gone := c.ok("DeleteLaunchTemplate", "LaunchTemplateName", "TemplateForWebServer")
	if field(gone, "launchTemplateId") != id {
		t.Errorf("DeleteLaunchTemplate:\n%s", gone)
	}
	c.fails("InvalidLaunchTemplateId.NotFound", "DescribeLaunchTemplates", "LaunchTemplateId.1", id)
}
