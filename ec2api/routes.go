package ec2api

// routes is the table of every action the API serves, one line each, grouped by family. A
// handler is a plain function of the call: everything it needs (the service, the tenant, the
// request, the server's configuration) comes through c.
var routes = map[string]handler{
	// VPCs and subnets (vpc.go, subnet.go)
	"CreateVpc":       createVpc,
	"DeleteVpc":       deleteVpc,
	"DescribeVpcs":    describeVpcs.serve,
	"CreateSubnet":    createSubnet,
	"DeleteSubnet":    deleteSubnet,
	"DescribeSubnets": describeSubnets.serve,
	// VPC blocks and attributes (vpccidr.go)
	"AssociateVpcCidrBlock":    associateVpcCidrBlock,
	"DisassociateVpcCidrBlock": disassociateVpcCidrBlock,
	"DescribeVpcAttribute":     describeVpcAttribute,
	"ModifyVpcAttribute":       modifyVpcAttribute,
	// DHCP option sets and the default VPC (dhcp.go)
	"CreateDhcpOptions":    createDhcpOptions,
	"AssociateDhcpOptions": associateDhcpOptions,
	"DescribeDhcpOptions":  describeDhcpOptions.serve,
	"DeleteDhcpOptions":    deleteDhcpOptions,
	"CreateDefaultVpc":     createDefaultVpc,
	// Subnet blocks, default subnets and CIDR reservations (subnetcidr.go)
	"AssociateSubnetCidrBlock":    associateSubnetCidrBlock,
	"DisassociateSubnetCidrBlock": disassociateSubnetCidrBlock,
	"CreateDefaultSubnet":         createDefaultSubnet,
	"CreateSubnetCidrReservation": createSubnetCidrReservation,
	"DeleteSubnetCidrReservation": deleteSubnetCidrReservation,
	"GetSubnetCidrReservations":   getSubnetCidrReservations,

	// Elastic IPs and NAT gateways (addresses.go)
	"AllocateAddress":       allocateAddress,
	"AssociateAddress":      associateAddress,
	"DisassociateAddress":   disassociateAddress,
	"ReleaseAddress":        releaseAddress,
	"DescribeAddresses":     describeAddresses.serve,
	"ModifySubnetAttribute": modifySubnetAttribute,
	"CreateNatGateway":      createNatGateway,
	"DeleteNatGateway":      deleteNatGateway,
	"DescribeNatGateways":   describeNatGateways.serve,

	// Security groups and rules (group.go, rules.go, permission.go)
	"CreateSecurityGroup":                        createSecurityGroup,
	"DeleteSecurityGroup":                        deleteSecurityGroup,
	"DescribeSecurityGroups":                     describeSecurityGroups.serve,
	"DescribeSecurityGroupRules":                 describeSecurityGroupRules.serve,
	"AuthorizeSecurityGroupIngress":              authorizeIngress,
	"AuthorizeSecurityGroupEgress":               authorizeEgress,
	"RevokeSecurityGroupIngress":                 revokeIngress,
	"RevokeSecurityGroupEgress":                  revokeEgress,
	"ModifySecurityGroupRules":                   modifySecurityGroupRules,
	"UpdateSecurityGroupRuleDescriptionsIngress": updateDescriptionsIngress,
	"UpdateSecurityGroupRuleDescriptionsEgress":  updateDescriptionsEgress,
	"DescribeSecurityGroupReferences":            describeSecurityGroupReferences,
	"DescribeStaleSecurityGroups":                describeStaleSecurityGroups,

	// Network interfaces and instances (interfaces.go, instances.go)
	"CreateNetworkInterface":          createNetworkInterface,
	"DeleteNetworkInterface":          deleteNetworkInterface,
	"DescribeNetworkInterfaces":       describeNetworkInterfaces.serve,
	"ModifyNetworkInterfaceAttribute": modifyNetworkInterfaceAttribute,
	"AttachNetworkInterface":          attachNetworkInterface,     // eniattach.go
	"DetachNetworkInterface":          detachNetworkInterface,     // eniattach.go
	"AssignPrivateIpAddresses":        assignPrivateIpAddresses,   // eniattach.go
	"UnassignPrivateIpAddresses":      unassignPrivateIpAddresses, // eniattach.go
	"AssignIpv6Addresses":             assignIpv6Addresses,        // eniattach.go
	"UnassignIpv6Addresses":           unassignIpv6Addresses,      // eniattach.go
	"RunInstances":                    runInstances,
	"DescribeInstances":               describeInstances.serve,
	"TerminateInstances":              terminateInstances,
	"ModifyInstanceAttribute":         modifyInstanceAttribute,
	"DescribeInstanceAttribute":       describeInstanceAttribute,
	"GetConsoleOutput":                getConsoleOutput,
	"ModifyInstanceMetadataOptions":   modifyInstanceMetadataOptions, // metadata.go
	"StopInstances":                   stopInstances,                 // lifecycle.go
	"StartInstances":                  startInstances,                // lifecycle.go
	"RebootInstances":                 rebootInstances,               // lifecycle.go
	"DescribeInstanceStatus":          describeInstanceStatus.serve,  // instancestatus.go

	// Launch templates (launchtemplates.go)
	"CreateLaunchTemplate":           createLaunchTemplate,
	"CreateLaunchTemplateVersion":    createLaunchTemplateVersion,
	"ModifyLaunchTemplate":           modifyLaunchTemplate,
	"DeleteLaunchTemplate":           deleteLaunchTemplate,
	"DeleteLaunchTemplateVersions":   deleteLaunchTemplateVersions,
	"DescribeLaunchTemplates":        describeLaunchTemplates.serve,
	"DescribeLaunchTemplateVersions": describeLaunchTemplateVersions,

	// Flow-log definitions (flowlogs.go)
	"CreateFlowLogs":   createFlowLogs,
	"DeleteFlowLogs":   deleteFlowLogs,
	"DescribeFlowLogs": describeFlowLogs.serve,

	// Route tables and routes (routetables.go)
	"CreateRouteTable":             createRouteTable,
	"DeleteRouteTable":             deleteRouteTable,
	"DescribeRouteTables":          describeRouteTables.serve,
	"CreateRoute":                  createRoute,
	"ReplaceRoute":                 replaceRoute,
	"DeleteRoute":                  deleteRoute,
	"AssociateRouteTable":          associateRouteTable,
	"DisassociateRouteTable":       disassociateRouteTable,
	"ReplaceRouteTableAssociation": replaceRouteTableAssociation,

	// Dedicated Hosts and instance placement (hosts.go)
	"AllocateHosts":           allocateHosts,
	"DescribeHosts":           describeHosts.serve,
	"ReleaseHosts":            releaseHosts,
	"ModifyInstancePlacement": modifyInstancePlacement,

	// Internet gateways and egress-only internet gateways (igw.go)
	"CreateInternetGateway":              createInternetGateway,
	"AttachInternetGateway":              attachInternetGateway,
	"DetachInternetGateway":              detachInternetGateway,
	"DeleteInternetGateway":              deleteInternetGateway,
	"DescribeInternetGateways":           describeInternetGateways.serve,
	"CreateEgressOnlyInternetGateway":    createEgressOnlyInternetGateway,
	"DeleteEgressOnlyInternetGateway":    deleteEgressOnlyInternetGateway,
	"DescribeEgressOnlyInternetGateways": describeEgressOnlyInternetGateways.serve,

	// Network ACLs (nacls.go)
	"CreateNetworkAcl":             createNetworkAcl,
	"DeleteNetworkAcl":             deleteNetworkAcl,
	"DescribeNetworkAcls":          describeNetworkAcls.serve,
	"CreateNetworkAclEntry":        createNetworkAclEntry,
	"ReplaceNetworkAclEntry":       replaceNetworkAclEntry,
	"DeleteNetworkAclEntry":        deleteNetworkAclEntry,
	"ReplaceNetworkAclAssociation": replaceNetworkAclAssociation,

	// Managed prefix lists (prefixlists.go)
	"CreateManagedPrefixList":          createManagedPrefixList,
	"ModifyManagedPrefixList":          modifyManagedPrefixList,
	"DeleteManagedPrefixList":          deleteManagedPrefixList,
	"DescribeManagedPrefixLists":       describeManagedPrefixLists.serve,
	"GetManagedPrefixListEntries":      getManagedPrefixListEntries,
	"GetManagedPrefixListAssociations": getManagedPrefixListAssociations,
	"DescribePrefixLists":              describePrefixLists.serve,

	// Reachability: Network Insights paths and analyses (insights.go)
	"CreateNetworkInsightsPath":       createNetworkInsightsPath,
	"DeleteNetworkInsightsPath":       deleteNetworkInsightsPath,
	"DescribeNetworkInsightsPaths":    describeNetworkInsightsPaths.serve,
	"StartNetworkInsightsAnalysis":    startNetworkInsightsAnalysis,
	"DescribeNetworkInsightsAnalyses": describeNetworkInsightsAnalyses.serve,
	"DeleteNetworkInsightsAnalysis":   deleteNetworkInsightsAnalysis,

	// Tags, key pairs, account (tags.go, keypair.go, account.go)
	"CreateTags":                createTags,
	"DeleteTags":                deleteTags,
	"DescribeTags":              describeTags.serve,
	"CreateKeyPair":             createKeyPair,
	"ImportKeyPair":             importKeyPair,
	"DescribeKeyPairs":          describeKeyPairs.serve,
	"DescribeImages":            describeImages.serve,
	"DeleteKeyPair":             deleteKeyPair,
	"DescribeAccountAttributes": describeAccountAttributes,
	"DescribeAvailabilityZones": describeAvailabilityZones,
	"DescribeRegions":           describeRegions,
}
