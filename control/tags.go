package control

import (
	"context"

	"github.com/stockade/stockade/model"
)

// TagChange is one Tag.N of DeleteTags: a key, and optionally a value that must match.
type TagChange struct {
	Key      string
	Value    string
	HasValue bool
}

// taggable finds a resource by ID and returns its tags and a function that stores a copy of the
// resource with new tags. Rules are tagged inside their group.
func (tx *tx) taggable(id string) (model.Tags, func(model.Tags), error) {
	tn := tx.tn
	switch model.IDPrefix(id) {
	case model.PrefixVPC:
		v, err := tn.vpc(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.vpcs, kindVPC, id, c) }, nil
	case model.PrefixSubnet:
		v, err := tn.subnet(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.subnets, kindSubnet, id, c) }, nil
	case model.PrefixGroup:
		v, err := tn.group(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := tn.groups[id].Clone(); c.Tags = tags; set(tx, tn.groups, kindGroup, id, c) }, nil
	case model.PrefixRule:
		for _, g := range tn.groups {
			for _, egress := range []bool{false, true} {
				if i := g.FindRule(egress, id); i >= 0 {
					gid := g.ID
					return g.Rules(egress)[i].Tags, func(tags model.Tags) {
						c := tn.groups[gid].Clone()
						c.Rules(egress)[c.FindRule(egress, id)].Tags = tags
						set(tx, tn.groups, kindGroup, gid, c)
					}, nil
				}
			}
		}
		return nil, nil, model.InvalidSecurityGroupRuleIdNotFound.New(id)
	case model.PrefixENI:
		v, err := tn.eni(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.enis, kindENI, id, c) }, nil
	case model.PrefixInstance:
		v, err := tn.instance(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.instances, kindInstance, id, c) }, nil
	case model.PrefixFlowLog:
		v := tn.flowLogs[id]
		if v == nil {
			return nil, nil, model.InvalidFlowLogIdNotFound.New(id)
		}
		return v.Tags, func(tags model.Tags) { c := *v; c.Tags = tags; set(tx, tn.flowLogs, kindFlowLog, id, &c) }, nil
	case model.PrefixNACL:
		v, err := tn.nacl(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.nacls, kindNACL, id, c) }, nil
	case model.PrefixPrefixList:
		v, err := tn.prefixList(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.prefixLists, kindPrefixList, id, c) }, nil
	case model.PrefixInsightsPath:
		v, err := tn.path(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := *v; c.Tags = tags; set(tx, tn.paths, kindPath, id, &c) }, nil
	case model.PrefixAnalysis:
		v, err := tn.analysis(id)
		if err != nil {
			return nil, nil, err
		}
		return v.Tags, func(tags model.Tags) { c := *v; c.Tags = tags; set(tx, tn.analyses, kindAnalysis, id, &c) }, nil
	case model.PrefixKeyPair:
		v := tn.keyPairs[id]
		if v == nil {
			return nil, nil, model.InvalidKeyPairNotFound.New(id)
		}
		return v.Tags, func(tags model.Tags) { c := v.Clone(); c.Tags = tags; set(tx, tn.keyPairs, kindKeyPair, id, c) }, nil
	}
	return nil, nil, model.InvalidID.Errorf("The ID '%s' is not valid", id)
}

// CreateTags adds or overwrites tags on up to 1000 resources, all or nothing.
func (s *Service) CreateTags(ctx context.Context, t Tenant, ids []string, tags model.Tags, dryRun bool) (Result, error) {
	if len(ids) == 0 {
		return Result{}, model.Missing("ResourceId")
	}
	if len(ids) > 1000 {
		return Result{}, model.InvalidValue("Too many resources: at most 1000 resource IDs may be tagged in one request")
	}
	if len(tags) == 0 {
		return Result{}, model.Missing("Tag")
	}
	for k, v := range tags {
		if err := model.ValidateTag(k, v); err != nil {
			return Result{}, err
		}
	}
	return s.write(ctx, t, dryRun, func(tx *tx) error {
		for _, id := range ids {
			old, store, err := tx.taggable(id)
			if err != nil {
				return err
			}
			nt := old.Clone()
			if nt == nil {
				nt = model.Tags{}
			}
			for k, v := range tags {
				nt[k] = v
			}
			if nt.UserCount() > model.MaxTagsPerResource {
				return model.TagLimitExceeded.New()
			}
			store(nt)
		}
		return nil
	})
}

// DeleteTags removes tags (spec §1.4): a key alone deletes it whatever its value, a key with a
// value only when the value matches, and no tags at all deletes every user tag.
func (s *Service) DeleteTags(ctx context.Context, t Tenant, ids []string, tags []TagChange, dryRun bool) (Result, error) {
	if len(ids) == 0 {
		return Result{}, model.Missing("ResourceId")
	}
	for _, c := range tags {
		if c.Key == "" {
			return Result{}, model.InvalidValue("Tag keys must not be empty.")
		}
		if len(c.Key) >= 4 && (c.Key[:4] == "aws:" || c.Key[:4] == "AWS:") {
			return Result{}, model.InvalidValue("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return s.write(ctx, t, dryRun, func(tx *tx) error {
		for _, id := range ids {
			old, store, err := tx.taggable(id)
			if err != nil {
				return err
			}
			nt := old.Clone()
			for k, v := range old {
				if len(tags) == 0 {
					if len(k) < 4 || k[:4] != "aws:" {
						delete(nt, k)
					}
					continue
				}
				for _, c := range tags {
					if c.Key == k && (!c.HasValue || c.Value == v) {
						delete(nt, k)
					}
				}
			}
			if len(nt) != len(old) {
				store(nt)
			}
		}
		return nil
	})
}

// TaggedResource is one row of DescribeTags.
type TaggedResource struct {
	ID   string
	Type string // EC2's resource type: "security-group", "vpc", …
	Tags model.Tags
}

// Tagged lists every resource that has tags, in ID order, with its EC2 resource type.
func (v View) Tagged() []TaggedResource {
	var out []TaggedResource
	add := func(id, typ string, tags model.Tags) {
		if len(tags) > 0 {
			out = append(out, TaggedResource{id, typ, tags})
		}
	}
	for _, x := range v.VPCs() {
		add(x.ID, "vpc", x.Tags)
	}
	for _, x := range v.Subnets() {
		add(x.ID, "subnet", x.Tags)
	}
	for _, g := range v.Groups() {
		add(g.ID, "security-group", g.Tags)
		for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
			for _, r := range rs {
				add(r.ID, "security-group-rule", r.Tags)
			}
		}
	}
	for _, x := range v.ENIs() {
		add(x.ID, "network-interface", x.Tags)
	}
	for _, x := range v.Instances() {
		add(x.ID, "instance", x.Tags)
	}
	for _, x := range v.KeyPairs() {
		add(x.ID, "key-pair", x.Tags)
	}
	for _, x := range v.FlowLogs() {
		add(x.ID, "vpc-flow-log", x.Tags)
	}
	for _, x := range v.NACLs() {
		add(x.ID, "network-acl", x.Tags)
	}
	for _, x := range v.PrefixLists() {
		add(x.ID, "prefix-list", x.Tags)
	}
	for _, x := range v.InsightsPaths() {
		add(x.ID, "network-insights-path", x.Tags)
	}
	for _, x := range v.InsightsAnalyses() {
		add(x.ID, "network-insights-analysis", x.Tags)
	}
	return out
}
