package trail

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/store"
)

// The store holds the trail's outbox and its metadata; the records themselves are in the Log.
//
//	trail/o/TIME/EVENTID   the record of a change, staged in the change's own transaction
//	trail/meta/…           the NextToken key and the export cursor
//
// A change's record must commit with the change (§1.5: a write is never committed without its
// record), and the change commits in the store; so its record goes first into the outbox, as
// one key beside the change, placed by time at the end of the B-tree. Once the call has
// answered, its complete record (with responseElements) is appended to the Log and the outbox
// key deleted (recorder.go); after a crash in between, the staged record is moved to the Log
// when the server starts (Recorder.Recover).
//
// TIME is the eventTime in Unix seconds, zero-padded to 12 digits, so that key order is time
// order.
const Prefix = "trail/"

// OutboxPrefix is the outbox's keys: short-lived, one per change, deleted once the record is
// in the Log (a backend may keep them apart: bolt.Options.Staged).
const OutboxPrefix = Prefix + "o/"

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

func timeKey(t time.Time) string { return string(appendTimeKey(nil, t)) }

// appendTimeKey appends t's Unix seconds in twelve digits, zero-padded, as
// fmt.Sprintf("%012d") writes them: every change's outbox key has one.
func appendTimeKey(b []byte, t time.Time) []byte {
	n := t.Unix()
	if n < 0 {
		return fmt.Appendf(b, "%012d", n)
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range 12 - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

func parseTimeKey(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func outboxKey(r *Record) string {
	var b strings.Builder
	b.Grow(len(OutboxPrefix) + 13 + len(r.EventID))
	b.WriteString(OutboxPrefix)
	var t [20]byte
	b.Write(appendTimeKey(t[:0], r.Time))
	b.WriteByte('/')
	b.WriteString(r.EventID)
	return b.String()
}

// Ops are the store writes that stage r in the outbox. The control plane adds them to the
// transaction of the change r records, so that the change and its record commit together or
// not at all (§1.5 [STOCKADE]).
func (r *Record) Ops() []store.Op {
	// The entry's JSON comes last (encode): the record's JSON is written in place there, and
	// kept as r's, one buffer and no copy on every change's path.
	e := headerOf(r)
	b := e.encode(make([]byte, 0, e.size()+r.sizeHint()))
	if r.json != nil {
		return []store.Op{{Key: outboxKey(r), Value: append(b, r.json...)}}
	}
	start := len(b)
	b, respAt := appendRecord(b, r)
	r.json, r.respAt = b[start:len(b):len(b)], respAt-start
	return []store.Op{{Key: outboxKey(r), Value: b}}
}

// Completes marks r as the complete form of staged, a record of the same call (same eventTime
// and eventID) that a change's transaction committed to the outbox before its response
// existed: once the Recorder has appended r to the Log, it deletes staged's outbox key. It
// does nothing when the two are not the same call.
func (r *Record) Completes(staged *Record) {
	if staged == nil || staged.EventID != r.EventID || !staged.Time.Equal(r.Time) ||
		staged.RecipientAccountID != r.RecipientAccountID || staged.AWSRegion != r.AWSRegion {
		return
	}
	r.outbox = outboxKey(staged)
}

// Retention is how long records are kept and looked up: 90 days, as CloudTrail's event
// history (§1.5).
const Retention = 90 * 24 * time.Hour
