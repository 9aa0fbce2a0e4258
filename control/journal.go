package control

import (
	"context"
	"strings"

	"github.com/stockade/stockade/store"
)

// Journal returns the store ops that record the request a write belongs to: the API layer's
// audit record (package trail) of the call. write adds them to the change's own transaction,
// so that no change commits without its record (trail-iam.md §1.5). It is store.Journal, which
// package iam honours the same way for IAM and STS writes; its contract is there.
type Journal = store.Journal

// WithJournal returns a context whose writes stage j's ops in their transaction.
func WithJournal(ctx context.Context, j Journal) context.Context {
	return store.WithJournal(ctx, j)
}

func journalOf(ctx context.Context) Journal { return store.JournalOf(ctx) }

// ownsKey reports whether a store key is the control plane's own state: a tenant's resources
// or the shared address pool. Other packages keep their data in the same store (accounts, the
// trail); their transactions change no network.
func ownsKey(k string) bool {
	return strings.HasPrefix(k, resourcePrefix) || strings.HasPrefix(k, poolKeyPrefix)
}

// changesState reports whether a committed transaction touched the control plane's state, so
// that the feed wakes the host reconciler for nothing else: every trail record of a read is a
// transaction of its own, and a busy API makes many.
func changesState(ops []store.Op) bool {
	for _, op := range ops {
		if ownsKey(op.Key) {
			return true
		}
	}
	return false
}
