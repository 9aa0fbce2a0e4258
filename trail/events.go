package trail

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// maxEventsPage bounds one index pass of Events; a name with more records is read in pages.
const maxEventsPage = 1000

// Events returns the records of account and region whose eventName is one of names and whose
// time is inside [from, to] (second precision), oldest first — within a second, in the order
// the log appended them, which is the order the calls completed (eventTime has whole seconds
// only, and a revoke that follows its authorize within the second must come after it for
// MON-003; eventIDs are random) — as the JSON the log keeps. It reads through the log's index (EventName), so its cost is that
// of the records returned, not of the log: the continuous auditor reads a day of rule changes
// with it (MON-003).
func (l *Log) Events(account, region string, names []string, from, to time.Time) ([]json.RawMessage, error) {
	var all []*entry
	for _, name := range names {
		q := query{account: account, region: region, attr: EventNameAttr, value: name, from: from, to: to, limit: maxEventsPage}
		for {
			page, cursor, err := find(l, q)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if cursor == "" {
				break
			}
			q.cursor = cursor
		}
	}
	slices.SortFunc(all, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.pos.seg, b.pos.seg), cmp.Compare(a.pos.off, b.pos.off))
	})
	out := make([]json.RawMessage, len(all))
	for i, e := range all {
		out[i] = e.JSON
	}
	return out, nil
}
