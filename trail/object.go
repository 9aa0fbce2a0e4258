package trail

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// object is a JSON object that keeps its members in the order they were added, so that
// records read like AWS's and golden files stay stable. Values are string, bool,
// json.Number, object or []any.
type object []member

type member struct {
	key string
	val any
}

func (o *object) set(key string, val any) { *o = append(*o, member{key, val}) }

// MarshalJSON writes the members in order; an empty object is {}, never null.
func (o object) MarshalJSON() ([]byte, error) {
	b, ok := appendJSON(nil, o)
	if !ok {
		return nil, errNumber
	}
	return b, nil
}

var errNumber = errors.New("trail: a json.Number that is not a JSON number")

// appendJSON appends v's JSON as encoding/json writes it (HTML-safe escapes included), for the
// values an object holds, without its reflection and without compacting each nested object's
// output again: a record's parameters are encoded once per call, on the request path. ok is
// false for a json.Number that is not a number, which json.Marshal refuses too.
func appendJSON(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), true
	case bool:
		return strconv.AppendBool(b, v), true
	case json.Number:
		if v == "" { // as encoding/json writes an empty Number
			return append(b, '0'), true
		}
		if !validNumber(string(v)) {
			return b, false
		}
		return append(b, v...), true
	case object:
		b = append(b, '{')
		for i, m := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.key)
			b = append(b, ':')
			var ok bool
			if b, ok = appendJSON(b, m.val); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case nil:
		return append(b, "null"...), true
	}
	j, err := json.Marshal(v)
	return append(b, j...), err == nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json does: \b \f \n \r \t
// and \u00XX for other control characters, <, > and & as \u003c \u003e \u0026, U+2028 and
// U+2029 escaped, and invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainJSON[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainJSON marks the ASCII bytes a JSON string holds as they are: not a control character,
// not a quote or a backslash, and not the HTML metacharacters encoding/json escapes.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// validNumber reports whether s is a JSON number (RFC 8259's grammar, as encoding/json checks
// a json.Number).
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		for s = s[1:]; len(s) > 0 && '0' <= s[0] && s[0] <= '9'; s = s[1:] {
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		for s = s[2:]; len(s) > 0 && '0' <= s[0] && s[0] <= '9'; s = s[1:] {
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for ; len(s) > 0 && '0' <= s[0] && s[0] <= '9'; s = s[1:] {
		}
	}
	return s == ""
}

// items is EC2's list encoding (§1.3 rule 2): {"items": […]}, and {} for an empty list.
func items(list []any) object {
	if len(list) == 0 {
		return object{}
	}
	return object{{"items", list}}
}
