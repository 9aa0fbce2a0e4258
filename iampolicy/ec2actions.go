package iampolicy

import (
	"sort"
	"strings"
)

// The EC2 authorization table: for every EC2 action Stockade serves (the list in
// ec2api/query/internal/gen/main.go), the resources the call is authorized against and the
// condition keys each supplies. Source: the Service Authorization Reference for EC2,
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html, as
// summarised in shared/spec/trail-iam.md §6.5 (security-group rows checked there against
// iann0036/iam-dataset). Rows outside §6.5 follow the reference's regular pattern (create:
// the new resource with request tags plus its parents; modify/delete: the resource;
// Describe*: none) and are [UNCONFIRMED] row by row: the reference could not be read in full
// here.

// EC2Resource is one resource an EC2 call is authorized against.
type EC2Resource struct {
	// Type is the reference's resource type ("security-group", "security-group-rule", …).
	Type string
	// ARN is arn:aws:ec2:<region>:<account>:<type>/<id>, or …/<type>/* for a resource the
	// call creates (the wiring may substitute the allocated ID first, §6.5's [STOCKADE] note
	// for CreateSecurityGroup) or that the request names only by name (Param says which).
	ARN string
	// Param is the request parameter the ID came from ("GroupId", "InstanceId.2"), or the
	// name parameter the wiring must resolve to an ID (GroupName); "" for new resources.
	Param string
	// Required is the reference's "*": the call always needs it.
	Required bool
	// New marks a resource the call creates: it carries aws:RequestTag/… and aws:TagKeys, and
	// the keys of the VPC or subnet it goes into (ec2:Vpc, ec2:Subnet) when the call names one.
	New bool
	// Default marks a parent the request did not name because the call uses the tenant's
	// default one (CreateSecurityGroup without VpcId creates in the default VPC): its ARN ends
	// in "/*" and the wiring authorizes the default resource's ARN instead, so that a policy
	// naming one VPC cannot be sidestepped by omitting VpcId.
	Default bool
	// Keys are the condition keys the resource supplies; the wiring fills their values.
	Keys []string
}

type ec2ResSpec struct {
	typ   string
	param string // ID parameter; ".N" suffix for lists
	name  string // name parameter used when param is absent
	req   bool
	isNew bool
	when  string // the resource is authorized only when a parameter with this prefix is present
	dflt  bool   // absent from the request: the tenant's default resource of the type
}

func res(typ, param string) ec2ResSpec { return ec2ResSpec{typ: typ, param: param, req: true} }
func opt(typ, param string) ec2ResSpec { return ec2ResSpec{typ: typ, param: param} }
func created(typ string) ec2ResSpec    { return ec2ResSpec{typ: typ, req: true, isNew: true} }
func taggedRule(typ string) ec2ResSpec {
	return ec2ResSpec{typ: typ, isNew: true, when: "TagSpecification."}
}
func byName(s ec2ResSpec, n string) ec2ResSpec { s.name = n; return s }
func orDefault(s ec2ResSpec) ec2ResSpec        { s.dflt = true; return s }

// ec2Actions: actions absent here (Describe*, and the other reads the reference lists
// without a resource type) are authorized against "*".
var ec2Actions = map[string][]ec2ResSpec{
	"CreateVpc":           {created("vpc")},
	"DeleteVpc":           {res("vpc", "VpcId")},
	"CreateSubnet":        {created("subnet"), res("vpc", "VpcId")},
	"DeleteSubnet":        {res("subnet", "SubnetId")},
	"CreateSecurityGroup": {created("security-group"), orDefault(opt("vpc", "VpcId"))},
	"DeleteSecurityGroup": {byName(res("security-group", "GroupId"), "GroupName")},
	"AuthorizeSecurityGroupIngress": {byName(res("security-group", "GroupId"), "GroupName"),
		taggedRule("security-group-rule")},
	"AuthorizeSecurityGroupEgress":               {res("security-group", "GroupId"), taggedRule("security-group-rule")},
	"RevokeSecurityGroupIngress":                 {byName(res("security-group", "GroupId"), "GroupName")},
	"RevokeSecurityGroupEgress":                  {res("security-group", "GroupId")},
	"ModifySecurityGroupRules":                   {res("security-group", "GroupId"), res("security-group-rule", "SecurityGroupRule.N.SecurityGroupRuleId"), opt("prefix-list", "SecurityGroupRule.N.SecurityGroupRule.PrefixListId")},
	"UpdateSecurityGroupRuleDescriptionsIngress": {byName(res("security-group", "GroupId"), "GroupName")},
	"UpdateSecurityGroupRuleDescriptionsEgress":  {byName(res("security-group", "GroupId"), "GroupName")},
	"DescribeSecurityGroupReferences":            {res("security-group", "GroupId.N")},
	"CreateNetworkInterface":                     {created("network-interface"), res("subnet", "SubnetId"), opt("security-group", "SecurityGroupId.N")},
	"DeleteNetworkInterface":                     {res("network-interface", "NetworkInterfaceId")},
	"ModifyNetworkInterfaceAttribute":            {res("network-interface", "NetworkInterfaceId"), opt("security-group", "SecurityGroupId.N")},
	"AttachNetworkInterface":                     {res("network-interface", "NetworkInterfaceId"), res("instance", "InstanceId")},
	"DetachNetworkInterface":                     {opt("network-interface", "NetworkInterfaceId"), opt("instance", "InstanceId")},
	"AssignPrivateIpAddresses":                   {res("network-interface", "NetworkInterfaceId")},
	"UnassignPrivateIpAddresses":                 {res("network-interface", "NetworkInterfaceId")},
	"AssignIpv6Addresses":                        {res("network-interface", "NetworkInterfaceId")},
	"UnassignIpv6Addresses":                      {res("network-interface", "NetworkInterfaceId")},
	"RunInstances":                               {created("instance"), created("network-interface"), created("volume"), opt("image", "ImageId"), orDefault(opt("subnet", "SubnetId")), opt("security-group", "SecurityGroupId.N"), opt("key-pair", "KeyName"), opt("launch-template", "LaunchTemplate.LaunchTemplateId")},
	"TerminateInstances":                         {res("instance", "InstanceId.N")},
	"StopInstances":                              {res("instance", "InstanceId.N")},
	"StartInstances":                             {res("instance", "InstanceId.N")},
	"RebootInstances":                            {res("instance", "InstanceId.N")},
	"ModifyInstanceAttribute":                    {res("instance", "InstanceId"), opt("security-group", "GroupId.N")},
	"AllocateHosts":                              {created("dedicated-host")},
	"ReleaseHosts":                               {res("dedicated-host", "HostId.N")},
	"ModifyInstancePlacement":                    {res("instance", "InstanceId"), opt("dedicated-host", "HostId")},
	"DescribeInstanceAttribute":                  {res("instance", "InstanceId")},
	"GetConsoleOutput":                           {res("instance", "InstanceId")},
	"ModifyInstanceMetadataOptions":              {res("instance", "InstanceId")},
	"CreateLaunchTemplate":                       {created("launch-template")},
	"CreateLaunchTemplateVersion":                {byName(res("launch-template", "LaunchTemplateId"), "LaunchTemplateName")},
	"ModifyLaunchTemplate":                       {byName(res("launch-template", "LaunchTemplateId"), "LaunchTemplateName")},
	"DeleteLaunchTemplate":                       {byName(res("launch-template", "LaunchTemplateId"), "LaunchTemplateName")},
	"DeleteLaunchTemplateVersions":               {byName(res("launch-template", "LaunchTemplateId"), "LaunchTemplateName")},
	"CreateKeyPair":                              {created("key-pair")},
	"ImportKeyPair":                              {created("key-pair")},
	"DeleteKeyPair":                              {byName(res("key-pair", "KeyPairId"), "KeyName")},
	"CreateTags":                                 {res("", "ResourceId.N")},
	"DeleteTags":                                 {res("", "ResourceId.N")},
	"CreateNetworkAcl":                           {created("network-acl"), res("vpc", "VpcId")},
	"DeleteNetworkAcl":                           {res("network-acl", "NetworkAclId")},
	"CreateNetworkAclEntry":                      {res("network-acl", "NetworkAclId")},
	"ReplaceNetworkAclEntry":                     {res("network-acl", "NetworkAclId")},
	"DeleteNetworkAclEntry":                      {res("network-acl", "NetworkAclId")},
	"ReplaceNetworkAclAssociation":               {res("network-acl", "NetworkAclId")},
	"CreateManagedPrefixList":                    {created("prefix-list")},
	"ModifyManagedPrefixList":                    {res("prefix-list", "PrefixListId")},
	"GetManagedPrefixListEntries":                {res("prefix-list", "PrefixListId")},
	"GetManagedPrefixListAssociations":           {res("prefix-list", "PrefixListId")},
	"DeleteManagedPrefixList":                    {res("prefix-list", "PrefixListId")},
	"CreateFlowLogs":                             {created("vpc-flow-log"), opt("vpc", "ResourceId.N")},
	"DeleteFlowLogs":                             {res("vpc-flow-log", "FlowLogId.N")},
	"AllocateAddress":                            {created("elastic-ip")},
	"AssociateAddress":                           {opt("elastic-ip", "AllocationId"), opt("instance", "InstanceId"), opt("network-interface", "NetworkInterfaceId")},
	"DisassociateAddress":                        {opt("elastic-ip", "AssociationId")},
	"ReleaseAddress":                             {res("elastic-ip", "AllocationId")},
	"ModifySubnetAttribute":                      {res("subnet", "SubnetId")},
	"CreateNatGateway":                           {created("natgateway"), res("subnet", "SubnetId"), opt("elastic-ip", "AllocationId")},
	"DeleteNatGateway":                           {res("natgateway", "NatGatewayId")},
	"CreateNetworkInsightsPath":                  {created("network-insights-path")},
	"DeleteNetworkInsightsPath":                  {res("network-insights-path", "NetworkInsightsPathId")},
	"StartNetworkInsightsAnalysis":               {created("network-insights-analysis"), res("network-insights-path", "NetworkInsightsPathId")},
	"DeleteNetworkInsightsAnalysis":              {res("network-insights-analysis", "NetworkInsightsAnalysisId")},
	"CreateRouteTable":                           {created("route-table"), res("vpc", "VpcId")},
	"DeleteRouteTable":                           {res("route-table", "RouteTableId")},
	"CreateRoute":                                {res("route-table", "RouteTableId")},
	"ReplaceRoute":                               {res("route-table", "RouteTableId")},
	"DeleteRoute":                                {res("route-table", "RouteTableId")},
	"AssociateRouteTable":                        {res("route-table", "RouteTableId"), opt("subnet", "SubnetId"), opt("internet-gateway", "GatewayId")},
	"DisassociateRouteTable":                     {res("route-table", "AssociationId")},
	"ReplaceRouteTableAssociation":               {res("route-table", "RouteTableId")},
	"CreateInternetGateway":                      {created("internet-gateway")},
	"AttachInternetGateway":                      {res("internet-gateway", "InternetGatewayId"), res("vpc", "VpcId")},
	"DetachInternetGateway":                      {res("internet-gateway", "InternetGatewayId"), res("vpc", "VpcId")},
	"DeleteInternetGateway":                      {res("internet-gateway", "InternetGatewayId")},
	"CreateEgressOnlyInternetGateway":            {created("egress-only-internet-gateway"), res("vpc", "VpcId")},
	"DeleteEgressOnlyInternetGateway":            {res("egress-only-internet-gateway", "EgressOnlyInternetGatewayId")},
	"AssociateVpcCidrBlock":                      {res("vpc", "VpcId")},
	"DisassociateVpcCidrBlock":                   {res("vpc", "AssociationId")},
	"ModifyVpcAttribute":                         {res("vpc", "VpcId")},
	"DescribeVpcAttribute":                       {res("vpc", "VpcId")},
	"CreateDefaultVpc":                           {created("vpc")},
	"CreateDhcpOptions":                          {created("dhcp-options")},
	"AssociateDhcpOptions":                       {res("dhcp-options", "DhcpOptionsId"), res("vpc", "VpcId")},
	"DeleteDhcpOptions":                          {res("dhcp-options", "DhcpOptionsId")},
	"AssociateSubnetCidrBlock":                   {res("subnet", "SubnetId")},
	"DisassociateSubnetCidrBlock":                {res("subnet", "AssociationId")},
	"CreateDefaultSubnet":                        {created("subnet")},
	"CreateSubnetCidrReservation":                {res("subnet", "SubnetId")},
	"DeleteSubnetCidrReservation":                {res("subnet", "SubnetCidrReservationId")},
	"GetSubnetCidrReservations":                  {res("subnet", "SubnetId")},
}

// idTypes maps an EC2 ID prefix to its resource type, for CreateTags/DeleteTags (whose
// ResourceId.N may name anything) and for association IDs that stand for their parent.
var idTypes = map[string]string{
	"sg": "security-group", "sgr": "security-group-rule", "vpc": "vpc", "subnet": "subnet",
	"eni": "network-interface", "i": "instance", "acl": "network-acl", "rtb": "route-table",
	"igw": "internet-gateway", "eigw": "egress-only-internet-gateway", "pl": "prefix-list",
	"nat": "natgateway", "eipalloc": "elastic-ip", "key": "key-pair", "lt": "launch-template",
	"dopt": "dhcp-options", "fl": "vpc-flow-log", "nip": "network-insights-path",
	"nia": "network-insights-analysis", "ami": "image", "vol": "volume", "snap": "snapshot",
}

// ec2Keys are the condition keys per resource type (the reference's resource-type table).
// ec2:ResourceTag/<k> and aws:ResourceTag/<k> are written with a ${TagKey} placeholder.
func ec2Keys(typ string, isNew bool) []string {
	keys := []string{"aws:ResourceTag/${TagKey}", "ec2:ResourceTag/${TagKey}", KeyEC2Region}
	if isNew {
		// ec2:Vpc (and ec2:Subnet) of the parent the call names, when it names one
		// [UNCONFIRMED row by row outside CreateSecurityGroup].
		keys = []string{"aws:RequestTag/${TagKey}", KeyTagKeys, KeyEC2Region, KeyEC2CreateAction, KeyEC2Vpc, KeyEC2Subnet}
	}
	switch typ {
	case "security-group":
		keys = append(keys, KeyEC2SecurityGroupID, KeyEC2Vpc)
	case "vpc":
		keys = append(keys, KeyEC2VpcID, KeyEC2Tenancy)
	case "subnet":
		keys = append(keys, KeyEC2Vpc, "ec2:SubnetID", "ec2:AvailabilityZone")
	case "network-interface":
		keys = append(keys, KeyEC2Vpc, KeyEC2Subnet, KeyEC2NetworkInterfaceID)
	case "instance":
		keys = append(keys, KeyEC2InstanceType, KeyEC2Tenancy)
	}
	return keys
}

// EC2Action reports whether the table covers action (the bare EC2 name).
func EC2Action(action string) bool {
	_, ok := ec2Actions[action]
	return ok || ec2ReadAction(action)
}

// ec2ReadAction: Describe* and the Get* reads without a resource type are authorized against
// "*" (§6.5).
func ec2ReadAction(action string) bool {
	return strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "Get")
}

// EC2Resources lists the resources an EC2 call (bare action name and its flattened Query
// parameters) is authorized against in region and account. An empty list means the literal
// "*" (Request.Resources left empty). ok is false for an action the table does not know.
func EC2Resources(action string, params map[string]string, region, account string) (out []EC2Resource, ok bool) {
	specs, known := ec2Actions[action]
	if !known {
		return nil, ec2ReadAction(action)
	}
	arn := func(typ, id string) string {
		return "arn:aws:ec2:" + region + ":" + account + ":" + typ + "/" + id
	}
	for _, s := range specs {
		if s.when != "" && !hasPrefixParam(params, s.when) {
			continue
		}
		if s.isNew {
			out = append(out, EC2Resource{Type: s.typ, ARN: arn(s.typ, "*"), Required: s.req, New: true, Keys: ec2Keys(s.typ, true)})
			continue
		}
		found := false
		for _, kv := range paramValues(params, s.param) {
			typ := s.typ
			if typ == "" {
				typ = typeOfID(kv[1])
			}
			out = append(out, EC2Resource{Type: typ, ARN: arn(typ, kv[1]), Param: kv[0], Required: s.req, Keys: ec2Keys(typ, false)})
			found = true
		}
		switch {
		case found:
		case s.name != "" && params[s.name] != "":
			out = append(out, EC2Resource{Type: s.typ, ARN: arn(s.typ, "*"), Param: s.name, Required: s.req, Keys: ec2Keys(s.typ, false)})
		case s.dflt:
			out = append(out, EC2Resource{Type: s.typ, ARN: arn(s.typ, "*"), Required: s.req, Default: true, Keys: ec2Keys(s.typ, false)})
		}
	}
	return out, true
}

func hasPrefixParam(params map[string]string, prefix string) bool {
	for k := range params {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// paramValues returns (key, value) pairs for a parameter pattern whose ".N" parts are list
// indices, in key order.
func paramValues(params map[string]string, pattern string) [][2]string {
	if !strings.Contains(pattern, ".N") {
		if v := params[pattern]; v != "" {
			return [][2]string{{pattern, v}}
		}
		return nil
	}
	var out [][2]string
	for k, v := range params {
		if v != "" && listKeyMatches(pattern, k) {
			out = append(out, [2]string{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func listKeyMatches(pattern, key string) bool {
	ps, ks := strings.Split(pattern, "."), strings.Split(key, ".")
	if len(ps) != len(ks) {
		return false
	}
	for i := range ps {
		if ps[i] == "N" {
			if ks[i] == "" || strings.Trim(ks[i], "0123456789") != "" {
				return false
			}
		} else if ps[i] != ks[i] {
			return false
		}
	}
	return true
}

func typeOfID(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	if t, ok := idTypes[prefix]; ok {
		return t
	}
	return "*"
}
