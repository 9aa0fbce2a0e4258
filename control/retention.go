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
// purge), so the bound holds in every committed state and depends only on the service's clock
// (Config.Now), never on a timer. Client tokens are pruned the same way, when a token is
// remembered (idempotency.go).

// purge stages the deletion of every terminated instance past its hour of visibility.
//
// A sweep visits every instance, so the tenant remembers when the next one expires
// (purgeAt) and sweeps only once that time has passed; a termination resets it (instances
// terminated now may be the next to expire).
func (tx *tx) purge() {
	tn := tx.tn
	if tn.purgeKnown && (tn.purgeAt.IsZero() || !tx.now.After(tn.purgeAt)) {
		return
	}
	knownBefore, atBefore := tn.purgeKnown, tn.purgeAt
	tx.undo = append(tx.undo, func() { tn.purgeKnown, tn.purgeAt = knownBefore, atBefore })
	tn.purgeKnown, tn.purgeAt = true, time.Time{}
	for id, in := range tn.instances {
		if in.TerminatedAt.IsZero() {
			continue
		}
		until := in.TerminatedAt.Add(model.TerminatedVisibleFor)
		if tx.now.After(until) {
			set[model.Instance](tx, tn.instances, kindInstance, id, nil)
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
			set[model.NATGateway](tx, tn.natGateways, kindNATGateway, id, nil)
			continue
		}
		if tn.purgeAt.IsZero() || until.Before(tn.purgeAt) {
			tn.purgeAt = until
		}
	}
}

// schedulePurge makes the tenant's next write sweep again (an instance was terminated).
func (tx *tx) schedulePurge() {
	tn := tx.tn
	known := tn.purgeKnown
	tx.undo = append(tx.undo, func() { tn.purgeKnown = known })
	tn.purgeKnown = false
}
