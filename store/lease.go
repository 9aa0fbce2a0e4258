package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Lease is a role that one of the servers sharing a store holds at a time, such as the
// continuous audit, whose events would otherwise be published once by each server: a key
// naming the holder and until when, taken when it is absent or has expired and renewed by
// its holder, each with a transaction conditional on the key's revision, so that two servers
// cannot both take it. It needs only the Store interface, as the hosts' leases do (package
// cluster), and the same clocks roughly in step (NTP).
//
// A holder that stops renewing (it died, or lost the store) holds the role until the lease
// expires; it stops acting on it when a renewal fails (Hold reports false), so that two
// holders overlap only while a holder's clock or scheduling lags by more than a third of the
// TTL, which a caller renewing every third of it tolerates.
type Lease struct {
	st  Store
	key string
	who string
	ttl time.Duration
}

// leaseRecord is what a lease's key holds.
type leaseRecord struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// NewLease returns who's lease on key, of ttl from each renewal.
func NewLease(st Store, key, who string, ttl time.Duration) *Lease {
	return &Lease{st: st, key: key, who: who, ttl: ttl}
}

// TTL is how long the lease lasts from each renewal.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Hold takes the lease if it is free (absent, expired, or who's own) and renews it, and
// reports whether who holds it now, for ttl. Another holder's live lease is false and no
// error; an error is the store's, and who must then act as if it did not hold the lease.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	kv, ok, err := l.st.Get(ctx, l.key)
	if err != nil {
		return false, err
	}
	now := time.Now()
	cond := Cond{Key: l.key} // absent
	if ok {
		var rec leaseRecord
		if json.Unmarshal(kv.Value, &rec) == nil && rec.Holder != l.who && now.Before(rec.Expires) {
			return false, nil
		}
		cond.ModRevision = kv.ModRevision // unreadable, expired or ours: unchanged since read
	}
	v, _ := json.Marshal(leaseRecord{Holder: l.who, Expires: now.Add(l.ttl)}) // always encodes
	if _, err := l.st.Txn(ctx, []Cond{cond}, []Op{{Key: l.key, Value: v}}); err != nil {
		if errors.Is(err, ErrConflict) {
			return false, nil // another server took or renewed it meanwhile
		}
		return false, err
	}
	return true, nil
}

// Release ends who's lease, if who holds it, so that another server can take it at once (a
// clean shutdown).
func (l *Lease) Release(ctx context.Context) error {
	kv, ok, err := l.st.Get(ctx, l.key)
	if err != nil || !ok {
		return err
	}
	var rec leaseRecord
	if json.Unmarshal(kv.Value, &rec) != nil || rec.Holder != l.who {
		return nil
	}
	_, err = l.st.Txn(ctx, []Cond{{Key: l.key, ModRevision: kv.ModRevision}}, []Op{{Key: l.key, Delete: true}})
	if errors.Is(err, ErrConflict) {
		return nil // no longer ours
	}
	return err
}
