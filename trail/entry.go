package trail

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// entry is a record as the trail keeps it: what LookupEvents filters and reports (§2.2, §2.3)
// beside the record's own JSON, which is stored once, exactly as it was encoded, and handed
// out unchanged as LookupEvents' CloudTrailEvent and in exported log files. Lookups and
// exports never decode the JSON.
type entry struct {
	Time        int64 // eventTime, Unix seconds
	Account     string
	Region      string
	EventID     string
	EventName   string
	ReadOnly    bool
	Username    string
	EventSource string
	AccessKeyID string
	Lookup      []Resource
	JSON        []byte
}

// entryOf is r as it is kept.
func entryOf(r *Record) *entry {
	js, _ := json.Marshal(r) // a Record's fields always encode
	return &entry{Time: r.Time.Unix(), Account: r.RecipientAccountID, Region: r.AWSRegion, EventID: r.EventID,
		EventName: r.EventName, ReadOnly: r.ReadOnly, Username: r.Username, EventSource: r.EventSource,
		AccessKeyID: r.UserIdentity.AccessKeyID, Lookup: r.Lookup, JSON: js}
}

// entryVersion is the first byte of an encoded entry: a later layout gets another.
const entryVersion = 1

// encode appends e's binary form to b: the version, the time as a varint, then every string
// as uvarint length and bytes, the resources as a count and pairs, and the JSON last.
func (e *entry) encode(b []byte) []byte {
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, e.Time)
	for _, s := range []string{e.Account, e.Region, e.EventID, e.EventName, e.Username, e.EventSource, e.AccessKeyID} {
		b = appendString(b, s)
	}
	ro := byte(0)
	if e.ReadOnly {
		ro = 1
	}
	b = append(b, ro)
	b = binary.AppendUvarint(b, uint64(len(e.Lookup)))
	for _, r := range e.Lookup {
		b = appendString(b, r.ResourceType)
		b = appendString(b, r.ResourceName)
	}
	return append(b, e.JSON...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errEntry = errors.New("trail: damaged entry")

// decodeEntry is encode's inverse. The entry's JSON aliases b.
func decodeEntry(b []byte) (*entry, error) {
	d := decoder{b: b}
	if d.byte() != entryVersion {
		return nil, fmt.Errorf("%w: unknown version", errEntry)
	}
	e := &entry{Time: d.varint()}
	for _, s := range []*string{&e.Account, &e.Region, &e.EventID, &e.EventName, &e.Username, &e.EventSource, &e.AccessKeyID} {
		*s = d.string()
	}
	e.ReadOnly = d.byte() == 1
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every resource takes at least two bytes: a count this large is damage
		return nil, errEntry
	}
	for range n {
		e.Lookup = append(e.Lookup, Resource{ResourceType: d.string(), ResourceName: d.string()})
	}
	if d.err {
		return nil, errEntry
	}
	e.JSON = d.b
	return e, nil
}

// decoder reads entry fields; a short or malformed input sets err and yields zero values.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// eventTime is the entry's time as a time.
func (e *entry) eventTime() time.Time { return time.Unix(e.Time, 0).UTC() }

// attributeValues are the entry's LookupEvents attribute values, in a fixed order; the
// EventId is looked up by a scan, not an index (index.go), so it is not among them.
func (e *entry) attributeValues(yield func(Attribute, string)) {
	yield(EventNameAttr, e.EventName)
	if e.ReadOnly {
		yield(ReadOnlyAttr, "true")
	} else {
		yield(ReadOnlyAttr, "false")
	}
	yield(UsernameAttr, e.Username)
	yield(EventSourceAttr, e.EventSource)
	yield(AccessKeyIDAttr, e.AccessKeyID)
	for _, r := range e.Lookup {
		yield(ResourceTypeAttr, r.ResourceType)
		yield(ResourceNameAttr, r.ResourceName)
	}
}
