package sigv4

import (
	"fmt"
	"regexp"
	"strings"
)

// commercialRegions are the regions of AWS's commercial partition ("aws"), as the AWS SDK's
// partition metadata lists them (aws-sdk-go-v2 v1.48.0, internal/endpoints/awsrulesfn/
// partitions.json, without its pseudo-region aws-global). China, GovCloud, the ISO partitions
// and the European Sovereign Cloud are other partitions; an operator adds them with --regions.
var commercialRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1",
	"ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1",
	"me-south-1", "me-central-1", "me-west-1",
	"mx-central-1",
	"sa-east-1", "sa-west-1",
}

// CommercialRegions returns AWS's commercial regions, the default closed set a server serves.
func CommercialRegions() []string { return append([]string(nil), commercialRegions...) }

// maxRegionLen bounds a region name: the longest AWS name today is 14 characters
// (ap-southeast-7); anything much longer is refused before it is compared, logged or stored.
const maxRegionLen = 32

// regionShape is the shape of AWS region names: us-east-1, eu-central-2, us-gov-west-1.
var regionShape = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// ParseRegions parses a comma-separated list of region names (the server's --regions flag):
// each must have the shape of an AWS region name; duplicates are dropped, order is kept.
func ParseRegions(list string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if len(r) > maxRegionLen || !regionShape.MatchString(r) {
			return nil, fmt.Errorf("%q is not a region name (like us-east-1)", clip(r))
		}
		if !contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no region named: give at least one, like us-east-1")
	}
	return out, nil
}

// clip shortens a client-supplied string quoted in a message: error texts and logs stay small
// whatever a client sends.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
