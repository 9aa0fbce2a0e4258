package iamapi

import (
	"net/http"

	"github.com/stockade/stockade/iam"
)

// NewIAM returns the IAM Query handler.
func NewIAM(svc *iam.Service, opts Options) (http.Handler, error) {
	if opts.Caller == nil {
		return nil, errNoCaller
	}
	h := &handler{svc: svc, opts: opts, version: "2010-05-08", ns: IAMNamespace, actions: map[string]action{
		"CreateUser": createUser, "GetUser": getUser, "ListUsers": listUsers, "DeleteUser": deleteUser,
		"CreateAccessKey": createAccessKey, "ListAccessKeys": listAccessKeys,
		"UpdateAccessKey": updateAccessKey, "DeleteAccessKey": deleteAccessKey,
		"CreateGroup": createGroup, "GetGroup": getGroup, "ListGroups": listGroups, "DeleteGroup": deleteGroup,
		"AddUserToGroup": membership(true), "RemoveUserFromGroup": membership(false), "ListGroupsForUser": listGroupsForUser,
		"CreateRole": createRole, "GetRole": getRole, "ListRoles": listRoles, "DeleteRole": deleteRole,
		"UpdateAssumeRolePolicy": updateAssumeRolePolicy,
		"CreatePolicy":           createPolicy, "GetPolicy": getPolicy, "ListPolicies": listPolicies, "DeletePolicy": deletePolicy,
		"CreatePolicyVersion": createPolicyVersion, "GetPolicyVersion": getPolicyVersion,
		"ListPolicyVersions": listPolicyVersions, "SetDefaultPolicyVersion": setDefaultPolicyVersion,
		"DeletePolicyVersion": deletePolicyVersion,
	}}
	for kind, e := range map[iam.EntityKind]string{iam.UserEntity: "User", iam.GroupEntity: "Group", iam.RoleEntity: "Role"} {
		h.actions["Put"+e+"Policy"] = putInline(kind, e)
		h.actions["Get"+e+"Policy"] = getInline(kind, e)
		h.actions["Delete"+e+"Policy"] = deleteInline(kind, e)
		h.actions["List"+e+"Policies"] = listInline(kind, e)
		h.actions["Attach"+e+"Policy"] = attach(kind, e, true)
		h.actions["Detach"+e+"Policy"] = attach(kind, e, false)
		h.actions["ListAttached"+e+"Policies"] = listAttached(kind, e)
	}
	tagActions(h.actions)
	return h, nil
}

// need reads required parameters in order, stopping at the first missing one.
func need(r *request, names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		v, err := r.required(n)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func createUser(r *request) (any, error) {
	name, err := r.required("UserName")
	if err != nil {
		return nil, err
	}
	u, err := r.svc.CreateUser(r.Context(), r.caller.Account, iam.CreateUserInput{Name: name, Path: r.str("Path"),
		PermissionsBoundary: r.str("PermissionsBoundary"), Tags: r.tags()})
	if err != nil {
		return nil, err
	}
	return struct{ User userXML }{userOf(r.caller.Account, u)}, nil
}

func getUser(r *request) (any, error) {
	name, err := r.userName()
	if err != nil {
		return nil, err
	}
	u, err := r.svc.GetUser(r.Context(), r.caller.Account, name)
	if err != nil {
		return nil, err
	}
	return struct{ User userXML }{userOf(r.caller.Account, u)}, nil
}

func listUsers(r *request) (any, error) {
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	users, next, err := r.svc.ListUsers(r.Context(), r.caller.Account, r.str("PathPrefix"), p)
	if err != nil {
		return nil, err
	}
	out := struct {
		Users usersXML
		truncation
	}{truncation: truncated(next)}
	for _, u := range users {
		out.Users.Member = append(out.Users.Member, userOf(r.caller.Account, u))
	}
	return out, nil
}

func deleteUser(r *request) (any, error) {
	name, err := r.required("UserName")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeleteUser(r.Context(), r.caller.Account, name)
}

func createAccessKey(r *request) (any, error) {
	name, err := r.userName()
	if err != nil {
		return nil, err
	}
	k, err := r.svc.CreateAccessKey(r.Context(), r.caller.Account, name)
	if err != nil {
		return nil, err
	}
	u, _ := r.svc.GetUser(r.Context(), r.caller.Account, name) // exists: the key was just made
	return struct{ AccessKey accessKeyXML }{accessKeyXML{u.Name, k.ID, k.Status(), k.Secret, timestamp(k.Created)}}, nil
}

func listAccessKeys(r *request) (any, error) {
	name, err := r.userName()
	if err != nil {
		return nil, err
	}
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	keys, next, err := r.svc.ListAccessKeys(r.Context(), r.caller.Account, name, p)
	if err != nil {
		return nil, err
	}
	u, _ := r.svc.GetUser(r.Context(), r.caller.Account, name)
	out := struct {
		AccessKeyMetadata struct {
			Member []accessKeyXML `xml:"member"`
		}
		truncation
	}{truncation: truncated(next)}
	for _, k := range keys { // never the secret
		out.AccessKeyMetadata.Member = append(out.AccessKeyMetadata.Member, accessKeyXML{u.Name, k.ID, k.Status(), "", timestamp(k.Created)})
	}
	return out, nil
}

func updateAccessKey(r *request) (any, error) {
	v, err := need(r, "AccessKeyId", "Status")
	if err != nil {
		return nil, err
	}
	name, err := r.userName()
	if err != nil {
		return nil, err
	}
	return nil, r.svc.UpdateAccessKey(r.Context(), r.caller.Account, name, v[0], v[1])
}

func deleteAccessKey(r *request) (any, error) {
	id, err := r.required("AccessKeyId")
	if err != nil {
		return nil, err
	}
	name, err := r.userName()
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeleteAccessKey(r.Context(), r.caller.Account, name, id)
}

func createGroup(r *request) (any, error) {
	name, err := r.required("GroupName")
	if err != nil {
		return nil, err
	}
	g, err := r.svc.CreateGroup(r.Context(), r.caller.Account, name, r.str("Path"))
	if err != nil {
		return nil, err
	}
	return struct{ Group groupXML }{groupOf(r.caller.Account, g)}, nil
}

func getGroup(r *request) (any, error) {
	name, err := r.required("GroupName")
	if err != nil {
		return nil, err
	}
	g, members, err := r.svc.GetGroup(r.Context(), r.caller.Account, name)
	if err != nil {
		return nil, err
	}
	out := struct {
		Group groupXML
		Users usersXML
		truncation
	}{Group: groupOf(r.caller.Account, g)}
	for _, u := range members {
		out.Users.Member = append(out.Users.Member, userOf(r.caller.Account, u))
	}
	return out, nil
}

func listGroups(r *request) (any, error) {
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	groups, next, err := r.svc.ListGroups(r.Context(), r.caller.Account, r.str("PathPrefix"), p)
	return groupList(r, groups, next, err)
}

func groupList(r *request, groups []iam.Group, next string, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	out := struct {
		Groups groupsXML
		truncation
	}{truncation: truncated(next)}
	for _, g := range groups {
		out.Groups.Member = append(out.Groups.Member, groupOf(r.caller.Account, g))
	}
	return out, nil
}

func listGroupsForUser(r *request) (any, error) {
	name, err := r.required("UserName")
	if err != nil {
		return nil, err
	}
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	groups, next, err := r.svc.ListGroupsForUser(r.Context(), r.caller.Account, name, p)
	return groupList(r, groups, next, err)
}

func membership(add bool) action {
	return func(r *request) (any, error) {
		v, err := need(r, "GroupName", "UserName")
		if err != nil {
			return nil, err
		}
		if add {
			return nil, r.svc.AddUserToGroup(r.Context(), r.caller.Account, v[0], v[1])
		}
		return nil, r.svc.RemoveUserFromGroup(r.Context(), r.caller.Account, v[0], v[1])
	}
}
