package control

import (
	"context"
	"strings"

	"github.com/stockade/stockade/store"
)

// Journal returns the store ops that record the request a write belongs to: the API layer's
// audit record (package trail) of the call. write adds them to the change's own transaction,
// so that no change commits without its record (trail-iam.md §1.5). The control plane does
// not know what a record is; it only promises to commit the ops with the change or not at
// all.
type Journal func() []store.Op

type journalKey struct{}

// WithJournal returns a context whose writes stage j's ops in their transaction.
//
// j is called under the tenant's write lock, once per write that is about to be committed:
// after the write's function succeeded, not for a dry run, a refused write or a write that
// changed nothing. It must be quick and must not call the service. A request whose handler
// makes several writes has j called for each; returning the same keys every time makes that
// harmless (the later put overwrites the earlier one).
func WithJournal(ctx context.Context, j Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

func journalOf(ctx context.Context) Journal {
	j, _ := ctx.Value(journalKey{}).(Journal)
	return j
}

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
