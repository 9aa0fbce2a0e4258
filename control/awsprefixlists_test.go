package control

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// TestAWSManagedPrefixLists checks the region's AWS-managed lists: every account sees the same
// ones, with AWS's names, owner and IDs; they are read-only (every change is refused and
// changes nothing); a rule may reference them, charged their weight; the policy engine matches
// their entries; and a rule referencing one survives a restart.
func TestAWSManagedPrefixLists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)
	bob := Tenant{Account: "444455556666", Region: "us-east-1"}
	names := func(tn Tenant) map[string]string {
		out := map[string]string{}
		for _, pl := range mustViewOf(t, s, tn, func(v View) []*model.PrefixList { return v.PrefixLists() }) {
			if pl.OwnerID != model.AWSOwner {
				t.Errorf("%s owned by %s", pl.ID, pl.OwnerID)
			}
			out[pl.Name] = pl.ID
		}
		return out
	}
	got := names(alice)
	for name, id := range map[string]string{ // IDs recorded from real accounts
		"com.amazonaws.us-east-1.s3":                    "pl-63a5400a",
		"com.amazonaws.us-east-1.dynamodb":              "pl-02cd2c6b",
		"com.amazonaws.global.cloudfront.origin-facing": "pl-3b927c52",
	} {
		if got[name] != id {
			t.Errorf("%s: ID %q, want %s", name, got[name], id)
		}
	}
	if len(got) != 12 {
		t.Errorf("%d AWS-managed lists, want the 12 AWS documents: %v", len(got), got)
	}
	if diff := cmp.Diff(got, names(bob)); diff != "" {
		t.Errorf("another account sees other lists:\n%s", diff)
	}
	west := names(Tenant{Account: alice.Account, Region: "eu-west-1"})
	if id := west["com.amazonaws.eu-west-1.s3"]; !model.ValidID(model.PrefixPrefixList, id) || len(id) != len("pl-12345678") || slices.Contains(slices.Collect(maps.Values(got)), id) {
		t.Errorf("eu-west-1 S3 list ID %q: want a region's own pl- and 8 hex", id)
	}

	s3 := got["com.amazonaws.us-east-1.s3"]
	before := s.Revision()
	name := "mine"
	for what, err := range map[string]error{
		"modify": errOf(s.ModifyPrefixList(ctx, alice, ModifyPrefixListInput{ID: s3, Name: &name})),
		"resize": errOf(s.ModifyPrefixList(ctx, alice, ModifyPrefixListInput{ID: s3, MaxEntries: 10, HasMax: true})),
		"delete": errOf(s.DeletePrefixList(ctx, alice, IDInput{ID: s3})),
		"tag": func() error {
			_, err := s.CreateTags(ctx, alice, CreateTagsInput{IDs: []string{s3}, Tags: model.Tags{"k": "v"}})
			return err
		}(),
	} {
		if code(err) != "UnauthorizedOperation" {
			t.Errorf("%s of an AWS-managed list: %v, want UnauthorizedOperation", what, err)
		}
	}
	if s.Revision() != before {
		t.Error("a refused change to an AWS-managed list wrote to the store")
	}

	// A rule may reference it; S3's weight (1) is what it costs, so 60 - 1 CIDR rules still fit.
	vpc, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "app", Description: "a", VpcID: vpc.ID})
	if err != nil {
		t.Fatal(err)
	}
	egress := func(p Permission) error {
		_, _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Egress: true, Permissions: []Permission{p}})
		return err
	}
	if err := egress(Permission{Protocol: "tcp", FromPort: 443, ToPort: 443, HasFrom: true, HasTo: true, PrefixLists: []PrefixListPeer{{ID: s3}}}); err != nil {
		t.Fatal(err)
	}
	cf := got["com.amazonaws.global.cloudfront.origin-facing"]
	// The default egress rule (1) + S3 (1) + CloudFront's weight (55) = 57 of 60: fits; a
	// second heavy list would not.
	if err := egress(Permission{Protocol: "tcp", FromPort: 80, ToPort: 80, HasFrom: true, HasTo: true, PrefixLists: []PrefixListPeer{{ID: cf}}}); err != nil {
		t.Fatal(err)
	}
	r53 := got["com.amazonaws.us-east-1.route53-healthchecks"]
	if err := egress(Permission{Protocol: "tcp", FromPort: 81, ToPort: 81, HasFrom: true, HasTo: true, PrefixLists: []PrefixListPeer{{ID: r53}}}); code(err) != "RulesPerSecurityGroupLimitExceeded" {
		t.Errorf("weight 25 on top of 57: %v, want RulesPerSecurityGroupLimitExceeded", err)
	}

	// Enforced: the data plane renders the list's entries into the group's egress.
	sn, _, err := s.CreateSubnet(ctx, alice, CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateENI(ctx, alice, CreateENIInput{SubnetID: sn.ID, Groups: []string{g.ID}}); err != nil {
		t.Fatal(err)
	}
	text := dataplane.Render(dataplane.Network{VPC: vpc, Snapshot: mustView(t, s, func(v View) netmap.Snapshot { return v.Snapshot() }),
		Link: func(string) string { return "veth0" }}).Text()
	for _, cidr := range []string{"54.231.0.0/16", "52.216.0.0/15"} {
		if !strings.Contains(text, cidr) {
			t.Errorf("the rendered ruleset lacks S3's %s", cidr)
		}
	}
	st.Close()

	s2 := openService(t, openBolt(t, path))
	g2 := mustViewOf(t, s2, alice, func(v View) *model.Group { g, _ := v.Group(g.ID); return g })
	var refs []string
	for _, r := range g2.Egress {
		refs = append(refs, r.Peer.PrefixListID)
	}
	if !slices.Contains(refs, s3) || !slices.Contains(refs, cf) {
		t.Errorf("after reopen the group references %v", refs)
	}
	if pl := mustViewOf(t, s2, alice, func(v View) *model.PrefixList { pl, _ := v.PrefixList(s3); return pl }); pl == nil || len(pl.Entries) == 0 {
		t.Errorf("S3 list after reopen: %+v", pl)
	}
}

func errOf[A any](_ A, _ Result, err error) error { return err }

// TestAWSIPRanges: with the operator's ip-ranges.json, every region's AWS-managed lists hold
// that file's ranges of their service and family (global lists those of region GLOBAL), and
// a file that is not AWS's, or has a prefix that does not parse, is refused.
func TestAWSIPRanges(t *testing.T) {
	const file = `{"syncToken": "1733000000", "createDate": "2026-11-30-12-00-00",
	 "prefixes": [
	  {"ip_prefix": "52.218.0.0/17", "region": "eu-west-1", "service": "S3", "network_border_group": "eu-west-1"},
	  {"ip_prefix": "3.5.64.0/21", "region": "eu-west-1", "service": "S3", "network_border_group": "eu-west-1"},
	  {"ip_prefix": "3.5.64.0/21", "region": "eu-west-1", "service": "AMAZON", "network_border_group": "eu-west-1"},
	  {"ip_prefix": "52.94.24.0/23", "region": "eu-west-1", "service": "DYNAMODB", "network_border_group": "eu-west-1"},
	  {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING", "network_border_group": "GLOBAL"}],
	 "ipv6_prefixes": [
	  {"ipv6_prefix": "2a05:d07a:a000::/40", "region": "eu-west-1", "service": "S3", "network_border_group": "eu-west-1"},
	  {"ipv6_prefix": "2600:9000:ddd::/48", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING", "network_border_group": "GLOBAL"}]}`
	ranges, err := ParseAWSIPRanges(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.AWSIPRanges = ranges
	s, err := Open(context.Background(), openBolt(t, filepath.Join(t.TempDir(), "s.db")), cfg)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string][]string{}
	for _, pl := range mustViewOf(t, s, Tenant{Account: alice.Account, Region: "eu-west-1"}, func(v View) []*model.PrefixList { return v.PrefixLists() }) {
		for _, e := range pl.Entries {
			entries[pl.Name] = append(entries[pl.Name], e.CIDR.String())
		}
		if pl.MaxEntries != len(pl.Entries) {
			t.Errorf("%s: MaxEntries %d for %d entries", pl.Name, pl.MaxEntries, len(pl.Entries))
		}
	}
	want := map[string][]string{
		"com.amazonaws.eu-west-1.s3":                         {"3.5.64.0/21", "52.218.0.0/17"},
		"com.amazonaws.eu-west-1.dynamodb":                   {"52.94.24.0/23"},
		"com.amazonaws.global.cloudfront.origin-facing":      {"13.32.0.0/15"},
		"com.amazonaws.global.ipv6.cloudfront.origin-facing": {"2600:9000:ddd::/48"},
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("entries from ip-ranges.json (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{}`, `{"syncToken": "1", "prefixes": [{"ip_prefix": "10.0.0.1/8", "region": "x", "service": "S3"}]}`,
		`{"syncToken": "1", "prefixes": [{"ip_prefix": "2001:db8::/32", "region": "x", "service": "S3"}]}`, `[`} {
		if _, err := ParseAWSIPRanges(strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
