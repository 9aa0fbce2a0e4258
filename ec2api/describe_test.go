package ec2api

import (
	"testing"
)

// TestDescribePipeline checks that every Describe built on describe validates, fails and
// paginates alike: an unknown ID is the family's NotFound error, an unknown filter is refused
// before any ID is looked up, MaxResults out of range and a token that is not one are refused.
func TestDescribePipeline(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	for _, tt := range []struct {
		action, idParam, unknown, notFound string
		paged                              bool // takes MaxResults and NextToken
	}{
		{"DescribeVpcs", "VpcId", "vpc-0123456789abcdef0", "InvalidVpcID.NotFound", true},
		{"DescribeSubnets", "SubnetId", "subnet-0123456789abcdef0", "InvalidSubnetID.NotFound", true},
		{"DescribeSecurityGroups", "GroupId", "sg-0123456789abcdef0", "InvalidGroup.NotFound", true},
		{"DescribeSecurityGroups", "GroupName", "nope", "InvalidGroup.NotFound", true},
		{"DescribeSecurityGroupRules", "SecurityGroupRuleId", "sgr-0123456789abcdef0", "InvalidSecurityGroupRuleId.NotFound", true},
		{"DescribeNetworkInterfaces", "NetworkInterfaceId", "eni-0123456789abcdef0", "InvalidNetworkInterfaceID.NotFound", true},
		{"DescribeInstances", "InstanceId", "i-0123456789abcdef0", "InvalidInstanceID.NotFound", true},
		{"DescribeInstances", "InstanceId", "vpc-0123456789abcdef0", "InvalidInstanceID.Malformed", true},
		{"DescribeKeyPairs", "KeyName", "nope", "InvalidKeyPair.NotFound", false},
		{"DescribeKeyPairs", "KeyPairId", "key-0123456789abcdef0", "InvalidKeyPair.NotFound", false},
		{"DescribeNetworkAcls", "NetworkAclId", "acl-0123456789abcdef0", "InvalidNetworkAclID.NotFound", true},
		{"DescribeFlowLogs", "FlowLogId", "fl-0123456789abcdef0", "InvalidFlowLogId.NotFound", true},
		{"DescribeManagedPrefixLists", "PrefixListId", "pl-0123456789abcdef0", "InvalidPrefixListID.NotFound", true},
		{"DescribeNetworkInsightsPaths", "NetworkInsightsPathId", "nip-0123456789abcdef0", "InvalidNetworkInsightsPathId.NotFound", true},
		{"DescribeNetworkInsightsAnalyses", "NetworkInsightsAnalysisId", "nia-0123456789abcdef0", "InvalidNetworkInsightsAnalysisId.NotFound", true},
		{"DescribeTags", "", "", "", true},
	} {
		t.Run(tt.action+"/"+tt.idParam, func(t *testing.T) {
			if tt.idParam != "" {
				c.fails(tt.notFound, tt.action, tt.idParam+".1", tt.unknown)
				c.fails("InvalidParameterValue", tt.action, tt.idParam+".1", "")
				c.fails("InvalidParameterValue", tt.action, tt.idParam+".1", tt.unknown, "Filter.1.Name", "no-such-filter", "Filter.1.Value.1", "x")
			}
			c.fails("InvalidParameterValue", tt.action, "Filter.1.Name", "no-such-filter", "Filter.1.Value.1", "x")
			if tt.paged {
				c.fails("InvalidParameterValue", tt.action, "MaxResults", "1001")
				c.fails("InvalidPaginationToken", tt.action, "NextToken", "not-a-token")
			}
		})
	}
}
