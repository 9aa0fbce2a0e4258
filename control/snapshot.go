package control

import "github.com/stockade/stockade/netmap"

// snapshot is the tenant's network as the policy engine sees it.
func (tn *tenant) snapshot() netmap.Snapshot {
	v := View{tn}
	return netmap.Snapshot{VPCs: v.VPCs(), Subnets: v.Subnets(), ENIs: v.ENIs(), Groups: v.Groups(),
		PrefixLists: v.PrefixLists(), NACLs: v.NACLs()}
}

// Snapshot is the tenant's network for the policy engine and the analyser.
func (v View) Snapshot() netmap.Snapshot { return v.tn.snapshot() }
