package ec2api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
// tenancy. A resource the call creates is authorized by its real ARN where its ID is allocated
// here (newIDPrefixes), and carries the keys of the VPC or subnet it goes into. A call that
// supplies tags (TagSpecification) is also authorized for ec2:CreateTags on the resources it
// creates, with ec2:CreateAction naming the call, as the Service Authorization Reference
// describes.
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
		var where placement
		for _, er := range table {
			res := iampolicy.Resource{ARN: er.ARN, Context: &iampolicy.Context{}}
			res.Context.Set(iampolicy.KeyEC2Region, region)
			if er.New {
				res.ARN = c.newResourceARN(er, res.Context)
				res.Context.SetRequestTags(tags[er.Type])
				resources = append(resources, res)
				created = append(created, res)
				continue
			}
			res.ARN = resourceKeys(v, er, params, res.Context, region, account)
			where.note(er.Type, res)
			resources = append(resources, res)
		}
		for _, res := range created {
			where.apply(res.Context)
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

// newIDPrefixes are the resource types whose ID authorization allocates before the handler
// creates the resource (the handler reads it with call.newID), so that a policy on
// security-group/sg-… and ec2:SecurityGroupID apply to the new group as they do to an existing
// one (trail-iam.md §6.5 [STOCKADE]). Other new resources are authorized as <type>/*.
var newIDPrefixes = map[string]string{"security-group": model.PrefixGroup}

// newIDKeys are the condition keys that carry a new resource's allocated ID.
var newIDKeys = map[string]string{"security-group": iampolicy.KeyEC2SecurityGroupID}

// newResourceARN returns the ARN a resource the call creates is authorized by, allocating its
// ID where the type allows (newIDPrefixes), and sets the key that carries the ID.
func (c *call) newResourceARN(er iampolicy.EC2Resource, ctx *iampolicy.Context) string {
	prefix, ok := newIDPrefixes[er.Type]
	if !ok {
		return er.ARN
	}
	id := model.NewID(prefix)
	if c.newIDs == nil {
		c.newIDs = map[string]string{}
	}
	c.newIDs[er.Type] = id
	if k := newIDKeys[er.Type]; k != "" {
		ctx.Set(k, id)
	}
	return er.ARN[:strings.LastIndexByte(er.ARN, '/')+1] + id
}

// newID is the ID authorization allocated for the resource of type typ the call creates, or
// "" (unauthorized calls by root, types outside newIDPrefixes): the service then allocates.
func (c *call) newID(typ string) string { return c.newIDs[typ] }

// placement is where a call's new resources go: the VPC and subnet ARNs of the existing
// resources it names, which the new ones carry as ec2:Vpc and ec2:Subnet (a policy that
// allows creating only in vpc/vpc-A can then say so by resource or by condition).
type placement struct{ vpc, subnet string }

// note records an existing resource of the call that is a VPC or a subnet; one that does not
// exist (no keys filled) places nothing.
func (w *placement) note(typ string, res iampolicy.Resource) {
	switch typ {
	case "vpc":
		if _, ok := res.Context.Values(iampolicy.KeyEC2VpcID); ok {
			w.vpc = res.ARN
		}
	case "subnet":
		if vpc, ok := res.Context.Values(iampolicy.KeyEC2Vpc); ok {
			w.subnet = res.ARN
			if w.vpc == "" {
				w.vpc = vpc[0]
			}
		}
	}
}

func (w placement) apply(ctx *iampolicy.Context) {
	if w.vpc != "" {
		ctx.Set(iampolicy.KeyEC2Vpc, w.vpc)
	}
	if w.subnet != "" {
		ctx.Set(iampolicy.KeyEC2Subnet, w.subnet)
	}
}

// resourceKeys fills the condition keys of an existing resource from the tenant's state and
// returns its ARN: a resource named by name (GroupName, KeyName, LaunchTemplateName), by one
// of its associations (rtbassoc-…, eipassoc-…, vpc-cidr-assoc-…, subnet-cidr-assoc-…) or left
// to its default (the default VPC) is authorized by its real ARN. Tags come from the service's
// kind table for every taggable type (View.ResourceTags), the type's own keys from
// authzTypes. A resource that does not exist keeps its ARN and has no tags; the handler then
// reports it missing.
func resourceKeys(v control.View, er iampolicy.EC2Resource, params map[string]string, ctx *iampolicy.Context, region, account string) string {
	arn := er.ARN
	base := arn[:strings.LastIndexByte(arn, '/')+1]
	ref, byName := arn[len(base):], false
	if ref == "*" && er.Param != "" {
		ref, byName = params[er.Param], true
	}
	t := authzTypes[er.Type]
	id, arnID := ref, ref
	switch {
	case er.Default && t.byDefault != nil:
		if id = t.byDefault(v, params); id == "" {
			return arn
		}
		arnID = id
	case ref == "*":
		return arn
	case t.resolve != nil:
		var err error
		if id, arnID, err = t.resolve(v, ref, byName); err != nil {
			return arn
		}
	}
	resTags, err := v.ResourceTags(er.Type, id)
	if err != nil {
		return arn
	}
	ctx.SetResourceTags(resTags)
	if t.keys != nil {
		t.keys(v, id, ctx, ec2ARN{region, account})
	}
	return base + arnID
}

// ec2ARN builds EC2 ARNs in one region and account.
type ec2ARN struct{ region, account string }

func (a ec2ARN) of(typ, id string) string {
	return "arn:aws:ec2:" + a.region + ":" + a.account + ":" + typ + "/" + id
}

// authzType is what authorization knows of one EC2 resource type beyond its tags.
type authzType struct {
	// resolve finds the resource a request names — by ID, or by name where EC2 accepts one
	// (byName) — and returns its ID and the ID its ARN carries; nil: the reference is the ID.
	resolve func(v control.View, ref string, byName bool) (id, arnID string, err error)
	// byDefault returns the ID of the resource of the type the call uses when it names none
	// (the default VPC, the default subnet RunInstances launches in), "" if none.
	byDefault func(v control.View, params map[string]string) string
	// keys sets the type's own condition keys (ec2:Vpc, ec2:SecurityGroupID, …) for id.
	keys func(v control.View, id string, ctx *iampolicy.Context, arn ec2ARN)
}

// byAssociation resolves an association ID (the Disassociate* calls name one, with prefix) to
// the resource of all that holds it (assocs gives a resource's ID and association IDs), so
// that the call is authorized against that resource's ARN and tags, as the reference's
// resource for those calls is the parent. Any other reference is the resource's own ID.
func byAssociation[T any](prefix string, all func(control.View) []*T, assocs func(*T) (string, []string)) func(control.View, string, bool) (string, string, error) {
	return func(v control.View, ref string, _ bool) (string, string, error) {
		if !strings.HasPrefix(ref, prefix+"-") {
			return ref, ref, nil
		}
		for _, x := range all(v) {
			if id, held := assocs(x); slices.Contains(held, ref) {
				return id, id, nil
			}
		}
		return "", "", fmt.Errorf("association %s: not found", ref)
	}
}

// authzTypes are the types with more than tags, keyed by the reference's resource type.
// Sources: the Service Authorization Reference's resource-type table (§6.5); the key-pair ARN
// carries the key's name, not its key-… ID ([UNCONFIRMED]: the reference's
// key-pair/${KeyPairName}, read from memory of the page, which the search could not reach).
var authzTypes = map[string]authzType{
	"security-group": {
		resolve: func(v control.View, ref string, byName bool) (string, string, error) {
			g, err := v.Group(ref)
			if byName {
				g, err = v.GroupByName(ref)
			}
			if err != nil {
				return "", "", err
			}
			return g.ID, g.ID, nil
		},
		keys: func(v control.View, id string, ctx *iampolicy.Context, arn ec2ARN) {
			g, err := v.Group(id)
			if err != nil {
				return
			}
			ctx.Set(iampolicy.KeyEC2SecurityGroupID, g.ID)
			if g.VpcID != "" {
				ctx.Set(iampolicy.KeyEC2Vpc, arn.of("vpc", g.VpcID))
			}
		},
	},
	"vpc": {
		resolve: byAssociation(model.PrefixVPCCidrAssoc, control.View.VPCs, func(vpc *model.VPC) (string, []string) {
			var ids []string
			for _, b := range vpc.AllBlocks() {
				ids = append(ids, b.AssocID)
			}
			return vpc.ID, ids
		}),
		byDefault: func(v control.View, _ map[string]string) string {
			if d := v.DefaultVPC(); d != nil {
				return d.ID
			}
			return ""
		},
		keys: func(v control.View, id string, ctx *iampolicy.Context, _ ec2ARN) {
			if vpc, err := v.VPC(id); err == nil {
				ctx.Set(iampolicy.KeyEC2VpcID, vpc.ID)
				ctx.Set(iampolicy.KeyEC2Tenancy, vpc.Tenancy)
			}
		},
	},
	"subnet": {
		resolve: func(v control.View, ref string, byName bool) (string, string, error) {
			if strings.HasPrefix(ref, model.PrefixSubnetCidrReservation+"-") { // DeleteSubnetCidrReservation names its reservation
				for _, sn := range v.Subnets() {
					rs, _ := v.SubnetCIDRReservations(sn.ID)
					if slices.ContainsFunc(rs, func(r *model.SubnetCIDRReservation) bool { return r.ID == ref }) {
						return sn.ID, sn.ID, nil
					}
				}
				return "", "", fmt.Errorf("subnet CIDR reservation %s: not found", ref)
			}
			return byAssociation(model.PrefixSubnetCidrAssoc, control.View.Subnets, func(sn *model.Subnet) (string, []string) {
				return sn.ID, []string{sn.IPv6AssocID}
			})(v, ref, byName)
		},
		// RunInstances without SubnetId launches where its first interface specification
		// says, else in the default VPC's default subnet of the zone asked for (or the first
		// zone), as control chooses it.
		byDefault: func(v control.View, params map[string]string) string {
			if id := params["NetworkInterface.1.SubnetId"]; id != "" {
				return id
			}
			if id := params["NetworkInterface.1.NetworkInterfaceId"]; id != "" {
				if eni, err := v.ENI(id); err == nil {
					return eni.SubnetID
				}
				return ""
			}
			vpc := v.DefaultVPC()
			if vpc == nil {
				return ""
			}
			zone, id, first := params["Placement.AvailabilityZone"], "", ""
			for _, sn := range v.Subnets() {
				if sn.VpcID == vpc.ID && sn.DefaultForAz && (zone == "" || sn.AZ == zone) && (id == "" || sn.AZ < first) {
					id, first = sn.ID, sn.AZ
				}
			}
			return id
		},
		keys: func(v control.View, id string, ctx *iampolicy.Context, arn ec2ARN) {
			if sn, err := v.Subnet(id); err == nil {
				ctx.Set(iampolicy.KeyEC2Vpc, arn.of("vpc", sn.VpcID))
				ctx.Set("ec2:SubnetID", sn.ID)
				ctx.Set("ec2:AvailabilityZone", sn.AZ)
			}
		},
	},
	"network-interface": {
		keys: func(v control.View, id string, ctx *iampolicy.Context, arn ec2ARN) {
			if eni, err := v.ENI(id); err == nil {
				ctx.Set(iampolicy.KeyEC2Vpc, arn.of("vpc", eni.VpcID))
				ctx.Set(iampolicy.KeyEC2Subnet, arn.of("subnet", eni.SubnetID))
				ctx.Set(iampolicy.KeyEC2NetworkInterfaceID, eni.ID)
			}
		},
	},
	"instance": {
		keys: func(v control.View, id string, ctx *iampolicy.Context, _ ec2ARN) {
			if in, err := v.Instance(id); err == nil {
				ctx.Set(iampolicy.KeyEC2InstanceType, in.InstanceType)
				ctx.Set(iampolicy.KeyEC2Tenancy, in.Tenancy)
			}
		},
	},
	"key-pair": {
		resolve: func(v control.View, ref string, _ bool) (string, string, error) {
			kp, err := v.KeyPair("", ref)
			if err != nil {
				kp, err = v.KeyPair(ref, "") // RunInstances and DeleteKeyPair name it
			}
			if err != nil {
				return "", "", err
			}
			return kp.ID, kp.Name, nil
		},
	},
	"route-table": {
		resolve: byAssociation(model.PrefixRTBAssoc, control.View.RouteTables, func(rt *model.RouteTable) (string, []string) {
			var ids []string
			for _, a := range rt.Assocs {
				ids = append(ids, a.ID)
			}
			return rt.ID, ids
		}),
	},
	"elastic-ip": {
		resolve: byAssociation(model.PrefixEIPAssoc, control.View.Addresses, func(a *model.Address) (string, []string) {
			return a.AllocationID, []string{a.AssociationID}
		}),
	},
	"launch-template": {
		resolve: func(v control.View, ref string, byName bool) (string, string, error) {
			tr := control.TemplateRef{ID: ref}
			if byName {
				tr = control.TemplateRef{Name: ref}
			}
			lt, err := v.LaunchTemplate(tr)
			if err != nil {
				return "", "", err
			}
			return lt.ID, lt.ID, nil
		},
	},
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
