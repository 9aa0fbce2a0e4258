package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockade/stockade/store"
)

// Watch implements store.Store on one etcd watch of the prefix. etcd never splits a
// revision's events across watch responses (its API guarantees), so the events of one
// response grouped by revision are whole transactions.
//
// A revision already compacted is store.ErrCompacted at once: a range read at that revision
// tells, as the watch would but synchronously, so that a caller can relist before it starts
// following. If compaction overtakes a watch later, it ends with store.ErrCompacted. from == 0
// is the cluster's revision now plus one, read from the cluster: the client's watch is only
// established on the server some time after it returns, and a write in between would be lost.
func (s *Store) Watch(ctx context.Context, from int64) (*store.Watcher, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	if from <= 0 {
		rev, err := s.current(ctx)
		if err != nil {
			return nil, err
		}
		from = rev + 1
	} else if _, err := s.read(ctx, s.prefix, clientv3.WithRev(from), clientv3.WithCountOnly()); err != nil {
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			return nil, store.ErrCompacted
		case !errors.Is(err, rpctypes.ErrFutureRev):
			return nil, err
		}
	}
	return s.follow(ctx, from)
}

// follow watches from revision from on, without Watch's check for compaction.
func (s *Store) follow(ctx context.Context, from int64) (*store.Watcher, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	id := new(int)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil, store.ErrClosed
	}
	s.watchers[id] = cancel
	s.mu.Unlock()

	ch := make(chan store.Event, watchBuffer)
	var mu sync.Mutex
	var werr error
	setErr := func(err error) { mu.Lock(); werr = err; mu.Unlock() }
	wch := s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
	go func() {
		defer close(ch)
		defer func() {
			s.mu.Lock()
			delete(s.watchers, id)
			s.mu.Unlock()
			cancel()
		}()
		for resp := range wch {
			switch {
			case resp.CompactRevision != 0:
				setErr(store.ErrCompacted)
				return
			case resp.Err() != nil:
				setErr(s.endErr(ctx, resp.Err()))
				return
			}
			s.saw(resp.Header.Revision)
			for _, ev := range s.events(resp.Events) {
				select {
				case ch <- ev:
				default:
					setErr(store.ErrLagging)
					return
				}
			}
		}
		setErr(s.endErr(ctx, nil))
	}()
	return store.NewWatcher(ch, func() error { mu.Lock(); defer mu.Unlock(); return werr }), nil
}

// endErr is why a watch ended: the store closed, the caller's context ended (nil), or etcd's
// err (a watch without a leader, for one).
func (s *Store) endErr(ctx context.Context, err error) error {
	switch {
	case s.isClosed():
		return store.ErrClosed
	case ctx.Err() != nil:
		return nil
	case err == nil:
		return fmt.Errorf("etcd store %v: watch ended", s.cli.Endpoints())
	}
	return s.wrap(err)
}

// events groups etcd's per-key events into one store.Event per revision, leaving out the
// prefix's own key and the Unwatched prefixes: a transaction of only those is an event
// without ops, as on bolt.
func (s *Store) events(evs []*clientv3.Event) []store.Event {
	var out []store.Event
	for _, e := range evs {
		rev := e.Kv.ModRevision
		if n := len(out); n == 0 || out[n-1].Revision != rev {
			out = append(out, store.Event{Revision: rev})
		}
		key := strings.TrimPrefix(string(e.Kv.Key), s.prefix)
		if key == "" || s.isUnwatched(key) {
			continue
		}
		op := store.Op{Key: key, Delete: e.Type == clientv3.EventTypeDelete}
		if !op.Delete {
			op.Value = e.Kv.Value
		}
		last := &out[len(out)-1]
		last.Ops = append(last.Ops, op)
	}
	return out
}

func (s *Store) isUnwatched(key string) bool {
	for _, p := range s.unwatched {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
