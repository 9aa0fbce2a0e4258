package iamapi

import "github.com/stockade/stockade/iam"

func createRole(r *request) (any, error) {
	v, err := need(r, "RoleName", "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	max, err := r.integer("MaxSessionDuration")
	if err != nil {
		return nil, err
	}
	role, err := r.svc.CreateRole(r.Context(), r.caller.Account, iam.CreateRoleInput{Name: v[0], TrustPolicy: v[1],
		Path: r.str("Path"), Description: r.str("Description"), PermissionsBoundary: r.str("PermissionsBoundary"),
		MaxSessionDuration: max, Tags: r.tags()})
	if err != nil {
		return nil, err
	}
	return struct{ Role roleXML }{roleOf(r.caller.Account, role, false)}, nil
}

func getRole(r *request) (any, error) {
	name, err := r.required("RoleName")
	if err != nil {
		return nil, err
	}
	role, err := r.svc.GetRole(r.Context(), r.caller.Account, name)
	if err != nil {
		return nil, err
	}
	return struct{ Role roleXML }{roleOf(r.caller.Account, role, true)}, nil
}

func listRoles(r *request) (any, error) {
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	roles, next, err := r.svc.ListRoles(r.Context(), r.caller.Account, r.str("PathPrefix"), p)
	if err != nil {
		return nil, err
	}
	out := struct {
		Roles rolesXML
		truncation
	}{truncation: truncated(next)}
	for _, role := range roles {
		out.Roles.Member = append(out.Roles.Member, roleOf(r.caller.Account, role, false))
	}
	return out, nil
}

func deleteRole(r *request) (any, error) {
	name, err := r.required("RoleName")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeleteRole(r.Context(), r.caller.Account, name)
}

func updateAssumeRolePolicy(r *request) (any, error) {
	v, err := need(r, "RoleName", "PolicyDocument")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.UpdateAssumeRolePolicy(r.Context(), r.caller.Account, v[0], v[1])
}

func putInline(kind iam.EntityKind, e string) action {
	return func(r *request) (any, error) {
		v, err := need(r, e+"Name", "PolicyName", "PolicyDocument")
		if err != nil {
			return nil, err
		}
		return nil, r.svc.PutPolicy(r.Context(), r.caller.Account, kind, v[0], v[1], v[2])
	}
}

// inlineXML is Get{User,Group,Role}PolicyResult: the entity's name under its own element.
type inlineXML struct {
	UserName       string `xml:",omitempty"`
	GroupName      string `xml:",omitempty"`
	RoleName       string `xml:",omitempty"`
	PolicyName     string
	PolicyDocument string
}

func getInline(kind iam.EntityKind, e string) action {
	return func(r *request) (any, error) {
		v, err := need(r, e+"Name", "PolicyName")
		if err != nil {
			return nil, err
		}
		doc, err := r.svc.GetInlinePolicy(r.Context(), r.caller.Account, kind, v[0], v[1])
		if err != nil {
			return nil, err
		}
		out := inlineXML{PolicyName: v[1], PolicyDocument: encode(doc)}
		*[...]*string{&out.UserName, &out.GroupName, &out.RoleName}[kind] = v[0]
		return out, nil
	}
}

func deleteInline(kind iam.EntityKind, e string) action {
	return func(r *request) (any, error) {
		v, err := need(r, e+"Name", "PolicyName")
		if err != nil {
			return nil, err
		}
		return nil, r.svc.DeleteInlinePolicy(r.Context(), r.caller.Account, kind, v[0], v[1])
	}
}

func listInline(kind iam.EntityKind, e string) action {
	return func(r *request) (any, error) {
		name, err := r.required(e + "Name")
		if err != nil {
			return nil, err
		}
		p, err := r.page()
		if err != nil {
			return nil, err
		}
		names, next, err := r.svc.ListInlinePolicies(r.Context(), r.caller.Account, kind, name, p)
		if err != nil {
			return nil, err
		}
		return struct {
			PolicyNames namesXML
			truncation
		}{namesXML{names}, truncated(next)}, nil
	}
}

func attach(kind iam.EntityKind, e string, on bool) action {
	return func(r *request) (any, error) {
		v, err := need(r, e+"Name", "PolicyArn")
		if err != nil {
			return nil, err
		}
		if on {
			return nil, r.svc.AttachPolicy(r.Context(), r.caller.Account, kind, v[0], v[1])
		}
		return nil, r.svc.DetachPolicy(r.Context(), r.caller.Account, kind, v[0], v[1])
	}
}

func listAttached(kind iam.EntityKind, e string) action {
	return func(r *request) (any, error) {
		name, err := r.required(e + "Name")
		if err != nil {
			return nil, err
		}
		p, err := r.page()
		if err != nil {
			return nil, err
		}
		got, next, err := r.svc.ListAttachedPolicies(r.Context(), r.caller.Account, kind, name, r.str("PathPrefix"), p)
		if err != nil {
			return nil, err
		}
		out := struct {
			AttachedPolicies attachedXML
			truncation
		}{truncation: truncated(next)}
		for _, a := range got {
			out.AttachedPolicies.Member = append(out.AttachedPolicies.Member, struct{ PolicyName, PolicyArn string }{a.Name, a.ARN})
		}
		return out, nil
	}
}
