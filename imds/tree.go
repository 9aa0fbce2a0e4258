package imds

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
)

// versions are the API versions GET / lists (EC2 guide "instancedata-data-retrieval"). Every
// dated version is served as an alias of latest [DESIGN]: the paths the lab serves have not
// changed meaning between versions.
var versions = []string{
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
	"2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25",
	"2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28",
	"2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23",
	"2021-07-15", "2022-09-24", "latest",
}

// node is an entry of the metadata tree: a value (a leaf) or a directory.
type node struct {
	value   []byte
	entries []entry // a directory when non-nil
}

type entry struct {
	name  string // the path segment
	label string // what the listing shows; name (plus "/" for directories) when empty
	node  *node
}

func leaf(s string) *node { return &node{value: []byte(s)} }

func lines(xs []string) *node { return leaf(strings.Join(xs, "\n")) }

// dir builds a directory from name/node pairs; a nil node is left out (an optional entry).
func dir(es ...entry) *node {
	d := &node{entries: []entry{}}
	for _, e := range es {
		if e.node != nil {
			d.entries = append(d.entries, e)
		}
	}
	slices.SortFunc(d.entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return d
}

func e(name string, n *node) entry { return entry{name: name, node: n} }

// listing is a directory's body: one entry a line, sub-directories ending in "/".
func (n *node) listing() []byte {
	var b strings.Builder
	for i, e := range n.entries {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case e.label != "":
			b.WriteString(e.label)
		case e.node.entries != nil:
			b.WriteString(e.name + "/")
		default:
			b.WriteString(e.name)
		}
	}
	return []byte(b.String())
}

func (n *node) child(name string) *node {
	for _, e := range n.entries {
		if e.name == name {
			return e.node
		}
	}
	return nil
}

// tree is what /latest/ serves for in, built per request from the live view.
func tree(in Instance) *node {
	var ud *node
	if in.UserData != nil {
		ud = &node{value: in.UserData}
	}
	return dir(
		e("meta-data", metaData(in)),
		e("user-data", ud),
		e("dynamic", dir(e("instance-identity", dir(e("document", leaf(identityDocument(in))))))),
	)
}

func metaData(in Instance) *node {
	var keys *node
	if in.PublicKey != "" {
		keys = dir(entry{name: "0", label: "0=" + in.KeyName, node: dir(e("openssh-key", leaf(in.PublicKey)))})
	}
	var tags *node
	if in.Options.InstanceMetadataTags == model.Enabled {
		var ts []entry
		for k, v := range in.Tags {
			// A key that is not one path segment cannot be served; EC2 refuses such keys while
			// tags are in the metadata.
			if k != "" && k != "." && k != ".." && !strings.Contains(k, "/") {
				ts = append(ts, e(k, leaf(v)))
			}
		}
		tags = dir(e("instance", dir(ts...)))
	}
	var primaryGroups []string
	var ipv6 *node // the primary interface's first IPv6 address (EC2: Nitro instances only)
	macs := make([]entry, 0, len(in.Interfaces))
	for i, ni := range in.Interfaces {
		if i == 0 {
			primaryGroups = ni.GroupNames
			if len(ni.IPv6s) > 0 {
				ipv6 = leaf(ni.IPv6s[0].String())
			}
		}
		macs = append(macs, e(ni.MAC, macDir(in, ni)))
	}
	return dir(
		e("ami-id", leaf(in.ImageID)),
		e("ami-launch-index", leaf(strconv.Itoa(in.LaunchIndex))),
		e("hostname", leaf(in.Hostname)),
		e("instance-id", leaf(in.ID)),
		e("instance-type", leaf(in.InstanceType)),
		e("ipv6", ipv6),
		e("local-hostname", leaf(in.Hostname)),
		e("local-ipv4", optAddr(in.PrivateIPv4)), // none in an IPv6-only subnet [UNCONFIRMED]
		e("mac", leaf(in.MAC)),
		e("network", dir(e("interfaces", dir(e("macs", dir(macs...)))))),
		e("placement", dir(e("availability-zone", leaf(in.AZ)), e("region", leaf(in.Region)))),
		e("public-keys", keys),
		e("reservation-id", leaf(in.ReservationID)),
		// The instance's groups are its primary interface's, as DescribeInstances' groupSet.
		e("security-groups", lines(primaryGroups)),
		e("services", dir(e("domain", leaf("amazonaws.com")), e("partition", leaf("aws")))),
		e("tags", tags),
	)
}

func macDir(in Instance, ni Interface) *node {
	var ipv6s, subnet6, vpc6 *node
	if len(ni.IPv6s) > 0 {
		ipv6s = lines(strs(ni.IPv6s))
	}
	if ni.SubnetIPv6CIDR.IsValid() {
		subnet6 = leaf(ni.SubnetIPv6CIDR.String())
	}
	if len(ni.VpcIPv6CIDRs) > 0 {
		vpc6 = lines(strs(ni.VpcIPv6CIDRs))
	}
	var vpc4 *node
	if len(ni.VpcCIDRs) > 0 {
		vpc4 = leaf(ni.VpcCIDRs[0].String())
	}
	var hostname, ipv4s, subnet4 *node
	if len(ni.IPv4s) > 0 { // an interface in an IPv6-only subnet has none [UNCONFIRMED]
		hostname = leaf(model.PrivateDNSName(in.Region, ni.IPv4s[0]))
		ipv4s = lines(strs(ni.IPv4s))
	}
	if ni.SubnetCIDR.IsValid() {
		subnet4 = leaf(ni.SubnetCIDR.String())
	}
	return dir(
		e("device-number", leaf(strconv.Itoa(ni.DeviceNumber))),
		e("interface-id", leaf(ni.ID)),
		e("ipv6s", ipv6s),
		e("local-hostname", hostname),
		e("local-ipv4s", ipv4s),
		e("mac", leaf(ni.MAC)),
		e("owner-id", leaf(ni.OwnerID)),
		e("security-group-ids", lines(ni.GroupIDs)),
		e("security-groups", lines(ni.GroupNames)),
		e("subnet-id", leaf(ni.SubnetID)),
		e("subnet-ipv4-cidr-block", subnet4),
		e("subnet-ipv6-cidr-blocks", subnet6),
		e("vpc-id", leaf(ni.VpcID)),
		e("vpc-ipv4-cidr-block", vpc4),
		e("vpc-ipv4-cidr-blocks", lines(strs(ni.VpcCIDRs))),
		e("vpc-ipv6-cidr-blocks", vpc6),
	)
}

// identityDocument is dynamic/instance-identity/document: EC2's JSON, with the fields that
// do not apply null (AWS Tools for PowerShell, Get-EC2InstanceMetadata). The signed forms
// (pkcs7, signature, rsa2048) are not served [DESIGN].
func identityDocument(in Instance) string {
	doc := struct {
		AccountID          string    `json:"accountId"`
		Architecture       string    `json:"architecture"`
		AvailabilityZone   string    `json:"availabilityZone"`
		BillingProducts    *[]string `json:"billingProducts"`
		DevpayProductCodes *[]string `json:"devpayProductCodes"`
		MarketplaceCodes   *[]string `json:"marketplaceProductCodes"`
		ImageID            string    `json:"imageId"`
		InstanceID         string    `json:"instanceId"`
		InstanceType       string    `json:"instanceType"`
		KernelID           *string   `json:"kernelId"`
		PendingTime        string    `json:"pendingTime"`
		PrivateIP          string    `json:"privateIp"`
		RamdiskID          *string   `json:"ramdiskId"`
		Region             string    `json:"region"`
		Version            string    `json:"version"`
	}{
		AccountID: in.AccountID, Architecture: "x86_64", AvailabilityZone: in.AZ, ImageID: in.ImageID,
		InstanceID: in.ID, InstanceType: in.InstanceType, PendingTime: in.PendingTime.UTC().Format(time.RFC3339),
		PrivateIP: addrOrEmpty(in.PrivateIPv4), Region: in.Region, Version: "2017-09-30",
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // cannot fail: strings and nil pointers only
	return string(b)
}

func strs[T interface{ String() string }](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// optAddr is a leaf of an address that may be missing: none when it is.
func optAddr(a netip.Addr) *node {
	if !a.IsValid() {
		return nil
	}
	return leaf(a.String())
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
