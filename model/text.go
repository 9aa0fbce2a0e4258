package model

import (
	"strings"
	"unicode/utf8"
)

// allowedText is EC2's character set for group names and descriptions and rule descriptions:
// a-zA-Z0-9, space and ._-:/()#,@[]+=&;{}!$* (spec §2.1, §3.5).
func allowedText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" ._-:/()#,@[]+=&;{}!$*", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// NormalizeGroupName validates a security-group name and trims trailing spaces, as EC2 does
// before storing ("Test SG " is stored as "Test SG").
func NormalizeGroupName(s string) (string, error) {
	name := strings.TrimRight(s, " ")
	switch {
	case name == "":
		return "", InvalidValue("Value for parameter GroupName is invalid. The group name must not be empty.")
	case len(name) > 255 || !allowedText(name):
		return "", InvalidValue("Invalid security group name. Valid names are non-empty strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return "", InvalidValue("Group names may not be in the format sg-*")
	}
	return name, nil
}

// ValidateGroupDescription checks a group's description (required, ≤255, EC2's charset).
func ValidateGroupDescription(s string) error {
	if s == "" || len(s) > 255 || !allowedText(s) {
		return InvalidValue("Invalid security group description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// ValidateRuleDescription checks a rule description (optional, ≤255, EC2's charset; `&` is
// accepted everywhere, spec §3.5).
func ValidateRuleDescription(s string) error {
	if len(s) > 255 || !allowedText(s) {
		return InvalidValue("Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// ValidateFreeText checks descriptions that EC2 does not restrict to a character set (network
// interfaces, prefix-list names and entries): at most max characters of printable text (see
// PrintableText).
func ValidateFreeText(field, s string, max int) error {
	if !PrintableText(s) || utf8.RuneCountInString(s) > max {
		return InvalidValue("Value for parameter %s is invalid: it must be at most %d characters of UTF-8 text without control characters.", field, max)
	}
	return nil
}

// PrintableText reports whether s is valid UTF-8 without control characters (C0, DEL, C1)
// and without U+FFFE and U+FFFF. Where EC2 accepts "any Unicode" (tags, descriptions of
// interfaces and prefix lists), Stockade still refuses these: XML 1.0 cannot carry them (the
// reply would show U+FFFD, so a client could not name what it stored, e.g. to delete a tag),
// and a CR is read back as LF by every XML parser. Everything else — letters of any script,
// symbols, emoji, spaces — is kept as given.
func PrintableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (0x7f <= r && r <= 0x9f) || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}

// ValidateInstanceType checks that Stockade knows an instance type (the table in
// instancetype.go). EC2 answers a type it does not offer, "foo.bar" or a real type of a family
// not in the table, with InvalidParameterValue "Invalid value 'foo.bar' for InstanceType."
// (getmoto/moto#1695 quotes the real reply); the name is cut at 64 characters in the message.
func ValidateInstanceType(s string) error {
	if _, ok := LookupInstanceType(s); !ok {
		return InvalidValue("Invalid value '%.64s' for InstanceType.", s)
	}
	return nil
}

// MaxClientTokenLen is the longest ClientToken EC2 accepts: "a unique, case-sensitive
// string of up to 64 ASCII characters".
const MaxClientTokenLen = 64

// ValidateClientToken checks an idempotency token: at most 64 printable ASCII characters
// (empty: no token). The token becomes part of a store key, so it is checked before anything
// is staged. The code is EC2's (InvalidParameterValue); its wording for an over-long or
// non-ASCII token is unknown: the EC2 API reference, botocore, moto and localstack document
// the 64-character limit but no message, so the text below is Stockade's own.
func ValidateClientToken(s string) error {
	if len(s) > MaxClientTokenLen {
		return InvalidValue("Value for parameter clientToken is invalid. The client token must be at most %d ASCII characters; it has %d.", MaxClientTokenLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return InvalidValue("Value for parameter clientToken is invalid. The client token must consist of printable ASCII characters.")
		}
	}
	return nil
}
