package ec2api

import (
	"fmt"
	"strings"

	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// Parameter helpers shared by the handlers. They work on a request or any sub-view of it
// (an IpPermissions.N element, say); keys are relative to the view.

func str(r *query.Request, key string) string {
	v, _ := r.String(key)
	return v
}

// optInt reads an integer parameter; present reports whether it was given.
func optInt(r *query.Request, key string) (v int64, present bool, err error) {
	v, present, err = r.Int(key)
	if err != nil {
		return 0, false, queryError(err)
	}
	return v, present, nil
}

// optBool reads a boolean parameter; present reports whether it was given.
func optBool(r *query.Request, key string) (v bool, present bool, err error) {
	v, present, err = r.Bool(key)
	if err != nil {
		return false, false, queryError(err)
	}
	return v, present, nil
}

// boolPtr is an optional boolean for an input field where nil means "not given" (leave it
// as it is).
func boolPtr(r *query.Request, key string) (*bool, error) {
	v, ok, err := optBool(r, key)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

func (c *call) dryRun() bool {
	v, _, _ := c.req.Bool("DryRun") // validated against the model already
	return v
}

// tagSpecs collects the tags of TagSpecification.N elements for resource type typ. A
// specification for a type the action does not create is an error, as on EC2 (spec §1.4).
func tagSpecs(r *query.Request, allowed ...string) (map[string]model.Tags, error) {
	out := map[string]model.Tags{}
	for _, spec := range r.List("TagSpecification") {
		typ := str(spec, "ResourceType")
		if typ == "" {
			return nil, model.Missing("TagSpecification.N.ResourceType")
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == typ
		}
		if !ok {
			return nil, model.InvalidValue("'%s' is not a valid taggable resource type for this operation.", typ)
		}
		tags := out[typ]
		if tags == nil {
			tags = model.Tags{}
			out[typ] = tags
		}
		for _, t := range spec.List("Tag") {
			k, v := str(t, "Key"), str(t, "Value")
			if err := model.ValidateTag(k, v); err != nil {
				return nil, err
			}
			tags[k] = v
		}
		if tags.UserCount() > model.MaxTagsPerResource {
			return nil, model.TagLimitExceeded.New()
		}
	}
	return out, nil
}

// tagsFor is tagSpecs for an action that creates one resource type.
func tagsFor(r *query.Request, typ string) (model.Tags, error) {
	m, err := tagSpecs(r, typ)
	if err != nil {
		return nil, err
	}
	return m[typ], nil
}

// writeTags renders a tagSet, sorted by key. An empty set is omitted, as EC2 does.
func writeTags(x *xmlWriter, tags model.Tags) {
	if len(tags) == 0 {
		return
	}
	x.open("tagSet")
	for _, k := range tags.Keys() {
		x.open("item")
		x.str("key", k)
		x.str("value", tags[k])
		x.close("item")
	}
	x.close("tagSet")
}

// arn builds a resource ARN (spec §1.1).
func (c *call) arn(part string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:%s", c.tenant.Region, c.tenant.Account, part)
}

// ids returns the values of Key.N, or an error when one is empty.
func ids(r *query.Request, key string) ([]string, error) {
	out := r.Strings(key)
	for _, v := range out {
		if strings.TrimSpace(v) == "" {
			return nil, model.InvalidValue("Value for parameter %s.N must not be empty.", key)
		}
	}
	return out, nil
}

// ipv6Request reads an interface's IPv6 addresses: Ipv6AddressCount, or the addresses of the
// list (Ipv6Addresses.N.Ipv6Address, or Ipv6Address.N.Ipv6Address in RunInstances).
func ipv6Request(r *query.Request, list string) (addrs []string, count int, err error) {
	n, ok, err := optInt(r, "Ipv6AddressCount")
	if err != nil {
		return nil, 0, err
	}
	if ok && n < 0 {
		return nil, 0, model.InvalidValue("Value (%d) for parameter ipv6AddressCount is invalid.", n)
	}
	for _, a := range r.List(list) {
		v := str(a, "Ipv6Address")
		if v == "" {
			return nil, 0, model.Missing(list + ".N.Ipv6Address")
		}
		addrs = append(addrs, v)
	}
	return addrs, int(n), nil
}
