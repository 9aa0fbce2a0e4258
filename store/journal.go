package store

import "context"

// Journal returns ops that must commit with a write: the audit record (package trail) of the
// API call the write belongs to. A service that honours it (control, iam) adds the ops to
// the change's own transaction, so that no change commits without its record
// (trail-iam.md §1.5). The services do not know what a record is; they only promise to
// commit the ops with the change or not at all.
//
// A service calls the Journal under its write lock, once per write about to be committed:
// after the write's function succeeded, not for a dry run, a refused write or a write that
// changed nothing. It must be quick and must not call the service. A call whose handler
// makes several writes has it called for each; returning the same keys every time makes that
// harmless (the later put overwrites the earlier one).
type Journal func() []Op

type journalKey struct{}

// WithJournal returns a context whose writes stage j's ops in their transaction.
func WithJournal(ctx context.Context, j Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

// JournalOf is ctx's Journal, nil when it has none.
func JournalOf(ctx context.Context) Journal {
	j, _ := ctx.Value(journalKey{}).(Journal)
	return j
}
