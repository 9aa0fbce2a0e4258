package audit

import (
	"reflect"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// regrouped reports whether b's topology is a's but for interfaces that changed their groups
// and nothing else (ModifyNetworkInterfaceAttribute, a membership change), and lists them:
// was[i] as in a, now[i] as in b. The interfaces must be the same ones in the same order,
// which a server's snapshots are (sorted by ID, copy on write).
func regrouped(a, b *netmap.Snapshot) (was, now []*model.NetworkInterface, ok bool) {
	if len(a.ENIs) != len(b.ENIs) {
		return nil, nil, false
	}
	for i, e := range b.ENIs {
		prev := a.ENIs[i]
		if prev == e {
			continue
		}
		regrouped := *prev
		regrouped.Groups = e.Groups
		if !reflect.DeepEqual(&regrouped, e) {
			return nil, nil, false
		}
		was, now = append(was, prev), append(now, e)
	}
	rest := *b
	rest.ENIs = a.ENIs
	return was, now, len(now) > 0 && sameTopology(a, &rest)
}

// regroup is Update after interfaces changed their groups and nothing else of the topology
// (regrouped): was and now are those interfaces before and after. A change of members is, to
// the checks that judge groups, a change of the groups that gained or lost them — their
// member sets, the peer sets of the groups whose rules name them, the groups that meet on
// the interfaces — so the group and VPC checks re-run as Update's dependency rules say for
// every group on those interfaces (before and after) and every group whose rules reference
// one that gained or lost a member. The policy is compiled again, whole: its member sets
// changed, and a compilation is a small part of an audit. The exposure checks, most of a full
// audit's cost, judge again only the interfaces the change can reach: those that changed,
// and the members of the groups whose rules reference a group that gained or lost a member
// (their grants' addresses changed). An interface's exposure depends on nothing else of
// another interface (see Incremental). The other checks re-run whole.
func (x *Incremental) regroup(in Input, was, now []*model.NetworkInterface) (Delta, error) {
	if changed, removed := diffGroups(x.in.Snapshot.Groups, in.Snapshot.Groups); len(changed)+len(removed) > 0 {
		return x.full(in) // rules and members at once: rare enough to audit whole
	}
	a, err := x.recompile(in)
	if err != nil {
		return Delta{}, err
	}

	moved := map[string]bool{} // groups that gained or lost a member
	for i := range now {
		for _, id := range was[i].Groups {
			if !slices.Contains(now[i].Groups, id) {
				moved[id] = true
			}
		}
		for _, id := range now[i].Groups {
			if !slices.Contains(was[i].Groups, id) {
				moved[id] = true
			}
		}
	}
	dirty, vpcs := map[string]bool{}, map[string]bool{}
	// The groups on the changed interfaces before are touched themselves: a's members are
	// those of after.
	touch := func(id string) {
		dirty[id] = true
		if g := a.groups[id]; g != nil { // an interface may name a group that is gone
			x.touch(a, g, dirty, vpcs)
		}
	}
	judged := map[string]*model.NetworkInterface{}
	for i, n := range now {
		judged[n.ID] = n
		vpcs[n.VpcID] = true // its groups may all be gone
		for _, id := range slices.Concat(was[i].Groups, n.Groups) {
			touch(id)
		}
	}
	// A group whose rules reference one that gained or lost a member is, to the group checks,
	// as if its rules had changed; to its members' exposures, a grant's addresses changed.
	for id := range moved {
		for r := range x.referencedBy[id] {
			touch(r)
			for _, n := range a.members[r] {
				judged[n.ID] = n
			}
		}
	}
	var d Delta
	x.rerunScoped(a, dirty, vpcs, func(string) bool { return true }, &d)
	if err := x.exposeAgain(a, judged, &d); err != nil {
		return Delta{}, err
	}
	x.delta(&d)
	return d, nil
}
