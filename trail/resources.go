package trail

// resourceKeys name, for each key of requestParameters or responseElements that holds a
// resource ID, the LookupEvents ResourceType it stands for (§2.3 [STOCKADE table, shapes
// UNCONFIRMED]). Both the EC2 style and the post-2021 PascalCase style are listed.
var resourceKeys = map[string]string{
	"groupId": "AWS::EC2::SecurityGroup", "GroupId": "AWS::EC2::SecurityGroup",
	"securityGroupRuleId": "AWS::EC2::SecurityGroupRule", "SecurityGroupRuleId": "AWS::EC2::SecurityGroupRule",
	"vpcId": "AWS::EC2::VPC", "VpcId": "AWS::EC2::VPC",
}

// lookupResources is explicit followed by the resources named anywhere in req and resp, each
// once, in the order found.
func lookupResources(explicit []Resource, req, resp object) []Resource {
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
				if typ, ok := resourceKeys[m.key]; ok {
					if name, ok := m.val.(string); ok {
						add(Resource{ResourceType: typ, ResourceName: name})
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
