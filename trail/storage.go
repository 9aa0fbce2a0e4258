package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// Store layout. Every key is under Prefix; records are immutable, so none is ever rewritten.
//
//	trail/e/ACCOUNT/REGION/TIME/EVENTID                  the record (stored form below)
//	trail/i/ACCOUNT/REGION/ATTR/VALUE/TIME/EVENTID       empty: one per lookup attribute of §2.2
//	trail/t/TIME/ACCOUNT/REGION/EVENTID                  empty: all records by time, for Prune and Export
//
// TIME is the eventTime in Unix seconds, zero-padded to 12 digits, so that key order is time
// order and, within a second, eventID order: LookupEvents' newest-first order with ties by
// eventID descending (§2.3) is a reverse scan. ACCOUNT, REGION and VALUE are path-escaped so
// that no value can reach into another's keys (a "/" in a value would).
const Prefix = "trail/"

const (
	eventsPrefix = Prefix + "e/"
	indexPrefix  = Prefix + "i/"
	timePrefix   = Prefix + "t/"
)

// Attribute is a LookupEvents AttributeKey (§2.2).
type Attribute string

const (
	EventIDAttr      Attribute = "EventId"
	EventNameAttr    Attribute = "EventName"
	ReadOnlyAttr     Attribute = "ReadOnly"
	UsernameAttr     Attribute = "Username"
	ResourceTypeAttr Attribute = "ResourceType"
	ResourceNameAttr Attribute = "ResourceName"
	EventSourceAttr  Attribute = "EventSource"
	AccessKeyIDAttr  Attribute = "AccessKeyId"
)

// attributes are the AttributeKeys LookupEvents accepts, case-sensitive.
var attributes = map[Attribute]bool{EventIDAttr: true, EventNameAttr: true, ReadOnlyAttr: true, UsernameAttr: true,
	ResourceTypeAttr: true, ResourceNameAttr: true, EventSourceAttr: true, AccessKeyIDAttr: true}

// maxAttributeValue is the longest AttributeValue LookupEvents accepts; longer record values
// cannot be looked up and get no index key.
const maxAttributeValue = 2000

func timeKey(t time.Time) string { return fmt.Sprintf("%012d", t.Unix()) }

func scope(account, region string) string {
	return url.PathEscape(account) + "/" + url.PathEscape(region) + "/"
}

func storeKey(r *Record) string {
	return eventsPrefix + scope(r.RecipientAccountID, r.AWSRegion) + timeKey(r.Time) + "/" + r.EventID
}

// attributeValues are the index entries of a record: each attribute with every value it has.
func (r *Record) attributeValues() map[Attribute][]string {
	a := map[Attribute][]string{
		EventIDAttr:     {r.EventID},
		EventNameAttr:   {r.EventName},
		ReadOnlyAttr:    {strconv.FormatBool(r.ReadOnly)},
		UsernameAttr:    {r.Username},
		EventSourceAttr: {r.EventSource},
		AccessKeyIDAttr: {r.UserIdentity.AccessKeyID},
	}
	for _, res := range r.Lookup {
		a[ResourceTypeAttr] = append(a[ResourceTypeAttr], res.ResourceType)
		a[ResourceNameAttr] = append(a[ResourceNameAttr], res.ResourceName)
	}
	return a
}

// indexPrefixOf is where the index keys of one attribute value of one account and region live.
func indexPrefixOf(account, region string, attr Attribute, value string) string {
	return indexPrefix + scope(account, region) + string(attr) + "/" + url.PathEscape(value) + "/"
}

// Ops are the store writes that keep r: the record, its index keys and its time key. The
// control plane adds them to the transaction of the change r records, so that the change and
// its record commit together or not at all (§1.5 [STOCKADE]).
func (r *Record) Ops() []store.Op {
	tail := timeKey(r.Time) + "/" + r.EventID
	ops := []store.Op{
		{Key: storeKey(r), Value: r.encodeStored()},
		{Key: timePrefix + timeKey(r.Time) + "/" + scope(r.RecipientAccountID, r.AWSRegion) + r.EventID, Value: []byte{}},
	}
	for _, k := range r.indexKeys(tail) {
		ops = append(ops, store.Op{Key: k, Value: []byte{}})
	}
	if r.Staged != nil {
		ops = slices.DeleteFunc(ops, func(op store.Op) bool { return r.Staged[op.Key] })
	}
	return ops
}

// Completes marks r as the complete form of staged, a record of the same call (same eventTime
// and eventID) whose Ops are already committed — the record a write stages in its change's
// transaction before its response exists. r's Ops then rewrite the record itself and add
// the index keys staged lacked (resources only the response names), without writing again
// the keys both have: a completion costs the store one record, not a record and its index.
// It does nothing when the two are not the same call.
func (r *Record) Completes(staged *Record) {
	if staged == nil || staged.EventID != r.EventID || !staged.Time.Equal(r.Time) ||
		staged.RecipientAccountID != r.RecipientAccountID || staged.AWSRegion != r.AWSRegion {
		return
	}
	r.Staged = map[string]bool{}
	for _, op := range staged.Ops() {
		r.Staged[op.Key] = true
	}
	delete(r.Staged, storeKey(r))
}

// indexKeys lists r's index keys, each value once, in a fixed order.
func (r *Record) indexKeys(tail string) []string {
	var keys []string
	vals := r.attributeValues()
	for _, attr := range []Attribute{EventIDAttr, EventNameAttr, ReadOnlyAttr, UsernameAttr, EventSourceAttr,
		AccessKeyIDAttr, ResourceTypeAttr, ResourceNameAttr} {
		seen := map[string]bool{}
		for _, v := range vals[attr] {
			if v == "" || len(v) > maxAttributeValue || seen[v] {
				continue
			}
			seen[v] = true
			keys = append(keys, indexPrefixOf(r.RecipientAccountID, r.AWSRegion, attr, v)+tail)
		}
	}
	return keys
}

// deleteOps undo Ops (of a record read back from the store, which has all its keys).
func (r *Record) deleteOps() []store.Op {
	var ops []store.Op
	for _, op := range r.Ops() {
		ops = append(ops, store.Op{Key: op.Key, Delete: true})
	}
	return ops
}

// stored is a record as kept in the store: the record's own JSON (what LookupEvents returns
// as CloudTrailEvent and Export writes) and what LookupEvents reports beside it.
type stored struct {
	Record   json.RawMessage `json:"r"`
	Username string          `json:"u,omitempty"`
	Lookup   []Resource      `json:"l,omitempty"`
}

func (r *Record) encodeStored() []byte {
	rec, _ := json.Marshal(r) // a Record's fields always encode
	b, _ := json.Marshal(stored{Record: rec, Username: r.Username, Lookup: r.Lookup})
	return b
}

func decodeStored(b []byte) (*Record, error) {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("trail: stored record: %w", err)
	}
	r := &Record{}
	if err := json.Unmarshal(s.Record, r); err != nil {
		return nil, fmt.Errorf("trail: stored record: %w", err)
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return nil, fmt.Errorf("trail: stored record %s: %w", r.EventID, err)
	}
	r.Time, r.Username, r.Lookup = t, s.Username, s.Lookup
	return r, nil
}

// Retention is how long records are kept and looked up: 90 days, as CloudTrail's event
// history (§1.5).
const Retention = 90 * 24 * time.Hour

// Prune deletes at most batch records older than now − Retention, oldest first, in one
// transaction of the store, and reports how many it deleted and whether older records remain.
// Called repeatedly (by a ticker the wiring owns) it keeps the trail within retention without
// ever holding a large transaction.
func Prune(ctx context.Context, st store.Store, now time.Time, batch int) (deleted int, more bool, err error) {
	cutoff := timeKey(now.Add(-Retention))
	kvs, err := st.Scan(ctx, timePrefix, "", batch, false)
	if err != nil {
		return 0, false, fmt.Errorf("trail: prune: %w", err)
	}
	var ops []store.Op
	for _, kv := range kvs {
		rest := strings.TrimPrefix(kv.Key, timePrefix)
		tk, tail, _ := strings.Cut(rest, "/")
		if tk >= cutoff {
			break
		}
		i := strings.LastIndexByte(tail, '/')
		primary := eventsPrefix + tail[:i+1] + tk + tail[i:]
		ops = append(ops, store.Op{Key: kv.Key, Delete: true})
		if rkv, ok, err := st.Get(ctx, primary); err != nil {
			return 0, false, fmt.Errorf("trail: prune: %w", err)
		} else if ok {
			r, err := decodeStored(rkv.Value)
			if err != nil {
				return 0, false, err
			}
			ops = append(ops, r.deleteOps()...)
		}
		deleted++
	}
	if deleted == 0 {
		return 0, false, nil
	}
	if _, err := st.Txn(ctx, nil, ops); err != nil {
		return 0, false, fmt.Errorf("trail: prune: %w", err)
	}
	return deleted, deleted == len(kvs), nil
}
