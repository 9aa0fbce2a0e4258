package control

// Launch templates (EC2 user guide, "Launch templates"): a named template with numbered,
// immutable versions, one of them the default. A template is stored as one record and each
// version as its own (kindLTVersion, "<template ID>:<number>"), so that a new version writes
// one small record however many the template has. RunInstances reads a version's data and lets
// its own parameters override it (runtemplate.go).

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

// TemplateRef names a launch template by ID or by name (exactly one).
type TemplateRef struct {
	ID, Name string
}

// CreateLaunchTemplateInput are CreateLaunchTemplate's parameters.
type CreateLaunchTemplateInput struct {
	Name        string
	Description string // of version 1
	Data        model.LaunchTemplateData
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreateLaunchTemplateVersionInput are CreateLaunchTemplateVersion's parameters.
type CreateLaunchTemplateVersionInput struct {
	TemplateRef
	// SourceVersion, when set, is the version whose data the new one starts from: the
	// request's data overrides what it sets (EC2: "the new version inherits the parameters
	// of the source version that you don't specify").
	SourceVersion string
	Description   string
	Data          model.LaunchTemplateData
	ClientToken   string
	DryRun        bool
}

// maxLTDescription is EC2's limit on a version description.
const maxLTDescription = 255

// validLTName checks EC2's name rule: 3 to 128 of letters, digits and - ( ) . / _.
func validLTName(name string) error {
	if n := len(name); n < 3 || n > 128 {
		return model.InvalidLaunchTemplateNameMalformed.New()
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-()./_", r)) {
			return model.InvalidLaunchTemplateNameMalformed.New()
		}
	}
	return nil
}

// validateLTData checks a template's data as far as it can be checked without launching:
// the forms of IDs, the instance type, user data and metadata options. What the data names
// (subnets, groups, key pairs) is checked when an instance is launched from it, as on EC2.
// The version's description and the request's client token are checked with it.
func validateLTData(d model.LaunchTemplateData, description, clientToken string) error {
	if err := model.ValidateClientToken(clientToken); err != nil {
		return err
	}
	if len(description) > maxLTDescription || !model.PrintableText(description) {
		return model.InvalidValue("The version description must be at most %d characters of text.", maxLTDescription)
	}
	if d.ImageID != "" && !model.ValidID("ami", d.ImageID) {
		return model.InvalidAMIIDMalformed.New(d.ImageID)
	}
	if d.InstanceType != "" {
		if err := model.ValidateInstanceType(d.InstanceType); err != nil {
			return err
		}
	}
	if d.UserData != "" {
		ud, err := base64.StdEncoding.DecodeString(d.UserData)
		if err != nil {
			return model.InvalidValue("Invalid BASE64 encoding of user data.")
		}
		if len(ud) > MaxUserData {
			return model.InvalidValue("User data is limited to %d bytes", MaxUserData)
		}
	}
	if d.ShutdownBehavior != "" {
		if err := validShutdownBehavior(d.ShutdownBehavior); err != nil {
			return err
		}
	}
	if d.MetadataOptions != nil {
		if err := d.MetadataOptions.Validate(); err != nil {
			return err
		}
	}
	for _, ts := range d.TagSpecs {
		if ts.ResourceType != "instance" && ts.ResourceType != "network-interface" {
			// [UNCONFIRMED] wording.
			return model.InvalidValue("Resource type '%s' is not supported in launch template tag specifications. Valid values: instance, network-interface", ts.ResourceType)
		}
	}
	return nil
}

// CreateLaunchTemplate creates a template whose version 1 (the default) holds in.Data.
func (s *Service) CreateLaunchTemplate(ctx context.Context, t Tenant, in CreateLaunchTemplateInput) (*model.LaunchTemplate, Result, error) {
	if in.Name == "" {
		return nil, Result{}, model.Missing("LaunchTemplateName")
	}
	if err := validLTName(in.Name); err != nil {
		return nil, Result{}, err
	}
	if err := validateLTData(in.Data, in.Description, in.ClientToken); err != nil {
		return nil, Result{}, err
	}
	var lt *model.LaunchTemplate
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateLaunchTemplate", in)
		if ids, done, err := tx.replay("CreateLaunchTemplate", in.ClientToken, fp); err != nil || done {
			if err == nil {
				lt, err = tx.tn.launchTemplate(ids[0])
			}
			return err
		}
		if tx.tn.launchTemplateByName(in.Name) != nil {
			return model.InvalidLaunchTemplateNameAlreadyExists.New()
		}
		if len(tx.tn.lts) >= s.cfg.Quotas.LaunchTemplates {
			return model.LaunchTemplateLimitExceeded.New(s.cfg.Quotas.LaunchTemplates)
		}
		by := creator(t)
		lt = &model.LaunchTemplate{ID: model.NewID(model.PrefixLaunchTemplate), Name: in.Name, CreateTime: tx.now, CreatedBy: by,
			DefaultVersion: 1, LatestVersion: 1, Tags: in.Tags}
		set(tx, tx.tn.lts, kindLT, lt.ID, lt)
		v := &model.LaunchTemplateVersion{TemplateID: lt.ID, Number: 1, Description: in.Description, CreateTime: tx.now, CreatedBy: by, Data: in.Data.Clone()}
		set(tx, tx.tn.ltVersions, kindLTVersion, versionKey(lt.ID, 1), v)
		tx.remember("CreateLaunchTemplate", in.ClientToken, fp, lt.ID)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return lt, res, nil
}

// CreateLaunchTemplateVersion adds the next version to a template; the default stays.
func (s *Service) CreateLaunchTemplateVersion(ctx context.Context, t Tenant, in CreateLaunchTemplateVersionInput) (*model.LaunchTemplateVersion, Result, error) {
	if err := in.TemplateRef.check(); err != nil {
		return nil, Result{}, err
	}
	if err := validateLTData(in.Data, in.Description, in.ClientToken); err != nil {
		return nil, Result{}, err
	}
	var v *model.LaunchTemplateVersion
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateLaunchTemplateVersion", in)
		if ids, done, err := tx.replay("CreateLaunchTemplateVersion", in.ClientToken, fp); err != nil || done {
			if err == nil {
				if v = tx.tn.ltVersions[ids[0]]; v == nil || tx.tn.lts[v.TemplateID] == nil {
					err = model.InvalidLaunchTemplateVersionNotFound.Errorf("The launch template version %s no longer exists.", ids[0])
				}
			}
			return err
		}
		lt, err := tx.tn.templateOf(in.TemplateRef)
		if err != nil {
			return err
		}
		data := in.Data.Clone()
		if in.SourceVersion != "" {
			src, err := tx.tn.templateVersion(lt, in.SourceVersion)
			if err != nil {
				return err
			}
			data = overlay(src.Data, in.Data)
		}
		if len(tx.tn.versionsOf(lt)) >= s.cfg.Quotas.LaunchTemplateVersions {
			return model.LaunchTemplateVersionLimitExceeded.New(s.cfg.Quotas.LaunchTemplateVersions, lt.ID)
		}
		c := lt.Clone()
		c.LatestVersion++
		set(tx, tx.tn.lts, kindLT, c.ID, c)
		v = &model.LaunchTemplateVersion{TemplateID: c.ID, Number: c.LatestVersion, Description: in.Description, CreateTime: tx.now,
			CreatedBy: creator(t), Data: data}
		key := versionKey(c.ID, v.Number)
		set(tx, tx.tn.ltVersions, kindLTVersion, key, v)
		tx.remember("CreateLaunchTemplateVersion", in.ClientToken, fp, key)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return v, res, nil
}

// overlay is src with what d sets replacing it, field by field.
func overlay(src, d model.LaunchTemplateData) model.LaunchTemplateData {
	out := src.Clone()
	d = d.Clone()
	for _, f := range []struct {
		dst *string
		v   string
	}{{&out.ImageID, d.ImageID}, {&out.InstanceType, d.InstanceType},
		{&out.KeyName, d.KeyName}, {&out.UserData, d.UserData}, {&out.Zone, d.Zone}, {&out.Tenancy, d.Tenancy},
		{&out.ShutdownBehavior, d.ShutdownBehavior}} {
		*f.dst = cmp.Or(f.v, *f.dst)
	}
	if d.GroupIDs != nil {
		out.GroupIDs = d.GroupIDs
	}
	if d.GroupNames != nil {
		out.GroupNames = d.GroupNames
	}
	if d.Interfaces != nil {
		out.Interfaces = d.Interfaces
	}
	if d.NoTermination != nil {
		out.NoTermination = d.NoTermination
	}
	if d.NoStop != nil {
		out.NoStop = d.NoStop
	}
	if d.MetadataOptions != nil {
		out.MetadataOptions = d.MetadataOptions
	}
	if d.TagSpecs != nil {
		out.TagSpecs = d.TagSpecs
	}
	return out
}

// ModifyLaunchTemplateInput are ModifyLaunchTemplate's parameters.
type ModifyLaunchTemplateInput struct {
	TemplateRef
	DefaultVersion string // a number, or $Latest
	DryRun         bool
}

// ModifyLaunchTemplate sets a template's default version.
func (s *Service) ModifyLaunchTemplate(ctx context.Context, t Tenant, in ModifyLaunchTemplateInput) (*model.LaunchTemplate, Result, error) {
	return onTemplate(s, ctx, t, in.TemplateRef, in.DryRun, func(tx *tx, lt *model.LaunchTemplate) (*model.LaunchTemplate, error) {
		c := lt.Clone()
		if in.DefaultVersion != "" {
			v, err := tx.tn.templateVersion(lt, in.DefaultVersion)
			if err != nil {
				return nil, err
			}
			c.DefaultVersion = v.Number
		}
		set(tx, tx.tn.lts, kindLT, c.ID, c)
		return c, nil
	})
}

// onTemplate runs fn in a write on the template ref names, with EC2's errors for the
// reference, and returns what fn made.
func onTemplate[T any](s *Service, ctx context.Context, t Tenant, ref TemplateRef, dryRun bool,
	fn func(tx *tx, lt *model.LaunchTemplate) (T, error)) (T, Result, error) {
	var out, zero T
	if err := ref.check(); err != nil {
		return zero, Result{}, err
	}
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		lt, err := tx.tn.templateOf(ref)
		if err != nil {
			return err
		}
		out, err = fn(tx, lt)
		return err
	})
	if err != nil {
		return zero, res, err
	}
	return out, res, nil
}

// DeleteLaunchTemplateInput are DeleteLaunchTemplate's parameters.
type DeleteLaunchTemplateInput struct {
	TemplateRef
	DryRun bool
}

// DeleteLaunchTemplate deletes a template and every version of it; it returns the template
// as it was. The write deletes at most maxPurge of the versions, so that it fits a
// transaction of etcd (128 operations), and leaves the others, which no read finds without
// their template, to the tenant's next writes (retention.go, purgeStrays).
func (s *Service) DeleteLaunchTemplate(ctx context.Context, t Tenant, in DeleteLaunchTemplateInput) (*model.LaunchTemplate, Result, error) {
	return onTemplate(s, ctx, t, in.TemplateRef, in.DryRun, func(tx *tx, lt *model.LaunchTemplate) (*model.LaunchTemplate, error) {
		for i, v := range tx.tn.versionsOf(lt) {
			if i == maxPurge {
				tx.leaveStrays()
				break
			}
			set[model.LaunchTemplateVersion](tx, tx.tn.ltVersions, kindLTVersion, versionKey(lt.ID, v.Number), nil)
		}
		set[model.LaunchTemplate](tx, tx.tn.lts, kindLT, lt.ID, nil)
		return lt, nil
	})
}

// DeleteLaunchTemplateVersionsInput are DeleteLaunchTemplateVersions' parameters.
type DeleteLaunchTemplateVersionsInput struct {
	TemplateRef
	Versions []string
	DryRun   bool
}

// VersionDeletion is one version's outcome in DeleteLaunchTemplateVersions' reply: deleted,
// or not, with EC2's code and message for why.
type VersionDeletion struct {
	TemplateID, TemplateName string
	Version                  string
	Code, Message            string // empty when deleted
}

// maxVersionsPerDelete is EC2's limit of versions named in one DeleteLaunchTemplateVersions.
const maxVersionsPerDelete = 200

// DeleteLaunchTemplateVersions deletes versions of a template, each on its own: the default
// version cannot be deleted (DeleteLaunchTemplate does that), nor one that does not exist, and
// those are reported as unsuccessful while the others go.
func (s *Service) DeleteLaunchTemplateVersions(ctx context.Context, t Tenant, in DeleteLaunchTemplateVersionsInput) ([]VersionDeletion, Result, error) {
	switch {
	case len(in.Versions) == 0 && in.TemplateRef.check() == nil:
		return nil, Result{}, model.Missing("LaunchTemplateVersion")
	case len(in.Versions) > maxVersionsPerDelete:
		return nil, Result{}, model.InvalidValue("You can specify at most %d launch template versions in a request.", maxVersionsPerDelete)
	}
	return onTemplate(s, ctx, t, in.TemplateRef, in.DryRun, func(tx *tx, lt *model.LaunchTemplate) ([]VersionDeletion, error) {
		var out []VersionDeletion
		for _, want := range in.Versions {
			d := VersionDeletion{TemplateID: lt.ID, TemplateName: lt.Name, Version: want}
			n, err := strconv.Atoi(want)
			switch {
			case err != nil || n < 1 || tx.tn.ltVersions[versionKey(lt.ID, n)] == nil:
				d.Code, d.Message = "launchTemplateVersionDoesNotExist", "The specified launch template version does not exist."
			case n == lt.DefaultVersion:
				// botocore's ResponseError codes have none for the default version:
				// [UNCONFIRMED] that EC2 answers unexpectedError, and the wording.
				d.Code, d.Message = "unexpectedError", "Cannot delete the default version of a launch template. Use DeleteLaunchTemplate to delete the launch template."
			default:
				set[model.LaunchTemplateVersion](tx, tx.tn.ltVersions, kindLTVersion, versionKey(lt.ID, n), nil)
			}
			out = append(out, d)
		}
		return out, nil
	})
}

// check requires exactly one of the ID and the name.
func (r TemplateRef) check() error {
	switch {
	case r.ID == "" && r.Name == "":
		return model.MissingParameter.Errorf("The request must contain the parameter launchTemplateName or launchTemplateId")
	case r.ID != "" && r.Name != "":
		return model.InvalidParameterCombination.Errorf("Specify either the launch template ID or the launch template name, not both.")
	}
	return nil
}

// creator is EC2's CreatedBy: the ARN of the calling principal (the account's root here).
func creator(t Tenant) string { return fmt.Sprintf("arn:aws:iam::%s:root", t.Account) }

func versionKey(id string, n int) string { return id + ":" + strconv.Itoa(n) }

func (tn *tenant) launchTemplate(id string) (*model.LaunchTemplate, error) {
	return find(tn.lts, id, model.PrefixLaunchTemplate, model.InvalidLaunchTemplateIDMalformed, model.InvalidLaunchTemplateIDNotFound)
}

func (tn *tenant) launchTemplateByName(name string) *model.LaunchTemplate {
	for _, lt := range tn.lts {
		if lt.Name == name {
			return lt
		}
	}
	return nil
}

// templateOf finds the template a reference names, with EC2's errors.
func (tn *tenant) templateOf(r TemplateRef) (*model.LaunchTemplate, error) {
	if r.ID != "" {
		return tn.launchTemplate(r.ID)
	}
	if lt := tn.launchTemplateByName(r.Name); lt != nil {
		return lt, nil
	}
	return nil, model.InvalidLaunchTemplateNameNotFound.New(r.Name)
}

// templateVersion resolves a version of lt: a number, $Latest or $Default ("" is $Default).
func (tn *tenant) templateVersion(lt *model.LaunchTemplate, version string) (*model.LaunchTemplateVersion, error) {
	n := 0
	switch version {
	case "", "$Default":
		n = lt.DefaultVersion
	case "$Latest":
		vs := tn.versionsOf(lt)
		if len(vs) > 0 {
			n = vs[len(vs)-1].Number
		}
	default:
		var err error
		if n, err = strconv.Atoi(version); err != nil || n < 1 {
			// [UNCONFIRMED] wording.
			return nil, model.InvalidLaunchTemplateVersionNotFound.Errorf("Could not find launch template version %s for launch template %s.", version, lt.ID)
		}
	}
	if v := tn.ltVersions[versionKey(lt.ID, n)]; v != nil {
		return v, nil
	}
	return nil, model.InvalidLaunchTemplateVersionNotFound.Errorf("Could not find launch template version %s for launch template %s.", version, lt.ID)
}

// versionsOf returns a template's versions by number. Numbers only grow and are never
// reused, so the versions are among 1..LatestVersion: the cost is the template's, not the
// tenant's.
func (tn *tenant) versionsOf(lt *model.LaunchTemplate) []*model.LaunchTemplateVersion {
	var out []*model.LaunchTemplateVersion
	for n := 1; n <= lt.LatestVersion; n++ {
		if v := tn.ltVersions[versionKey(lt.ID, n)]; v != nil {
			out = append(out, v)
		}
	}
	return out
}

// LaunchTemplates returns the tenant's templates, sorted by ID.
func (v View) LaunchTemplates() []*model.LaunchTemplate {
	return sorted(v.tn.lts, func(x *model.LaunchTemplate) string { return x.ID })
}

// LaunchTemplate returns a template by reference, with EC2's errors.
func (v View) LaunchTemplate(r TemplateRef) (*model.LaunchTemplate, error) { return v.tn.templateOf(r) }

// LaunchTemplateVersions returns a template's versions by number.
func (v View) LaunchTemplateVersions(lt *model.LaunchTemplate) []*model.LaunchTemplateVersion {
	return v.tn.versionsOf(lt)
}

// LaunchTemplateVersion resolves a version (a number, $Latest or $Default) of a template.
func (v View) LaunchTemplateVersion(lt *model.LaunchTemplate, version string) (*model.LaunchTemplateVersion, error) {
	return v.tn.templateVersion(lt, version)
}
