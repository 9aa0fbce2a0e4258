package ec2api

// Launch templates: create, versions (SourceVersion), default version, describe, delete, and
// RunInstances' LaunchTemplate. A template's data is the part of RunInstances Stockade serves;
// a LaunchTemplateData member outside it is refused by name rather than stored and ignored.

import (
	"slices"
	"strconv"
	"time"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// ltUnsupported are the LaunchTemplateData members (botocore's RequestLaunchTemplateData)
// that have no meaning for a Stockade instance.
var ltUnsupported = []string{"KernelId", "EbsOptimized", "IamInstanceProfile", "BlockDeviceMapping", "Monitoring", "RamDiskId",
	"ElasticGpuSpecification", "ElasticInferenceAccelerator", "InstanceMarketOptions", "CreditSpecification", "CpuOptions",
	"CapacityReservationSpecification", "LicenseSpecification", "HibernationOptions", "EnclaveOptions", "InstanceRequirements",
	"PrivateDnsNameOptions", "MaintenanceOptions", "Operator", "NetworkPerformanceOptions", "SecondaryInterface"}

// ltENIUnsupported are the members of a template's NetworkInterface.N Stockade does not serve.
var ltENIUnsupported = []string{"AssociateCarrierIpAddress", "ConnectionTrackingSpecification", "EnaQueueCount", "EnaSrdSpecification",
	"InterfaceType", "Ipv4Prefix", "Ipv4PrefixCount", "Ipv6Addresses", "Ipv6Prefix", "Ipv6PrefixCount", "NetworkCardIndex", "PrimaryIpv6",
	"PrivateIpAddresses", "SecondaryPrivateIpAddressCount"}

// readLTData reads LaunchTemplateData.*.
func readLTData(r *query.Request) (model.LaunchTemplateData, error) {
	var d model.LaunchTemplateData
	r = r.Sub("LaunchTemplateData")
	for _, k := range ltUnsupported {
		if r.Has(k) {
			return d, model.InvalidValue("Stockade does not support the launch template parameter %s.", k)
		}
	}
	for _, k := range []string{"Placement.Affinity", "Placement.AvailabilityZoneId", "Placement.GroupId", "Placement.GroupName",
		"Placement.HostId", "Placement.HostResourceGroupArn", "Placement.PartitionNumber", "Placement.SpreadDomain"} {
		if r.Has(k) {
			return d, model.InvalidValue("Stockade does not support the launch template parameter %s.", k)
		}
	}
	d.ImageID, d.InstanceType, d.KeyName = str(r, "ImageId"), str(r, "InstanceType"), str(r, "KeyName")
	d.UserData, d.ShutdownBehavior = str(r, "UserData"), str(r, "InstanceInitiatedShutdownBehavior")
	d.Zone, d.Tenancy = str(r, "Placement.AvailabilityZone"), str(r, "Placement.Tenancy")
	var err error
	if d.GroupIDs, err = ids(r, "SecurityGroupId"); err != nil {
		return d, err
	}
	if d.GroupNames, err = ids(r, "SecurityGroup"); err != nil {
		return d, err
	}
	if d.NoTermination, err = boolPtr(r, "DisableApiTermination"); err != nil {
		return d, err
	}
	if d.NoStop, err = boolPtr(r, "DisableApiStop"); err != nil {
		return d, err
	}
	if r.Has("MetadataOptions") {
		m, err := readMetadataOptions(r, "MetadataOptions.")
		if err != nil {
			return d, err
		}
		d.MetadataOptions = &m
	}
	for _, n := range r.List("NetworkInterface") {
		for _, k := range ltENIUnsupported {
			if n.Has(k) {
				return d, model.InvalidValue("Stockade does not support the launch template parameter NetworkInterface.N.%s.", k)
			}
		}
		e := model.LaunchTemplateENI{SubnetID: str(n, "SubnetId"), NetworkInterfaceID: str(n, "NetworkInterfaceId"),
			PrivateIP: str(n, "PrivateIpAddress"), Description: str(n, "Description")}
		if e.Groups, err = ids(n, "SecurityGroupId"); err != nil {
			return d, err
		}
		if e.AssociatePublicIP, err = boolPtr(n, "AssociatePublicIpAddress"); err != nil {
			return d, err
		}
		if e.DeleteOnTermination, err = boolPtr(n, "DeleteOnTermination"); err != nil {
			return d, err
		}
		if v, ok, err := optInt(n, "DeviceIndex"); err != nil {
			return d, err
		} else if ok {
			i := int(v)
			e.DeviceIndex = &i
		}
		if v, ok, err := optInt(n, "Ipv6AddressCount"); err != nil {
			return d, err
		} else if ok {
			i := int(v)
			e.IPv6Count = &i
		}
		d.Interfaces = append(d.Interfaces, e)
	}
	specs, err := tagSpecs(r, "instance", "network-interface")
	if err != nil {
		return d, err
	}
	for _, typ := range []string{"instance", "network-interface"} {
		if tags, ok := specs[typ]; ok {
			d.TagSpecs = append(d.TagSpecs, model.LaunchTemplateTagSpec{ResourceType: typ, Tags: tags})
		}
	}
	return d, nil
}

// templateRef reads LaunchTemplateId / LaunchTemplateName under r.
func templateRef(r *query.Request) control.TemplateRef {
	return control.TemplateRef{ID: str(r, "LaunchTemplateId"), Name: str(r, "LaunchTemplateName")}
}

func createLaunchTemplate(c *call) error {
	r := c.req
	in := control.CreateLaunchTemplateInput{Name: str(r, "LaunchTemplateName"), Description: str(r, "VersionDescription"),
		ClientToken: str(r, "ClientToken"), DryRun: c.dryRun()}
	var err error
	if in.Tags, err = tagsFor(r, "launch-template"); err != nil {
		return err
	}
	if in.Data, err = readLTData(r); err != nil {
		return err
	}
	return c.writeTemplate(c.svc().CreateLaunchTemplate(c.ctx, c.tenant, in))
}

func createLaunchTemplateVersion(c *call) error {
	r := c.req
	in := control.CreateLaunchTemplateVersionInput{TemplateRef: templateRef(r), SourceVersion: str(r, "SourceVersion"),
		Description: str(r, "VersionDescription"), ClientToken: str(r, "ClientToken"), DryRun: c.dryRun()}
	if _, _, err := optBool(r, "ResolveAlias"); err != nil {
		return err
	}
	var err error
	if in.Data, err = readLTData(r); err != nil {
		return err
	}
	v, res, err := c.svc().CreateLaunchTemplateVersion(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	var lt *model.LaunchTemplate
	if err := c.svc().View(c.ctx, c.tenant, func(vw control.View) error {
		lt, err = vw.LaunchTemplate(control.TemplateRef{ID: v.TemplateID})
		return err
	}); err != nil {
		return err
	}
	x := c.written(res)
	x.open("launchTemplateVersion")
	writeLTVersion(x, v, lt)
	x.close("launchTemplateVersion")
	return nil
}

func modifyLaunchTemplate(c *call) error {
	in := control.ModifyLaunchTemplateInput{TemplateRef: templateRef(c.req), DefaultVersion: str(c.req, "SetDefaultVersion"), DryRun: c.dryRun()}
	return c.writeTemplate(c.svc().ModifyLaunchTemplate(c.ctx, c.tenant, in))
}

func deleteLaunchTemplate(c *call) error {
	return c.writeTemplate(c.svc().DeleteLaunchTemplate(c.ctx, c.tenant, control.DeleteLaunchTemplateInput{TemplateRef: templateRef(c.req), DryRun: c.dryRun()}))
}

func deleteLaunchTemplateVersions(c *call) error {
	versions, err := ids(c.req, "LaunchTemplateVersion")
	if err != nil {
		return err
	}
	out, res, err := c.svc().DeleteLaunchTemplateVersions(c.ctx, c.tenant, control.DeleteLaunchTemplateVersionsInput{
		TemplateRef: templateRef(c.req), Versions: versions, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	item := func(d control.VersionDeletion) {
		x.open("item")
		x.str("launchTemplateId", d.TemplateID)
		x.str("launchTemplateName", d.TemplateName)
		if n, err := strconv.Atoi(d.Version); err == nil {
			x.int("versionNumber", int64(n))
		}
	}
	x.open("successfullyDeletedLaunchTemplateVersionSet")
	for _, d := range out {
		if d.Code == "" {
			item(d)
			x.close("item")
		}
	}
	x.close("successfullyDeletedLaunchTemplateVersionSet")
	x.open("unsuccessfullyDeletedLaunchTemplateVersionSet")
	for _, d := range out {
		if d.Code != "" {
			item(d)
			x.open("responseError")
			x.str("code", d.Code)
			x.str("message", d.Message)
			x.close("responseError")
			x.close("item")
		}
	}
	x.close("unsuccessfullyDeletedLaunchTemplateVersionSet")
	return nil
}

// writeTemplate writes the reply of an action that answers with one template.
func (c *call) writeTemplate(lt *model.LaunchTemplate, res control.Result, err error) error {
	if err != nil {
		return err
	}
	x := c.written(res)
	x.open("launchTemplate")
	writeLT(x, lt)
	x.close("launchTemplate")
	return nil
}

// writeLT renders a LaunchTemplate.
func writeLT(x *xmlWriter, lt *model.LaunchTemplate) {
	x.str("launchTemplateId", lt.ID)
	x.str("launchTemplateName", lt.Name)
	x.time("createTime", lt.CreateTime)
	x.str("createdBy", lt.CreatedBy)
	x.int("defaultVersionNumber", int64(lt.DefaultVersion))
	x.int("latestVersionNumber", int64(lt.LatestVersion))
	writeTags(x, lt.Tags)
}

// writeLTVersion renders a LaunchTemplateVersion of lt.
func writeLTVersion(x *xmlWriter, v *model.LaunchTemplateVersion, lt *model.LaunchTemplate) {
	x.str("launchTemplateId", lt.ID)
	x.str("launchTemplateName", lt.Name)
	x.int("versionNumber", int64(v.Number))
	x.opt("versionDescription", v.Description)
	x.time("createTime", v.CreateTime)
	x.str("createdBy", v.CreatedBy)
	x.bool("defaultVersion", v.Number == lt.DefaultVersion)
	x.open("launchTemplateData")
	writeLTData(x, v.Data)
	x.close("launchTemplateData")
}

// writeLTData renders ResponseLaunchTemplateData: only what the version sets.
func writeLTData(x *xmlWriter, d model.LaunchTemplateData) {
	if len(d.Interfaces) > 0 {
		x.open("networkInterfaceSet")
		for _, n := range d.Interfaces {
			x.open("item")
			if n.AssociatePublicIP != nil {
				x.bool("associatePublicIpAddress", *n.AssociatePublicIP)
			}
			if n.DeleteOnTermination != nil {
				x.bool("deleteOnTermination", *n.DeleteOnTermination)
			}
			x.opt("description", n.Description)
			if n.DeviceIndex != nil {
				x.int("deviceIndex", int64(*n.DeviceIndex))
			}
			if len(n.Groups) > 0 {
				x.open("groupSet")
				for _, g := range n.Groups {
					x.str("groupId", g)
				}
				x.close("groupSet")
			}
			if n.IPv6Count != nil {
				x.int("ipv6AddressCount", int64(*n.IPv6Count))
			}
			x.opt("networkInterfaceId", n.NetworkInterfaceID)
			x.opt("privateIpAddress", n.PrivateIP)
			x.opt("subnetId", n.SubnetID)
			x.close("item")
		}
		x.close("networkInterfaceSet")
	}
	x.opt("imageId", d.ImageID)
	x.opt("instanceType", d.InstanceType)
	x.opt("keyName", d.KeyName)
	if d.Zone != "" || d.Tenancy != "" {
		x.open("placement")
		x.opt("availabilityZone", d.Zone)
		x.opt("tenancy", d.Tenancy)
		x.close("placement")
	}
	if d.NoTermination != nil {
		x.bool("disableApiTermination", *d.NoTermination)
	}
	x.opt("instanceInitiatedShutdownBehavior", d.ShutdownBehavior)
	x.opt("userData", d.UserData)
	if len(d.TagSpecs) > 0 {
		x.open("tagSpecificationSet")
		for _, ts := range d.TagSpecs {
			x.open("item")
			x.str("resourceType", ts.ResourceType)
			writeTags(x, ts.Tags)
			x.close("item")
		}
		x.close("tagSpecificationSet")
	}
	idList := func(set string, vs []string) {
		if len(vs) > 0 {
			x.open(set)
			for _, v := range vs {
				x.str("item", v)
			}
			x.close(set)
		}
	}
	idList("securityGroupIdSet", d.GroupIDs)
	idList("securityGroupSet", d.GroupNames)
	if m := d.MetadataOptions; m != nil {
		x.open("metadataOptions")
		x.opt("httpTokens", m.HttpTokens)
		if m.HttpPutResponseHopLimit != 0 {
			x.int("httpPutResponseHopLimit", int64(m.HttpPutResponseHopLimit))
		}
		x.opt("httpEndpoint", m.HttpEndpoint)
		x.opt("httpProtocolIpv6", m.HttpProtocolIpv6)
		x.opt("instanceMetadataTags", m.InstanceMetadataTags)
		x.close("metadataOptions")
	}
	if d.NoStop != nil {
		x.bool("disableApiStop", *d.NoStop)
	}
}

var ltFilters = filterer[*model.LaunchTemplate]{
	fields: fields[*model.LaunchTemplate]{
		"launch-template-name": one2(func(lt *model.LaunchTemplate) string { return lt.Name }),
		"create-time":          one2(func(lt *model.LaunchTemplate) string { return lt.CreateTime.UTC().Format(time.RFC3339) }),
	},
	tagsOf: func(lt *model.LaunchTemplate) model.Tags { return lt.Tags },
}

var describeLaunchTemplates = describeSpec[*model.LaunchTemplate]{
	IDs:          []string{"LaunchTemplateId", "LaunchTemplateName"},
	NoMaxWithIDs: true,
	From: func(_ *call, v control.View) source[*model.LaunchTemplate] {
		return src(v.LaunchTemplates,
			func(id string) (*model.LaunchTemplate, error) { return v.LaunchTemplate(control.TemplateRef{ID: id}) },
			func(name string) (*model.LaunchTemplate, error) {
				return v.LaunchTemplate(control.TemplateRef{Name: name})
			})
	},
	Filters: ltFilters,
	Key:     func(lt *model.LaunchTemplate) string { return lt.ID },
	Limits:  pageLimits{1, 200},
	Set:     "launchTemplates",
	Item:    func(c *call, lt *model.LaunchTemplate) { writeLT(&c.out, lt) },
}

// ltVersionRow is a version with its template, for filters and rendering.
type ltVersionRow struct {
	*model.LaunchTemplateVersion
	lt *model.LaunchTemplate
}

var ltVersionFilters = filterer[ltVersionRow]{fields: fields[ltVersionRow]{
	"create-time":        one2(func(r ltVersionRow) string { return r.CreateTime.UTC().Format(time.RFC3339) }),
	"image-id":           one2(func(r ltVersionRow) string { return r.Data.ImageID }),
	"instance-type":      one2(func(r ltVersionRow) string { return r.Data.InstanceType }),
	"is-default-version": one2(func(r ltVersionRow) string { return boolStr(r.Number == r.lt.DefaultVersion) }),
	"launch-template-version-description": one2(func(r ltVersionRow) string {
		return r.Description
	}),
	// Valid filters on what a Stockade template never sets: they match no version.
	"ebs-optimized":        func(ltVersionRow) []string { return nil },
	"iam-instance-profile": func(ltVersionRow) []string { return nil },
	"kernel-id":            func(ltVersionRow) []string { return nil },
	"ram-disk-id":          func(ltVersionRow) []string { return nil },
	"host-resource":        func(ltVersionRow) []string { return nil },
}}

// describeLaunchTemplateVersions lists versions of one template (by ID or name) or, with
// neither, the $Latest or $Default versions of every template (EC2: "to describe the versions
// of all your launch templates, specify $Latest, $Default, or both").
func describeLaunchTemplateVersions(c *call) error {
	r := c.req
	ref := templateRef(r)
	if ref.ID != "" && ref.Name != "" {
		return model.InvalidParameterCombination.Errorf("Specify either the launch template ID or the launch template name, not both.")
	}
	versions, err := ids(r, "LaunchTemplateVersion")
	if err != nil {
		return err
	}
	bound := func(key string) (int, error) {
		v := str(r, key)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, model.InvalidValue("Value (%s) for parameter %s is invalid. Expected a version number.", v, key)
		}
		return n, nil
	}
	lo, err := bound("MinVersion")
	if err != nil {
		return err
	}
	hi, err := bound("MaxVersion")
	if err != nil {
		return err
	}
	if _, _, err := optBool(r, "ResolveAlias"); err != nil {
		return err
	}
	all := ref.ID == "" && ref.Name == ""
	if all {
		for _, v := range versions {
			if v != "$Latest" && v != "$Default" {
				return model.InvalidParameterCombination.Errorf("To describe the versions of all your launch templates, specify only $Latest, $Default, or both, as the version.")
			}
		}
	}
	fs, err := ltVersionFilters.compile(r)
	if err != nil {
		return err
	}
	var rows []ltVersionRow
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		templates := v.LaunchTemplates()
		if !all {
			lt, err := v.LaunchTemplate(ref)
			if err != nil {
				return err
			}
			templates = []*model.LaunchTemplate{lt}
		}
		for _, lt := range templates {
			var vs []*model.LaunchTemplateVersion
			if len(versions) == 0 {
				vs = v.LaunchTemplateVersions(lt)
			}
			for _, want := range versions {
				ver, err := v.LaunchTemplateVersion(lt, want)
				if err != nil {
					return err
				}
				if !slices.Contains(vs, ver) {
					vs = append(vs, ver)
				}
			}
			slices.SortFunc(vs, func(a, b *model.LaunchTemplateVersion) int { return a.Number - b.Number })
			for _, ver := range vs {
				row := ltVersionRow{ver, lt}
				if (lo == 0 || ver.Number >= lo) && (hi == 0 || ver.Number <= hi) && ltVersionFilters.match(fs, row) {
					rows = append(rows, row)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	key := func(r ltVersionRow) string { return r.lt.ID + ":" + strconv.Itoa(1e9+r.Number) }
	page, next, err := paginate(r, rows, key, pageLimits{1, 200})
	if err != nil {
		return err
	}
	writeSet(c, "launchTemplateVersionSet", page, func(c *call, r ltVersionRow) { writeLTVersion(&c.out, r.LaunchTemplateVersion, r.lt) })
	c.out.opt("nextToken", next)
	return nil
}

// runLaunchTemplate reads RunInstances' LaunchTemplate.
func runLaunchTemplate(r *query.Request) *control.LaunchTemplateSpec {
	if !r.Has("LaunchTemplate") {
		return nil
	}
	lt := r.Sub("LaunchTemplate")
	return &control.LaunchTemplateSpec{TemplateRef: templateRef(lt), Version: str(lt, "Version")}
}
