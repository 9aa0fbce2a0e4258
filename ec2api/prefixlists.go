package ec2api

import (
	"fmt"
	"strconv"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

var prefixListLimits = pageLimits{1, 100}

func readPLEntries(r *query.Request, key string) []control.PLEntryInput {
	var out []control.PLEntryInput
	for _, e := range r.List(key) {
		out = append(out, control.PLEntryInput{CIDR: str(e, "Cidr"), Description: str(e, "Description")})
	}
	return out
}

func createManagedPrefixList(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "prefix-list")
	if err != nil {
		return err
	}
	max, hasMax, err := optInt(r, "MaxEntries")
	if err != nil {
		return err
	}
	pl, res, err := c.svc().CreatePrefixList(c.ctx, c.tenant, control.CreatePrefixListInput{
		Name: str(r, "PrefixListName"), Family: str(r, "AddressFamily"), MaxEntries: int(max), HasMax: hasMax,
		Entries: readPLEntries(r, "Entry"), Tags: tags, ClientToken: str(r, "ClientToken"), DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	c.written(res).elem("prefixList", func() { c.writePrefixList(pl, "create-in-progress") })
	return nil
}

func modifyManagedPrefixList(c *call) error {
	r := c.req
	in := control.ModifyPrefixListInput{ID: str(r, "PrefixListId"), Add: readPLEntries(r, "AddEntry"), DryRun: c.dryRun()}
	var err error
	if in.CurrentVersion, in.HasCurrent, err = optInt(r, "CurrentVersion"); err != nil {
		return err
	}
	max, hasMax, err := optInt(r, "MaxEntries")
	if err != nil {
		return err
	}
	in.MaxEntries, in.HasMax = int(max), hasMax
	if name, ok := r.String("PrefixListName"); ok {
		in.Name = &name
	}
	for _, e := range r.List("RemoveEntry") {
		in.Remove = append(in.Remove, str(e, "Cidr"))
	}
	pl, res, err := c.svc().ModifyPrefixList(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	c.written(res).elem("prefixList", func() { c.writePrefixList(pl, "modify-in-progress") })
	return nil
}

func deleteManagedPrefixList(c *call) error {
	pl, res, err := c.svc().DeletePrefixList(c.ctx, c.tenant, control.IDInput{ID: str(c.req, "PrefixListId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).elem("prefixList", func() { c.writePrefixList(pl, "delete-in-progress") })
	return nil
}

var prefixListFilters = filterer[*model.PrefixList]{
	fields: fields[*model.PrefixList]{
		"owner-id":         one2(func(p *model.PrefixList) string { return p.OwnerID }),
		"prefix-list-id":   one2(func(p *model.PrefixList) string { return p.ID }),
		"prefix-list-name": one2(func(p *model.PrefixList) string { return p.Name }),
	},
	tagsOf: func(p *model.PrefixList) model.Tags { return p.Tags },
}

var describeManagedPrefixLists = describeSpec[*model.PrefixList]{
	IDs:     []string{"PrefixListId"},
	From:    func(_ *call, v control.View) source[*model.PrefixList] { return src(v.PrefixLists, v.PrefixList) },
	Filters: prefixListFilters,
	Key:     func(p *model.PrefixList) string { return p.ID },
	Limits:  prefixListLimits,
	Set:     "prefixListSet",
	Item:    func(c *call, pl *model.PrefixList) { c.writePrefixList(pl, pl.State) },
}

func getManagedPrefixListEntries(c *call) error {
	id := str(c.req, "PrefixListId")
	if id == "" {
		return model.Missing("PrefixListId")
	}
	target, hasTarget, err := optInt(c.req, "TargetVersion")
	if err != nil {
		return err
	}
	var entries []model.PLEntry
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		pl, err := v.PrefixList(id)
		if err != nil {
			return err
		}
		if !hasTarget {
			target = pl.Version
		}
		var ok bool
		if entries, ok = pl.EntriesAt(target); !ok {
			return model.InvalidValue("Version %d of prefix list %s does not exist or is no longer kept.", target, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rows := make([]model.PLEntry, len(entries))
	copy(rows, entries)
	keys := make([]string, len(rows))
	for i, e := range rows {
		keys[i] = e.CIDR.String()
	}
	sortByKeys(rows, keys)
	page, next, err := paginate(c.req, rows, func(e model.PLEntry) string { return e.CIDR.String() }, prefixListLimits)
	if err != nil {
		return err
	}
	writeSet(c, "entrySet", page, func(c *call, e model.PLEntry) {
		c.out.str("cidr", e.CIDR.String())
		c.out.opt("description", e.Description)
	})
	c.out.opt("nextToken", next)
	return nil
}

func getManagedPrefixListAssociations(c *call) error {
	id := str(c.req, "PrefixListId")
	if id == "" {
		return model.Missing("PrefixListId")
	}
	var users []*model.Group
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		if _, err := v.PrefixList(id); err != nil {
			return err
		}
		users = v.PrefixListUsers(id)
		return nil
	})
	if err != nil {
		return err
	}
	page, next, err := paginate(c.req, users, func(g *model.Group) string { return g.ID }, pageLimits{5, 255})
	if err != nil {
		return err
	}
	writeSet(c, "prefixListAssociationSet", page, func(c *call, g *model.Group) {
		c.out.str("resourceId", g.ID)
		c.out.str("resourceOwner", g.OwnerID)
	})
	c.out.opt("nextToken", next)
	return nil
}

// writePrefixList writes one ManagedPrefixList. An AWS-managed list shows no maxEntries and
// no version, and its ARN names the account "aws", as DescribeManagedPrefixLists shows them on
// AWS.
func (c *call) writePrefixList(pl *model.PrefixList, state string) {
	x := &c.out
	x.str("prefixListId", pl.ID)
	x.str("addressFamily", pl.Family())
	x.str("state", state)
	if pl.AWSManaged() {
		x.str("prefixListArn", fmt.Sprintf("arn:aws:ec2:%s:aws:prefix-list/%s", c.tenant.Region, pl.ID))
	} else {
		x.str("prefixListArn", c.arn("prefix-list/"+pl.ID))
	}
	x.str("prefixListName", pl.Name)
	if !pl.AWSManaged() {
		x.str("maxEntries", strconv.Itoa(pl.MaxEntries))
		x.int("version", pl.Version)
	}
	writeTags(x, pl.Tags)
	x.str("ownerId", pl.OwnerID)
}

// describePrefixLists is the older DescribePrefixLists: the AWS services reachable through
// gateway endpoints (S3, DynamoDB) as prefixListId, prefixListName and cidrSet. It lists only
// AWS's lists, never the account's own. [UNCONFIRMED] MaxResults' bounds are not documented;
// EC2's usual 5–1000 apply.
var describePrefixLists = describeSpec[*model.PrefixList]{
	IDs: []string{"PrefixListId"},
	From: func(c *call, _ control.View) source[*model.PrefixList] {
		lists := c.svc().AWSGatewayPrefixLists(c.tenant.Region)
		return src(func() []*model.PrefixList { return lists }, func(id string) (*model.PrefixList, error) {
			for _, pl := range lists {
				if pl.ID == id {
					return pl, nil
				}
			}
			if !model.ValidID(model.PrefixPrefixList, id) {
				return nil, model.InvalidPrefixListIDMalformed.New(id)
			}
			return nil, model.InvalidPrefixListIDNotFound.New(id)
		})
	},
	Filters: filterer[*model.PrefixList]{fields: fields[*model.PrefixList]{
		"prefix-list-id":   one2(func(p *model.PrefixList) string { return p.ID }),
		"prefix-list-name": one2(func(p *model.PrefixList) string { return p.Name }),
	}},
	Key: func(p *model.PrefixList) string { return p.ID },
	Set: "prefixListSet",
	Item: func(c *call, pl *model.PrefixList) {
		c.out.str("prefixListId", pl.ID)
		c.out.str("prefixListName", pl.Name)
		c.out.open("cidrSet")
		for _, e := range pl.Entries {
			c.out.str("item", e.CIDR.String())
		}
		c.out.close("cidrSet")
	},
}
