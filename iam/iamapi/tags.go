package iamapi

import (
	"strconv"

	"github.com/stockade/stockade/iam"
)

// The tag actions of users and roles (TagUser, UntagUser, ListUserTags and the Role variants).

// tagActions adds them to an IAM handler's table.
func tagActions(actions map[string]action) {
	for _, e := range []struct {
		name  string
		field string
		tag   func(r *request, name string, tags []iam.Tag) error
		untag func(r *request, name string, keys []string) error
		list  func(r *request, name string, p iam.Page) ([]iam.Tag, string, error)
	}{
		{"User", "UserName",
			func(r *request, n string, t []iam.Tag) error {
				return r.svc.TagUser(r.Context(), r.caller.Account, n, t)
			},
			func(r *request, n string, k []string) error {
				return r.svc.UntagUser(r.Context(), r.caller.Account, n, k)
			},
			func(r *request, n string, p iam.Page) ([]iam.Tag, string, error) {
				return r.svc.ListUserTags(r.Context(), r.caller.Account, n, p)
			}},
		{"Role", "RoleName",
			func(r *request, n string, t []iam.Tag) error {
				return r.svc.TagRole(r.Context(), r.caller.Account, n, t)
			},
			func(r *request, n string, k []string) error {
				return r.svc.UntagRole(r.Context(), r.caller.Account, n, k)
			},
			func(r *request, n string, p iam.Page) ([]iam.Tag, string, error) {
				return r.svc.ListRoleTags(r.Context(), r.caller.Account, n, p)
			}},
	} {
		actions["Tag"+e.name] = func(r *request) (any, error) {
			name, err := r.required(e.field)
			if err != nil {
				return nil, err
			}
			tags, err := r.requiredTags()
			if err != nil {
				return nil, err
			}
			return nil, e.tag(r, name, tags)
		}
		actions["Untag"+e.name] = func(r *request) (any, error) {
			name, err := r.required(e.field)
			if err != nil {
				return nil, err
			}
			keys := r.list("TagKeys")
			if keys == nil {
				return nil, missing("tagKeys")
			}
			return nil, e.untag(r, name, keys)
		}
		actions["List"+e.name+"Tags"] = func(r *request) (any, error) {
			name, err := r.required(e.field)
			if err != nil {
				return nil, err
			}
			p, err := r.page()
			if err != nil {
				return nil, err
			}
			tags, next, err := e.list(r, name, p)
			if err != nil {
				return nil, err
			}
			// Tags is required in the reply: an entity without tags answers <Tags/>.
			out := struct {
				Tags tagsXML
				truncation
			}{truncation: truncated(next)}
			for _, t := range tags {
				out.Tags.Member = append(out.Tags.Member, tagXML{t.Key, t.Value})
			}
			return out, nil
		}
	}
}

// requiredTags reads Tags.member.N as TagUser and TagRole need them: the list and every
// tag's Key and Value must be given (a Value may be empty, never absent).
func (r *request) requiredTags() ([]iam.Tag, error) {
	tags := r.tags()
	if tags == nil {
		return nil, missing("tags")
	}
	for i := range tags {
		p := "Tags.member." + strconv.Itoa(i+1) + ".Value"
		if _, ok := r.params[p]; !ok {
			return nil, missing("tags." + strconv.Itoa(i+1) + ".member.value")
		}
	}
	return tags, nil
}

// missing is the error for an absent required member, named by its path in AWS's form.
func missing(field string) error {
	return iam.ValidationError.Errorf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}
