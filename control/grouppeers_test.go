package control

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/stockade/stockade/model"
)

// peersByScan is the CIDR index (grouppeers.go) as a scan of every rule builds it: the
// reference the index must agree with.
func peersByScan(tn *tenant) map[peerKey]map[string]int32 {
	out := map[peerKey]map[string]int32{}
	for _, g := range tn.groups {
		eachPeerCIDR(g, func(k peerKey) {
			if out[k] == nil {
				out[k] = map[string]int32{}
			}
			out[k][g.ID]++
		})
	}
	return out
}

// TestGroupPeersIndex: after every step of random writes — groups created and deleted, CIDR
// rules of both directions and families authorized (some dry runs, some refused as
// duplicates), revoked and modified to another CIDR — the index is what a scan of the rules
// builds, also after a restart loads it from the store; and GroupsWithPeer answers from it.
func TestGroupPeersIndex(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	st := openBolt(t, path)
	s := openService(t, st)
	g0, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "g0", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{g0.ID}
	r := rand.New(rand.NewPCG(3, 5))
	pick := func() string { return groups[r.IntN(len(groups))] }
	cidrs := []string{"10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "192.168.1.7/32"}
	cidrs6 := []string{"::/0", "2001:db8::/32"}
	perm := func() Permission {
		p := Permission{Protocol: "tcp", FromPort: int64(r.IntN(3)), ToPort: 10, HasFrom: true, HasTo: true}
		if r.IntN(3) == 0 {
			p.IPv6 = []CIDRPeer{{CIDR: cidrs6[r.IntN(len(cidrs6))]}}
		} else {
			p.IPv4 = []CIDRPeer{{CIDR: cidrs[r.IntN(len(cidrs))]}}
		}
		return p
	}
	check := func(step int, s *Service) {
		t.Helper()
		tn := s.tenants[alice]
		tn.mu.RLock()
		defer tn.mu.RUnlock()
		if want := peersByScan(tn); !reflect.DeepEqual(tn.groupPeers, want) {
			t.Fatalf("step %d: index %v, a scan of the rules gives %v", step, tn.groupPeers, want)
		}
	}
	for step := range 400 {
		egress := r.IntN(2) == 0
		switch op := r.IntN(6); op {
		case 0:
			if g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: fmt.Sprint("g", step), Description: "d"}); err == nil {
				groups = append(groups, g.ID)
			}
		case 1, 2:
			s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: pick()}, Egress: egress, Permissions: []Permission{perm(), perm()}, DryRun: r.IntN(4) == 0})
		case 3:
			s.Revoke(ctx, alice, RevokeInput{Group: GroupRef{ID: pick()}, Egress: egress, Permissions: []Permission{perm()}})
		case 4:
			id := pick()
			g := mustView(t, s, func(v View) *model.Group { g, _ := v.Group(id); return g })
			if rs := g.Rules(egress); len(rs) > 0 {
				s.ModifyRules(ctx, alice, ModifyRulesInput{GroupID: id, Changes: []RuleChange{{RuleID: rs[r.IntN(len(rs))].ID,
					Protocol: "udp", FromPort: 53, ToPort: 53, HasFrom: true, HasTo: true, CIDRv4: cidrs[r.IntN(len(cidrs))]}}})
			}
		case 5:
			if len(groups) > 1 {
				i := r.IntN(len(groups))
				if _, _, err := s.DeleteGroup(ctx, alice, DeleteGroupInput{Group: GroupRef{ID: groups[i]}}); err == nil {
					groups = slices.Delete(groups, i, i+1)
				}
			}
		}
		check(step, s)
	}

	// The answer: every group with a rule of that direction naming exactly that CIDR.
	found := 0
	for _, egress := range []bool{false, true} {
		for _, c := range append(append([]string{"10.0.0.1/8"}, cidrs...), cidrs6...) {
			p := netip.MustParsePrefix(c)
			got := mustView(t, s, func(v View) []*model.Group { return v.GroupsWithPeer(egress, p) })
			var want []*model.Group
			for _, g := range mustView(t, s, func(v View) []*model.Group { return v.Groups() }) {
				if slices.ContainsFunc(g.Rules(egress), func(r model.Rule) bool { return r.Peer.CIDR == p }) {
					want = append(want, g)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("GroupsWithPeer(%v, %s) = %d groups, want %d", egress, c, len(got), len(want))
			}
			found += len(got)
		}
	}
	if found < 10 {
		t.Errorf("the walk left %d groups with those CIDRs: it tested little", found)
	}
	st.Close() // what the index was built from is the store's: a new service loads it
	check(-1, openService(t, openBolt(t, path)))
}
