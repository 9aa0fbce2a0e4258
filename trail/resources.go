package trail

import (
	"net/url"
	"strings"
)

// resourceKeys name, for each key of requestParameters or responseElements that holds a
// resource ID, the LookupEvents ResourceType it stands for (§2.3 [STOCKADE table, shapes
// UNCONFIRMED]). Both the EC2 style and the post-2021 PascalCase style are listed.
var resourceKeys = map[string]string{
	"groupId": "AWS::EC2::SecurityGroup", "GroupId": "AWS::EC2::SecurityGroup",
	"securityGroupRuleId": "AWS::EC2::SecurityGroupRule", "SecurityGroupRuleId": "AWS::EC2::SecurityGroupRule",
	"vpcId": "AWS::EC2::VPC", "VpcId": "AWS::EC2::VPC",
}

// memberResourceKeys are resourceKeys for IAM and STS records: the entity an IAM call names
// by its name, and the access keys it creates or an AssumeRole issues [STOCKADE table; which
// resources AWS's LookupEvents lists for IAM events is UNCONFIRMED]. They are a table of
// their own because the same keys mean other things in EC2 (groupName is a security group's).
var memberResourceKeys = map[string]string{
	"userName": "AWS::IAM::User", "roleName": "AWS::IAM::Role", "groupName": "AWS::IAM::Group",
	"policyArn": "AWS::IAM::Policy", "accessKeyId": "AWS::IAM::AccessKey",
}

// memberARNKeys hold an ARN whose last path segment is the resource's name: AssumeRole's
// roleArn is looked up by the role's name, as the calls that manage the role name it.
var memberARNKeys = map[string]string{"roleArn": "AWS::IAM::Role"}

// assumedRole is AssumeRole's resources entry [OBSERVED]: the role, its account and type.
// Nothing when RoleArn is not an IAM role ARN (the call then failed validation).
func assumedRole(params url.Values) []ARNResource {
	arn := params.Get("RoleArn")
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	account, path, _ := strings.Cut(rest, ":")
	if !ok || !strings.HasPrefix(path, "role/") || len(account) != 12 {
		return nil
	}
	return []ARNResource{{ARN: arn, AccountID: account, Type: "AWS::IAM::Role"}}
}

// lookupResources is explicit followed by the resources named anywhere in req and resp, each
// once, in the order found; keys are resourceKeys for EC2, memberResourceKeys for IAM and STS.
func lookupResources(s Service, explicit []Resource, req, resp object) []Resource {
	keys, arnKeys := resourceKeys, map[string]string(nil)
	if s == IAM || s == STS {
		keys, arnKeys = memberResourceKeys, memberARNKeys
	}
	var out []Resource
	seen := map[Resource]bool{}
	add := func(r Resource) {
		if r.ResourceName != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, r := range explicit {
		add(r)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			for _, m := range v {
				if typ, ok := keys[m.key]; ok {
					if name, ok := m.val.(string); ok {
						add(Resource{ResourceType: typ, ResourceName: name})
					}
				}
				if typ, ok := arnKeys[m.key]; ok {
					if arn, ok := m.val.(string); ok {
						add(Resource{ResourceType: typ, ResourceName: arn[strings.LastIndexByte(arn, '/')+1:]})
					}
				}
				walk(m.val)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(req)
	walk(resp)
	return out
}
