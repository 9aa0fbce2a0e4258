package store

import (
	"context"
	"slices"
)

// Batch writes units, in order, in as few transactions as the store takes: all of them in
// one when Check accepts that, else consecutive units packed into each transaction until the
// next would make Check refuse it. A unit's ops always commit together; different units may
// not. On etcd a transaction holds at most 128 operations and 1.5 MiB by default
// (docs/etcd.md), and the writers of housekeeping — deleting the trail's outbox keys of
// records now in its log, storing the continuous audit's episodes, persisting the event
// bus's deliveries — can have thousands at once: in one transaction etcd refused them all,
// every time, and what they were to delete stayed and grew.
//
// It is for writes whose units need not commit together, without conditions. A unit that
// the store refuses on its own ends the batch with that error (ErrInvalid), as does a
// transaction that fails; the units before it are written.
func Batch(ctx context.Context, st Store, units [][]Op) error {
	all := slices.Concat(units...)
	if len(all) == 0 {
		return nil
	}
	if st.Check(all) == nil {
		_, err := st.Txn(ctx, nil, all)
		return err
	}
	var txn []Op
	for _, u := range units {
		if len(u) == 0 {
			continue
		}
		if len(txn) > 0 && st.Check(append(txn[:len(txn):len(txn)], u...)) != nil {
			if _, err := st.Txn(ctx, nil, txn); err != nil {
				return err
			}
			txn = nil
		}
		txn = append(txn, u...)
	}
	_, err := st.Txn(ctx, nil, txn)
	return err
}

// Singly is ops as units of one op each, for a Batch whose ops are independent.
func Singly(ops []Op) [][]Op {
	units := make([][]Op, len(ops))
	for i := range ops {
		units[i] = ops[i : i+1 : i+1]
	}
	return units
}
