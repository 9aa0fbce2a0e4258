package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// DHCP option sets (CreateDhcpOptions, AssociateDhcpOptions, DescribeDhcpOptions,
// DeleteDhcpOptions) and CreateDefaultVpc, which makes the default set again if it is gone.

func createDhcpOptions(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "dhcp-options")
	if err != nil {
		return err
	}
	var cfg []model.DhcpConfig
	for _, item := range r.List("DhcpConfiguration") {
		k := str(item, "Key")
		if k == "" {
			return model.Missing("DhcpConfiguration.N.Key")
		}
		cfg = append(cfg, model.DhcpConfig{Key: k, Values: item.Strings("Value")})
	}
	d, res, err := c.svc().CreateDhcpOptions(c.ctx, c.tenant, control.CreateDhcpOptionsInput{Config: cfg, Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).elem("dhcpOptions", func() { writeDhcpOptions(&c.out, d) })
	return nil
}

func associateDhcpOptions(c *call) error {
	r := c.req
	return c.returned(c.svc().AssociateDhcpOptions(c.ctx, c.tenant, control.AssociateDhcpOptionsInput{
		DhcpOptionsID: str(r, "DhcpOptionsId"), VpcID: str(r, "VpcId"), DryRun: c.dryRun()}))
}

var deleteDhcpOptions = deleteByID("DhcpOptionsId", (*control.Service).DeleteDhcpOptions)

var dhcpFilters = filterer[*model.DhcpOptions]{
	fields: fields[*model.DhcpOptions]{
		"dhcp-options-id": one2(func(d *model.DhcpOptions) string { return d.ID }),
		"owner-id":        one2(func(d *model.DhcpOptions) string { return d.OwnerID }),
		"key": func(d *model.DhcpOptions) []string {
			var out []string
			for _, cf := range d.Config {
				out = append(out, cf.Key)
			}
			return out
		},
		"value": func(d *model.DhcpOptions) []string {
			var out []string
			for _, cf := range d.Config {
				out = append(out, cf.Values...)
			}
			return out
		},
	},
	tagsOf: func(d *model.DhcpOptions) model.Tags { return d.Tags },
}

var describeDhcpOptions = describeSpec[*model.DhcpOptions]{
	IDs:     []string{"DhcpOptionsId"},
	From:    func(_ *call, v control.View) source[*model.DhcpOptions] { return src(v.DhcpOptionSets, v.DhcpOptions) },
	Filters: dhcpFilters,
	Key:     func(d *model.DhcpOptions) string { return d.ID },
	Set:     "dhcpOptionsSet",
	Item:    func(c *call, d *model.DhcpOptions) { writeDhcpOptions(&c.out, d) },
}

func writeDhcpOptions(x *xmlWriter, d *model.DhcpOptions) {
	x.str("dhcpOptionsId", d.ID)
	x.open("dhcpConfigurationSet")
	for _, cf := range d.Config {
		x.open("item")
		x.str("key", cf.Key)
		x.open("valueSet")
		for _, v := range cf.Values {
			x.open("item")
			x.str("value", v)
			x.close("item")
		}
		x.close("valueSet")
		x.close("item")
	}
	x.close("dhcpConfigurationSet")
	x.str("ownerId", d.OwnerID)
	writeTags(x, d.Tags)
}

func createDefaultVpc(c *call) error {
	vpc, res, err := c.svc().CreateDefaultVPC(c.ctx, c.tenant, c.dryRun())
	if err != nil {
		return err
	}
	c.written(res).elem("vpc", func() { c.writeVPC(vpc, "pending") })
	return nil
}
