package control

import "github.com/stockade/stockade/model"

// A group may be deleted only while nothing uses it: no interface carries it and no other
// group's rule names it (groupInUse, spec §2.5). DeleteSecurityGroup used to find that out by
// scanning every interface and every rule of the tenant under its write lock — at 10,000
// groups of 20 rules, 200,000 comparisons for each delete. The tenant keeps a count per group
// instead, changed with the groups and interfaces maps (set, load) and undone with its write.

// groupUses calls f for each use of another group that g or n make: each group an interface
// carries, each rule of a group that names another group (a group's rules naming itself do
// not count).
func groupUses(g *model.Group, n *model.NetworkInterface, f func(group string)) {
	if g != nil {
		for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
			for i := range rs {
				if id := rs[i].Peer.GroupID; id != "" && id != g.ID {
					f(id)
				}
			}
		}
	}
	if n != nil {
		for _, id := range n.Groups {
			f(id)
		}
	}
}

// indexGroupUsers moves the uses that old made to those n makes, for a group or an
// interface (the other pair nil).
func (tn *tenant) indexGroupUsers(oldG, newG *model.Group, oldN, newN *model.NetworkInterface) {
	groupUses(oldG, oldN, func(id string) {
		if tn.groupUsers[id]--; tn.groupUsers[id] <= 0 {
			delete(tn.groupUsers, id)
		}
	})
	groupUses(newG, newN, func(id string) { tn.groupUsers[id]++ })
}

// reindexGroupUsers is indexGroupUsers for a change of tx, undone with it.
func (tx *tx) reindexGroupUsers(oldG, newG *model.Group, oldN, newN *model.NetworkInterface) {
	tx.tn.indexGroupUsers(oldG, newG, oldN, newN)
	tx.undo = append(tx.undo, func() { tx.tn.indexGroupUsers(newG, oldG, newN, oldN) })
}

// groupInUse reports whether an interface carries the group or another group's rule refers to
// it (a group's references to itself do not count, spec §2.5).
func (tn *tenant) groupInUse(id string) bool { return tn.groupUsers[id] > 0 }
