package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// A shared store (Config.Shared) is written by several API servers. Each keeps every account's
// IAM entities in memory, as a single server does, and:
//
//   - every write also writes the account's version key and commits only if that key is at
//     the revision this server last saw; a write refused because another server wrote the
//     account meanwhile loads the account again and runs again (up to sharedAttempts times,
//     then ConcurrentModification, as IAM answers simultaneous changes). A write that ends
//     without committing (an error such as NoSuchEntity) checks the same way that its answer
//     came from current memory;
//   - Follow applies other servers' writes from the store's watch: an account one of them
//     changed is loaded again. Reads and authorization use memory, so a change made on
//     another server reaches them within the watch's delay — as IAM's own changes reach its
//     regions eventually, not at once (AWS documents IAM as eventually consistent).

// sharedBudget bounds one write on a shared store, its wait for the lock (held by a commit
// waiting for etcd) and its retries included: it fails within 15 s when etcd is out of reach.
const sharedBudget = 12 * time.Second

// sharedAttempts bounds how often a write runs again after finding its account stale.
const sharedAttempts = 10

// errStale ends one attempt of a write whose account another server changed.
var errStale = errors.New("iam: account changed by another server")

func versionKey(account string) string { return storeKey(account, kindVersion, "v") }

// versioned adds the account's version key to ops, and the condition that nobody else wrote
// the account since this server's version of it.
func (a *acct) versioned(ops []store.Op, now time.Time) ([]store.Cond, []store.Op) {
	v, _ := json.Marshal(struct {
		At time.Time `json:"at"`
	}{now}) // a time always encodes
	return []store.Cond{{Key: versionKey(a.id), ModRevision: a.version}}, append(ops, store.Op{Key: versionKey(a.id), Value: v})
}

// settle is the answer of a write that committed nothing: on a shared store it stands only
// when the account was current; otherwise the account is loaded again and the write runs
// again. The caller holds s.mu.
func (s *Service) settle(ctx context.Context, a *acct, answer error) error {
	if !s.cfg.Shared {
		return answer
	}
	kv, ok, err := s.st.Get(ctx, versionKey(a.id))
	if err != nil {
		return ServiceUnavailable.Errorf("The service is unavailable. Please try again shortly.").withCause(err)
	}
	if v := kv.ModRevision; ok && v != a.version || !ok && a.version != 0 {
		if err := s.reloadAccount(ctx, a.id); err != nil {
			return err
		}
		return errStale
	}
	return answer
}

// lost handles a failed commit on a shared store: a conflict loads the account again for
// another attempt; any other failure leaves the outcome unknown, so the account is loaded
// again from what the store really holds and the client told to try again. The caller holds
// s.mu.
func (s *Service) lost(ctx context.Context, a *acct, err error) error {
	if rerr := s.reloadAccount(ctx, a.id); rerr != nil {
		return rerr
	}
	if errors.Is(err, store.ErrConflict) {
		return errStale
	}
	return ServiceUnavailable.Errorf("The service is unavailable. Please try again shortly.").withCause(err)
}

// backoff waits a random while before attempt+1, up to twice as long each time.
func backoff(ctx context.Context, attempt int) error {
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))):
		return nil
	case <-ctx.Done():
		return ServiceUnavailable.Errorf("The request was cancelled.").withCause(ctx.Err())
	}
}

// loadKV loads one record; an account's version key sets its version.
func (s *Service) loadKV(kv store.KV) error {
	if err := s.load(kv.Key, kv.Value); err != nil {
		return err
	}
	if account, kind, ok := splitKey(kv.Key); ok && kind == kindVersion {
		s.account(account).version = kv.ModRevision
	}
	return nil
}

// splitKey returns a record key's account and kind.
func splitKey(k string) (account, kind string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(k, keyPrefix), "/", 3)
	if len(parts) != 3 || !strings.HasPrefix(k, keyPrefix) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// reloadAccount replaces an account's memory with what the store holds; the caller holds
// s.mu. Authorization caches notice through the generation.
func (s *Service) reloadAccount(ctx context.Context, id string) error {
	kvs, _, err := s.st.List(ctx, keyPrefix+id+"/")
	if err != nil {
		return ServiceUnavailable.Errorf("The service is unavailable. Please try again shortly.").withCause(err)
	}
	old := s.accounts[id]
	s.accounts[id] = newAccount(id)
	for k, owner := range s.owner {
		if owner == id {
			delete(s.owner, k)
		}
	}
	for _, kv := range kvs {
		if err := s.loadKV(kv); err != nil {
			if old != nil { // keep what was there rather than half an account
				s.accounts[id] = old
			}
			return Internal(fmt.Errorf("iam: load record %q: %w", kv.Key, err))
		}
	}
	a := s.accounts[id]
	for _, u := range a.users {
		s.countAttachments(a, u.Attached, 1)
	}
	for _, g := range a.groups {
		s.countAttachments(a, g.Attached, 1)
	}
	for _, r := range a.roles {
		s.countAttachments(a, r.Attached, 1)
	}
	s.gen.Add(1)
	return nil
}

// Follow keeps memory current with the IAM writes of other servers on a shared store, from
// the store's watch from the revision Open read, until ctx ends: each account a transaction
// changed, unless this server's memory already holds that revision, is loaded again. A watch
// that lost its place (compacted history, a slow consumer) cannot say which accounts changed:
// every account is loaded again.
func (s *Service) Follow(ctx context.Context) {
	store.Follow(ctx, s.st, s.loaded+1, func(ev store.Event) { s.applyEvent(ctx, ev) }, func(ctx context.Context) (int64, error) {
		// Compacted history or a slow consumer: start from now, with every account read again.
		from := s.st.Revision() + 1
		s.mu.Lock()
		defer s.mu.Unlock()
		var err error
		for id := range s.accounts {
			if rerr := s.reloadAccount(ctx, id); rerr != nil {
				err = rerr
			}
		}
		return from, err
	})
}

// applyEvent loads again the accounts a committed transaction changed, unless this server's
// memory already holds that revision (its own writes).
func (s *Service) applyEvent(ctx context.Context, ev store.Event) {
	changed := map[string]bool{}
	for _, op := range ev.Ops {
		if account, _, ok := splitKey(op.Key); ok {
			changed[account] = true
		}
	}
	if len(changed) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range changed {
		if a := s.accounts[id]; a != nil && a.version >= ev.Revision {
			continue
		}
		s.reloadAccount(ctx, id) // an error leaves the account as it was; its next write reloads it
	}
}
