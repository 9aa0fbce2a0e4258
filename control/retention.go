package control

import (
	"time"

	"github.com/stockade/stockade/model"
)

// Retention: what a tenant no longer sees is deleted, so that nothing grows without limit.
//
// A terminated instance stays visible for model.TerminatedVisibleFor, as on EC2, and is then
// gone for every read (tenant.instance, View.Instances). Its record is deleted from memory and
// the store in the transaction of the tenant's next write after that (Service.write calls
// purge), at most maxPurge records a write, so that what is kept is bounded by what the
// tenant writes, and the bound depends only on the service's clock (Config.Now), never on a
// timer. Client tokens are pruned the same way, when a token is remembered (idempotency.go).

// maxPurge bounds the deletions one write's transaction carries, so that the write and its
// purge fit a transaction of etcd (128 operations by default, docs/etcd.md): after 200
// terminated instances had passed their hour together, every write of the tenant carried 200
// deletions, and etcd refused each of them; so did every call with a client token (the SDKs
// send one with each RunInstances) a day after hundreds of them. The rest go with the
// tenant's next writes. A write too large to carry even these runs again without them
// (Service.writeOnce, tx.purging).
const maxPurge = 32

// purge stages the deletion of the terminated instances past their hour of visibility, and
// of the NAT gateways past theirs, up to maxPurge (tx.purged counts them); with more, the
// tenant's next write sweeps again.
//
// A sweep visits every instance, so the tenant remembers when the next one expires
// (purgeAt) and sweeps only once that time has passed; a termination resets it (instances
// terminated now may be the next to expire).
func (tx *tx) purge() {
	tn := tx.tn
	if !tx.purging {
		return
	}
	tx.purgeStrays()
	if tn.purgeKnown && (tn.purgeAt.IsZero() || !tx.now.After(tn.purgeAt)) {
		return
	}
	knownBefore, atBefore := tn.purgeKnown, tn.purgeAt
	tx.undo = append(tx.undo, func() { tn.purgeKnown, tn.purgeAt = knownBefore, atBefore })
	tn.purgeKnown, tn.purgeAt = true, time.Time{}
	more := false // past their time, left for the next write
	for id, in := range tn.instances {
		if in.TerminatedAt.IsZero() {
			continue
		}
		until := in.TerminatedAt.Add(model.TerminatedVisibleFor)
		if tx.now.After(until) {
			if tx.purged == maxPurge {
				more = true
				continue
			}
			set[model.Instance](tx, tn.instances, kindInstance, id, nil)
			tx.purged++
			continue
		}
		if tn.purgeAt.IsZero() || until.Before(tn.purgeAt) {
			tn.purgeAt = until
		}
	}
	// Deleted and failed NAT gateways likewise (natgateways.go).
	for id, g := range tn.natGateways {
		until := natPurgeAt(g)
		if until.IsZero() {
			continue
		}
		if tx.now.After(until) {
			if tx.purged == maxPurge {
				more = true
				continue
			}
			set[model.NATGateway](tx, tn.natGateways, kindNATGateway, id, nil)
			tx.purged++
			continue
		}
		if tn.purgeAt.IsZero() || until.Before(tn.purgeAt) {
			tn.purgeAt = until
		}
	}
	if more {
		tn.purgeKnown = false
	}
}

// purgeStrays stages the deletion of launch-template versions whose template is gone and of
// subnet CIDR reservations whose subnet is, within purge's budget: DeleteLaunchTemplate and
// DeleteSubnet take at most maxPurge of them along (a template may have 10,000 versions). No
// read finds them: every read of a version goes through its template, and of a reservation
// through its subnet.
func (tx *tx) purgeStrays() {
	tn := tx.tn
	if tn.noStrays {
		return
	}
	for k, v := range tn.ltVersions {
		if tn.lts[v.TemplateID] != nil {
			continue
		}
		if tx.purged == maxPurge {
			return // the next write goes on
		}
		set[model.LaunchTemplateVersion](tx, tn.ltVersions, kindLTVersion, k, nil)
		tx.purged++
	}
	for id, r := range tn.reservations {
		if tn.subnets[r.SubnetID] != nil {
			continue
		}
		if tx.purged == maxPurge {
			return
		}
		set[model.SubnetCIDRReservation](tx, tn.reservations, kindReservation, id, nil)
		tx.purged++
	}
	tx.undo = append(tx.undo, func() { tn.noStrays = false })
	tn.noStrays = true
}

// leaveStrays says that what a deletion left of its resource's dependents (a template's
// versions, a subnet's reservations) is for purgeStrays.
func (tx *tx) leaveStrays() {
	tn := tx.tn
	before := tn.noStrays
	tx.undo = append(tx.undo, func() { tn.noStrays = before })
	tn.noStrays = false
}

// schedulePurge makes the tenant's next write sweep again (an instance was terminated).
func (tx *tx) schedulePurge() {
	tn := tx.tn
	known := tn.purgeKnown
	tx.undo = append(tx.undo, func() { tn.purgeKnown = known })
	tn.purgeKnown = false
}
