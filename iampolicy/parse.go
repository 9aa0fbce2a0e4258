package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Kind says which rules a document is validated against (§4.5).
type Kind uint8

const (
	// Identity covers identity-based policies (inline and managed), permissions boundaries and
	// session policies: Resource or NotResource required, Principal forbidden.
	Identity Kind = iota
	// Trust is a role's trust policy: Principal or NotPrincipal required, Resource forbidden,
	// and only sts:AssumeRole* and sts:TagSession actions.
	Trust
)

// MalformedError is a document that IAM rejects with MalformedPolicyDocument (HTTP 400).
// Message is the text IAM answers with; the IAM API maps the type to its code.
type MalformedError struct {
	Message string
}

func (e *MalformedError) Error() string { return e.Message }

// The messages of §4.5, as moto emulates IAM (getmoto/moto moto/iam/policy_validation.py).
// [UNCONFIRMED] that real IAM words them identically; the principal and trust-action texts are
// IAM's as remembered from real responses, also [UNCONFIRMED].
const (
	msgSyntax         = "Syntax errors in policy."
	msgNoActions      = "Policy statement must contain actions."
	msgNoResources    = "Policy statement must contain resources."
	msgSidUnique      = "Statement IDs (SID) in a single policy must be unique."
	msgVendor         = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgOneColon       = "Actions/Condition can contain only one colon."
	msgLegacy         = "The policy failed legacy parsing"
	msgResourceVendor = "Resource vendor must be fully qualified and cannot contain regexes."
	msgPrincipal      = "Policy document should not specify a principal."
	msgTrustResource  = "Has prohibited field Resource."
	msgTrustPrincipal = "AssumeRole policy contained an invalid principal."
	msgTrustAction    = "AssumeRole policy may only specify STS AssumeRole actions."
	versionCurrent    = "2012-10-17"
	versionLegacy     = "2008-10-17"
)

func malformed(format string, args ...any) error {
	return &MalformedError{Message: fmt.Sprintf(format, args...)}
}

// Policy is a parsed and validated document. It is immutable.
type Policy struct {
	Version    string
	ID         string
	statements []*statement
	trustRefs  []StatementRef // a trust policy's statements, referenced by decisions
}

// Statements returns the number of statements (for quotas and tests).
func (p *Policy) Statements() int { return len(p.statements) }

type statement struct {
	index        int
	sid          string
	deny         bool
	notAction    bool
	actions      []string // compiled wildcard patterns, matched case-insensitively
	hasResource  bool
	notResource  bool
	resources    []textPattern
	hasPrincipal bool
	notPrincipal bool
	principals   []string // AWS principal values; "*" for any
	conds        []condition

	// raw forms for the decoded authorization message
	rawActions, rawResources []string
}

// Parse validates a policy document as IAM receives it (JSON, already URL-decoded) and
// compiles it. An invalid document yields a *MalformedError.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	var top map[string]json.RawMessage
	if err := strictUnmarshal(doc, &top); err != nil || top == nil {
		return nil, &MalformedError{msgSyntax}
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, &MalformedError{msgSyntax}
		}
	}
	p := &Policy{}
	if raw, ok := top["Version"]; ok {
		if json.Unmarshal(raw, &p.Version) != nil || (p.Version != versionCurrent && p.Version != versionLegacy) {
			return nil, &MalformedError{msgSyntax}
		}
	} else {
		// A document without Version is evaluated as 2008-10-17: variables stay literal.
		p.Version = versionLegacy
	}
	if raw, ok := top["Id"]; ok && json.Unmarshal(raw, &p.ID) != nil {
		return nil, &MalformedError{msgSyntax}
	}
	raws, err := statementList(top["Statement"])
	if err != nil {
		return nil, err
	}
	vars := p.Version == versionCurrent
	sids := map[string]bool{}
	for i, raw := range raws {
		st, err := parseStatement(raw, kind, vars)
		if err != nil {
			return nil, err
		}
		st.index = i
		if st.sid != "" {
			if sids[st.sid] {
				return nil, &MalformedError{msgSidUnique}
			}
			sids[st.sid] = true
		}
		p.statements = append(p.statements, st)
		if kind == Trust {
			p.trustRefs = append(p.trustRefs, StatementRef{Set: SetTrust, Index: i, Sid: st.sid, Deny: st.deny, stmt: st})
		}
	}
	return p, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func statementList(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, &MalformedError{msgSyntax}
	case raw[0] == '{':
		return []json.RawMessage{raw}, nil
	case raw[0] == '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			return nil, &MalformedError{msgSyntax}
		}
		return list, nil
	}
	return nil, &MalformedError{msgSyntax}
}

var statementKeys = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
	"Principal", "NotPrincipal", "Condition"}

func parseStatement(raw json.RawMessage, kind Kind, vars bool) (*statement, error) {
	var m map[string]json.RawMessage
	if bytes.TrimSpace(raw)[0] != '{' || strictUnmarshal(raw, &m) != nil {
		return nil, &MalformedError{msgSyntax}
	}
	for k := range m {
		if !slices.Contains(statementKeys, k) {
			return nil, &MalformedError{msgSyntax}
		}
	}
	st := &statement{}
	if raw, ok := m["Sid"]; ok && json.Unmarshal(raw, &st.sid) != nil {
		return nil, &MalformedError{msgSyntax}
	}
	var effect string
	if json.Unmarshal(m["Effect"], &effect) != nil {
		return nil, &MalformedError{msgSyntax}
	}
	switch effect {
	case "Allow":
	case "Deny":
		st.deny = true
	default:
		// moto: a case-insensitive match passes the syntax check and fails "legacy parsing".
		if strings.EqualFold(effect, "Allow") || strings.EqualFold(effect, "Deny") {
			return nil, &MalformedError{msgLegacy}
		}
		return nil, &MalformedError{msgSyntax}
	}
	if err := parseActions(st, m); err != nil {
		return nil, err
	}
	if err := parseResources(st, m, kind, vars); err != nil {
		return nil, err
	}
	if err := parsePrincipals(st, m, kind); err != nil {
		return nil, err
	}
	if raw, ok := m["Condition"]; ok {
		conds, err := parseConditions(raw, vars)
		if err != nil {
			return nil, err
		}
		st.conds = conds
	}
	return st, nil
}

// stringOrList decodes a JSON string or a list of strings; present is false when the key is
// absent. A one-element list and a string are the same thing (§6.1).
func stringOrList(m map[string]json.RawMessage, key string) (vals []string, present bool, err error) {
	raw, ok := m[key]
	if !ok {
		return nil, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true, nil
	}
	if json.Unmarshal(raw, &vals) != nil {
		return nil, true, &MalformedError{msgSyntax}
	}
	return vals, true, nil
}

func parseActions(st *statement, m map[string]json.RawMessage) error {
	acts, hasA, err := stringOrList(m, "Action")
	if err != nil {
		return err
	}
	nacts, hasN, err := stringOrList(m, "NotAction")
	if err != nil {
		return err
	}
	if hasA && hasN {
		return &MalformedError{msgSyntax}
	}
	if hasN {
		acts, st.notAction = nacts, true
	}
	if len(acts) == 0 {
		return &MalformedError{msgNoActions}
	}
	for _, a := range acts {
		if err := validAction(a); err != nil {
			return err
		}
		if hasControl(a) {
			return &MalformedError{msgSyntax}
		}
		st.actions = append(st.actions, a)
	}
	st.rawActions = acts
	return nil
}

func validAction(a string) error {
	if a == "*" {
		return nil
	}
	vendor, rest, ok := strings.Cut(a, ":")
	if !ok {
		return &MalformedError{msgVendor}
	}
	if strings.Contains(rest, ":") {
		return &MalformedError{msgOneColon}
	}
	for _, c := range vendor {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return malformed("Vendor %s is not valid", vendor)
		}
	}
	if vendor == "" {
		return &MalformedError{msgVendor}
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

func parseResources(st *statement, m map[string]json.RawMessage, kind Kind, vars bool) error {
	res, hasR, err := stringOrList(m, "Resource")
	if err != nil {
		return err
	}
	nres, hasN, err := stringOrList(m, "NotResource")
	if err != nil {
		return err
	}
	if hasR && hasN {
		return &MalformedError{msgSyntax}
	}
	if kind == Trust {
		if hasR || hasN {
			return &MalformedError{msgTrustResource}
		}
		return nil
	}
	if hasN {
		res, st.notResource = nres, true
	}
	if len(res) == 0 {
		return &MalformedError{msgNoResources}
	}
	st.hasResource = true
	for _, r := range res {
		if err := validResource(r); err != nil {
			return err
		}
		st.resources = append(st.resources, compileResource(r, vars))
	}
	st.rawResources = res
	return nil
}

// validResource applies moto's resource format checks: "*" or an ARN of the aws partition
// whose service segment is a plain name.
func validResource(r string) error {
	if r == "*" {
		return nil
	}
	if hasControl(r) {
		return &MalformedError{msgSyntax}
	}
	parts := strings.SplitN(r, ":", arnParts)
	if len(parts) < 2 {
		return malformed("Resource %s must be in ARN format or \"*\".", r)
	}
	if parts[0] != "arn" {
		return malformed("Resource %s must be in ARN format or \"*\".", r)
	}
	if parts[1] != "aws" {
		seg := func(i int) string {
			if i < len(parts) {
				return parts[i]
			}
			return "*"
		}
		return malformed("Partition \"%s\" is not valid for resource \"arn:%s:%s:%s:%s:%s\".",
			parts[1], parts[1], seg(2), seg(3), seg(4), seg(5))
	}
	if len(parts) < 3 || strings.ContainsAny(parts[2], "*?") || parts[2] == "" {
		return &MalformedError{msgResourceVendor}
	}
	return nil
}

func parsePrincipals(st *statement, m map[string]json.RawMessage, kind Kind) error {
	raw, hasP := m["Principal"]
	nraw, hasN := m["NotPrincipal"]
	if hasP && hasN {
		return &MalformedError{msgSyntax}
	}
	if kind == Identity {
		if hasP || hasN {
			return &MalformedError{msgPrincipal}
		}
		return nil
	}
	if !hasP && !hasN {
		return &MalformedError{msgTrustPrincipal}
	}
	if hasN {
		raw, st.notPrincipal = nraw, true
	}
	st.hasPrincipal = true
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return &MalformedError{msgTrustPrincipal}
		}
		st.principals = []string{"*"}
	} else {
		var byType map[string]json.RawMessage
		if strictUnmarshal(raw, &byType) != nil || len(byType) == 0 {
			return &MalformedError{msgSyntax}
		}
		for typ := range byType {
			vals, _, err := stringOrList(byType, typ)
			if err != nil {
				return err
			}
			switch typ {
			case "AWS":
				st.principals = append(st.principals, vals...)
			case "Service", "Federated", "CanonicalUser":
				// Valid, but no caller of Stockade is a service or a federated user: these
				// entries match nobody.
			default:
				return &MalformedError{msgTrustPrincipal}
			}
		}
	}
	for _, a := range st.rawActions {
		if !trustAction(a) {
			return &MalformedError{msgTrustAction}
		}
	}
	return nil
}

// trustAction accepts the actions a trust policy may name: sts:AssumeRole and its variants,
// sts:TagSession, sts:SetSourceIdentity, and wildcards that cover sts:AssumeRole.
func trustAction(a string) bool {
	la := strings.ToLower(a)
	return strings.HasPrefix(la, "sts:assumerole") || la == "sts:tagsession" ||
		la == "sts:setsourceidentity" || wildMatch(a, "sts:AssumeRole", true)
}
