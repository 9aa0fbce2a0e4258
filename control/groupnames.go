package control

import (
	"strings"

	"github.com/stockade/stockade/model"
)

// Group names are unique per VPC, compared without case (EC2: "names are case-insensitive").
// CreateSecurityGroup checks that, and a request that names a group (GroupName) finds it:
// both used to scan every group of the tenant with strings.EqualFold, a cost that grew with
// the groups (at 20,000 groups most of a create's time under the tenant's lock). The tenant
// keeps an index instead, changed with the groups map (set, load) and undone with its write.

// groupNameKey is a group's key in the index. Group names are ASCII (model.NormalizeGroupName),
// where lower-casing is EqualFold's folding.
func groupNameKey(vpc, name string) string { return vpc + "\x00" + strings.ToLower(name) }

// indexGroupName moves a group in the name index from old's name to n's (either may be nil).
func (tn *tenant) indexGroupName(old, n *model.Group) {
	if old != nil {
		if k := groupNameKey(old.VpcID, old.Name); tn.groupNames[k] == old.ID {
			delete(tn.groupNames, k)
		}
	}
	if n != nil {
		tn.groupNames[groupNameKey(n.VpcID, n.Name)] = n.ID
	}
}

// reindexGroupName is indexGroupName for a change of tx, undone with it.
func (tx *tx) reindexGroupName(old, n *model.Group) {
	tx.tn.indexGroupName(old, n)
	tx.undo = append(tx.undo, func() { tx.tn.indexGroupName(n, old) })
}

// groupNamed is the group of VPC vpc whose name equals name without case, nil when none is.
func (tn *tenant) groupNamed(vpc, name string) *model.Group {
	return tn.groups[tn.groupNames[groupNameKey(vpc, name)]]
}
