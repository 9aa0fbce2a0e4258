package ec2api

// buildRoutes is the table of every action the API serves, one line each, grouped by family.
func (s *Server) buildRoutes() map[string]handler {
	return map[string]handler{
		// VPCs and subnets (vpc.go, subnet.go)
		"CreateVpc":       s.createVpc,
		"DeleteVpc":       s.deleteVpc,
		"DescribeVpcs":    s.describeVpcs,
		"CreateSubnet":    s.createSubnet,
		"DeleteSubnet":    s.deleteSubnet,
		"DescribeSubnets": s.describeSubnets,

		// Security groups and rules (groups.go, rules.go)
		"CreateSecurityGroup":                        s.createSecurityGroup,
		"DeleteSecurityGroup":                        s.deleteSecurityGroup,
		"DescribeSecurityGroups":                     s.describeSecurityGroups,
		"DescribeSecurityGroupRules":                 s.describeSecurityGroupRules,
		"AuthorizeSecurityGroupIngress":              s.authorizeIngress,
		"AuthorizeSecurityGroupEgress":               s.authorizeEgress,
		"RevokeSecurityGroupIngress":                 s.revokeIngress,
		"RevokeSecurityGroupEgress":                  s.revokeEgress,
		"ModifySecurityGroupRules":                   s.modifySecurityGroupRules,
		"UpdateSecurityGroupRuleDescriptionsIngress": s.updateDescriptionsIngress,
		"UpdateSecurityGroupRuleDescriptionsEgress":  s.updateDescriptionsEgress,
		"DescribeSecurityGroupReferences":            s.describeSecurityGroupReferences,
		"DescribeStaleSecurityGroups":                s.describeStaleSecurityGroups,

		// Network interfaces and instances (eni.go, instances.go)
		"CreateNetworkInterface":          s.createNetworkInterface,
		"DeleteNetworkInterface":          s.deleteNetworkInterface,
		"DescribeNetworkInterfaces":       s.describeNetworkInterfaces,
		"ModifyNetworkInterfaceAttribute": s.modifyNetworkInterfaceAttribute,
		"RunInstances":                    s.runInstances,
		"DescribeInstances":               s.describeInstances,
		"TerminateInstances":              s.terminateInstances,
		"ModifyInstanceAttribute":         s.modifyInstanceAttribute,
		"DescribeInstanceAttribute":       s.describeInstanceAttribute,
		"GetConsoleOutput":                s.getConsoleOutput,

		// Flow-log definitions (flowlogs.go)
		"CreateFlowLogs":   s.createFlowLogs,
		"DeleteFlowLogs":   s.deleteFlowLogs,
		"DescribeFlowLogs": s.describeFlowLogs,

		// Network ACLs (nacls.go)
		"CreateNetworkAcl":             s.createNetworkAcl,
		"DeleteNetworkAcl":             s.deleteNetworkAcl,
		"DescribeNetworkAcls":          s.describeNetworkAcls,
		"CreateNetworkAclEntry":        s.createNetworkAclEntry,
		"ReplaceNetworkAclEntry":       s.replaceNetworkAclEntry,
		"DeleteNetworkAclEntry":        s.deleteNetworkAclEntry,
		"ReplaceNetworkAclAssociation": s.replaceNetworkAclAssociation,

		// Managed prefix lists (prefixlists.go)
		"CreateManagedPrefixList":          s.createManagedPrefixList,
		"ModifyManagedPrefixList":          s.modifyManagedPrefixList,
		"DeleteManagedPrefixList":          s.deleteManagedPrefixList,
		"DescribeManagedPrefixLists":       s.describeManagedPrefixLists,
		"GetManagedPrefixListEntries":      s.getManagedPrefixListEntries,
		"GetManagedPrefixListAssociations": s.getManagedPrefixListAssociations,

		// Reachability: Network Insights paths and analyses (insights.go)
		"CreateNetworkInsightsPath":       s.createNetworkInsightsPath,
		"DeleteNetworkInsightsPath":       s.deleteNetworkInsightsPath,
		"DescribeNetworkInsightsPaths":    s.describeNetworkInsightsPaths,
		"StartNetworkInsightsAnalysis":    s.startNetworkInsightsAnalysis,
		"DescribeNetworkInsightsAnalyses": s.describeNetworkInsightsAnalyses,
		"DeleteNetworkInsightsAnalysis":   s.deleteNetworkInsightsAnalysis,

		// Tags, key pairs, account (tags.go, keypairs.go, account.go)
		"CreateTags":                s.createTags,
		"DeleteTags":                s.deleteTags,
		"DescribeTags":              s.describeTags,
		"CreateKeyPair":             s.createKeyPair,
		"ImportKeyPair":             s.importKeyPair,
		"DescribeKeyPairs":          s.describeKeyPairs,
		"DeleteKeyPair":             s.deleteKeyPair,
		"DescribeAccountAttributes": s.describeAccountAttributes,
		"DescribeAvailabilityZones": s.describeAvailabilityZones,
		"DescribeRegions":           s.describeRegions,
	}
}
