package iampolicy

import "strings"

// evalTrust evaluates a role's trust policy for the caller (§5.2): the first applicable Deny,
// the first applicable Allow, and whether that Allow names the caller's exact ARN (then it
// grants without identity policies) rather than the account or "*" (then the caller's
// identity policies must allow too — "*" treated like the account [STOCKADE]).
func evalTrust(req *Request, ev *evalCtx, tr *Trace) (deny, allow *StatementRef, byName bool) {
	refs := req.Trust.trustRefs
	for i := range refs {
		r := &refs[i]
		st := r.stmt
		if !st.matchAction(req.Action) {
			continue
		}
		matched, exact := st.matchPrincipal(req, ev)
		if !matched || !st.matchConditions(ev) {
			continue
		}
		if tr != nil {
			tr.Matched = append(tr.Matched, Match{Statement: *r, Resource: firstARN(req)})
		}
		if r.Deny {
			return r, nil, false
		}
		if allow == nil || (exact && !byName) {
			allow, byName = r, exact
		}
	}
	return nil, allow, byName
}

// matchPrincipal reports whether the statement's Principal (or NotPrincipal) covers the
// caller, and whether it names the caller's exact ARN among its entries: the user or session
// ARN, or the role ARN of a session (aws:PrincipalArn). Every entry counts, so that
// ["<account>", "<user ARN>"] grants by name as "<user ARN>" alone does (§5.2).
func (st *statement) matchPrincipal(req *Request, ev *evalCtx) (matched, exact bool) {
	for _, p := range st.principals {
		m, e := principalEntry(p, req, ev)
		matched = matched || m
		exact = exact || e
		if exact {
			break
		}
	}
	if st.notPrincipal {
		return !matched, false
	}
	return matched, exact
}

func principalEntry(p string, req *Request, ev *evalCtx) (matched, exact bool) {
	acct := req.Principal.Account
	switch {
	case p == "*":
		return true, false
	case p == acct && acct != "":
		return true, false
	case acct != "" && strings.HasPrefix(p, "arn:aws:iam::") && strings.HasSuffix(p, ":root") &&
		p[len("arn:aws:iam::"):len(p)-len(":root")] == acct:
		return true, false
	case p == req.Principal.ARN:
		return true, true
	}
	if vals, ok := ev.lookup(foldedPrincipalARN); ok {
		for _, v := range vals {
			if v == p {
				return true, true
			}
		}
	}
	return false, false
}

var foldedPrincipalARN = foldKey(KeyPrincipalARN)
