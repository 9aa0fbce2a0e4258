package store

import (
	"context"
	"errors"
	"time"
)

// Follow is the loop of a follower of a shared store (several API servers on one etcd): it
// watches st from revision from on and hands every transaction to apply, in order. When the
// watch ends without ctx ending (compacted history, a consumer too slow, the store out of
// reach), relist reads everything again and returns the revision to watch from next; a store
// that cannot be read is tried again a second later. Follow returns when ctx ends or the store
// closes.
func Follow(ctx context.Context, st Store, from int64, apply func(Event), relist func(context.Context) (int64, error)) {
	for ctx.Err() == nil {
		w, err := st.Watch(ctx, from)
		if err == nil {
			for ev := range w.C {
				apply(ev)
				from = ev.Revision + 1
			}
			err = w.Err()
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		next, rerr := relist(ctx)
		if rerr == nil {
			from = next
		}
		if rerr != nil || (err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrLagging)) {
			select { // the store is out of reach: try again shortly
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}
