package control

import (
	"fmt"
	"strconv"
	"strings"
)

// Quotas are the per-account, per-region limits of spec §4, with AWS's defaults.
type Quotas struct {
	VPCs               int // VPCs per region
	SubnetsPerVPC      int
	SecurityGroups     int // VPC security groups per region
	RulesPerGroup      int // per direction and address family (the four-bucket rule)
	GroupsPerInterface int
	NetworkInterfaces  int
	KeyPairs           int
	PrefixLists        int // customer-managed prefix lists per region
	PrefixListEntries  int // the largest MaxEntries a list may have
	NACLsPerVPC        int
	NACLEntries        int // per direction and address family, catch-all deny included
	// FlowLogsPerResource is AWS's limit of flow logs on one VPC, subnet or interface
	// (FlowLogsLimitExceeded).
	FlowLogsPerResource int
	// InsightsPaths bounds a tenant's Network Insights paths (ResourceLimitExceeded). AWS's
	// Reachability Analyzer quota for paths could not be confirmed; 1,000 is Stockade's.
	InsightsPaths int
	// AnalysesPerPath bounds the analyses kept per path: starting one more deletes the path's
	// oldest, in the same transaction, rather than failing. AWS documents no such quota
	// (analyses are kept until deleted there); Stockade keeps a bounded history so that
	// repeated analyses of one path cannot grow a tenant without limit.
	AnalysesPerPath int
	// ElasticIPs is AWS's "EC2-VPC Elastic IPs" quota per region (AddressLimitExceeded).
	ElasticIPs int
	// PublicIPsPerAccount bounds the public addresses (Elastic IPs, public IPs on launch) one
	// account holds in all its regions (AddressLimitExceeded). It is Stockade's: the public pool
	// is shared by every account, and without it one account could take all of it.
	PublicIPsPerAccount int
	// NATGatewaysPerAZ is AWS's "NAT gateways per Availability Zone" quota
	// (NatGatewayLimitExceeded); deleted and failed gateways do not count.
	NATGatewaysPerAZ int
	// Routing (Amazon VPC quotas, "Route tables" and "Internet gateways"): non-propagated
	// routes per route table, counted apart for IPv4 and IPv6; route tables per VPC, the
	// main one included; internet gateways and egress-only internet gateways per region.
	RoutesPerTable    int
	RouteTablesPerVPC int
	InternetGateways  int
	EgressOnlyIGWs    int
	// LaunchTemplates per region and LaunchTemplateVersions per template (EC2 user guide,
	// "Launch template restrictions": 5,000 and 10,000).
	LaunchTemplates        int
	LaunchTemplateVersions int
	// VPCs and DHCP (Amazon VPC quotas): IPv4 CIDR blocks per VPC, the primary included
	// (CidrLimitExceeded); DHCP option sets per region (DhcpOptionsLimitExceeded).
	CIDRBlocksPerVPC int
	DhcpOptionSets   int
	// IPv6BlocksPerVPC is AWS's "IPv6 CIDR blocks per VPC" (CidrLimitExceeded).
	IPv6BlocksPerVPC int
}

// DefaultQuotas are AWS's defaults.
func DefaultQuotas() Quotas {
	return Quotas{
		VPCs:               5,
		SubnetsPerVPC:      200,
		SecurityGroups:     2500,
		RulesPerGroup:      60,
		GroupsPerInterface: 5,
		NetworkInterfaces:  5000,
		KeyPairs:           5000,
		PrefixLists:        100,
		PrefixListEntries:  1000,
		NACLsPerVPC:        200,
		NACLEntries:        20,

		FlowLogsPerResource: 2,
		InsightsPaths:       1000,
		AnalysesPerPath:     100,
		ElasticIPs:          5,
		PublicIPsPerAccount: 1024,
		NATGatewaysPerAZ:    5,

		RoutesPerTable:    50,
		RouteTablesPerVPC: 200,
		InternetGateways:  5,
		EgressOnlyIGWs:    5,

		LaunchTemplates:        5000,
		LaunchTemplateVersions: 10000,
		CIDRBlocksPerVPC:       5,
		DhcpOptionSets:         1000,
		IPv6BlocksPerVPC:       5,
	}
}

// quotaNames maps the names accepted by Set to their fields.
func (q *Quotas) fields() map[string]*int {
	return map[string]*int{
		"vpcs":                   &q.VPCs,
		"subnets-per-vpc":        &q.SubnetsPerVPC,
		"security-groups":        &q.SecurityGroups,
		"rules-per-group":        &q.RulesPerGroup,
		"groups-per-interface":   &q.GroupsPerInterface,
		"network-interfaces":     &q.NetworkInterfaces,
		"key-pairs":              &q.KeyPairs,
		"prefix-lists":           &q.PrefixLists,
		"prefix-list-entries":    &q.PrefixListEntries,
		"nacls-per-vpc":          &q.NACLsPerVPC,
		"nacl-entries":           &q.NACLEntries,
		"flow-logs-per-resource": &q.FlowLogsPerResource,
		"network-insights-paths": &q.InsightsPaths,
		"analyses-per-path":      &q.AnalysesPerPath,
		"elastic-ips":            &q.ElasticIPs,
		"public-ips-per-account": &q.PublicIPsPerAccount,
		"nat-gateways-per-az":    &q.NATGatewaysPerAZ,
		"routes-per-table":       &q.RoutesPerTable,
		"cidr-blocks-per-vpc":    &q.CIDRBlocksPerVPC,
		"dhcp-option-sets":       &q.DhcpOptionSets,
		"ipv6-blocks-per-vpc":    &q.IPv6BlocksPerVPC,
		"route-tables-per-vpc":   &q.RouteTablesPerVPC,
		"internet-gateways":      &q.InternetGateways,
		"egress-only-gateways":   &q.EgressOnlyIGWs,

		"launch-templates":         &q.LaunchTemplates,
		"launch-template-versions": &q.LaunchTemplateVersions,
	}
}

// Set parses one "name=value" quota override, as given to `stockade server --quota`.
func (q *Quotas) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	f := q.fields()[name]
	if !ok || f == nil {
		return fmt.Errorf("quota %q: want name=value with name one of %s", s, strings.Join(q.Names(), ", "))
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 {
		return fmt.Errorf("quota %q: value must be a positive integer", s)
	}
	*f = n
	return nil
}

// Names lists the quota names Set accepts.
func (q *Quotas) Names() []string {
	return []string{"vpcs", "subnets-per-vpc", "security-groups", "rules-per-group", "groups-per-interface", "network-interfaces", "key-pairs", "prefix-lists", "prefix-list-entries", "nacls-per-vpc", "nacl-entries", "flow-logs-per-resource", "network-insights-paths", "analyses-per-path", "elastic-ips", "public-ips-per-account", "nat-gateways-per-az",
		"routes-per-table", "route-tables-per-vpc", "internet-gateways", "egress-only-gateways",
		"launch-templates", "launch-template-versions",
		"cidr-blocks-per-vpc", "dhcp-option-sets", "ipv6-blocks-per-vpc"}
}

// Validate checks the quotas together: AWS caps rules-per-group × groups-per-interface at 1,000,
// so raising one must lower the other (spec §4).
func (q Quotas) Validate() error {
	if q.RulesPerGroup*q.GroupsPerInterface > 1000 {
		return fmt.Errorf("quotas: rules-per-group (%d) × groups-per-interface (%d) exceeds AWS's hard limit of 1000", q.RulesPerGroup, q.GroupsPerInterface)
	}
	if q.NACLEntries > 40 {
		return fmt.Errorf("quotas: nacl-entries %d exceeds AWS's ceiling of 40", q.NACLEntries)
	}
	if q.GroupsPerInterface > 16 {
		return fmt.Errorf("quotas: groups-per-interface %d exceeds AWS's ceiling of 16", q.GroupsPerInterface)
	}
	return nil
}
