package iampolicy

import "strings"

// Policy variables (§6.3): in a 2012-10-17 document, ${key} in a Resource or in a String or
// Arn condition value is replaced by the request's single value of that condition key;
// ${key, 'default'} supplies a value when the key is absent; ${*}, ${?} and ${$} are the
// literal characters. A variable that does not resolve makes the string match nothing.
// Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html

// template is a string with at least one variable, as alternating literal text and keys.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit string // literal text (escapes already mapped to litStar/litQuest)
	// variable marks a variable part; its key may be empty (${} or ${ , 'x'}), which no
	// request has, so that it resolves to its default or to nothing.
	variable   bool
	key        string // folded condition key
	def        string
	hasDefault bool
}

// compileText turns a policy string into its static form (escapes mapped) or, when it holds
// a variable and variables are enabled, a template.
func compileText(s string, vars bool) (static string, tmpl *template) {
	if !vars || !strings.Contains(s, "${") {
		return s, nil
	}
	var parts []tmplPart
	var lit strings.Builder
	hasVar := false
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		body := s[i+2 : i+j]
		s = s[i+j+1:]
		switch body {
		case "*":
			lit.WriteByte(litStar)
			continue
		case "?":
			lit.WriteByte(litQuest)
			continue
		case "$":
			lit.WriteByte('$')
			continue
		}
		p := tmplPart{variable: true}
		key, def, hasDef := strings.Cut(body, ",")
		p.key = foldKey(strings.TrimSpace(key))
		if hasDef {
			def = strings.TrimSpace(def)
			if len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'' {
				p.def, p.hasDefault = def[1:len(def)-1], true
			}
		}
		parts = append(parts, tmplPart{lit: lit.String()}, p)
		lit.Reset()
		hasVar = true
	}
	if !hasVar {
		return lit.String(), nil
	}
	parts = append(parts, tmplPart{lit: lit.String()})
	return "", &template{parts: parts}
}

// render appends the template's text with variables resolved from the request to buf. The
// substituted values are literal: their '*' and '?' are escaped. ok is false when a variable
// has no single value and no default.
func (t *template) render(buf []byte, ev *evalCtx) ([]byte, bool) {
	for i := range t.parts {
		p := &t.parts[i]
		if !p.variable {
			buf = append(buf, p.lit...)
			continue
		}
		vals, ok := ev.lookup(p.key)
		var v string
		switch {
		case ok && len(vals) == 1:
			v = vals[0]
		case p.hasDefault:
			v = p.def
		default:
			return buf, false
		}
		for j := 0; j < len(v); j++ {
			switch c := v[j]; c {
			case '*':
				buf = append(buf, litStar)
			case '?':
				buf = append(buf, litQuest)
			default:
				buf = append(buf, c)
			}
		}
	}
	return buf, true
}
