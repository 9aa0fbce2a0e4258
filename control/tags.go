package control

import (
	"context"

	"github.com/stockade/stockade/model"
)

// TagChange is one Tag.N of DeleteTags: a key, and optionally a value that must match.
type TagChange struct {
	Key      string
	Value    string
	HasValue bool
}

// taggable finds a resource by ID and returns its tags and a function that stores a copy of the
// resource with new tags. The ID's prefix picks the kind (kinds.go).
func (tx *tx) taggable(id string) (model.Tags, func(model.Tags), error) {
	if k, ok := kindByPrefix[model.IDPrefix(id)]; ok {
		return k.taggable(tx, id)
	}
	return nil, nil, model.InvalidID.Errorf("The ID '%s' is not valid", id)
}

// CreateTagsInput are CreateTags' parameters.
type CreateTagsInput struct {
	IDs    []string
	Tags   model.Tags
	DryRun bool
}

// CreateTags adds or overwrites tags on up to 1000 resources, all or nothing.
func (s *Service) CreateTags(ctx context.Context, t Tenant, in CreateTagsInput) (Result, error) {
	ids, tags := in.IDs, in.Tags
	if len(ids) == 0 {
		return Result{}, model.Missing("ResourceId")
	}
	if len(ids) > 1000 {
		return Result{}, model.InvalidValue("Too many resources: at most 1000 resource IDs may be tagged in one request")
	}
	if len(tags) == 0 {
		return Result{}, model.Missing("Tag")
	}
	for k, v := range tags {
		if err := model.ValidateTag(k, v); err != nil {
			return Result{}, err
		}
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		return tx.retag(ids, func(old model.Tags) (model.Tags, error) {
			nt := old.Clone()
			if nt == nil {
				nt = model.Tags{}
			}
			for k, v := range tags {
				nt[k] = v
			}
			if nt.UserCount() > model.MaxTagsPerResource {
				return nil, model.TagLimitExceeded.New()
			}
			return nt, nil
		})
	})
}

// retag gives each resource of ids the tags edit makes of its current ones (edit must not
// change those); edit returns nil to leave them as they are. The first unknown resource or
// error from edit fails the whole write.
func (tx *tx) retag(ids []string, edit func(old model.Tags) (model.Tags, error)) error {
	for _, id := range ids {
		old, store, err := tx.taggable(id)
		if err != nil {
			return err
		}
		nt, err := edit(old)
		if err != nil {
			return err
		}
		if nt != nil {
			store(nt)
		}
	}
	return nil
}

// DeleteTagsInput are DeleteTags' parameters.
type DeleteTagsInput struct {
	IDs    []string
	Tags   []TagChange // none: every user tag
	DryRun bool
}

// DeleteTags removes tags (spec §1.4): a key alone deletes it whatever its value, a key with a
// value only when the value matches, and no tags at all deletes every user tag.
func (s *Service) DeleteTags(ctx context.Context, t Tenant, in DeleteTagsInput) (Result, error) {
	ids, tags := in.IDs, in.Tags
	if len(ids) == 0 {
		return Result{}, model.Missing("ResourceId")
	}
	for _, c := range tags {
		if c.Key == "" {
			return Result{}, model.InvalidValue("Tag keys must not be empty.")
		}
		if model.ReservedTagKey(c.Key) {
			return Result{}, model.ReservedTagKeyError(c.Key)
		}
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		return tx.retag(ids, func(old model.Tags) (model.Tags, error) {
			nt := old.Clone()
			for k, v := range old {
				if len(tags) == 0 {
					if !model.ReservedTagKey(k) {
						delete(nt, k)
					}
					continue
				}
				for _, c := range tags {
					if c.Key == k && (!c.HasValue || c.Value == v) {
						delete(nt, k)
					}
				}
			}
			if len(nt) == len(old) {
				return nil, nil // nothing deleted: no write
			}
			return nt, nil
		})
	})
}

// TaggedResource is one row of DescribeTags.
type TaggedResource struct {
	ID   string
	Type string // EC2's resource type: "security-group", "vpc", …
	Tags model.Tags
}
