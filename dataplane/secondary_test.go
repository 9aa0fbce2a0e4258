package dataplane_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
)

// TestSecondaryAddressesAreEnforced: the addresses AssignPrivateIpAddresses and
// AssignIpv6Addresses give an interface are its own as its primary is — the source check lets
// the interface send from them, and they are members of its groups where a rule references
// one — and unassigning them takes them out of both; the change touches only those sets.
func TestSecondaryAddressesAreEnforced(t *testing.T) {
	n := rich()
	n.Link = link
	before := n.Snapshot.ENIs[1] // eni-2 in sg-app, which sg-db's rule references
	six := n.Snapshot.ENIs[2]    // eni-3 in the dual-stack subnet
	r := new(dataplane.Renderer)
	old := r.Render(n)
	has := func(rs *dataplane.Ruleset, set, elem string) bool {
		o := rs.Object(set)
		return o != nil && slices.Contains(o.Lines, elem)
	}

	withAddrs := func(e *model.NetworkInterface, v4, v6 string) *model.NetworkInterface {
		c := e.Clone()
		if v4 != "" {
			c.SecondaryIPs = append(c.SecondaryIPs, netip.MustParseAddr(v4))
		}
		if v6 != "" {
			c.IPv6 = append(c.IPv6, netip.MustParseAddr(v6))
		}
		return c
	}
	n.Snapshot.ENIs = []*model.NetworkInterface{n.Snapshot.ENIs[0], withAddrs(before, "10.0.1.21", ""), withAddrs(six, "", "2600:1f18:aaaa:bb01::31")}
	now := r.Render(n)
	for _, c := range []struct{ set, elem string }{
		{"src4", `"stk-2" . 10.0.1.21`},
		{"members4_sg_app", "10.0.1.21"},
		{"src6", `"stk-3" . 2600:1f18:aaaa:bb01::31`},
	} {
		if has(old, c.set, c.elem) {
			t.Fatalf("%s has %s before the address was assigned", c.set, c.elem)
		}
		if !has(now, c.set, c.elem) {
			t.Errorf("%s lacks %s once the address is assigned:\n%v", c.set, c.elem, now.Object(c.set))
		}
	}
	// The primary addresses stay, and groups not touched keep their objects.
	if !has(now, "src4", `"stk-2" . 10.0.1.20`) || !has(now, "members4_sg_app", "10.0.1.20") {
		t.Error("the primary address left the sets")
	}
	if tx, ok := now.Update(old); !ok || tx == "" {
		t.Fatalf("no in-place update for an assigned address (ok=%v)", ok)
	}

	// Unassigned: out of every set again.
	n.Snapshot.ENIs = []*model.NetworkInterface{n.Snapshot.ENIs[0], before, six}
	after := r.Render(n)
	if has(after, "src4", `"stk-2" . 10.0.1.21`) || has(after, "members4_sg_app", "10.0.1.21") || has(after, "src6", `"stk-3" . 2600:1f18:aaaa:bb01::31`) {
		t.Error("an unassigned address is still enforced as the interface's")
	}
	if after.Text() != old.Text() {
		t.Error("unassigning did not return the ruleset to what it was")
	}
}
