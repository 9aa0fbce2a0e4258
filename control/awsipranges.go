package control

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
)

// AWSIPRanges is AWS's published address ranges (https://ip-ranges.amazonaws.com/ip-ranges.json),
// as the operator downloaded them: the entries of the AWS-managed prefix lists. AWS changes
// the file several times a week; Stockade reads the operator's copy at start-up rather than
// fetching it, so that a server never reaches out to the internet on its own.
type AWSIPRanges struct {
	SyncToken  string
	CreateDate string
	// ranges maps service → region → family (false: IPv4) → prefixes, sorted.
	ranges map[string]map[string]map[bool][]netip.Prefix
}

// ParseAWSIPRanges reads an ip-ranges.json. Every prefix must parse: a damaged file is refused,
// never read in part.
func ParseAWSIPRanges(r io.Reader) (*AWSIPRanges, error) {
	var doc struct {
		SyncToken  string `json:"syncToken"`
		CreateDate string `json:"createDate"`
		Prefixes   []struct {
			Prefix  string `json:"ip_prefix"`
			Region  string `json:"region"`
			Service string `json:"service"`
		} `json:"prefixes"`
		IPv6Prefixes []struct {
			Prefix  string `json:"ipv6_prefix"`
			Region  string `json:"region"`
			Service string `json:"service"`
		} `json:"ipv6_prefixes"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("ip-ranges.json: %w", err)
	}
	if doc.SyncToken == "" || len(doc.Prefixes) == 0 {
		return nil, fmt.Errorf("ip-ranges.json: no syncToken or no prefixes: not AWS's ip-ranges.json")
	}
	out := &AWSIPRanges{SyncToken: doc.SyncToken, CreateDate: doc.CreateDate, ranges: map[string]map[string]map[bool][]netip.Prefix{}}
	add := func(service, region, prefix string, v6 bool) error {
		p, err := netip.ParsePrefix(prefix)
		if err != nil || p.Addr().Is6() != v6 || p != p.Masked() {
			return fmt.Errorf("ip-ranges.json: %s prefix %q of %s in %s is not a canonical prefix", map[bool]string{false: "IPv4", true: "IPv6"}[v6], prefix, service, region)
		}
		if out.ranges[service] == nil {
			out.ranges[service] = map[string]map[bool][]netip.Prefix{}
		}
		if out.ranges[service][region] == nil {
			out.ranges[service][region] = map[bool][]netip.Prefix{}
		}
		out.ranges[service][region][v6] = append(out.ranges[service][region][v6], p)
		return nil
	}
	for _, p := range doc.Prefixes {
		if err := add(p.Service, p.Region, p.Prefix, false); err != nil {
			return nil, err
		}
	}
	for _, p := range doc.IPv6Prefixes {
		if err := add(p.Service, p.Region, p.Prefix, true); err != nil {
			return nil, err
		}
	}
	for _, regions := range out.ranges {
		for _, fams := range regions {
			for v6, ps := range fams {
				slices.SortFunc(ps, func(a, b netip.Prefix) int {
					return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
				})
				fams[v6] = slices.Compact(ps)
			}
		}
	}
	return out, nil
}

// Prefixes are the ranges of service in region (GLOBAL for global services), of one family.
func (r *AWSIPRanges) Prefixes(service, region string, v6 bool) []netip.Prefix {
	return r.ranges[service][region][v6]
}
