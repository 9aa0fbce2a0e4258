package control

import (
	"context"

	"github.com/stockade/stockade/cluster"
)

// The registry of hosts through the server: the admin API's /v1/hosts (adminapi) and
// `stockade hosts` reach the store this way when they have no --etcd-endpoints of their own,
// and a test registers hosts on a server it started. An agent on etcd writes the same records
// with the cluster package directly. The placement lock is held, so that a host's record
// changes between this server's placements, never in the middle of one.

// RegisterHost registers h (or registers it again) with its heartbeat now.
func (s *Service) RegisterHost(ctx context.Context, h cluster.Host) error {
	s.place.mu.Lock()
	defer s.place.mu.Unlock()
	return cluster.Register(ctx, s.st, h, s.cfg.Now())
}

// HostHeartbeat renews a host's lease.
func (s *Service) HostHeartbeat(ctx context.Context, name string) error {
	return cluster.Heartbeat(ctx, s.st, name, s.cfg.Now())
}

// DeregisterHost removes an empty host's record (cluster.Deregister).
func (s *Service) DeregisterHost(ctx context.Context, name string) error {
	s.place.mu.Lock()
	defer s.place.mu.Unlock()
	return cluster.Deregister(ctx, s.st, name)
}

// DownHosts names the registered hosts that are down now (their lease lapsed); nil when none
// is. DescribeInstanceStatus reads it: an instance on a down host is impaired.
func (s *Service) DownHosts(ctx context.Context) (map[string]bool, error) {
	hosts, err := cluster.List(ctx, s.st)
	if err != nil {
		return nil, unavailable(err)
	}
	now := s.cfg.Now()
	var down map[string]bool
	for _, h := range hosts {
		if h.State(now) == cluster.Down {
			if down == nil {
				down = map[string]bool{}
			}
			down[h.Name] = true
		}
	}
	return down, nil
}

// HostStatuses lists the registered hosts with their state now and what is placed on them.
func (s *Service) HostStatuses(ctx context.Context) ([]cluster.Status, error) {
	return cluster.Statuses(ctx, s.st, s.cfg.Now())
}
