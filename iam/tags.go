package iam

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tags on users and roles (TagUser, UntagUser, ListUserTags and the Role variants). They feed
// aws:PrincipalTag/<key>, so their rules are IAM's, from botocore's model (tagKeyType,
// tagValueType, tagListType) and the IAM User Guide's "Tagging IAM resources":
//   - at most 50 tags on an entity (LimitExceeded) and 50 in one request (ValidationError);
//   - a key is 1–128 characters, a value 0–256, both of [\p{L}\p{Z}\p{N}_.:/=+\-@];
//   - keys are case-insensitive: two keys of one request that differ only in case are
//     InvalidInput, and tagging with a key an entity already has, in any case, replaces that
//     tag (the key takes the new spelling [UNCONFIRMED]);
//   - keys beginning with "aws:" are AWS's own (InvalidInput [UNCONFIRMED text]).
// The messages are those moto emulates ([UNCONFIRMED] against IAM); the quota message follows
// IAM's "Cannot exceed quota for …" form with the quota's name [UNCONFIRMED].

// MaxTags is how many tags a user or a role can carry.
const MaxTags = 50

var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

const (
	tagPatternText  = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	msgDuplicateTag = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
)

// checkTags validates a request's tag list (CreateUser, CreateRole, TagUser, TagRole); nothing
// is changed when it fails.
func checkTags(tags []Tag) *Error {
	if len(tags) > MaxTags {
		return validation("", "tags", "Member must have length less than or equal to 50")
	}
	seen := map[string]bool{}
	for i, t := range tags {
		field := "tags." + strconv.Itoa(i+1) + ".member."
		if err := checkTagKey(t.Key, field+"key"); err != nil {
			return err
		}
		switch {
		case utf8.RuneCountInString(t.Value) > 256:
			return validation(t.Value, field+"value", "Member must have length less than or equal to 256")
		case !tagPattern.MatchString(t.Value):
			return validation(t.Value, field+"value", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		}
		k := key(t.Key)
		if seen[k] {
			return InvalidInput.Errorf(msgDuplicateTag)
		}
		seen[k] = true
	}
	for _, t := range tags {
		if strings.HasPrefix(key(t.Key), "aws:") {
			return InvalidInput.Errorf("Tag keys beginning with 'aws:' are reserved for AWS use: %s", t.Key)
		}
	}
	return nil
}

// checkTagKey validates one tag key; field is its member path ("tags.1.member.key",
// "tagKeys.2").
func checkTagKey(k, field string) *Error {
	switch n := utf8.RuneCountInString(k); {
	case n == 0:
		return validation(k, field, "Member must have length greater than or equal to 1")
	case n > 128:
		return validation(k, field, "Member must have length less than or equal to 128")
	case !tagPattern.MatchString(k):
		return validation(k, field, "Member must satisfy regular expression pattern: "+tagPatternText)
	}
	return nil
}

// checkTagKeys validates UntagUser's and UntagRole's TagKeys.
func checkTagKeys(keys []string) *Error {
	if len(keys) > MaxTags {
		return validation("", "tagKeys", "Member must have length less than or equal to 50")
	}
	for i, k := range keys {
		if err := checkTagKey(k, "tagKeys."+strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	return nil
}

// mergeTags returns old with add applied: a key already there (in any case) is replaced in
// place, a new one appended. Neither input is changed.
func mergeTags(old, add []Tag) []Tag {
	out := append([]Tag(nil), old...)
	for _, t := range add {
		i := indexTag(out, t.Key)
		if i < 0 {
			out = append(out, t)
			continue
		}
		out[i] = t
	}
	return out
}

// removeTags returns old without the tags whose keys are listed (in any case); keys it does
// not carry are ignored, as IAM does.
func removeTags(old []Tag, keys []string) []Tag {
	var out []Tag
	for _, t := range old {
		drop := false
		for _, k := range keys {
			if key(k) == key(t.Key) {
				drop = true
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

func indexTag(tags []Tag, k string) int {
	for i, t := range tags {
		if key(t.Key) == key(k) {
			return i
		}
	}
	return -1
}

// tagPage pages through an entity's tags in order of their (case-folded) keys.
func tagPage(tags []Tag, p Page) ([]Tag, string, *Error) {
	m := make(map[string]*Tag, len(tags))
	for i := range tags {
		m[key(tags[i].Key)] = &tags[i]
	}
	got, next, err := page(m, p, nil)
	out := make([]Tag, len(got))
	for i, t := range got {
		out[i] = *t
	}
	return out, next, err
}

// tagTarget is what the tag actions need of an entity kind (users, roles).
type tagTarget struct {
	field   string // the name's member in validation messages
	maxName int
	quota   string // the quota's name in LimitExceeded
	missing func(name string) *Error
	tags    func(a *acct, k string) ([]Tag, bool)
	put     func(tx *tx, k string, tags []Tag) // stores a changed copy
}

var (
	userTags = tagTarget{field: "userName", maxName: 128, quota: "TagsPerUser", missing: noSuchUser,
		tags: func(a *acct, k string) ([]Tag, bool) {
			u, ok := a.users[k]
			if !ok {
				return nil, false
			}
			return u.Tags, true
		},
		put: func(tx *tx, k string, tags []Tag) {
			c := cloneUser(tx.a.users[k])
			c.Tags = tags
			set(tx, tx.a.users, kindUser, k, c)
		}}
	roleTags = tagTarget{field: "roleName", maxName: 64, quota: "TagsPerRole", missing: noSuchRole,
		tags: func(a *acct, k string) ([]Tag, bool) {
			r, ok := a.roles[k]
			if !ok {
				return nil, false
			}
			return r.Tags, true
		},
		put: func(tx *tx, k string, tags []Tag) {
			c := cloneRole(tx.a.roles[k])
			c.Tags = tags
			set(tx, tx.a.roles, kindRole, k, c)
		}}
)

// tag adds tags to an entity or replaces the values of keys it has. The whole request fails,
// and nothing changes, if one tag is invalid or the entity would carry more than 50.
func (s *Service) tag(ctx context.Context, t tagTarget, account, name string, tags []Tag) error {
	if err := checkName(name, t.field, t.maxName); err != nil {
		return err
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		old, ok := t.tags(tx.a, key(name))
		if !ok {
			return t.missing(name)
		}
		merged := mergeTags(old, tags)
		if len(merged) > MaxTags {
			return LimitExceeded.Errorf("Cannot exceed quota for %s: %d", t.quota, MaxTags)
		}
		t.put(tx, key(name), merged)
		return nil
	})
}

// untag removes the tags with the given keys from an entity.
func (s *Service) untag(ctx context.Context, t tagTarget, account, name string, keys []string) error {
	if err := checkName(name, t.field, t.maxName); err != nil {
		return err
	}
	if err := checkTagKeys(keys); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		old, ok := t.tags(tx.a, key(name))
		if !ok {
			return t.missing(name)
		}
		t.put(tx, key(name), removeTags(old, keys))
		return nil
	})
}

// listTags lists an entity's tags by key.
func (s *Service) listTags(t tagTarget, account, name string, p Page) (tags []Tag, next string, err error) {
	err = s.read(account, func(a *acct) error {
		all, ok := t.tags(a, key(name))
		if !ok {
			return t.missing(name)
		}
		var perr *Error
		if tags, next, perr = tagPage(all, p); perr != nil {
			return perr
		}
		return nil
	})
	return tags, next, err
}

// TagUser adds tags to a user or replaces the values of keys it has, all or nothing.
func (s *Service) TagUser(ctx context.Context, account, name string, tags []Tag) error {
	return s.tag(ctx, userTags, account, name, tags)
}

// UntagUser removes the tags with the given keys from a user.
func (s *Service) UntagUser(ctx context.Context, account, name string, keys []string) error {
	return s.untag(ctx, userTags, account, name, keys)
}

// ListUserTags lists a user's tags by key.
func (s *Service) ListUserTags(_ context.Context, account, name string, p Page) ([]Tag, string, error) {
	return s.listTags(userTags, account, name, p)
}

// TagRole adds tags to a role or replaces the values of keys it has, all or nothing.
func (s *Service) TagRole(ctx context.Context, account, name string, tags []Tag) error {
	return s.tag(ctx, roleTags, account, name, tags)
}

// UntagRole removes the tags with the given keys from a role.
func (s *Service) UntagRole(ctx context.Context, account, name string, keys []string) error {
	return s.untag(ctx, roleTags, account, name, keys)
}

// ListRoleTags lists a role's tags by key.
func (s *Service) ListRoleTags(_ context.Context, account, name string, p Page) ([]Tag, string, error) {
	return s.listTags(roleTags, account, name, p)
}
