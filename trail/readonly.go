package trail

// readOnly is §1.5's table of the actions that change nothing. It is a table, not a rule on
// names, because AWS's answer is not always the name's: sts:AssumeRole is logged read-only
// [OBSERVED]. An action missing here is recorded as a write (readOnly false, responseElements
// kept): the safe side, since a write's record must be complete. A test checks that every EC2
// action Stockade serves is classified as its name says.
var readOnly = map[string]bool{
	// EC2
	"DescribeVpcs": true, "DescribeSubnets": true, "DescribeSecurityGroups": true,
	"DescribeSecurityGroupRules": true, "DescribeSecurityGroupReferences": true,
	"DescribeStaleSecurityGroups": true, "DescribeNetworkInterfaces": true, "DescribeInstances": true,
	"DescribeInstanceAttribute": true, "GetConsoleOutput": true, "DescribeInstanceStatus": true,
	"DescribeLaunchTemplates": true, "DescribeLaunchTemplateVersions": true, "DescribeKeyPairs": true,
	"DescribeImages": true, "DescribeTags": true, "DescribeAccountAttributes": true,
	"DescribeAvailabilityZones": true, "DescribeRegions": true, "DescribeNetworkAcls": true,
	"GetManagedPrefixListEntries": true, "DescribeManagedPrefixLists": true,
	"GetManagedPrefixListAssociations": true, "DescribeFlowLogs": true, "DescribeAddresses": true,
	"DescribeNatGateways": true, "DescribeNetworkInsightsPaths": true, "DescribeNetworkInsightsAnalyses": true,
	"DescribeRouteTables": true, "DescribeInternetGateways": true, "DescribeEgressOnlyInternetGateways": true,
	"DescribePrefixLists": true, "DescribeVpcAttribute": true, "DescribeDhcpOptions": true,
	"GetSubnetCidrReservations": true, "DescribeHosts": true,
	// IAM
	"GetUser": true, "ListUsers": true, "GetGroup": true, "ListGroups": true, "ListGroupsForUser": true,
	"GetRole": true, "ListRoles": true, "GetPolicy": true, "GetPolicyVersion": true, "ListPolicies": true,
	"ListPolicyVersions": true, "GetUserPolicy": true, "ListUserPolicies": true, "GetGroupPolicy": true,
	"ListGroupPolicies": true, "GetRolePolicy": true, "ListRolePolicies": true,
	"ListAttachedUserPolicies": true, "ListAttachedGroupPolicies": true, "ListAttachedRolePolicies": true,
	"ListAccessKeys": true, "GetAccessKeyLastUsed": true, "ListEntitiesForPolicy": true,
	"GetAccountAuthorizationDetails": true, "SimulatePrincipalPolicy": true, "SimulateCustomPolicy": true,
	"ListAccountAliases": true, "ListUserTags": true, "ListRoleTags": true, "ListPolicyTags": true,
	// STS
	"GetCallerIdentity": true, "DecodeAuthorizationMessage": true, "AssumeRole": true,
	"GetSessionToken": true, "GetAccessKeyInfo": true,
	// CloudTrail
	"LookupEvents": true,
	// S3 and CloudWatch Logs (management events only: the trail records no data events)
	"ListBuckets": true, "HeadBucket": true, "DescribeLogGroups": true, "DescribeLogStreams": true,
	// EventBridge
	"DescribeRule": true, "ListRules": true, "ListTargetsByRule": true, "TestEventPattern": true,
	"DescribeConnection": true, "ListConnections": true, "DescribeApiDestination": true, "ListApiDestinations": true,
}

// IsReadOnly reports the record's readOnly for an action (§1.5).
func IsReadOnly(action string) bool { return readOnly[action] }
