package control

import (
	"cmp"
	"slices"

	"github.com/stockade/stockade/netmap"
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
