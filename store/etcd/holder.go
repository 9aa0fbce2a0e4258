package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// holder is an exclusive store's hold on its prefix (Options.Exclusive): the etcd key Prefix
// itself (the store key "", which no caller can use), created with a lease that a goroutine
// renews. Every transaction of the store compares that key's CreateRevision with the one it
// created. That is fencing, which Jepsen's analysis of etcd recommends over its lock recipes:
// if the lease runs out (the server was cut off from the cluster for longer than the TTL) and
// another server takes the prefix, the old holder's writes fail instead of overwriting the new
// one's, and the old holder stops as on a disk failure.
//
// It keeps one API server per prefix until the services can share one (package doc), as bolt's
// file lock keeps one per data directory.
type holder struct {
	who     string
	lease   clientv3.LeaseID
	created int64
	stop    context.CancelFunc // ends the renewals
}

// acquire takes the prefix for who. A prefix held by a live server is refused; one whose
// holder has died is taken once its lease has run out, which acquire waits for (at most the
// TTL and the timeout), so that a restart after a crash does not fail.
func (s *Store) acquire(ctx context.Context, who string, ttl time.Duration) (*holder, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	secs := max(int64(ttl/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+s.timeout)
	defer cancel()
	for {
		h, held, rev, err := s.tryAcquire(ctx, who, secs)
		if h != nil || err != nil {
			return h, err
		}
		if held == "" {
			continue // a key left by a store without a holder, deleted: try again
		}
		if err := s.waitReleased(ctx, rev); err != nil {
			return nil, fmt.Errorf("etcd prefix %q is held by another stockade server (%s): one server per prefix (README, Store on etcd): %w", s.prefix, held, err)
		}
	}
}

// tryAcquire creates the prefix's key on a new lease. When the key exists, it returns who
// holds it and the revision it was read at, or deletes it and returns held == "" when it has
// no lease (written by a store without a holder: no server holds the prefix).
func (s *Store) tryAcquire(ctx context.Context, who string, secs int64) (h *holder, held string, rev int64, err error) {
	grant, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return nil, "", 0, s.wrap(err)
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(s.prefix), "=", 0)).
		Then(clientv3.OpPut(s.prefix, who, clientv3.WithLease(grant.ID))).Else(clientv3.OpGet(s.prefix)).Commit()
	if err != nil || !resp.Succeeded {
		s.cli.Revoke(context.WithoutCancel(ctx), grant.ID)
	}
	if err != nil {
		return nil, "", 0, s.wrap(err)
	}
	s.saw(resp.Header.Revision)
	if resp.Succeeded {
		kctx, stop := context.WithCancel(context.Background())
		renewals, err := s.cli.KeepAlive(kctx, grant.ID)
		if err != nil {
			stop()
			s.cli.Revoke(context.WithoutCancel(ctx), grant.ID)
			return nil, "", 0, s.wrap(err)
		}
		go func() {
			for range renewals { // the client renews; the responses need only be read
			}
		}()
		return &holder{who: who, lease: grant.ID, created: resp.Header.Revision, stop: stop}, "", 0, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, "", 0, nil // gone in between
	}
	if kvs[0].Lease == 0 {
		_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(s.prefix), "=", kvs[0].ModRevision)).
			Then(clientv3.OpDelete(s.prefix)).Commit()
		return nil, "", 0, s.wrapIf(err)
	}
	return nil, string(kvs[0].Value), resp.Header.Revision, nil
}

func (s *Store) wrapIf(err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(err)
}

// waitReleased waits until the prefix's key is deleted after revision rev (its holder
// closed, or its lease ran out).
func (s *Store) waitReleased(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.prefix, clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return err
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("its lease did not run out: %w", err)
	}
	return errors.New("watch ended")
}

// fence is the comparison every transaction of an exclusive store makes.
func (s *Store) fence() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(s.prefix), "=", s.hold.created)
}

// touch is the put that gives a transaction of deletes only its revision (package doc): on
// the prefix's key, keeping the holder's lease when there is one.
func (s *Store) touch() clientv3.Op {
	if s.hold != nil {
		return clientv3.OpPut(s.prefix, s.hold.who, clientv3.WithIgnoreLease())
	}
	return clientv3.OpPut(s.prefix, "")
}

// fenced tells, from a failed transaction's Else (the prefix's key), whether it failed because
// this store no longer holds the prefix: a storage failure, not a conflict.
func (s *Store) fenced(resp *clientv3.TxnResponse) error {
	rng := resp.Responses[len(resp.Responses)-1].GetResponseRange()
	if rng != nil && len(rng.Kvs) == 1 && rng.Kvs[0].CreateRevision == s.hold.created {
		return nil
	}
	now := "nobody"
	if rng != nil && len(rng.Kvs) == 1 {
		now = string(rng.Kvs[0].Value)
	}
	return fmt.Errorf("etcd store: this server no longer holds prefix %q (its lease ran out; now held by %s): it writes nothing more", s.prefix, now)
}

// release ends the renewals and revokes the lease, which deletes the prefix's key: the next
// server takes the prefix at once.
func (s *Store) release() {
	s.hold.stop()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.cli.Revoke(ctx, s.hold.lease)
}
