package iam

import (
	"context"

	"github.com/stockade/stockade/store"
)

// Journal returns the store ops that record the call a write belongs to: the API layer's
// trail record of the IAM or STS call (package trail). write adds them to the change's own
// transaction, so that no IAM change commits without its record (trail-iam.md §1.5), exactly
// as control.WithJournal does for EC2 writes. iam does not know what a record is; it only
// promises to commit the ops with the change or not at all.
type Journal func() []store.Op

type journalKey struct{}

// WithJournal returns a context whose writes stage j's ops in their transaction.
//
// j is called under the service's write lock, once per write about to be committed: after
// the write's function succeeded and only when it changed something. It must be quick and
// must not call the Service. A call that makes several writes has j called for each;
// returning the same keys every time makes that harmless.
func WithJournal(ctx context.Context, j Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

func journalOf(ctx context.Context) Journal {
	j, _ := ctx.Value(journalKey{}).(Journal)
	return j
}
