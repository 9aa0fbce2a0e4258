package control

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// Networks returns every tenant's network. Every write the store had committed when it was
// called is in them, so rev — the store revision read first — is a revision they include.
// The objects are immutable (copy on write) and stay valid after the call.
//
// Like every read (see read), it returns only what is durable: a write's change is in memory
// before its commit completes, so Networks waits until every write it saw is on disk before
// handing it to the kernel. If a commit fails instead, the service has stopped and memory may
// hold what is not on disk; Networks then returns the last answer it gave (all of it
// durable), so that the host keeps its rules and instances as they were rather than applying
// a write that never happened or tearing down what exists.
func (s *Service) Networks() (rev int64, nets []netmap.Network) {
	rev = s.st.Revision()
	s.mu.Lock()
	tenants := make([]*tenant, 0, len(s.tenants))
	for _, tn := range s.tenants {
		tenants = append(tenants, tn)
	}
	s.mu.Unlock()
	if s.cfg.Shared && !s.refreshStale(tenants) {
		// The store is out of reach: keep what the host enforces now (see above).
		if last := s.lastNetworks.Load(); last != nil {
			return last.rev, last.nets
		}
		return 0, nil
	}
	seen := make([]uint64, len(tenants))
	for i, tn := range tenants {
		tn.mu.RLock()
		if tn.initialised {
			nets = append(nets, tn.network())
		}
		seen[i] = tn.staged
		tn.mu.RUnlock()
	}
	for i, tn := range tenants {
		if s.waitDurable(tn, seen[i]) != nil {
			last := s.lastNetworks.Load()
			if last == nil {
				return 0, nil
			}
			return last.rev, last.nets
		}
	}
	slices.SortFunc(nets, func(a, b netmap.Network) int {
		return cmp.Or(cmp.Compare(a.Tenant.Account, b.Tenant.Account), cmp.Compare(a.Tenant.Region, b.Tenant.Region))
	})
	ans := &networksAnswer{rev, nets}
	for { // keep the newest answer when calls overlap
		last := s.lastNetworks.Load()
		if (last != nil && last.rev > rev) || s.lastNetworks.CompareAndSwap(last, ans) {
			break
		}
	}
	return rev, nets
}

// networksAnswer is an answer of Networks, kept for when the service has stopped.
type networksAnswer struct {
	rev  int64
	nets []netmap.Network
}

// Watch reports, on the returned channel, the store revision after each committed write of the
// service's state from now on, until ctx ends; transactions of other packages (the trail's
// records, accounts) are not reported. A consumer that falls behind is told of the newest revision, never
// of an older one after it: that is all a reconciler needs. The channel closes when ctx ends
// or the store closes.
func (s *Service) Watch(ctx context.Context) <-chan int64 {
	out := make(chan int64, 1)
	tell := func(rev int64) {
		select { // keep only the newest revision if the consumer is busy
		case <-out:
		default:
		}
		out <- rev
	}
	go func() {
		defer close(out)
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
				tell(s.st.Revision())
				resync = false
			}
			for ev := range w.C {
				if !changesState(ev.Ops) {
					continue // a trail record, an account: no network changed (journal.go)
				}
				if s.cfg.Shared {
					s.noteChanges(ctx, ev) // another server's write: Networks loads its tenants again
				}
				tell(ev.Revision)
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
	}()
	return out
}
