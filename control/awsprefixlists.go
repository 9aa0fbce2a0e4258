package control

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/stockade/stockade/model"
)

// awsPrefixListData is the table of AWS-managed prefix lists: names, families and weights from
// the VPC User Guide ("Available AWS-managed prefix lists"), IDs recorded from real accounts,
// and a few of each service's published ranges. The file says where each part comes from.
//
//go:embed awsprefixlists.json
var awsPrefixListData []byte

type awsListSpec struct {
	Name    string              `json:"name"`    // "{region}" stands for the region
	Service string              `json:"service"` // its service in AWS's ip-ranges.json
	Family  string              `json:"family"`
	Weight  int                 `json:"weight"`
	Gateway bool                `json:"gateway"` // a gateway-endpoint service: DescribePrefixLists shows it
	IDs     map[string]string   `json:"ids"`
	Entries map[string][]string `json:"entries"`
}

var awsListSpecs = sync.OnceValue(func() []awsListSpec {
	var doc struct {
		Lists []awsListSpec `json:"lists"`
	}
	if err := json.Unmarshal(awsPrefixListData, &doc); err != nil {
		panic("control: awsprefixlists.json: " + err.Error()) // embedded data: caught by any test
	}
	return doc.Lists
})

// awsCatalogue builds, per region, the region's AWS-managed lists sorted by ID, once: they are
// shared by every tenant of the region and immutable, like every object in a tenant's maps.
// Their entries are the operator's copy of AWS's ip-ranges.json when the server was given one
// (Config.AWSIPRanges), else the embedded table's.
type awsCatalogue struct {
	ranges *AWSIPRanges
	lists  sync.Map // region → []*model.PrefixList
}

// regionLists returns the AWS-managed prefix lists of a region, sorted by ID. Every account sees the
// same lists; none is stored.
func (c *awsCatalogue) regionLists(region string) []*model.PrefixList {
	if v, ok := c.lists.Load(region); ok {
		return v.([]*model.PrefixList)
	}
	var out []*model.PrefixList
	for _, spec := range awsListSpecs() {
		name := strings.ReplaceAll(spec.Name, "{region}", region)
		id := spec.IDs[region]
		if id == "" {
			id = derivedListID(region, name)
		}
		v6 := spec.Family == "IPv6"
		pl := &model.PrefixList{ID: id, Name: name, OwnerID: model.AWSOwner, IPv6: v6,
			Weight: spec.Weight, Version: 1, State: "create-complete"}
		if c.ranges != nil && spec.Service != "" {
			rangeRegion := region
			if !strings.Contains(spec.Name, "{region}") {
				rangeRegion = "GLOBAL"
			}
			for _, p := range c.ranges.Prefixes(spec.Service, rangeRegion, v6) {
				pl.Entries = append(pl.Entries, model.PLEntry{CIDR: p})
			}
		} else {
			for _, e := range spec.Entries[region] {
				pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.MustParsePrefix(e)})
			}
		}
		pl.MaxEntries = len(pl.Entries)
		out = append(out, pl)
	}
	slices.SortFunc(out, func(a, b *model.PrefixList) int { return cmp.Compare(a.ID, b.ID) })
	v, _ := c.lists.LoadOrStore(region, out)
	return v.([]*model.PrefixList)
}

// derivedListID gives a list without a recorded ID in a region a stable one of AWS's shape
// (pl- and 8 hex digits, as AWS-managed lists have; customer lists have 17): the same in every
// account and across restarts, as on AWS. The real ID differs.
func derivedListID(region, name string) string {
	sum := sha256.Sum256([]byte(region + "/" + name))
	return "pl-" + hex.EncodeToString(sum[:4])
}

// list returns the region's AWS-managed list with that ID, or nil.
func (c *awsCatalogue) list(region, id string) *model.PrefixList {
	lists := c.regionLists(region)
	if i, ok := slices.BinarySearchFunc(lists, id, func(p *model.PrefixList, id string) int { return cmp.Compare(p.ID, id) }); ok {
		return lists[i]
	}
	return nil
}

// AWSGatewayPrefixLists returns the region's lists of gateway-endpoint services (S3, DynamoDB),
// the ones the older DescribePrefixLists action lists, sorted by ID.
func (s *Service) AWSGatewayPrefixLists(region string) []*model.PrefixList {
	gateway := map[string]bool{}
	for _, spec := range awsListSpecs() {
		if spec.Gateway {
			gateway[strings.ReplaceAll(spec.Name, "{region}", region)] = true
		}
	}
	var out []*model.PrefixList
	for _, pl := range s.aws.regionLists(region) {
		if gateway[pl.Name] {
			out = append(out, pl)
		}
	}
	return out
}

// readOnlyList is the refusal of a change to an AWS-managed list. [UNCONFIRMED] AWS's code for
// modifying or deleting a list it owns was not found in its documentation; an account acting on
// a resource it does not own gets UnauthorizedOperation elsewhere in EC2.
func readOnlyList(pl *model.PrefixList) error {
	return model.UnauthorizedOperation.Errorf("You are not authorized to perform this operation. The prefix list %s (%s) is managed by AWS and cannot be modified, deleted or tagged.", pl.ID, pl.Name)
}

// withOwn merges the region's AWS-managed lists into own, a tenant's lists sorted by ID,
// so that describes, the policy engine and the data plane see both (they are enforced like
// any list). own is shared with other readers (sortedOf) and left as it is: the merge is a
// new slice.
func (c *awsCatalogue) withOwn(region string, own []*model.PrefixList) []*model.PrefixList {
	out := slices.Concat(own, c.regionLists(region))
	slices.SortFunc(out, func(a, b *model.PrefixList) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ownPrefixList is prefixList for changes that only the owner may make (tags): an
// AWS-managed list is refused.
func (tn *tenant) ownPrefixList(id string) (*model.PrefixList, error) {
	pl, err := tn.prefixList(id)
	if err == nil && pl.AWSManaged() {
		return nil, readOnlyList(pl)
	}
	return pl, err
}
