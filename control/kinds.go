package control

import (
	"fmt"
	"maps"
	"slices"

	"github.com/stockade/stockade/model"
)

// kind is one resource kind's entry in the table that every kind-generic operation reads:
// creating a tenant's maps, loading its records at start, tagging by ID, reading a resource's
// tags for authorization and listing what is tagged. Adding a resource kind is a map in tenant
// and one entry in kinds.
type kind interface {
	storeKind() string    // the record kind in store keys
	idPrefix() string     // the ID prefix that routes a tag request to it; "" for none
	resourceType() string // EC2's resource type ("route-table"); "" if untaggable
	init(tn *tenant)
	// decode reads a stored record (any goroutine: it touches no tenant); put adds what it
	// returned to the tenant's map.
	decode(b []byte) (any, error)
	put(tn *tenant, id string, v any)
	// taggable returns a resource's tags and a function that stages a copy of it with new tags.
	taggable(tx *tx, id string) (model.Tags, func(model.Tags), error)
	// tagsOf returns a resource's tags, read-only, with the kind's not-found error.
	tagsOf(tn *tenant, id string) (model.Tags, error)
	// stageAll stages every record of this kind that the transaction has not staged already
	// (a tenant's first write commits what it held in memory only).
	stageAll(tx *tx)
	// tagged calls add for each of the tenant's resources of this kind, in ID order.
	tagged(tn *tenant, add func(id, typ string, tags model.Tags))
}

// resource is a kind kept in one map of the tenant, by ID, as immutable objects.
type resource[T any] struct {
	kind, prefix string
	tagType      string                                  // EC2's resource type in DescribeTags; "" if untaggable
	m            func(tn *tenant) *map[string]*T         // the tenant's map of this kind
	get          func(tn *tenant, id string) (*T, error) // lookup with EC2's malformed/not-found errors
	tags         func(*T) model.Tags
	withTags     func(*T, model.Tags) *T // a copy with other tags (copy on write)
	loaded       func(*T)                // optional: compacts a decoded record
}

func (r resource[T]) storeKind() string    { return r.kind }
func (r resource[T]) idPrefix() string     { return r.prefix }
func (r resource[T]) resourceType() string { return r.tagType }
func (r resource[T]) init(tn *tenant)      { *r.m(tn) = map[string]*T{} }

func (r resource[T]) tagsOf(tn *tenant, id string) (model.Tags, error) {
	v, err := r.get(tn, id)
	if err != nil {
		return nil, err
	}
	return r.tags(v), nil
}

func (r resource[T]) decode(b []byte) (any, error) {
	v, err := decode[T](b)
	if err != nil {
		return nil, err
	}
	if r.loaded != nil {
		r.loaded(v)
	}
	return v, nil
}

func (r resource[T]) put(tn *tenant, id string, v any) { (*r.m(tn))[id] = v.(*T) }

func (r resource[T]) taggable(tx *tx, id string) (model.Tags, func(model.Tags), error) {
	v, err := r.get(tx.tn, id)
	if err != nil {
		return nil, nil, err
	}
	return r.tags(v), func(tags model.Tags) { set(tx, *r.m(tx.tn), r.kind, id, r.withTags(v, tags)) }, nil
}

func (r resource[T]) stageAll(tx *tx) {
	m := *r.m(tx.tn)
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if _, ok := tx.ops[storeKey(tx.tn.key, r.kind, id)]; !ok {
			tx.stage(r.kind, id, m[id])
		}
	}
}

func (r resource[T]) tagged(tn *tenant, add func(id, typ string, tags model.Tags)) {
	if r.tagType == "" {
		return
	}
	m := *r.m(tn)
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		add(id, r.tagType, r.tags(m[id]))
	}
}

// find looks an object up by ID: a well-formed unknown ID is notFound, and — where the kind has
// an ID prefix and a malformed code — an ID of the wrong shape is malformed, as EC2 answers.
func find[T any](m map[string]*T, id, prefix string, malformed, notFound *model.Code) (*T, error) {
	if v := m[id]; v != nil {
		return v, nil
	}
	if malformed != nil && !model.ValidID(prefix, id) {
		return nil, malformed.New(id)
	}
	return nil, notFound.New(id)
}

// kinds is the resource-kind table. Its order is the order of DescribeTags' kinds.
var kinds = []kind{
	resource[model.VPC]{kind: kindVPC, prefix: model.PrefixVPC, tagType: "vpc",
		m:        func(tn *tenant) *map[string]*model.VPC { return &tn.vpcs },
		get:      (*tenant).vpc,
		tags:     func(v *model.VPC) model.Tags { return v.Tags },
		withTags: func(v *model.VPC, t model.Tags) *model.VPC { c := v.Clone(); c.Tags = t; return c }},
	resource[model.Subnet]{kind: kindSubnet, prefix: model.PrefixSubnet, tagType: "subnet",
		m:        func(tn *tenant) *map[string]*model.Subnet { return &tn.subnets },
		get:      (*tenant).subnet,
		tags:     func(v *model.Subnet) model.Tags { return v.Tags },
		withTags: func(v *model.Subnet, t model.Tags) *model.Subnet { c := v.Clone(); c.Tags = t; return c }},
	groups,
	resource[model.NetworkInterface]{kind: kindENI, prefix: model.PrefixENI, tagType: "network-interface",
		m:    func(tn *tenant) *map[string]*model.NetworkInterface { return &tn.enis },
		get:  (*tenant).eni,
		tags: func(v *model.NetworkInterface) model.Tags { return v.Tags },
		withTags: func(v *model.NetworkInterface, t model.Tags) *model.NetworkInterface {
			c := v.Clone()
			c.Tags = t
			return c
		}},
	resource[model.Instance]{kind: kindInstance, prefix: model.PrefixInstance, tagType: "instance",
		m:        func(tn *tenant) *map[string]*model.Instance { return &tn.instances },
		get:      (*tenant).instance,
		tags:     func(v *model.Instance) model.Tags { return v.Tags },
		withTags: func(v *model.Instance, t model.Tags) *model.Instance { c := v.Clone(); c.Tags = t; return c }},
	resource[model.KeyPair]{kind: kindKeyPair, prefix: model.PrefixKeyPair, tagType: "key-pair",
		m: func(tn *tenant) *map[string]*model.KeyPair { return &tn.keyPairs },
		get: func(tn *tenant, id string) (*model.KeyPair, error) {
			return find(tn.keyPairs, id, "", nil, model.InvalidKeyPairNotFound)
		},
		tags:     func(v *model.KeyPair) model.Tags { return v.Tags },
		withTags: func(v *model.KeyPair, t model.Tags) *model.KeyPair { c := v.Clone(); c.Tags = t; return c }},
	resource[model.FlowLog]{kind: kindFlowLog, prefix: model.PrefixFlowLog, tagType: "vpc-flow-log",
		m: func(tn *tenant) *map[string]*model.FlowLog { return &tn.flowLogs },
		get: func(tn *tenant, id string) (*model.FlowLog, error) {
			return find(tn.flowLogs, id, "", nil, model.InvalidFlowLogIdNotFound)
		},
		tags:     func(v *model.FlowLog) model.Tags { return v.Tags },
		withTags: func(v *model.FlowLog, t model.Tags) *model.FlowLog { c := *v; c.Tags = t; return &c }},
	resource[model.NACL]{kind: kindNACL, prefix: model.PrefixNACL, tagType: "network-acl",
		m:        func(tn *tenant) *map[string]*model.NACL { return &tn.nacls },
		get:      (*tenant).nacl,
		tags:     func(v *model.NACL) model.Tags { return v.Tags },
		withTags: func(v *model.NACL, t model.Tags) *model.NACL { c := v.Clone(); c.Tags = t; return c }},
	resource[model.PrefixList]{kind: kindPrefixList, prefix: model.PrefixPrefixList, tagType: "prefix-list",
		m:        func(tn *tenant) *map[string]*model.PrefixList { return &tn.prefixLists },
		get:      (*tenant).ownPrefixList,
		tags:     func(v *model.PrefixList) model.Tags { return v.Tags },
		withTags: func(v *model.PrefixList, t model.Tags) *model.PrefixList { c := v.Clone(); c.Tags = t; return c }},
	resource[model.InsightsPath]{kind: kindPath, prefix: model.PrefixInsightsPath, tagType: "network-insights-path",
		m:        func(tn *tenant) *map[string]*model.InsightsPath { return &tn.paths },
		get:      (*tenant).path,
		tags:     func(v *model.InsightsPath) model.Tags { return v.Tags },
		withTags: func(v *model.InsightsPath, t model.Tags) *model.InsightsPath { c := *v; c.Tags = t; return &c }},
	resource[model.InsightsAnalysis]{kind: kindAnalysis, prefix: model.PrefixAnalysis, tagType: "network-insights-analysis",
		m:        func(tn *tenant) *map[string]*model.InsightsAnalysis { return &tn.analyses },
		get:      (*tenant).analysis,
		tags:     func(v *model.InsightsAnalysis) model.Tags { return v.Tags },
		withTags: func(v *model.InsightsAnalysis, t model.Tags) *model.InsightsAnalysis { c := *v; c.Tags = t; return &c }},
	resource[model.Address]{kind: kindAddress, prefix: model.PrefixAllocation, tagType: "elastic-ip",
		m:        func(tn *tenant) *map[string]*model.Address { return &tn.addresses },
		get:      (*tenant).address,
		tags:     func(v *model.Address) model.Tags { return v.Tags },
		withTags: func(v *model.Address, t model.Tags) *model.Address { c := v.Clone(); c.Tags = t; return c }},
	resource[model.NATGateway]{kind: kindNATGateway, prefix: model.PrefixNATGateway, tagType: "natgateway",
		m:        func(tn *tenant) *map[string]*model.NATGateway { return &tn.natGateways },
		get:      (*tenant).natGateway,
		tags:     func(v *model.NATGateway) model.Tags { return v.Tags },
		withTags: func(v *model.NATGateway, t model.Tags) *model.NATGateway { c := v.Clone(); c.Tags = t; return c }},
	resource[model.RouteTable]{kind: kindRouteTable, prefix: model.PrefixRouteTable, tagType: "route-table",
		m:        func(tn *tenant) *map[string]*model.RouteTable { return &tn.routeTables },
		get:      (*tenant).routeTable,
		tags:     func(v *model.RouteTable) model.Tags { return v.Tags },
		withTags: func(v *model.RouteTable, t model.Tags) *model.RouteTable { c := v.Clone(); c.Tags = t; return c }},
	resource[model.InternetGateway]{kind: kindIGW, prefix: model.PrefixIGW, tagType: "internet-gateway",
		m:    func(tn *tenant) *map[string]*model.InternetGateway { return &tn.igws },
		get:  (*tenant).igw,
		tags: func(v *model.InternetGateway) model.Tags { return v.Tags },
		withTags: func(v *model.InternetGateway, t model.Tags) *model.InternetGateway {
			c := v.Clone()
			c.Tags = t
			return c
		}},
	resource[model.EgressOnlyIGW]{kind: kindEIGW, prefix: model.PrefixEgressIGW, tagType: "egress-only-internet-gateway",
		m:        func(tn *tenant) *map[string]*model.EgressOnlyIGW { return &tn.eigws },
		get:      (*tenant).eigw,
		tags:     func(v *model.EgressOnlyIGW) model.Tags { return v.Tags },
		withTags: func(v *model.EgressOnlyIGW, t model.Tags) *model.EgressOnlyIGW { c := v.Clone(); c.Tags = t; return c }},
	resource[model.DhcpOptions]{kind: kindDhcp, prefix: model.PrefixDhcpOptions, tagType: "dhcp-options",
		m:        func(tn *tenant) *map[string]*model.DhcpOptions { return &tn.dhcpOptions },
		get:      (*tenant).dhcp,
		tags:     func(v *model.DhcpOptions) model.Tags { return v.Tags },
		withTags: func(v *model.DhcpOptions, t model.Tags) *model.DhcpOptions { c := v.Clone(); c.Tags = t; return c }},
	resource[model.SubnetCIDRReservation]{kind: kindReservation, prefix: model.PrefixSubnetCidrReservation, tagType: "subnet-cidr-reservation",
		m:    func(tn *tenant) *map[string]*model.SubnetCIDRReservation { return &tn.reservations },
		get:  (*tenant).reservation,
		tags: func(v *model.SubnetCIDRReservation) model.Tags { return v.Tags },
		withTags: func(v *model.SubnetCIDRReservation, t model.Tags) *model.SubnetCIDRReservation {
			c := v.Clone()
			c.Tags = t
			return c
		}},
	resource[clientToken]{kind: kindToken,
		m: func(tn *tenant) *map[string]*clientToken { return &tn.tokens }},
	rules{},
	resource[model.LaunchTemplate]{kind: kindLT, prefix: model.PrefixLaunchTemplate, tagType: "launch-template",
		m:    func(tn *tenant) *map[string]*model.LaunchTemplate { return &tn.lts },
		get:  (*tenant).launchTemplate,
		tags: func(v *model.LaunchTemplate) model.Tags { return v.Tags },
		withTags: func(v *model.LaunchTemplate, t model.Tags) *model.LaunchTemplate {
			c := v.Clone()
			c.Tags = t
			return c
		}},
	resource[model.LaunchTemplateVersion]{kind: kindLTVersion,
		m: func(tn *tenant) *map[string]*model.LaunchTemplateVersion { return &tn.ltVersions }},
	resource[model.DedicatedHost]{kind: kindHost, prefix: model.PrefixHost, tagType: "dedicated-host",
		m:        func(tn *tenant) *map[string]*model.DedicatedHost { return &tn.dhosts },
		get:      (*tenant).dedicatedHost,
		tags:     func(v *model.DedicatedHost) model.Tags { return v.Tags },
		withTags: func(v *model.DedicatedHost, t model.Tags) *model.DedicatedHost { c := v.Clone(); c.Tags = t; return c }},
}

// groups is the security-group kind; rules, tagged inside their group, refer to it.
var groups = resource[model.Group]{kind: kindGroup, prefix: model.PrefixGroup, tagType: "security-group",
	m:        func(tn *tenant) *map[string]*model.Group { return &tn.groups },
	get:      (*tenant).group,
	tags:     func(v *model.Group) model.Tags { return v.Tags },
	withTags: func(v *model.Group, t model.Tags) *model.Group { c := v.Clone(); c.Tags = t; return c },
	loaded:   compactGroup}

// rules is the one kind without a map of its own: a rule is stored and tagged inside its group.
type rules struct{}

func (rules) storeKind() string    { return "" }
func (rules) idPrefix() string     { return model.PrefixRule }
func (rules) resourceType() string { return "security-group-rule" }
func (rules) init(*tenant)         {}
func (rules) stageAll(*tx)         {}
func (rules) decode([]byte) (any, error) {
	return nil, fmt.Errorf("rules are stored in their group")
}
func (rules) put(*tenant, string, any) {}

func (rules) taggable(tx *tx, id string) (model.Tags, func(model.Tags), error) {
	tn := tx.tn
	g, egress, i, err := findRule(tn, id)
	if err != nil {
		return nil, nil, err
	}
	gid := g.ID
	return g.Rules(egress)[i].Tags, func(tags model.Tags) {
		c := tn.groups[gid].Clone()
		c.Rules(egress)[c.FindRule(egress, id)].Tags = tags
		set(tx, tn.groups, kindGroup, gid, c)
	}, nil
}

func (rules) tagsOf(tn *tenant, id string) (model.Tags, error) {
	g, egress, i, err := findRule(tn, id)
	if err != nil {
		return nil, err
	}
	return g.Rules(egress)[i].Tags, nil
}

// findRule finds a rule by ID in whichever group holds it.
func findRule(tn *tenant, id string) (g *model.Group, egress bool, i int, err error) {
	for _, g := range tn.groups {
		for _, egress := range []bool{false, true} {
			if i := g.FindRule(egress, id); i >= 0 {
				return g, egress, i, nil
			}
		}
	}
	return nil, false, -1, model.InvalidSecurityGroupRuleIdNotFound.New(id)
}

func (rules) tagged(tn *tenant, add func(id, typ string, tags model.Tags)) {
	ids := make([]string, 0, len(tn.groups))
	for id := range tn.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := tn.groups[id]
		for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
			for _, r := range rs {
				add(r.ID, "security-group-rule", r.Tags)
			}
		}
	}
}

// kindByStore, kindByPrefix and kindByType index the table.
var kindByStore, kindByPrefix, kindByType = func() (map[string]kind, map[string]kind, map[string]kind) {
	byStore, byPrefix, byType := map[string]kind{}, map[string]kind{}, map[string]kind{}
	for _, k := range kinds {
		if s := k.storeKind(); s != "" {
			byStore[s] = k
		}
		if p := k.idPrefix(); p != "" {
			byPrefix[p] = k
		}
		if t := k.resourceType(); t != "" {
			byType[t] = k
		}
	}
	return byStore, byPrefix, byType
}()
