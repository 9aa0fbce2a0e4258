package model

import (
	"strings"
	"testing"
)

// TestTextValidators: what may be stored as free text, tags, client tokens and instance types.
// Control characters, invalid UTF-8 and U+FFFE/U+FFFF were stored raw before and shown as
// U+FFFD (security review §3.16); a 40,000-character client token stopped the service (§6.1).
func TestTextValidators(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"free text: any script and emoji", ValidateFreeText("Description", "Ünïcødé 名前 🚀 ‮", 255), true},
		{"free text: 255 characters", ValidateFreeText("Description", strings.Repeat("é", 255), 255), true},
		{"free text: 256 characters", ValidateFreeText("Description", strings.Repeat("é", 256), 255), false},
		{"free text: NUL", ValidateFreeText("Description", "a\x00b", 255), false},
		{"free text: ESC", ValidateFreeText("Description", "a\x1bb", 255), false},
		{"free text: CR LF", ValidateFreeText("Description", "a\r\nb", 255), false},
		{"free text: C1", ValidateFreeText("Description", "a\u0085b", 255), false},
		{"free text: U+FFFE", ValidateFreeText("Description", "a\ufffeb", 255), false},
		{"free text: invalid UTF-8", ValidateFreeText("Description", "a\xffb", 255), false},
		{"tag: unicode", ValidateTag("名前", "値 🚀"), true},
		{"tag: key with NUL", ValidateTag("k\x00b", "v"), false},
		{"tag: value with \\x01", ValidateTag("k", "v\x01"), false},
		{"tag: value invalid UTF-8", ValidateTag("k", "\xc3"), false},
		{"tag: key 129", ValidateTag(strings.Repeat("k", 129), "v"), false},
		{"tag: value 257", ValidateTag("k", strings.Repeat("v", 257)), false},
		{"token: empty", ValidateClientToken(""), true},
		{"token: 64 printable", ValidateClientToken(strings.Repeat("~", 64)), true},
		{"token: 65", ValidateClientToken(strings.Repeat("a", 65)), false},
		{"token: 40,000", ValidateClientToken(strings.Repeat("a", 40000)), false},
		{"token: non-ASCII", ValidateClientToken("tök"), false},
		{"token: control", ValidateClientToken("t\nk"), false},
		{"instance type", ValidateInstanceType("t3.micro"), true},
		{"instance type: default", ValidateInstanceType(DefaultInstanceType), true},
		{"instance type: unknown", ValidateInstanceType("foo.bar"), false},
		{"instance type: not in the table", ValidateInstanceType("u-6tb1.metal"), false},
		{"instance type: no size", ValidateInstanceType("t3"), false},
		{"instance type: control", ValidateInstanceType("t3.mi\x00cro"), false},
		{"instance type: long", ValidateInstanceType("t3." + strings.Repeat("x", 62)), false},
	} {
		if (c.err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, c.err, c.ok)
		}
		if c.err != nil && !strings.HasPrefix(c.err.Error(), "InvalidParameterValue") {
			t.Errorf("%s: %v, want InvalidParameterValue", c.name, c.err)
		}
	}
}
