package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// readMetadataOptions reads the metadata-service options under prefix ("MetadataOptions." in
// RunInstances, "" in ModifyInstanceMetadataOptions). Unset options stay zero; a hop limit
// that is given must be 1..64 (zero is not "unset" on the wire).
func readMetadataOptions(r *query.Request, prefix string) (model.MetadataOptions, error) {
	o := model.MetadataOptions{
		HttpTokens: str(r, prefix+"HttpTokens"), HttpEndpoint: str(r, prefix+"HttpEndpoint"),
		HttpProtocolIpv6: str(r, prefix+"HttpProtocolIpv6"), InstanceMetadataTags: str(r, prefix+"InstanceMetadataTags"),
	}
	hops, ok, err := optInt(r, prefix+"HttpPutResponseHopLimit")
	if err != nil {
		return o, err
	}
	if ok {
		if hops < 1 || hops > model.MaxHopLimit {
			return o, model.InvalidValue("Invalid value '%d' for HttpPutResponseHopLimit. It must be between 1 and %d.", hops, model.MaxHopLimit)
		}
		o.HttpPutResponseHopLimit = int(hops)
	}
	return o, o.Validate()
}

// writeMetadataOptions renders an instance's options (DescribeInstances' metadataOptions,
// ModifyInstanceMetadataOptions' instanceMetadataOptions). The state is "applied": the lab's
// metadata service reads the options on every request, so a change is in force when its
// write is.
func writeMetadataOptions(x *xmlWriter, name string, o model.MetadataOptions) {
	o = o.WithDefaults()
	x.open(name)
	x.str("state", "applied")
	x.str("httpTokens", o.HttpTokens)
	x.int("httpPutResponseHopLimit", int64(o.HttpPutResponseHopLimit))
	x.str("httpEndpoint", o.HttpEndpoint)
	x.str("httpProtocolIpv6", o.HttpProtocolIpv6)
	x.str("instanceMetadataTags", o.InstanceMetadataTags)
	x.close(name)
}

func modifyInstanceMetadataOptions(c *call) error {
	in := control.ModifyMetadataOptionsInput{ID: str(c.req, "InstanceId"), DryRun: c.dryRun()}
	if in.ID == "" {
		return model.Missing("InstanceId")
	}
	if !model.ValidID(model.PrefixInstance, in.ID) {
		return model.InvalidInstanceIDMalformed.New(in.ID)
	}
	var err error
	if in.Options, err = readMetadataOptions(c.req, ""); err != nil {
		return err
	}
	o, res, err := c.svc().ModifyInstanceMetadataOptions(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("instanceId", in.ID)
	writeMetadataOptions(x, "instanceMetadataOptions", o)
	return nil
}
