package control

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stockade/stockade/model"
)

// View is a read-only view of one tenant's state. It is valid only inside the function given to
// Service.View; the objects it returns are immutable and stay valid after it. So are the
// slices: the listings of the kinds a tenant has thousands of (groups, interfaces, instances,
// VPCs, subnets, network ACLs) are the tenant's cached sorted copies (sortedOf), shared with
// every reader, which a caller must not write to.
type View struct{ tn *tenant }

// View runs fn with a consistent read-only view of the tenant's state.
func (s *Service) View(ctx context.Context, t Tenant, fn func(v View) error) error {
	return s.read(ctx, t, func(tn *tenant) error { return fn(View{tn}) })
}

// Account is the tenant's account ID.
func (v View) Account() string { return v.tn.key.Account }

// Region is the tenant's region.
func (v View) Region() string { return v.tn.key.Region }

func sorted[T any](m map[string]*T, id func(*T) string) []*T {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

// VPCs returns every VPC, sorted by ID.
func (v View) VPCs() []*model.VPC {
	return sortedOf(v.tn, kindVPC, v.tn.vpcs, func(x *model.VPC) string { return x.ID })
}

// VPC returns a VPC or EC2's not-found error.
func (v View) VPC(id string) (*model.VPC, error) { return v.tn.vpc(id) }

// DefaultVPC returns the default VPC, or nil when the tenant has none.
func (v View) DefaultVPC() *model.VPC { return v.tn.defaultVPC() }

// Subnets returns every subnet, sorted by ID.
func (v View) Subnets() []*model.Subnet {
	return sortedOf(v.tn, kindSubnet, v.tn.subnets, func(x *model.Subnet) string { return x.ID })
}

// Subnet returns a subnet or EC2's not-found error.
func (v View) Subnet(id string) (*model.Subnet, error) { return v.tn.subnet(id) }

// Available is a subnet's availableIpAddressCount.
func (v View) Available(sn *model.Subnet) int { return v.tn.available(sn) }

// Groups returns every security group, sorted by ID. A filtered DescribeSecurityGroups reads
// them all: sorting 10,000 groups afresh for each was half of its time.
func (v View) Groups() []*model.Group {
	return sortedOf(v.tn, kindGroup, v.tn.groups, func(x *model.Group) string { return x.ID })
}

// Group returns a group by ID or EC2's not-found error.
func (v View) Group(id string) (*model.Group, error) { return v.tn.group(id) }

// GroupByName resolves a group name in the default VPC, where names may identify groups.
func (v View) GroupByName(name string) (*model.Group, error) { return v.tn.groupByName(name) }

// GroupsNamed returns the groups of every VPC whose name equals name without case (a VPC has
// at most one), sorted by ID: from the name index, at the cost of one lookup per VPC.
func (v View) GroupsNamed(name string) []*model.Group {
	var out []*model.Group
	for id := range v.tn.vpcs {
		if g := v.tn.groupNamed(id, name); g != nil {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *model.Group) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ENIs returns every network interface, sorted by ID.
func (v View) ENIs() []*model.NetworkInterface {
	return sortedOf(v.tn, kindENI, v.tn.enis, func(x *model.NetworkInterface) string { return x.ID })
}

// ENI returns an interface or EC2's not-found error.
func (v View) ENI(id string) (*model.NetworkInterface, error) { return v.tn.eni(id) }

// Instances returns every instance still visible (terminated ones vanish after an hour),
// sorted by ID.
func (v View) Instances() []*model.Instance {
	all := sortedOf(v.tn, kindInstance, v.tn.instances, func(x *model.Instance) string { return x.ID })
	if !slices.ContainsFunc(all, v.tn.expired) {
		return all
	}
	return slices.DeleteFunc(slices.Clone(all), v.tn.expired) // the cached copy is shared
}

// Instance returns an instance or EC2's not-found error.
func (v View) Instance(id string) (*model.Instance, error) { return v.tn.instance(id) }

// KeyPairs returns every key pair, sorted by name.
func (v View) KeyPairs() []*model.KeyPair {
	return sorted(v.tn.keyPairs, func(x *model.KeyPair) string { return x.Name })
}

// FlowLogs returns every flow log, sorted by ID.
func (v View) FlowLogs() []*model.FlowLog {
	return sorted(v.tn.flowLogs, func(x *model.FlowLog) string { return x.ID })
}

// FlowLog returns a flow log or EC2's not-found error.
func (v View) FlowLog(id string) (*model.FlowLog, error) {
	if f := v.tn.flowLogs[id]; f != nil {
		return f, nil
	}
	return nil, model.InvalidFlowLogIdNotFound.New(id)
}

// InsightsPaths returns every Network Insights path, sorted by ID.
func (v View) InsightsPaths() []*model.InsightsPath {
	return sorted(v.tn.paths, func(x *model.InsightsPath) string { return x.ID })
}

// InsightsPath returns a path or EC2's not-found error.
func (v View) InsightsPath(id string) (*model.InsightsPath, error) { return v.tn.path(id) }

// InsightsAnalyses returns every analysis, sorted by ID.
func (v View) InsightsAnalyses() []*model.InsightsAnalysis {
	return sorted(v.tn.analyses, func(x *model.InsightsAnalysis) string { return x.ID })
}

// InsightsAnalysis returns an analysis or EC2's not-found error.
func (v View) InsightsAnalysis(id string) (*model.InsightsAnalysis, error) { return v.tn.analysis(id) }

// InstanceENIs returns an instance's interfaces that still exist, primary first.
func (v View) InstanceENIs(in *model.Instance) []*model.NetworkInterface {
	var out []*model.NetworkInterface
	for _, id := range in.InterfaceIDs {
		if n := v.tn.enis[id]; n != nil && n.Attachment != nil && n.Attachment.InstanceID == in.ID {
			out = append(out, n)
		}
	}
	return out
}

// KeyPair finds a key pair by name or ID with EC2's not-found error.
func (v View) KeyPair(name, id string) (*model.KeyPair, error) {
	if id != "" {
		if kp := v.tn.keyPairs[id]; kp != nil {
			return kp, nil
		}
		return nil, model.InvalidKeyPairNotFound.New(id)
	}
	if kp := v.tn.keyPairByName(strings.TrimSpace(name)); kp != nil {
		return kp, nil
	}
	return nil, model.InvalidKeyPairNotFound.New(name)
}

// NACLs returns every network ACL, sorted by ID.
func (v View) NACLs() []*model.NACL {
	return sortedOf(v.tn, kindNACL, v.tn.nacls, func(x *model.NACL) string { return x.ID })
}

// NACL returns a network ACL or EC2's not-found error.
func (v View) NACL(id string) (*model.NACL, error) { return v.tn.nacl(id) }

// PrefixLists returns every prefix list the account sees — its own and the region's
// AWS-managed lists — sorted by ID.
func (v View) PrefixLists() []*model.PrefixList {
	return v.tn.aws.withOwn(v.tn.key.Region, sorted(v.tn.prefixLists, func(x *model.PrefixList) string { return x.ID }))
}

// PrefixList returns a list or EC2's not-found error.
func (v View) PrefixList(id string) (*model.PrefixList, error) { return v.tn.prefixList(id) }

// PrefixListUsers returns the groups whose rules reference the list, sorted by ID.
func (v View) PrefixListUsers(id string) []*model.Group {
	var out []*model.Group
	for _, g := range v.Groups() {
		if referencesPL(g, id) {
			out = append(out, g)
		}
	}
	return out
}

// ResourceTags returns the tags of the resource of EC2 resource type typ ("route-table",
// "security-group-rule", …) with ID id, through the kind table, so that every taggable kind
// answers and a new kind answers by being in the table. An unknown type is an error, as is an
// unknown ID (the kind's not-found error).
func (v View) ResourceTags(typ, id string) (model.Tags, error) {
	k := kindByType[typ]
	if k == nil {
		return nil, fmt.Errorf("resource tags: no taggable resource type %q", typ)
	}
	return k.tagsOf(v.tn, id)
}

// Tagged lists every resource that has tags, in ID order, with its EC2 resource type.
func (v View) Tagged() []TaggedResource {
	var out []TaggedResource
	for _, k := range kinds {
		k.tagged(v.tn, func(id, typ string, tags model.Tags) {
			if len(tags) > 0 && (typ != "instance" || !v.tn.expired(v.tn.instances[id])) {
				out = append(out, TaggedResource{id, typ, tags})
			}
		})
	}
	slices.SortFunc(out, func(a, b TaggedResource) int { return strings.Compare(a.ID, b.ID) })
	return out
}
