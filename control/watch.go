package control

// The service's consumers of revisions (the host agent, its flow-log recorder, the continuous
// audit) share one watch of the store. With a watch each, every commit woke three of the
// store's watch goroutines, each reading the commit back from the store's history, and three
// filtering goroutines after them: under a stream of writes that was about two goroutine
// wake-ups a call for nothing, queued on the two CPUs in front of the calls' own handlers
// (BENCHMARKS.md, "twentieth session").

import (
	"context"
	"errors"

	"github.com/stockade/stockade/store"
)

// watchHub is the shared watch: its subscribers while one runs. Service.watch guards it.
type watchHub struct {
	subs   map[chan int64]struct{}
	cancel context.CancelFunc // ends the run: the last subscriber left
	synced bool               // the run has said once where the store is (shared stores)
}

// Watch reports, on the returned channel, the store revision after each committed write of the
// service's state from now on, until ctx ends; transactions of other packages (the trail's
// records, accounts) are not reported. A consumer that falls behind is told of the newest
// revision, never of an older one after it: that is all a reconciler needs. The channel
// closes when ctx ends or the store closes.
//
// On a shared store a consumer is also told where the store is once its watch is established
// (see follow), so that it looks again at what other servers wrote before it watched.
func (s *Service) Watch(ctx context.Context) <-chan int64 {
	out := make(chan int64, 1)
	s.watchMu.Lock()
	h := s.watch
	if h == nil {
		hctx, cancel := context.WithCancel(context.Background())
		h = &watchHub{subs: map[chan int64]struct{}{}, cancel: cancel}
		s.watch = h
		go s.follow(hctx, h)
	} else if h.synced && s.cfg.Shared {
		tell(out, s.st.Revision()) // the run's own resync was before this consumer came
	}
	h.subs[out] = struct{}{}
	s.watchMu.Unlock()
	context.AfterFunc(ctx, func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		if _, ok := h.subs[out]; !ok {
			return // the run ended and closed it
		}
		delete(h.subs, out)
		close(out)
		if len(h.subs) == 0 && s.watch == h {
			h.cancel()
			s.watch = nil
		}
	})
	return out
}

// tell puts rev on a consumer's channel, in place of a revision it has not taken yet. Only
// the hub's run sends, under Service.watchMu, so the send after the drain never blocks.
func tell(out chan int64, rev int64) {
	select {
	case <-out:
	default:
	}
	out <- rev
}

// tellAll tells every subscriber of h.
func (s *Service) tellAll(h *watchHub, rev int64) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for out := range h.subs {
		tell(out, rev)
	}
}

// follow is the shared watch's run: it reads the store's commits until ctx ends (the last
// subscriber left) or the store closes, and then closes the channels still subscribed.
func (s *Service) follow(ctx context.Context, h *watchHub) {
	defer func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		for out := range h.subs {
			close(out)
		}
		clear(h.subs)
		if s.watch == h {
			s.watch = nil
		}
		h.cancel()
	}()
	// resync: the watch missed transactions; say where the store is once it is back. On a
	// shared store the first watch has missed some too: the other servers' writes between
	// this service's Open (or its last load of a tenant) and now, which a watch from now
	// never reports — an agent registers its host before it watches, and an instance
	// placed there meanwhile would never run. So it starts as after a lost watch: every
	// tenant the store holds is loaded again (noteAll, after the watch is established, so
	// that a write is in the list or in the watch).
	resync := s.cfg.Shared
	for ctx.Err() == nil {
		w, err := s.st.Watch(ctx, 0)
		if err != nil {
			if s.cfg.Shared && !errors.Is(err, store.ErrClosed) && s.waitStore(ctx) {
				resync = true // etcd out of reach: keep what is enforced, watch again when back
				continue
			}
			return
		}
		if resync {
			if s.cfg.Shared {
				s.noteAll(ctx) // which tenants the missed writes changed is unknown
			}
			s.tellAll(h, s.st.Revision())
			s.watchMu.Lock()
			h.synced = true
			s.watchMu.Unlock()
			resync = false
		}
		for ev := range w.C {
			if !changesState(ev.Ops) {
				continue // a trail record, an account: no network changed (journal.go)
			}
			if s.cfg.Shared {
				s.noteChanges(ctx, ev) // another server's write: Networks loads its tenants again
			}
			s.tellAll(h, ev.Revision)
		}
		switch err := w.Err(); {
		case err == nil || errors.Is(err, store.ErrLagging):
			// Lagging: watch again from now on, after saying where the store is.
		case s.cfg.Shared && !errors.Is(err, store.ErrClosed) && s.waitStore(ctx):
			// A shared store out of reach, or its leader lost: the same, once it is back.
		default:
			return
		}
		resync = true
	}
}
