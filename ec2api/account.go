package ec2api

import (
	"strconv"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// describeAccountAttributes reports the account's platform facts and limits (spec §4, §9.6).
func describeAccountAttributes(c *call) error {
	defaultVPC := "none"
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		if d := v.DefaultVPC(); d != nil {
			defaultVPC = d.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	q := c.svc().Quotas()
	all := []struct {
		name   string
		values []string
	}{
		{"supported-platforms", []string{"VPC"}},
		{"default-vpc", []string{defaultVPC}},
		{"max-instances", []string{"20"}},
		{"vpc-max-security-groups-per-interface", []string{strconv.Itoa(q.GroupsPerInterface)}},
		{"max-elastic-ips", []string{"5"}},
		{"vpc-max-elastic-ips", []string{"5"}},
	}
	want := c.req.Strings("AttributeName")
	c.out.open("accountAttributeSet")
	for _, name := range want {
		found := false
		for _, a := range all {
			found = found || a.name == name
		}
		if !found {
			return model.InvalidValue("Value (%s) for parameter attributeName is invalid. Valid values: supported-platforms, default-vpc, max-instances, vpc-max-security-groups-per-interface, max-elastic-ips, vpc-max-elastic-ips", name)
		}
	}
	for _, a := range all {
		if len(want) > 0 && !contains(want, a.name) {
			continue
		}
		c.out.open("item")
		c.out.str("attributeName", a.name)
		c.out.open("attributeValueSet")
		for _, v := range a.values {
			c.out.open("item")
			c.out.str("attributeValue", v)
			c.out.close("item")
		}
		c.out.close("attributeValueSet")
		c.out.close("item")
	}
	c.out.close("accountAttributeSet")
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// describeAvailabilityZones lists the region's zones; the AWS CLI and Terraform ask for them
// before creating subnets.
func describeAvailabilityZones(c *call) error {
	fs, err := zoneFilters.compile(c.req)
	if err != nil {
		return err
	}
	want := c.req.Strings("ZoneName")
	wantIDs := c.req.Strings("ZoneId")
	c.out.open("availabilityZoneInfo")
	for _, z := range control.Zones(c.tenant.Region) {
		row := zoneRow{z, control.ZoneID(z), c.tenant.Region}
		if (len(want) > 0 && !contains(want, z)) || (len(wantIDs) > 0 && !contains(wantIDs, row.id)) || !zoneFilters.match(fs, row) {
			continue
		}
		c.out.open("item")
		c.out.str("zoneName", z)
		c.out.str("zoneId", row.id)
		c.out.str("zoneState", "available")
		c.out.str("regionName", c.tenant.Region)
		c.out.str("zoneType", "availability-zone")
		c.out.str("optInStatus", "opt-in-not-required")
		c.out.str("groupName", c.tenant.Region)
		c.out.str("networkBorderGroup", c.tenant.Region)
		c.out.close("item")
	}
	c.out.close("availabilityZoneInfo")
	return nil
}

type zoneRow struct{ name, id, region string }

var zoneFilters = filterer[zoneRow]{fields: fields[zoneRow]{
	"zone-name":   one2(func(z zoneRow) string { return z.name }),
	"zone-id":     one2(func(z zoneRow) string { return z.id }),
	"region-name": one2(func(z zoneRow) string { return z.region }),
	"state":       func(zoneRow) []string { return one("available") },
	"zone-type":   func(zoneRow) []string { return one("availability-zone") },
}}
