package trail

import (
	"encoding/binary"
	"errors"
	"fmt"
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

	pos position // where the log keeps it (set by Log.find): its append order
}

// entryOf is r as it is kept.
func entryOf(r *Record) *entry {
	e := headerOf(r)
	e.JSON = r.JSON()
	return e
}

// headerOf is r's entry without its JSON.
func headerOf(r *Record) *entry {
	return &entry{Time: r.Time.Unix(), Account: r.RecipientAccountID, Region: r.AWSRegion, EventID: r.EventID,
		EventName: r.EventName, ReadOnly: r.ReadOnly, Username: r.Username, EventSource: r.EventSource,
		AccessKeyID: r.UserIdentity.AccessKeyID, Lookup: r.Lookup}
}

// entryVersion is the first byte of an encoded entry: a later layout gets another.
const entryVersion = 1

// size is about the length of e's binary form: an encode into a buffer of that capacity
// does not grow it.
func (e *entry) size() int {
	n := 32 + len(e.Account) + len(e.Region) + len(e.EventID) + len(e.EventName) + len(e.Username) + len(e.EventSource) + len(e.AccessKeyID) + len(e.JSON)
	for _, r := range e.Lookup {
		n += 2*binary.MaxVarintLen64 + len(r.ResourceType) + len(r.ResourceName)
	}
	return n
}

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

// header is an encoded entry read in place: every field aliases the encoded bytes, so that
// indexing a record (at every append, and for every record when the log is opened)
// allocates nothing but what the index keeps.
type header struct {
	time     int64
	fields   [7][]byte // account, region, eventID, eventName, username, eventSource, accessKeyID
	readOnly bool
	nres     int
	res      []byte // nres encoded (type, name) pairs
	json     []byte
}

const (
	hAccount = iota
	hRegion
	hEventID
	hEventName
	hUsername
	hEventSource
	hAccessKeyID
)

// decodeHeader reads an encoded entry without copying it.
func decodeHeader(b []byte) (header, error) {
	d := decoder{b: b}
	if d.byte() != entryVersion {
		return header{}, fmt.Errorf("%w: unknown version", errEntry)
	}
	h := header{time: d.varint()}
	for i := range h.fields {
		h.fields[i] = d.bytes()
	}
	h.readOnly = d.byte() == 1
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every resource takes at least two bytes: a count this large is damage
		return header{}, errEntry
	}
	h.nres, h.res = int(n), d.b
	for range 2 * n {
		d.bytes()
	}
	if d.err {
		return header{}, errEntry
	}
	h.res = h.res[:len(h.res)-len(d.b)]
	h.json = d.b
	return h, nil
}

// resources yields the header's (type, name) pairs.
func (h *header) resources(yield func(typ, name []byte)) {
	d := decoder{b: h.res}
	for range h.nres {
		yield(d.bytes(), d.bytes())
	}
}

var (
	trueBytes  = []byte("true")
	falseBytes = []byte("false")
)

// attributeValues yields the record's LookupEvents attribute values, in a fixed order; the
// EventId is looked up by a scan, not an index (index.go), so it is not among them.
func (h *header) attributeValues(yield func(Attribute, []byte)) {
	yield(EventNameAttr, h.fields[hEventName])
	if h.readOnly {
		yield(ReadOnlyAttr, trueBytes)
	} else {
		yield(ReadOnlyAttr, falseBytes)
	}
	yield(UsernameAttr, h.fields[hUsername])
	yield(EventSourceAttr, h.fields[hEventSource])
	yield(AccessKeyIDAttr, h.fields[hAccessKeyID])
	h.resources(func(typ, name []byte) {
		yield(ResourceTypeAttr, typ)
		yield(ResourceNameAttr, name)
	})
}

// decodeEntry is encode's inverse. The entry's JSON aliases b.
func decodeEntry(b []byte) (*entry, error) {
	h, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	f := h.fields
	e := &entry{Time: h.time, Account: string(f[hAccount]), Region: string(f[hRegion]), EventID: string(f[hEventID]),
		EventName: string(f[hEventName]), ReadOnly: h.readOnly, Username: string(f[hUsername]),
		EventSource: string(f[hEventSource]), AccessKeyID: string(f[hAccessKeyID]), JSON: h.json}
	h.resources(func(typ, name []byte) {
		e.Lookup = append(e.Lookup, Resource{ResourceType: string(typ), ResourceName: string(name)})
	})
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

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}
