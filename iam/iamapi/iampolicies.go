package iamapi

import "github.com/stockade/stockade/iam"

func deleteGroup(r *request) (any, error) {
	name, err := r.required("GroupName")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeleteGroup(r.Context(), r.caller.Account, name)
}

func createPolicy(r *request) (any, error) {
	v, err := need(r, "PolicyName", "PolicyDocument")
	if err != nil {
		return nil, err
	}
	p, err := r.svc.CreatePolicy(r.Context(), r.caller.Account, iam.CreatePolicyInput{Name: v[0], Document: v[1],
		Path: r.str("Path"), Description: r.str("Description")})
	if err != nil {
		return nil, err
	}
	return struct{ Policy policyXML }{policyOf(p)}, nil
}

func getPolicy(r *request) (any, error) {
	arn, err := r.required("PolicyArn")
	if err != nil {
		return nil, err
	}
	p, err := r.svc.GetPolicy(r.Context(), r.caller.Account, arn)
	if err != nil {
		return nil, err
	}
	return struct{ Policy policyXML }{policyOf(p)}, nil
}

func listPolicies(r *request) (any, error) {
	p, err := r.page()
	if err != nil {
		return nil, err
	}
	got, next, err := r.svc.ListPolicies(r.Context(), r.caller.Account, r.str("Scope"), r.str("PathPrefix"), r.boolean("OnlyAttached"), p)
	if err != nil {
		return nil, err
	}
	out := struct {
		Policies struct {
			Member []policyXML `xml:"member"`
		}
		truncation
	}{truncation: truncated(next)}
	for _, pol := range got {
		out.Policies.Member = append(out.Policies.Member, policyOf(pol))
	}
	return out, nil
}

func deletePolicy(r *request) (any, error) {
	arn, err := r.required("PolicyArn")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeletePolicy(r.Context(), r.caller.Account, arn)
}

func createPolicyVersion(r *request) (any, error) {
	v, err := need(r, "PolicyArn", "PolicyDocument")
	if err != nil {
		return nil, err
	}
	setDefault := r.boolean("SetAsDefault")
	pv, err := r.svc.CreatePolicyVersion(r.Context(), r.caller.Account, v[0], v[1], setDefault)
	if err != nil {
		return nil, err
	}
	return struct{ PolicyVersion versionXML }{versionXML{"", pv.ID, setDefault, timestamp(pv.Created)}}, nil
}

func getPolicyVersion(r *request) (any, error) {
	v, err := need(r, "PolicyArn", "VersionId")
	if err != nil {
		return nil, err
	}
	pv, isDefault, err := r.svc.GetPolicyVersion(r.Context(), r.caller.Account, v[0], v[1])
	if err != nil {
		return nil, err
	}
	return struct{ PolicyVersion versionXML }{versionXML{encode(pv.Document), pv.ID, isDefault, timestamp(pv.Created)}}, nil
}

func listPolicyVersions(r *request) (any, error) {
	arn, err := r.required("PolicyArn")
	if err != nil {
		return nil, err
	}
	got, def, err := r.svc.ListPolicyVersions(r.Context(), r.caller.Account, arn)
	if err != nil {
		return nil, err
	}
	out := struct {
		Versions struct {
			Member []versionXML `xml:"member"`
		}
		truncation
	}{}
	for _, pv := range got {
		out.Versions.Member = append(out.Versions.Member, versionXML{"", pv.ID, pv.ID == def, timestamp(pv.Created)})
	}
	return out, nil
}

func setDefaultPolicyVersion(r *request) (any, error) {
	v, err := need(r, "PolicyArn", "VersionId")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.SetDefaultPolicyVersion(r.Context(), r.caller.Account, v[0], v[1])
}

func deletePolicyVersion(r *request) (any, error) {
	v, err := need(r, "PolicyArn", "VersionId")
	if err != nil {
		return nil, err
	}
	return nil, r.svc.DeletePolicyVersion(r.Context(), r.caller.Account, v[0], v[1])
}
