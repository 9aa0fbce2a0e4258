package audit

import (
	"encoding/json"
	"strings"
)

// MON-001 and MON-002 ask whether an enabled alert rule fires on every one of the six
// mutation events CIS 4.10 / 4.11 name (trail-iam §3.3). A rule does when its EventBridge
// pattern (trail-iam §3.2) matches the "AWS API Call via CloudTrail" event of a successful
// call of that name in the audited account and region, whatever the call's parameters.
//
// covers decides that for the patterns people write for this, not for every pattern:
//
//   - source and detail-type, when named, must admit aws.ec2 and "AWS API Call via CloudTrail";
//     account and region, when named, the audited ones;
//   - detail.eventName is matched by its leaf: exact strings, prefix, suffix,
//     equals-ignore-case, wildcard, anything-but (a string, a list, or a prefix/suffix/
//     wildcard/equals-ignore-case inside it), exists true; a missing eventName admits all;
//   - detail.eventSource must admit ec2.amazonaws.com; detail.errorCode may only ask
//     {"exists": false} (successful calls) and detail.readOnly only [false];
//   - $or, at the top or in detail, covers when one branch does (with the rest of the
//     pattern).
//
// Any other field the pattern constrains (requestParameters, userIdentity, a numeric or cidr
// operator…) makes the rule fire on some calls of that name only, so it does not count: an
// alert on "SSH opened to the world" is not monitoring of every change.
func covers(pattern json.RawMessage, account, region, eventName string) bool {
	var p map[string]json.RawMessage
	if json.Unmarshal(pattern, &p) != nil {
		return false
	}
	return coversTop(p, account, region, eventName)
}

func coversTop(p map[string]json.RawMessage, account, region, name string) bool {
	if branches, ok := p["$or"]; ok {
		return orCovers(p, branches, func(q map[string]json.RawMessage) bool { return coversTop(q, account, region, name) })
	}
	for k, v := range p {
		var ok bool
		switch k {
		case "source":
			ok = leafAdmits(v, "aws.ec2")
		case "detail-type":
			ok = leafAdmits(v, "AWS API Call via CloudTrail")
		case "account":
			ok = leafAdmits(v, account)
		case "region":
			ok = leafAdmits(v, region)
		case "detail":
			var d map[string]json.RawMessage
			ok = json.Unmarshal(v, &d) == nil && coversDetail(d, name)
		}
		if !ok {
			return false
		}
	}
	return true
}

func coversDetail(d map[string]json.RawMessage, name string) bool {
	if branches, ok := d["$or"]; ok {
		return orCovers(d, branches, func(q map[string]json.RawMessage) bool { return coversDetail(q, name) })
	}
	for k, v := range d {
		var ok bool
		switch k {
		case "eventName":
			ok = leafAdmits(v, name)
		case "eventSource":
			ok = leafAdmits(v, "ec2.amazonaws.com")
		case "errorCode":
			ok = onlyAbsent(v)
		case "readOnly":
			var xs []any
			ok = json.Unmarshal(v, &xs) == nil && len(xs) > 0 && xs[0] == false && len(xs) == 1
		}
		if !ok {
			return false
		}
	}
	return true
}

// orCovers: the pattern p without $or, joined with one of the branches, covers.
func orCovers(p map[string]json.RawMessage, branches json.RawMessage, covers func(map[string]json.RawMessage) bool) bool {
	var bs []map[string]json.RawMessage
	if json.Unmarshal(branches, &bs) != nil {
		return false
	}
	for _, b := range bs {
		q := map[string]json.RawMessage{}
		for k, v := range p {
			if k != "$or" {
				q[k] = v
			}
		}
		clash := false
		for k, v := range b {
			if _, dup := q[k]; dup {
				clash = true // the same field in both: both must match; not the patterns we read
			}
			q[k] = v
		}
		if !clash && covers(q) {
			return true
		}
	}
	return false
}

// onlyAbsent reports whether a leaf is exactly [{"exists": false}].
func onlyAbsent(v json.RawMessage) bool {
	var xs []map[string]any
	return json.Unmarshal(v, &xs) == nil && len(xs) == 1 && len(xs[0]) == 1 && xs[0]["exists"] == false
}

// leafAdmits reports whether a pattern leaf (an array of alternatives) matches the string s.
func leafAdmits(v json.RawMessage, s string) bool {
	var alts []any
	if json.Unmarshal(v, &alts) != nil {
		return false
	}
	for _, a := range alts {
		if alternativeAdmits(a, s) {
			return true
		}
	}
	return false
}

func alternativeAdmits(a any, s string) bool {
	switch a := a.(type) {
	case string:
		return a == s
	case map[string]any:
		if len(a) != 1 {
			return false
		}
		for op, arg := range a {
			switch op {
			case "exists":
				return arg == true
			case "anything-but":
				return !anythingButExcludes(arg, s)
			default:
				return stringOp(op, arg, s)
			}
		}
	}
	return false
}

// stringOp applies prefix, suffix, equals-ignore-case and wildcard (with their
// equals-ignore-case forms: {"prefix": {"equals-ignore-case": "auth"}}).
func stringOp(op string, arg any, s string) bool {
	fold := false
	if m, ok := arg.(map[string]any); ok && len(m) == 1 {
		if x, ok := m["equals-ignore-case"].(string); ok {
			arg, fold = x, true
		}
	}
	x, ok := arg.(string)
	if !ok {
		return false
	}
	v := s
	if fold {
		x, v = strings.ToLower(x), strings.ToLower(s)
	}
	switch op {
	case "prefix":
		return strings.HasPrefix(v, x)
	case "suffix":
		return strings.HasSuffix(v, x)
	case "equals-ignore-case":
		return strings.EqualFold(x, s)
	case "wildcard":
		return wildcard(x, v)
	}
	return false
}

// anythingButExcludes reports whether anything-but's argument names s (so the leaf does not
// admit it): a string, a list of strings, or one string operator.
func anythingButExcludes(arg any, s string) bool {
	switch arg := arg.(type) {
	case string:
		return arg == s
	case []any:
		for _, x := range arg {
			if x == s {
				return true
			}
		}
		return false
	case map[string]any:
		for op, x := range arg {
			if op == "equals-ignore-case" {
				if xs, ok := x.([]any); ok {
					for _, y := range xs {
						if y, ok := y.(string); ok && strings.EqualFold(y, s) {
							return true
						}
					}
					return false
				}
			}
			return stringOp(op, x, s)
		}
	}
	return false
}

// wildcard matches EventBridge's wildcard: * is any run of characters, \* and \\ are a
// literal * and \.
func wildcard(p, s string) bool {
	var lit []string // the pattern split at unescaped *, escapes resolved
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			b.WriteByte(p[i])
		case p[i] == '*':
			lit = append(lit, b.String())
			b.Reset()
		default:
			b.WriteByte(p[i])
		}
	}
	lit = append(lit, b.String())
	if len(lit) == 1 {
		return s == lit[0]
	}
	if !strings.HasPrefix(s, lit[0]) {
		return false
	}
	s = s[len(lit[0]):]
	last := lit[len(lit)-1]
	for _, l := range lit[1 : len(lit)-1] {
		i := strings.Index(s, l)
		if i < 0 {
			return false
		}
		s = s[i+len(l):]
	}
	return strings.HasSuffix(s, last)
}
