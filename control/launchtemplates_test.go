package control

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

func (e *eniEnv) createLT(in CreateLaunchTemplateInput) *model.LaunchTemplate {
	e.t.Helper()
	return eniOK[*model.LaunchTemplate](e.t)(e.s.CreateLaunchTemplate(e.ctx, eniTenant, in))
}

func (e *eniEnv) ltVersion(in CreateLaunchTemplateVersionInput) *model.LaunchTemplateVersion {
	e.t.Helper()
	return eniOK[*model.LaunchTemplateVersion](e.t)(e.s.CreateLaunchTemplateVersion(e.ctx, eniTenant, in))
}

// ltState is every template and version, for checking that a refusal changed nothing.
func (e *eniEnv) ltState() (out []any) {
	e.view(func(v View) {
		for _, lt := range v.LaunchTemplates() {
			out = append(out, lt)
			for _, ver := range v.LaunchTemplateVersions(lt) {
				out = append(out, ver)
			}
		}
	})
	return out
}

func TestLaunchTemplateErrors(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.LaunchTemplates, c.Quotas.LaunchTemplateVersions = 2, 2 })
	lt := e.createLT(CreateLaunchTemplateInput{Name: "web", Data: model.LaunchTemplateData{ImageID: image.DefaultID}})
	e.createLT(CreateLaunchTemplateInput{Name: "dbs"})
	e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}})
	creates := []errCase[CreateLaunchTemplateInput]{
		{"no name", CreateLaunchTemplateInput{}, "MissingParameter", "LaunchTemplateName"},
		{"short name", CreateLaunchTemplateInput{Name: "ab"}, "InvalidLaunchTemplateName.MalformedException", "between 3 and 128"},
		{"bad character", CreateLaunchTemplateInput{Name: "a b c"}, "InvalidLaunchTemplateName.MalformedException", ""},
		{"long name", CreateLaunchTemplateInput{Name: strings.Repeat("a", 129)}, "InvalidLaunchTemplateName.MalformedException", ""},
		{"duplicate", CreateLaunchTemplateInput{Name: "web"}, "InvalidLaunchTemplateName.AlreadyExistsException", "already in use"},
		{"quota", CreateLaunchTemplateInput{Name: "third"}, "LaunchTemplateLimitExceeded", "(2)"},
		{"bad type", CreateLaunchTemplateInput{Name: "x-1", Data: model.LaunchTemplateData{InstanceType: "q9.huge"}}, "InvalidParameterValue", "q9.huge"},
		{"bad image", CreateLaunchTemplateInput{Name: "x-1", Data: model.LaunchTemplateData{ImageID: "ami-zz"}}, "InvalidAMIID.Malformed", ""},
		{"bad user data", CreateLaunchTemplateInput{Name: "x-1", Data: model.LaunchTemplateData{UserData: "!!"}}, "InvalidParameterValue", "BASE64"},
		{"bad shutdown", CreateLaunchTemplateInput{Name: "x-1", Data: model.LaunchTemplateData{ShutdownBehavior: "halt"}}, "InvalidParameterValue", "halt"},
	}
	t.Run("create", func(t *testing.T) { runLTErrors(t, e, creates, e.s.CreateLaunchTemplate) })
	versions := []errCase[CreateLaunchTemplateVersionInput]{
		{"no template", CreateLaunchTemplateVersionInput{}, "MissingParameter", "launchTemplateName or launchTemplateId"},
		{"both", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID, Name: "web"}}, "InvalidParameterCombination", ""},
		{"unknown ID", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: "lt-0123456789abcdef0"}}, "InvalidLaunchTemplateId.NotFound", "lt-0123456789abcdef0"},
		{"malformed ID", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: "lt-zz"}}, "InvalidLaunchTemplateId.Malformed", "lt-zz"},
		{"unknown name", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{Name: "nope"}}, "InvalidLaunchTemplateName.NotFoundException", "nope"},
		{"unknown source", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{Name: "dbs"}, SourceVersion: "7"}, "InvalidLaunchTemplateId.VersionNotFound", "7"},
		{"dry run", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{Name: "dbs"}, DryRun: true}, "DryRunOperation", ""},
		{"version quota", CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}}, "LaunchTemplateVersionLimitExceeded", "(2)"},
	}
	t.Run("version", func(t *testing.T) { runLTErrors(t, e, versions, e.s.CreateLaunchTemplateVersion) })
	modifies := []errCase[ModifyLaunchTemplateInput]{
		{"unknown version", ModifyLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}, DefaultVersion: "9"}, "InvalidLaunchTemplateId.VersionNotFound", ""},
		{"not a number", ModifyLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}, DefaultVersion: "two"}, "InvalidLaunchTemplateId.VersionNotFound", ""},
		{"dry run", ModifyLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}, DefaultVersion: "2", DryRun: true}, "DryRunOperation", ""},
	}
	t.Run("modify", func(t *testing.T) { runLTErrors(t, e, modifies, e.s.ModifyLaunchTemplate) })
	deletes := []errCase[DeleteLaunchTemplateVersionsInput]{
		{"no versions", DeleteLaunchTemplateVersionsInput{TemplateRef: TemplateRef{ID: lt.ID}}, "MissingParameter", ""},
		{"too many", DeleteLaunchTemplateVersionsInput{TemplateRef: TemplateRef{ID: lt.ID}, Versions: make([]string, 201)}, "InvalidParameterValue", "200"},
	}
	t.Run("delete versions", func(t *testing.T) { runLTErrors(t, e, deletes, e.s.DeleteLaunchTemplateVersions) })
}

// runLTErrors is runErrorCases for launch templates: each case fails with its code and message
// and changes no template or version.
func runLTErrors[In, Out any](t *testing.T, e *eniEnv, cases []errCase[In], write func(context.Context, Tenant, In) (Out, Result, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.ltState()
			_, _, err := write(e.ctx, eniTenant, tc.in)
			eniCheckErr(t, err, tc.code, tc.msg)
			if diff := cmp.Diff(before, e.ltState()); diff != "" {
				t.Errorf("a refused call changed templates (-before +after):\n%s", diff)
			}
		})
	}
}

// TestLaunchTemplateVersions: versions number on, SourceVersion inherits what the new version
// leaves unset, the default moves with ModifyLaunchTemplate, $Latest/$Default resolve,
// DeleteLaunchTemplateVersions spares the default, and all of it survives a restart.
func TestLaunchTemplateVersions(t *testing.T) {
	e := newENITestService(t, nil)
	lt := e.createLT(CreateLaunchTemplateInput{Name: "web-(1)./_", Description: "first", Tags: model.Tags{"team": "blue"},
		Data: model.LaunchTemplateData{ImageID: image.DefaultID, InstanceType: "t3.micro", GroupIDs: []string{e.web.ID}}})
	if lt.DefaultVersion != 1 || lt.LatestVersion != 1 || lt.CreatedBy != "arn:aws:iam::444455556666:root" {
		t.Errorf("created: %+v", lt)
	}
	v2 := e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{Name: lt.Name}, SourceVersion: "1",
		Data: model.LaunchTemplateData{InstanceType: "m5.large"}})
	want := model.LaunchTemplateData{ImageID: image.DefaultID, InstanceType: "m5.large", GroupIDs: []string{e.web.ID}}
	if diff := cmp.Diff(want, v2.Data); diff != "" || v2.Number != 2 {
		t.Errorf("version %d from source 1 (-want +got):\n%s", v2.Number, diff)
	}
	v3 := e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}, Data: model.LaunchTemplateData{KeyName: "k"}})
	if v3.Data.ImageID != "" || v3.Number != 3 {
		t.Errorf("version without a source inherited: %+v", v3)
	}
	resolve := func(version string) int {
		t.Helper()
		var n int
		e.view(func(v View) {
			cur, _ := v.LaunchTemplate(TemplateRef{ID: lt.ID})
			ver, err := v.LaunchTemplateVersion(cur, version)
			if err != nil {
				t.Fatal(err)
			}
			n = ver.Number
		})
		return n
	}
	if resolve("$Latest") != 3 || resolve("$Default") != 1 {
		t.Errorf("$Latest %d, $Default %d", resolve("$Latest"), resolve("$Default"))
	}
	m := eniOK[*model.LaunchTemplate](t)(e.s.ModifyLaunchTemplate(e.ctx, eniTenant, ModifyLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}, DefaultVersion: "2"}))
	if m.DefaultVersion != 2 || resolve("$Default") != 2 {
		t.Errorf("default after modify: %d", m.DefaultVersion)
	}
	got := eniOK[[]VersionDeletion](t)(e.s.DeleteLaunchTemplateVersions(e.ctx, eniTenant, DeleteLaunchTemplateVersionsInput{
		TemplateRef: TemplateRef{Name: lt.Name}, Versions: []string{"2", "3", "9"}}))
	codes := []string{got[0].Code, got[1].Code, got[2].Code}
	if diff := cmp.Diff([]string{"unexpectedError", "", "launchTemplateVersionDoesNotExist"}, codes); diff != "" {
		t.Errorf("delete versions (-want +got):\n%s", diff)
	}
	if resolve("$Latest") != 2 {
		t.Errorf("$Latest after deleting 3: %d", resolve("$Latest"))
	}
	// Numbers are not reused: the next version is 4.
	if v := e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}}); v.Number != 4 {
		t.Errorf("next version after a deletion: %d", v.Number)
	}
	before := e.ltState()
	e.reopen()
	if diff := cmp.Diff(before, e.ltState()); diff != "" {
		t.Errorf("templates after restart (-before +after):\n%s", diff)
	}
	gone := eniOK[*model.LaunchTemplate](t)(e.s.DeleteLaunchTemplate(e.ctx, eniTenant, DeleteLaunchTemplateInput{TemplateRef: TemplateRef{ID: lt.ID}}))
	if gone.ID != lt.ID || len(e.ltState()) != 0 {
		t.Errorf("after delete: %v", e.ltState())
	}
	e.reopen()
	if len(e.ltState()) != 0 {
		t.Errorf("deleted versions came back after a restart: %v", e.ltState())
	}
}

// TestRunInstancesFromTemplate: a launch takes the template's (default or named) version and
// the request's own parameters override it.
func TestRunInstancesFromTemplate(t *testing.T) {
	e := newENITestService(t, nil)
	ud := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho tpl\n"))
	lt := e.createLT(CreateLaunchTemplateInput{Name: "web", Data: model.LaunchTemplateData{ImageID: image.DefaultID, InstanceType: "t3.small",
		UserData: ud, NoTermination: new(true), ShutdownBehavior: "terminate",
		MetadataOptions: &model.MetadataOptions{HttpTokens: "required"},
		Interfaces:      []model.LaunchTemplateENI{{DeviceIndex: new(0), SubnetID: e.sn.ID, Groups: []string{e.web.ID}}},
		TagSpecs:        []model.LaunchTemplateTagSpec{{ResourceType: "instance", Tags: model.Tags{"from": "template"}}}}})
	e.ltVersion(CreateLaunchTemplateVersionInput{TemplateRef: TemplateRef{ID: lt.ID}, SourceVersion: "1", Data: model.LaunchTemplateData{InstanceType: "m5.large"}})

	launch := func(in RunInput) (*model.Instance, *model.NetworkInterface) {
		t.Helper()
		in.MinCount, in.MaxCount = 1, 1
		r := eniOK[*Reservation](t)(e.s.RunInstances(e.ctx, eniTenant, in))
		inst := e.instance(r.Instances[0].ID)
		return inst, e.eni(inst.InterfaceIDs[0])
	}
	inst, eni := launch(RunInput{LaunchTemplate: &LaunchTemplateSpec{TemplateRef: TemplateRef{Name: "web"}}})
	if inst.InstanceType != "t3.small" || string(inst.UserData) != "#!/bin/sh\necho tpl\n" || !inst.NoTermination ||
		inst.ShutdownBehavior != "terminate" || inst.MetadataOptions.HttpTokens != "required" || inst.Tags["from"] != "template" ||
		eni.SubnetID != e.sn.ID || !cmp.Equal(eni.Groups, []string{e.web.ID}) {
		t.Errorf("from the default version: %+v, interface %+v", inst, eni)
	}
	inst, _ = launch(RunInput{LaunchTemplate: &LaunchTemplateSpec{TemplateRef: TemplateRef{ID: lt.ID}, Version: "$Latest"}})
	if inst.InstanceType != "m5.large" {
		t.Errorf("$Latest: type %s", inst.InstanceType)
	}
	// The request's own parameters win: type, groups, subnet, tags, and a flag it turns off.
	inst, eni = launch(RunInput{LaunchTemplate: &LaunchTemplateSpec{TemplateRef: TemplateRef{ID: lt.ID}, Version: "1"},
		InstanceType: "t3.nano", SubnetID: e.small.ID, GroupIDs: []string{e.db.ID}, InstanceTags: model.Tags{"from": "request"},
		DisableAPITermination: new(false)})
	if inst.InstanceType != "t3.nano" || eni.SubnetID != e.small.ID || !cmp.Equal(eni.Groups, []string{e.db.ID}) || inst.Tags["from"] != "request" ||
		inst.NoTermination {
		t.Errorf("overrides: %+v, interface %+v", inst, eni)
	}
	before := e.snapshot()
	for _, tc := range []struct {
		name string
		spec LaunchTemplateSpec
		code string
	}{
		{"unknown template", LaunchTemplateSpec{TemplateRef: TemplateRef{Name: "nope"}}, "InvalidLaunchTemplateName.NotFoundException"},
		{"unknown version", LaunchTemplateSpec{TemplateRef: TemplateRef{ID: lt.ID}, Version: "5"}, "InvalidLaunchTemplateId.VersionNotFound"},
		{"neither", LaunchTemplateSpec{}, "MissingParameter"},
	} {
		_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &tc.spec})
		eniCheckErr(t, err, tc.code, "")
	}
	e.checkUnchanged(before)
}
