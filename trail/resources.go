package trail

import (
	"net/url"
	"slices"
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

// resourcesIn reports the resources named anywhere in v, a requestParameters or
// responseElements tree, to found, in document order: the string values of resourceKeys for
// EC2, of memberResourceKeys and memberARNKeys for IAM and STS.
func resourcesIn(s Service, v any, found func(Resource)) {
	keys, arnKeys := resourceKeys, map[string]string(nil)
	if s == IAM || s == STS {
		keys, arnKeys = memberResourceKeys, memberARNKeys
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			for _, m := range v {
				if typ, ok := keys[m.key]; ok {
					if name, ok := m.val.(string); ok {
						found(Resource{ResourceType: typ, ResourceName: name})
					}
				}
				if typ, ok := arnKeys[m.key]; ok {
					if arn, ok := m.val.(string); ok {
						found(Resource{ResourceType: typ, ResourceName: arn[strings.LastIndexByte(arn, '/')+1:]})
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
	walk(v)
}

// lookupResources is explicit followed by the resources of found (those of the request, then
// of the response), each once, in that order; a resource without a name is none.
func lookupResources(explicit []Resource, found ...[]Resource) []Resource {
	var out []Resource
	var seen map[Resource]bool // beyond a scan's length: a request may name thousands
	add := func(r Resource) {
		if r.ResourceName == "" {
			return
		}
		if seen == nil && len(out) >= 16 {
			seen = make(map[Resource]bool, 2*len(out))
			for _, o := range out {
				seen[o] = true
			}
		}
		if seen != nil {
			if seen[r] {
				return
			}
			seen[r] = true
		} else if slices.Contains(out, r) {
			return
		}
		out = append(out, r)
	}
	for _, r := range explicit {
		add(r)
	}
	for _, list := range found {
		for _, r := range list {
			add(r)
		}
	}
	return out
}
