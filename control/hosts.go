package control

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// Network is one tenant's network and instances, as a host agent and the lab see them.
type Network struct {
	Tenant Tenant
	netmap.Snapshot
	Instances []*model.Instance
}

// Networks returns every tenant's network. Every write the store had committed when it was
// called is in them, so rev — the store revision read first — is a revision they include.
// The objects are immutable (copy on write) and stay valid after the call.
func (s *Service) Networks() (rev int64, nets []netmap.Network) {
	rev = s.st.Revision()
	s.mu.Lock()
	tenants := make([]*tenant, 0, len(s.tenants))
	for _, tn := range s.tenants {
		tenants = append(tenants, tn)
	}
	s.mu.Unlock()
	for _, tn := range tenants {
		tn.mu.RLock()
		if tn.initialised {
			nets = append(nets, netmap.Network{Tenant: tn.key, Snapshot: tn.snapshot(),
				Instances: sorted(tn.instances, func(x *model.Instance) string { return x.ID })})
		}
		tn.mu.RUnlock()
	}
	slices.SortFunc(nets, func(a, b netmap.Network) int {
		return cmp.Or(cmp.Compare(a.Tenant.Account, b.Tenant.Account), cmp.Compare(a.Tenant.Region, b.Tenant.Region))
	})
	return rev, nets
}

// Watch reports, on the returned channel, the store revision after each committed write from
// now on, until ctx ends. A consumer that falls behind is told of the newest revision, never
// of an older one after it: that is all a reconciler needs. The channel closes when ctx ends
// or the store closes.
func (s *Service) Watch(ctx context.Context) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			w, err := s.st.Watch(ctx, 0)
			if err != nil {
				return
			}
			for ev := range w.C {
				select { // keep only the newest revision if the consumer is busy
				case <-out:
				default:
				}
				out <- ev.Revision
			}
			if err := w.Err(); err != nil && !errors.Is(err, store.ErrLagging) {
				return
			}
			// Lagging: watch again from now on, after saying where the store is.
			select {
			case <-out:
			default:
			}
			out <- s.st.Revision()
		}
	}()
	return out
}
