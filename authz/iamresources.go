package authz

import (
	"context"
	"strings"

	"github.com/stockade/stockade/iam"
)

// iamResource is the ARN an IAM call is authorized against (the Service Authorization
// Reference for IAM: user, group, role and policy resources). The entity a call names decides:
// a role before a group before a user before a policy, so that AttachRolePolicy authorizes the
// role (iam:PolicyARN is its condition key, not a resource) and AddUserToGroup the group. An
// existing entity's ARN carries its path; a new one's, the Path parameter. Account-wide lists
// name the type with an empty name ("…:user/") [UNCONFIRMED: from memory of AWS's denials of
// ListUsers and ListRoles, not found in the documentation searched; ListPolicies is
// authorized against "*"].
func iamResource(ctx context.Context, svc *iam.Service, caller iam.Principal, action string, params map[string]string) string {
	acct := caller.Account
	path := params["Path"]
	if path == "" {
		path = "/"
	}
	arnOf := func(kind, p, name string) string { return "arn:aws:iam::" + acct + ":" + kind + p + name }
	create := strings.HasPrefix(action, "Create")
	switch {
	case params["RoleName"] != "":
		name := params["RoleName"]
		if action == "CreateRole" {
			return arnOf("role", path, name)
		}
		if r, err := svc.GetRole(ctx, acct, name); err == nil {
			return iam.RoleARN(acct, r)
		}
		return arnOf("role", "/", name)
	case params["GroupName"] != "":
		name := params["GroupName"]
		if action == "CreateGroup" {
			return arnOf("group", path, name)
		}
		if g, _, err := svc.GetGroup(ctx, acct, name); err == nil {
			return iam.GroupARN(acct, g)
		}
		return arnOf("group", "/", name)
	case params["UserName"] != "":
		name := params["UserName"]
		if action == "CreateUser" {
			return arnOf("user", path, name)
		}
		if u, err := svc.GetUser(ctx, acct, name); err == nil {
			return iam.UserARN(acct, u)
		}
		return arnOf("user", "/", name)
	case action == "CreatePolicy":
		return arnOf("policy", path, params["PolicyName"])
	case params["PolicyArn"] != "":
		return params["PolicyArn"]
	case action == "ListUsers":
		return arnOf("user", "/", "")
	case action == "ListRoles":
		return arnOf("role", "/", "")
	case action == "ListGroups":
		return arnOf("group", "/", "")
	case create || strings.HasSuffix(action, "AccessKey") || strings.HasSuffix(action, "AccessKeys") || action == "GetUser":
		// The caller's own user (no UserName given).
		return caller.ARN
	}
	return "*"
}
