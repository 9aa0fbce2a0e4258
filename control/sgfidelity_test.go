package control

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// Tests of the security-group behaviours issue 13 found to differ from AWS. Helpers are
// prefixed sg… so they cannot clash with other test files written in parallel.

// sgCmp compares model values that hold netip values.
var sgCmp = cmp.Options{eniCmpOpts, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}

// sgEgress renders a group's egress rules as protocol and peer, in order.
func sgEgress(g *model.Group) []string {
	var out []string
	for _, r := range g.Egress {
		out = append(out, r.Protocol+" "+r.Peer.CIDR.String())
	}
	return out
}

// TestCustomGroupEgressFollowsVPCIPv6: a custom group starts with egress to 0.0.0.0/0 and, in a
// VPC with an IPv6 block, to ::/0 as well, each its own rule, as the VPC's default group does;
// both survive a restart.
func TestCustomGroupEgressFollowsVPCIPv6(t *testing.T) {
	e := newENITestService(t, nil)
	v6 := eniOK[*model.VPC](t)(e.s.CreateVPC(e.ctx, eniTenant, CreateVPCInput{CIDR: "10.7.0.0/16", IPv6: true}))
	tests := []struct {
		name string
		vpc  string
		want []string
	}{
		{"IPv4-only VPC", e.vpc.ID, []string{"-1 0.0.0.0/0"}},
		{"VPC with an IPv6 block", v6.ID, []string{"-1 0.0.0.0/0", "-1 ::/0"}},
	}
	var created []*model.Group
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "g-" + tt.vpc, Description: "d", VpcID: tt.vpc}))
			if diff := cmp.Diff(tt.want, sgEgress(g)); diff != "" {
				t.Errorf("egress (-want +got):\n%s", diff)
			}
			if len(g.Ingress) != 0 {
				t.Errorf("ingress %v, want none", g.Ingress)
			}
			ids := map[string]bool{}
			for _, r := range g.Egress {
				if !model.ValidID(model.PrefixRule, r.ID) || ids[r.ID] || !r.Egress {
					t.Errorf("rule %+v: not an egress rule with its own sgr- ID", r)
				}
				ids[r.ID] = true
			}
			dflt := lookup(e, func(v View) (*model.Group, error) { vpc, _ := v.VPC(tt.vpc); return v.Group(vpc.DefaultGroupID) })
			if diff := cmp.Diff(sgEgress(dflt), sgEgress(g)); diff != "" {
				t.Errorf("custom group's egress differs from the default group's (-default +custom):\n%s", diff)
			}
			created = append(created, g)
		})
	}
	e.reopen()
	for _, g := range created {
		got := lookup(e, func(v View) (*model.Group, error) { return v.Group(g.ID) })
		if diff := cmp.Diff(g.Egress, got.Egress, sgCmp); diff != "" {
			t.Errorf("egress of %s after reopen (-before +after):\n%s", g.ID, diff)
		}
	}
}

// TestDefaultVPCShape: a tenant's default VPC is 172.31.0.0/16 with one default /20 subnet in
// each zone of the region, numbered from 172.31.0.0/20 up (spec §1.2).
func TestDefaultVPCShape(t *testing.T) {
	e := newENITestService(t, nil)
	e.view(func(v View) {
		vpc := v.DefaultVPC()
		if vpc == nil {
			t.Fatal("no default VPC")
		}
		if vpc.CIDR != netip.MustParsePrefix("172.31.0.0/16") || !vpc.IsDefault {
			t.Errorf("default VPC %s (default %v), want 172.31.0.0/16", vpc.CIDR, vpc.IsDefault)
		}
		want := map[string]string{}
		for i, z := range Zones(eniTenant.Region) {
			want[z] = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 31, byte(16 * i), 0}), 20).String()
		}
		got := map[string]string{}
		for _, sn := range v.Subnets() {
			if sn.VpcID != vpc.ID {
				continue
			}
			if !sn.DefaultForAz || !sn.MapPublicIP {
				t.Errorf("subnet %s in %s: defaultForAz %v, mapPublicIpOnLaunch %v, want both", sn.CIDR, sn.AZ, sn.DefaultForAz, sn.MapPublicIP)
			}
			got[sn.AZ] = sn.CIDR.String()
		}
		if len(want) < 2 {
			t.Fatalf("region %s has %d zones", eniTenant.Region, len(want))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("default subnets by zone (-want +got):\n%s", diff)
		}
	})
}

// TestRuleQuotaEveryWay: every way of going over the rules-per-group quota answers
// RulesPerSecurityGroupLimitExceeded and leaves the group as it was (spec §4's four buckets).
func TestRuleQuotaEveryWay(t *testing.T) {
	const limit = 3
	e := newENITestService(t, func(c *Config) { c.Quotas.RulesPerGroup = limit })
	pl := func(family string, max int) string {
		t.Helper()
		return eniOK[*model.PrefixList](t)(e.s.CreatePrefixList(e.ctx, eniTenant, CreatePrefixListInput{
			Name: "pl", Family: family, MaxEntries: max, HasMax: true})).ID
	}
	pl4big, pl6big, pl4two := pl("IPv4", limit+1), pl("IPv6", limit+1), pl("IPv4", 2)
	cidrs := func(family string, n int) []CIDRPeer {
		var out []CIDRPeer
		for i := range n {
			if family == "IPv6" {
				out = append(out, CIDRPeer{CIDR: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i)}), 64).String()})
			} else {
				out = append(out, CIDRPeer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String()})
			}
		}
		return out
	}
	all := func(p Permission) Permission { p.Protocol = "-1"; return p }
	type step struct {
		egress bool
		perm   Permission
	}
	tests := []struct {
		name  string
		setup []step // applied first, must succeed
		over  step   // must be refused
	}{
		{"ingress IPv4 over the limit in one request", nil, step{false, all(Permission{IPv4: cidrs("IPv4", limit+1)})}},
		{"ingress IPv6 one past the limit", []step{{false, all(Permission{IPv6: cidrs("IPv6", limit)})}},
			step{false, Permission{Protocol: "tcp", FromPort: 1, ToPort: 1, HasFrom: true, HasTo: true, IPv6: cidrs("IPv6", 1)}}},
		// A new group's egress to 0.0.0.0/0 counts: two more fill the IPv4 egress bucket.
		{"egress IPv4 counting the default egress rule", nil, step{true, all(Permission{IPv4: cidrs("IPv4", limit)})}},
		{"a reference fills the IPv6 bucket too", []step{{false, all(Permission{IPv6: cidrs("IPv6", limit)})}},
			step{false, all(Permission{Groups: []GroupPeer{{GroupID: e.db.ID}}})}},
		{"a reference fills the IPv4 bucket", []step{{false, all(Permission{IPv4: cidrs("IPv4", limit)})}},
			step{false, all(Permission{Groups: []GroupPeer{{GroupID: e.db.ID}}})}},
		{"an empty IPv4 prefix list counts its MaxEntries", nil, step{false, all(Permission{PrefixLists: []PrefixListPeer{{ID: pl4big}}})}},
		{"an empty IPv6 prefix list counts its MaxEntries", nil, step{true, all(Permission{PrefixLists: []PrefixListPeer{{ID: pl6big}}})}},
		{"a prefix list on top of rules", []step{{false, all(Permission{IPv4: cidrs("IPv4", 2)})}},
			step{false, all(Permission{PrefixLists: []PrefixListPeer{{ID: pl4two}}})}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "q" + string(rune('a'+i)), Description: "d", VpcID: e.vpc.ID}))
			for _, s := range tt.setup {
				if _, _, err := e.s.Authorize(e.ctx, eniTenant, AuthorizeInput{Group: GroupRef{ID: g.ID}, Egress: s.egress, Permissions: []Permission{s.perm}}); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			before := lookup(e, func(v View) (*model.Group, error) { return v.Group(g.ID) })
			_, _, err := e.s.Authorize(e.ctx, eniTenant, AuthorizeInput{Group: GroupRef{ID: g.ID}, Egress: tt.over.egress, Permissions: []Permission{tt.over.perm}})
			eniCheckErr(t, err, "RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
			after := lookup(e, func(v View) (*model.Group, error) { return v.Group(g.ID) })
			if diff := cmp.Diff(before, after, sgCmp); diff != "" {
				t.Errorf("a refused authorize changed the group (-before +after):\n%s", diff)
			}
		})
	}

	t.Run("ModifySecurityGroupRules to a prefix list too big", func(t *testing.T) {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "modify", Description: "d", VpcID: e.vpc.ID}))
		out, _, err := e.s.Authorize(e.ctx, eniTenant, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{all(Permission{IPv4: cidrs("IPv4", 1)})}})
		if err != nil {
			t.Fatal(err)
		}
		before := lookup(e, func(v View) (*model.Group, error) { return v.Group(g.ID) })
		_, err = e.s.ModifyRules(e.ctx, eniTenant, ModifyRulesInput{GroupID: g.ID, Changes: []RuleChange{{RuleID: out.Rules[0].ID, Protocol: "-1", PrefixListID: pl4big}}})
		eniCheckErr(t, err, "RulesPerSecurityGroupLimitExceeded", "")
		if diff := cmp.Diff(before, lookup(e, func(v View) (*model.Group, error) { return v.Group(g.ID) }), sgCmp); diff != "" {
			t.Errorf("a refused modify changed the group (-before +after):\n%s", diff)
		}
	})

	t.Run("growing a referenced prefix list's MaxEntries", func(t *testing.T) {
		g := eniOK[*model.Group](t)(e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "grow", Description: "d", VpcID: e.vpc.ID}))
		id := pl("IPv4", 2)
		if _, _, err := e.s.Authorize(e.ctx, eniTenant, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{all(Permission{PrefixLists: []PrefixListPeer{{ID: id}}})}}); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.s.ModifyPrefixList(e.ctx, eniTenant, ModifyPrefixListInput{ID: id, MaxEntries: limit + 1, HasMax: true})
		eniCheckErr(t, err, "RulesPerSecurityGroupLimitExceeded", "")
		got := lookup(e, func(v View) (*model.PrefixList, error) { return v.PrefixList(id) })
		if got.MaxEntries != 2 {
			t.Errorf("MaxEntries %d after a refused resize, want 2", got.MaxEntries)
		}
	})
}
