package events

import (
	"context"
	"strings"

	"github.com/stockade/stockade/store"
)

// A shared store (Config.Shared) is one that other API servers write too (several servers on
// one etcd). Each server keeps the rules, connections and API destinations in memory for
// matching, as a single one does, and two rules keep that memory honest against the others'
// writes, as the control and IAM services do (control/shared.go, iam/shared.go):
//
//   - Every write of an account's bus in a region also puts the scope's version key
//     (events-version/<account>/<region>), on the condition that it is still at the revision
//     this server last loaded the scope at. A write decided on stale memory (another server
//     wrote the scope since) commits nothing: the scope is loaded again and the call answers
//     EventBridge's ConcurrentModificationException, which a client may retry at once.
//   - Follow watches the version keys: a scope another server wrote is loaded again, so that
//     rules, targets and destinations made on any server match and deliver on every server
//     within the watch's delay, and Describe and List calls show them.
//
// The version keys are outside Prefix on purpose: watchers do not see the keys under Prefix
// (the server's store options), where the delivery queue's writes would wake them for
// nothing.
//
// Each server's bus delivers the events of the calls it served (its own trail records), so a
// rule delivers each event once, from the server that served the call. Pending deliveries
// are in the shared store too, and a server that starts resumes every one of them, those of
// servers still running included, which may then deliver one twice: at least once, as
// EventBridge promises.
const versionPrefix = "events-version/"

func versionKey(sc Scope) string { return versionPrefix + sc.Account + "/" + sc.Region }

// scopeOf is the scope of a resource key (key's inverse), or false.
func scopeOf(k string) (Scope, bool) {
	parts := strings.SplitN(strings.TrimPrefix(k, resourcePrefix), "/", 3)
	if !strings.HasPrefix(k, resourcePrefix) || len(parts) != 3 {
		return Scope{}, false
	}
	return Scope{parts[0], parts[1]}, true
}

// errConcurrent answers a write decided on memory that another server's write had made
// stale; nothing was written.
func errConcurrent() *Error {
	return errorf(CodeConcurrentModification, "There is concurrent modification on a rule, target, archive, or replay.")
}

// loadVersions reads every scope's version key; the caller then lists the resources, so that
// a write between the two reads shows in the resources and makes the next conditional write
// of its scope fail and reload (never the other way round).
func (s *Service) loadVersions(ctx context.Context) (int64, error) {
	kvs, rev, err := s.st.List(ctx, versionPrefix)
	if err != nil {
		return 0, err
	}
	for _, kv := range kvs {
		if account, region, ok := strings.Cut(strings.TrimPrefix(kv.Key, versionPrefix), "/"); ok {
			s.versions[Scope{account, region}] = kv.ModRevision
		}
	}
	return rev, nil
}

// reloadScope replaces sc's memory with what the store holds; the caller holds mu. On an
// error the scope's version is unknown, so that its next write fails and reloads.
func (s *Service) reloadScope(ctx context.Context, sc Scope) error {
	s.versions[sc] = -1
	kv, ok, err := s.st.Get(ctx, versionKey(sc))
	if err != nil {
		return err
	}
	kvs, _, err := s.st.List(ctx, resourcePrefix+sc.Account+"/"+sc.Region+"/")
	if err != nil {
		return err
	}
	fresh := &busState{rules: map[string]*Rule{}, conns: map[string]*Connection{}, dests: map[string]*Destination{}}
	for _, r := range kvs {
		parts := strings.SplitN(strings.TrimPrefix(r.Key, resourcePrefix), "/", 4)
		if len(parts) != 4 {
			continue
		}
		if err := fresh.load(parts[2], r.Value); err != nil {
			return err
		}
	}
	s.buses[sc] = fresh
	s.versions[sc] = 0
	if ok {
		s.versions[sc] = kv.ModRevision
	}
	return nil
}

// Follow keeps memory current with the other servers' writes on a shared store, from the
// revision Open read, until ctx ends. A watch that lost its place (compacted history, a slow
// consumer, the store out of reach) cannot say which scopes changed: every scope is loaded
// again.
func (s *Service) Follow(ctx context.Context) {
	store.Follow(ctx, s.st, s.loaded+1, func(ev store.Event) { s.applyEvent(ctx, ev) }, func(ctx context.Context) (int64, error) {
		from := s.st.Revision() + 1
		return from, s.reloadAll(ctx)
	})
}

// applyEvent loads again the scopes a committed transaction changed, unless memory already
// holds that revision (this server's own writes).
func (s *Service) applyEvent(ctx context.Context, ev store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ev.Ops {
		rest, ok := strings.CutPrefix(op.Key, versionPrefix)
		if !ok {
			continue
		}
		account, region, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		sc := Scope{account, region}
		if v, known := s.versions[sc]; !known || v < ev.Revision {
			s.reloadScope(ctx, sc) // an error leaves the version unknown: the next write reloads
		}
	}
}

// reloadAll loads every scope again: those the store has versions of and those in memory.
func (s *Service) reloadAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	scopes := map[Scope]bool{}
	for sc := range s.buses {
		scopes[sc] = true
	}
	if _, err := s.loadVersions(ctx); err != nil {
		return err
	}
	for sc := range s.versions {
		scopes[sc] = true
	}
	var first error
	for sc := range scopes {
		if err := s.reloadScope(ctx, sc); err != nil && first == nil {
			first = err
		}
	}
	return first
}
