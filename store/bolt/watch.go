package bolt

import (
	"context"
	"encoding/binary"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/store"
)

// watchBuffer is how many events a watcher may have undelivered before it is dropped with
// store.ErrLagging. Watchers read history themselves, so writers never wait for them.
const watchBuffer = 1024

// Watch implements store.Store. Each watcher has a goroutine that reads committed
// transactions from the history bucket in revision order and waits for the next commit.
func (s *Store) Watch(ctx context.Context, from int64) (*store.Watcher, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	next := from
	if next <= 0 {
		next = s.rev.Load() + 1
	}
	if oldest, err := s.oldest(); err != nil {
		return nil, err
	} else if oldest > 0 && next < oldest {
		return nil, store.ErrCompacted
	} else if oldest == 0 && next <= s.rev.Load() {
		return nil, store.ErrCompacted
	}
	ch := make(chan store.Event, watchBuffer)
	var mu sync.Mutex
	var werr error
	setErr := func(err error) { mu.Lock(); werr = err; mu.Unlock() }
	go func() {
		defer close(ch)
		for {
			s.mu.Lock()
			wake, closed := s.notify, s.closed
			s.mu.Unlock()
			if closed {
				setErr(store.ErrClosed)
				return
			}
			events, err := s.history(next, 256)
			if err != nil {
				setErr(err)
				return
			}
			for _, ev := range events {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				default:
					setErr(store.ErrLagging)
					return
				}
				next = ev.Revision + 1
			}
			if len(events) > 0 {
				continue
			}
			select {
			case <-wake:
			case <-s.done:
			case <-ctx.Done():
				return
			}
		}
	}()
	return store.NewWatcher(ch, func() error { mu.Lock(); defer mu.Unlock(); return werr }), nil
}

// oldest is the first revision still in the history, 0 when it is empty. The overlay is read
// before the file: a flush between the two reads then moves transactions into the file, where
// the second read finds them. The other way round, a flush between would hide them from both.
func (s *Store) oldest() (int64, error) {
	var unflushed int64
	s.ov.mu.RLock()
	if len(s.ov.txs) > 0 {
		unflushed = s.ov.txs[0].rev
	}
	s.ov.mu.RUnlock()
	var rev int64
	err := s.view(func(tx *bbolt.Tx) error {
		if k, _ := firstEntry(tx.Bucket(bucketHistory).Cursor(), nil); k != nil {
			rev = int64(binary.BigEndian.Uint64(k))
		}
		return nil
	})
	if err == nil && rev == 0 {
		rev = unflushed
	}
	return rev, err
}

// history reads up to max transactions from revision from on: from the overlay when the bbolt
// file does not have them yet (a watcher that keeps up reads only there), else from the file's
// history and then the overlay. A gap at the start means the revision was compacted away while
// the watcher lagged.
func (s *Store) history(from int64, max int) ([]store.Event, error) {
	if out, err := s.ov.events(from, max); out != nil || err != nil {
		return out, err
	}
	out, err := s.historyFile(from, max)
	if err != nil || len(out) == max {
		return out, err
	}
	next := from
	if len(out) > 0 {
		next = out[len(out)-1].Revision + 1
	}
	// What the overlay has from next on. If a flush moved next into the file meanwhile, the
	// overlay no longer has it and the watcher's next call reads it from the file.
	more, err := s.ov.events(next, max-len(out))
	return append(out, more...), err
}

// historyFile is history from the bbolt file alone.
func (s *Store) historyFile(from int64, max int) ([]store.Event, error) {
	var out []store.Event
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := firstEntry(c, revKey(from)); k != nil && len(out) < max; k, v = c.Next() {
			if isStagedEntry(k) {
				continue
			}
			rev := int64(binary.BigEndian.Uint64(k))
			if len(out) == 0 && rev != from {
				return store.ErrCompacted
			}
			ops, err := decodeOps(v)
			if err != nil {
				return err
			}
			out = append(out, store.Event{Revision: rev, Ops: ops})
		}
		return nil
	})
	return out, err
}
