package ec2api

import (
	"slices"
	"strings"

	"github.com/stockade/stockade/model"
)

// describeRegions lists the regions this server serves (Config.Regions, a closed set: a
// request scoped to any other is refused before it gets here). Every served region is
// enabled, so AllRegions changes nothing and every region is opt-in-not-required.
func describeRegions(c *call) error {
	fs, err := regionFilters.compile(c.req)
	if err != nil {
		return err
	}
	want := c.req.Strings("RegionName")
	var unknown []string
	for _, name := range want {
		if !contains(c.s.cfg.Regions, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return model.InvalidValue("Invalid region: [%s]", strings.Join(unknown, ", "))
	}
	regions := slices.Clone(c.s.cfg.Regions)
	slices.Sort(regions)
	c.out.open("regionInfo")
	for _, r := range regions {
		if (len(want) > 0 && !contains(want, r)) || !regionFilters.match(fs, r) {
			continue
		}
		c.out.open("item")
		c.out.str("regionName", r)
		c.out.str("regionEndpoint", regionEndpoint(r))
		c.out.str("optInStatus", "opt-in-not-required")
		c.out.close("item")
	}
	c.out.close("regionInfo")
	return nil
}

func regionEndpoint(region string) string { return "ec2." + region + ".amazonaws.com" }

var regionFilters = filterer[string]{fields: fields[string]{
	"region-name":   one,
	"endpoint":      func(r string) []string { return one(regionEndpoint(r)) },
	"opt-in-status": func(string) []string { return one("opt-in-not-required") },
}}
