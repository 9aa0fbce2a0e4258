package iampolicy

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEC2TableCoversServedActions reads the generator's action list (the actions Stockade
// serves) and requires a row, or a read without resource type, for each.
func TestEC2TableCoversServedActions(t *testing.T) {
	src, err := os.ReadFile("../ec2api/query/internal/gen/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)var actions = strings.Fields\\(`(.*?)`\\)").FindSubmatch(src)
	if m == nil {
		t.Fatal("action list not found in the generator")
	}
	actions := strings.Fields(string(m[1]))
	if len(actions) < 100 {
		t.Fatalf("only %d actions parsed", len(actions))
	}
	for _, a := range actions {
		if !EC2Action(a) {
			t.Errorf("%s has no authorization row", a)
		}
	}
	for a := range ec2Actions {
		if !strings.Contains(" "+strings.Join(actions, " ")+" ", " "+a+" ") {
			t.Errorf("row %s is not an action Stockade serves", a)
		}
	}
}

func TestEC2Resources(t *testing.T) {
	type r struct{ Type, ARN, Param string }
	const p = "arn:aws:ec2:eu-west-1:111122223333:"
	tests := []struct {
		action string
		params map[string]string
		want   []r
	}{
		{"AuthorizeSecurityGroupIngress", map[string]string{"GroupId": "sg-1", "IpPermissions.1.IpProtocol": "tcp"},
			[]r{{"security-group", p + "security-group/sg-1", "GroupId"}}},
		{"AuthorizeSecurityGroupIngress", map[string]string{"GroupId": "sg-1", "TagSpecification.1.ResourceType": "security-group-rule"},
			[]r{{"security-group", p + "security-group/sg-1", "GroupId"}, {"security-group-rule", p + "security-group-rule/*", ""}}},
		{"DeleteSecurityGroup", map[string]string{"GroupName": "web"},
			[]r{{"security-group", p + "security-group/*", "GroupName"}}},
		{"CreateSecurityGroup", map[string]string{"GroupName": "web", "VpcId": "vpc-1"},
			[]r{{"security-group", p + "security-group/*", ""}, {"vpc", p + "vpc/vpc-1", "VpcId"}}},
		{"CreateSecurityGroup", map[string]string{"GroupName": "web"},
			[]r{{"security-group", p + "security-group/*", ""}, {"vpc", p + "vpc/*", "(default)"}}},
		{"CreateSubnet", map[string]string{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"},
			[]r{{"subnet", p + "subnet/*", ""}, {"vpc", p + "vpc/vpc-1", "VpcId"}}},
		{"TerminateInstances", map[string]string{"InstanceId.2": "i-2", "InstanceId.1": "i-1"},
			[]r{{"instance", p + "instance/i-1", "InstanceId.1"}, {"instance", p + "instance/i-2", "InstanceId.2"}}},
		{"CreateTags", map[string]string{"ResourceId.1": "sg-1", "ResourceId.2": "vpc-2", "Tag.1.Key": "k"},
			[]r{{"security-group", p + "security-group/sg-1", "ResourceId.1"}, {"vpc", p + "vpc/vpc-2", "ResourceId.2"}}},
		{"ModifySecurityGroupRules", map[string]string{"GroupId": "sg-1", "SecurityGroupRule.1.SecurityGroupRuleId": "sgr-1",
			"SecurityGroupRule.1.SecurityGroupRule.PrefixListId": "pl-1"},
			[]r{{"security-group", p + "security-group/sg-1", "GroupId"}, {"security-group-rule", p + "security-group-rule/sgr-1", "SecurityGroupRule.1.SecurityGroupRuleId"},
				{"prefix-list", p + "prefix-list/pl-1", "SecurityGroupRule.1.SecurityGroupRule.PrefixListId"}}},
		{"DescribeSecurityGroups", map[string]string{"GroupId.1": "sg-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			out, ok := EC2Resources(tt.action, tt.params, "eu-west-1", "111122223333")
			if !ok {
				t.Fatal("unknown action")
			}
			var got []r
			for _, o := range out {
				if o.Default {
					o.Param = "(default)" // the wiring authorizes the default resource
				}
				got = append(got, r{o.Type, o.ARN, o.Param})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := EC2Resources("LaunchRockets", nil, "r", "a"); ok {
		t.Error("an unknown action is reported as known")
	}
}
