package trail

import (
	"fmt"
	"time"
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

// find returns up to q.limit entries, newest first (ties by eventID descending), and the
// cursor of the last one when more follow. A page costs a binary search in the index and one
// read per record returned, whatever the number of records stored.
func find(log *Log, q query) ([]*entry, string, error) {
	entries, more, err := log.find(q)
	if err != nil {
		return nil, "", fmt.Errorf("trail: lookup: %w", err)
	}
	if !more {
		return entries, "", nil
	}
	last := entries[len(entries)-1]
	return entries, fmt.Sprintf("%012d/%s", last.Time, last.EventID), nil
}
