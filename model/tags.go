package model

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tags are a resource's tags, key to value. Keys are unique and case-sensitive (spec §1.4).
type Tags map[string]string

// Tag limits (spec §1.4).
const (
	MaxTagsPerResource = 50
	MaxTagKeyLen       = 128
	MaxTagValueLen     = 256
)

// Clone returns an independent copy (nil stays nil).
func (t Tags) Clone() Tags { return maps.Clone(t) }

// Keys returns the keys in sorted order, the order describes present them in.
func (t Tags) Keys() []string { return slices.Sorted(maps.Keys(t)) }

// UserCount counts the tags that are charged to the 50-tag limit: keys starting "aws:" are
// reserved for AWS and not counted.
func (t Tags) UserCount() int {
	n := 0
	for k := range t {
		if !ReservedTagKey(k) {
			n++
		}
	}
	return n
}

// ValidateTag checks one user-supplied tag. EC2 itself (unlike the tagging rules of many other
// services) accepts any Unicode in tag keys and values; Stockade refuses only what a reply
// cannot show faithfully (PrintableText). The lengths are counted in characters.
func ValidateTag(key, value string) error {
	switch {
	case key == "":
		return InvalidValue("Tag keys must not be empty.")
	case utf8.RuneCountInString(key) > MaxTagKeyLen:
		return InvalidValue("Tag key exceeds the maximum length of %d characters: %q", MaxTagKeyLen, key)
	case utf8.RuneCountInString(value) > MaxTagValueLen:
		return InvalidValue("Tag value exceeds the maximum length of %d characters: %q", MaxTagValueLen, value)
	case ReservedTagKey(key):
		return ReservedTagKeyError(key)
	case !PrintableText(key):
		return InvalidValue("Tag key %q is invalid: tags may hold any Unicode text except control characters.", key)
	case !PrintableText(value):
		return InvalidValue("Tag value %q is invalid: tags may hold any Unicode text except control characters.", value)
	}
	return nil
}

// ReservedTagKey reports whether a key starts with "aws:" in any letter case: such tags are
// AWS's own, which no user may create or delete (EC2 User Guide, "Tag restrictions").
func ReservedTagKey(key string) bool { return len(key) >= 4 && strings.EqualFold(key[:4], "aws:") }

// ReservedTagKeyError is EC2's refusal of a reserved key, as CreateTags words it on AWS.
func ReservedTagKeyError(key string) error {
	return InvalidValue("Value ( %s ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use", key)
}
