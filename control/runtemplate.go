package control

import (
	"cmp"
	"context"
	"encoding/base64"

	"github.com/stockade/stockade/model"
)

// LaunchTemplateSpec is RunInstances' LaunchTemplate: a template and its version ("" or
// $Default: the default version; $Latest; or a number).
type LaunchTemplateSpec struct {
	TemplateRef
	Version string
}

// defaultInstanceType is EC2's instance type when neither the request nor its template names one.
const defaultInstanceType = "m1.small"

// fromTemplate fills what in leaves unset from its launch template's version: RunInstances'
// own parameters override the template's (EC2 user guide, "Launch an instance from a launch
// template": "parameters that you specify override the same parameters in the launch
// template"). A request's interfaces replace the template's; its SubnetId and security
// groups replace those of the template's primary interface. A flag (DisableApiTermination,
// DisableApiStop) is the request's when it gives one, even false, else the template's.
func (s *Service) fromTemplate(ctx context.Context, t Tenant, in RunInput) (RunInput, error) {
	spec := in.LaunchTemplate
	if spec == nil {
		return in, nil
	}
	if err := spec.TemplateRef.check(); err != nil {
		return in, err
	}
	var d model.LaunchTemplateData
	err := s.View(ctx, t, func(v View) error {
		lt, err := v.LaunchTemplate(spec.TemplateRef)
		if err != nil {
			return err
		}
		ver, err := v.LaunchTemplateVersion(lt, spec.Version)
		if err != nil {
			return err
		}
		d = ver.Data.Clone()
		return nil
	})
	if err != nil {
		return in, err
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&in.ImageID, d.ImageID}, {&in.InstanceType, d.InstanceType},
		{&in.KeyName, d.KeyName}, {&in.Zone, d.Zone}, {&in.Tenancy, d.Tenancy}, {&in.ShutdownBehavior, d.ShutdownBehavior}} {
		*f.dst = cmp.Or(*f.dst, f.v)
	}
	if in.UserData == nil && d.UserData != "" {
		if in.UserData, err = base64.StdEncoding.DecodeString(d.UserData); err != nil {
			return in, model.InvalidValue("Invalid BASE64 encoding of user data.")
		}
	}
	in.DisableAPITermination = cmp.Or(in.DisableAPITermination, d.NoTermination)
	in.DisableAPIStop = cmp.Or(in.DisableAPIStop, d.NoStop)
	if m := d.MetadataOptions; m != nil {
		o := &in.MetadataOptions
		o.HttpTokens, o.HttpEndpoint = cmp.Or(o.HttpTokens, m.HttpTokens), cmp.Or(o.HttpEndpoint, m.HttpEndpoint)
		o.HttpProtocolIpv6, o.InstanceMetadataTags = cmp.Or(o.HttpProtocolIpv6, m.HttpProtocolIpv6), cmp.Or(o.InstanceMetadataTags, m.InstanceMetadataTags)
		o.HttpPutResponseHopLimit = cmp.Or(o.HttpPutResponseHopLimit, m.HttpPutResponseHopLimit)
	}
	for _, ts := range d.TagSpecs {
		dst := &in.InstanceTags
		if ts.ResourceType == "network-interface" {
			dst = &in.ENITags
		}
		if len(*dst) == 0 {
			*dst = ts.Tags.Clone()
		}
	}
	switch {
	case len(in.Interfaces) > 0:
	case len(d.Interfaces) > 0:
		for _, n := range d.Interfaces {
			ri := RunInterface{SubnetID: n.SubnetID, GroupIDs: n.Groups, NetworkInterfaceID: n.NetworkInterfaceID, PrivateIP: n.PrivateIP,
				AssociatePublicIP: n.AssociatePublicIP, DeleteOnTermination: n.DeleteOnTermination}
			if n.DeviceIndex != nil {
				ri.DeviceIndex = *n.DeviceIndex
			}
			if n.IPv6Count != nil {
				ri.IPv6Count = *n.IPv6Count
			}
			if ri.DeviceIndex == 0 {
				if in.SubnetID != "" {
					ri.SubnetID = in.SubnetID
				}
				if len(in.GroupIDs) > 0 {
					ri.GroupIDs = in.GroupIDs
				}
			}
			in.Interfaces = append(in.Interfaces, ri)
		}
		in.SubnetID, in.GroupIDs = "", nil
	default:
		if len(in.GroupIDs) == 0 && len(in.GroupNames) == 0 {
			in.GroupIDs, in.GroupNames = d.GroupIDs, d.GroupNames
		}
	}
	return in, nil
}

// isTrue is a flag given as true; nil (not given) is false.
func isTrue(b *bool) bool { return b != nil && *b }
