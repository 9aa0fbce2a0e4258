package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createTags(c *call) error {
	resources, err := ids(c.req, "ResourceId")
	if err != nil {
		return err
	}
	tags := model.Tags{}
	for _, t := range c.req.List("Tag") {
		if !t.Has("Key") {
			return model.Missing("Tag.N.Key")
		}
		tags[str(t, "Key")] = str(t, "Value")
	}
	return c.returned(c.svc().CreateTags(c.ctx, c.tenant, control.CreateTagsInput{IDs: resources, Tags: tags, DryRun: c.dryRun()}))
}

func deleteTags(c *call) error {
	resources, err := ids(c.req, "ResourceId")
	if err != nil {
		return err
	}
	var changes []control.TagChange
	for _, t := range c.req.List("Tag") {
		v, has := t.String("Value")
		changes = append(changes, control.TagChange{Key: str(t, "Key"), Value: v, HasValue: has})
	}
	return c.returned(c.svc().DeleteTags(c.ctx, c.tenant, control.DeleteTagsInput{IDs: resources, Tags: changes, DryRun: c.dryRun()}))
}

// tagRow is one tag of one resource, the unit of DescribeTags.
type tagRow struct {
	id, typ, key, value string
}

var tagFilters = filterer[tagRow]{
	fields: fields[tagRow]{
		"key":           one2(func(t tagRow) string { return t.key }),
		"value":         func(t tagRow) []string { return one(t.value) },
		"resource-id":   one2(func(t tagRow) string { return t.id }),
		"resource-type": one2(func(t tagRow) string { return t.typ }),
	},
	tagsOf: func(t tagRow) model.Tags { return model.Tags{t.key: t.value} },
}

// describeTags lists tags in the order of control's Tagged (by resource, then key), which is
// also the order of their pagination keys.
var describeTags = describeSpec[tagRow]{
	From: func(_ *call, v control.View) source[tagRow] {
		return source[tagRow]{all: func(yield func(tagRow) bool) {
			for _, res := range v.Tagged() {
				for _, k := range res.Tags.Keys() {
					if !yield(tagRow{res.ID, res.Type, k, res.Tags[k]}) {
						return
					}
				}
			}
		}}
	},
	Filters: tagFilters,
	Key:     func(t tagRow) string { return t.id + "\x00" + t.key },
	Set:     "tagSet",
	Item: func(c *call, t tagRow) {
		c.out.str("resourceId", t.id)
		c.out.str("resourceType", t.typ)
		c.out.str("key", t.key)
		c.out.str("value", t.value)
	},
}
