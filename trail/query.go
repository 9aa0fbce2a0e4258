package trail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// query is one page of a lookup over the store: the newest records of an account and region
// (with one attribute value, when Attr is set) inside [from, to], strictly older than the
// cursor when one is given.
type query struct {
	account, region string
	attr            Attribute // "" for every record
	value           string
	from, to        time.Time // inclusive, second precision
	cursor          string    // TIME/EVENTID of the last record of the previous page, or ""
	limit           int
}

// find returns up to q.limit records, newest first (ties by eventID descending), and the cursor
// of the last one when more may follow. Each page costs one bounded index scan and one Get per
// record, whatever the number of records stored: this is what keeps an attribute lookup fast
// over millions of records.
func find(ctx context.Context, st store.Store, q query) ([]*Record, string, error) {
	prefix := eventsPrefix + scope(q.account, q.region)
	if q.attr != "" {
		prefix = indexPrefixOf(q.account, q.region, q.attr, q.value)
	}
	after := prefix + timeKey(q.to.Add(time.Second))
	if q.cursor != "" {
		after = prefix + q.cursor
	}
	lowest := timeKey(q.from)
	var out []*Record
	for {
		want := q.limit - len(out) + 1 // one more than the page needs tells whether more follow
		kvs, err := st.Scan(ctx, prefix, after, want, true)
		if err != nil {
			return nil, "", fmt.Errorf("trail: lookup: %w", err)
		}
		for _, kv := range kvs {
			after = kv.Key
			suffix := strings.TrimPrefix(kv.Key, prefix)
			if suffix[:len(lowest)] < lowest {
				return out, "", nil
			}
			if len(out) == q.limit {
				return out, cursorOf(out[len(out)-1]), nil
			}
			val := kv.Value
			if q.attr != "" {
				rkv, ok, err := st.Get(ctx, eventsPrefix+scope(q.account, q.region)+suffix)
				if err != nil {
					return nil, "", fmt.Errorf("trail: lookup: %w", err)
				}
				if !ok { // pruned between the index read and this one
					continue
				}
				val = rkv.Value
			}
			r, err := decodeStored(val)
			if err != nil {
				return nil, "", err
			}
			out = append(out, r)
		}
		if len(kvs) < want {
			return out, "", nil
		}
	}
}

func cursorOf(r *Record) string { return timeKey(r.Time) + "/" + r.EventID }
