package ec2api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/model"
)

// authorize decides the call for its principal before the handler runs, so that a denied call
// changes nothing, and a DryRun of an allowed one still reaches the handler's DryRunOperation
// (§6.6). The resources and their condition keys come from the EC2 authorization table
// (iampolicy.EC2Resources) filled from the tenant's state: tags, the group's VPC, the VPC's
// tenancy. A call that supplies tags (TagSpecification) is also authorized for ec2:CreateTags
// on the resources it creates, with ec2:CreateAction naming the call, as the Service
// Authorization Reference describes.
func (c *call) authorize(r *http.Request, values url.Values) error {
	p := c.principal
	if p == nil || p.Kind == iam.RootPrincipal {
		return nil // root is allowed everything in its account (§6.2 step 1)
	}
	params := make(map[string]string, len(values))
	for k, v := range values {
		params[k] = v[len(v)-1]
	}
	region, account := c.tenant.Region, c.tenant.Account
	table, ok := iampolicy.EC2Resources(c.req.Action, params, region, account)
	if !ok {
		table = nil // an action outside the table is authorized against "*"
	}
	info := authz.InfoOf(r, region, c.s.now())
	reqCtx := authz.PrincipalContext(*p, &info)
	reqCtx.Set(iampolicy.KeyEC2Region, region)
	tags := tagSpecifications(params)
	var resources, created []iampolicy.Resource
	err := c.s.svc.View(c.ctx, c.tenant, func(v control.View) error {
		for _, er := range table {
			res := iampolicy.Resource{ARN: er.ARN, Context: &iampolicy.Context{}}
			res.Context.Set(iampolicy.KeyEC2Region, region)
			if er.New {
				res.Context.SetRequestTags(tags[er.Type])
				resources = append(resources, res)
				created = append(created, res)
				continue
			}
			res.ARN = resourceKeys(v, er, params, res.Context, region, account)
			resources = append(resources, res)
		}
		return nil
	})
	if err != nil {
		return err
	}
	action := "ec2:" + c.req.Action
	d, blob, err := c.s.cfg.Authorizer.Decide(*p, &iampolicy.Request{Action: action, Resources: resources, Context: reqCtx})
	if err == nil && d.Allowed && len(tags) > 0 && c.req.Action != "CreateTags" && len(created) > 0 {
		for i := range created {
			created[i].Context.Set(iampolicy.KeyEC2CreateAction, c.req.Action)
		}
		action = "ec2:CreateTags"
		d, blob, err = c.s.cfg.Authorizer.Decide(*p, &iampolicy.Request{Action: action, Resources: created, Context: reqCtx})
	}
	if err != nil {
		return model.InternalError.New().WithCause(err)
	}
	if !d.Allowed {
		return model.UnauthorizedOperation.Errorf("%s", d.EC2DenialMessage(p.ARN, action, blob))
	}
	return nil
}

// resourceKeys fills the condition keys of an existing resource from the tenant's state and
// returns its ARN: a group named by GroupName is authorized by its ID. A resource that does
// not exist keeps its ARN and has no tags; the handler then reports it missing.
func resourceKeys(v control.View, er iampolicy.EC2Resource, params map[string]string, ctx *iampolicy.Context, region, account string) string {
	arn := er.ARN
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	vpcARN := func(vpc string) string { return "arn:aws:ec2:" + region + ":" + account + ":vpc/" + vpc }
	switch er.Type {
	case "security-group":
		g, err := v.Group(id)
		if id == "*" && er.Param != "" {
			g, err = v.GroupByName(params[er.Param])
		}
		if err != nil {
			return arn
		}
		arn = arn[:strings.LastIndexByte(arn, '/')+1] + g.ID
		ctx.SetResourceTags(g.Tags)
		ctx.Set(iampolicy.KeyEC2SecurityGroupID, g.ID)
		if g.VpcID != "" {
			ctx.Set(iampolicy.KeyEC2Vpc, vpcARN(g.VpcID))
		}
	case "vpc":
		if vpc, err := v.VPC(id); err == nil {
			ctx.SetResourceTags(vpc.Tags)
			ctx.Set(iampolicy.KeyEC2VpcID, vpc.ID)
			ctx.Set(iampolicy.KeyEC2Tenancy, vpc.Tenancy)
		}
	case "subnet":
		if sn, err := v.Subnet(id); err == nil {
			ctx.SetResourceTags(sn.Tags)
			ctx.Set(iampolicy.KeyEC2Vpc, vpcARN(sn.VpcID))
			ctx.Set("ec2:SubnetID", sn.ID)
			ctx.Set("ec2:AvailabilityZone", sn.AZ)
		}
	case "network-interface":
		if eni, err := v.ENI(id); err == nil {
			ctx.SetResourceTags(eni.Tags)
			ctx.Set(iampolicy.KeyEC2Vpc, vpcARN(eni.VpcID))
			ctx.Set(iampolicy.KeyEC2Subnet, "arn:aws:ec2:"+region+":"+account+":subnet/"+eni.SubnetID)
			ctx.Set(iampolicy.KeyEC2NetworkInterfaceID, eni.ID)
		}
	case "instance":
		if in, err := v.Instance(id); err == nil {
			ctx.SetResourceTags(in.Tags)
			ctx.Set(iampolicy.KeyEC2InstanceType, in.InstanceType)
			ctx.Set(iampolicy.KeyEC2Tenancy, in.Tenancy)
		}
	}
	// Other types carry no tags here [STOCKADE: their aws:ResourceTag keys are absent, so a
	// tag condition on them does not match — it fails closed].
	return arn
}

// tagSpecifications reads TagSpecification.N.ResourceType and its Tag.M.Key/Value, by
// resource type.
func tagSpecifications(params map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, typ := range params {
		rest, ok := strings.CutPrefix(k, "TagSpecification.")
		if !ok || !strings.HasSuffix(rest, ".ResourceType") {
			continue
		}
		n := strings.TrimSuffix(rest, ".ResourceType")
		if out[typ] == nil {
			out[typ] = map[string]string{}
		}
		for m := 1; ; m++ {
			p := "TagSpecification." + n + ".Tag." + itoa(m)
			key, ok := params[p+".Key"]
			if !ok {
				break
			}
			out[typ][key] = params[p+".Value"]
		}
	}
	return out
}
